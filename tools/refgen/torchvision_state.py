"""Writes a torchvision model's state_dict and reference logits as safetensors.

    /usr/bin/python3 tools/refgen/torchvision_state.py MODEL OUTDIR [--classes N] [--size S] [--seed K]

MODEL is a torchvision.models function (resnet18, vgg11, googlenet,
mobilenet_v2, ...). The model is randomly initialized after
torch.manual_seed(K); its batch-norm running statistics are set to random
values so that importing them is checked too. Two files are written:

  OUTDIR/state_dict.safetensors  model.state_dict() exactly as
                                 safetensors.torch.save_file writes it
                                 (F32, num_batches_tracked as an I64 scalar)
  OUTDIR/ref.safetensors         "x": a (2, 3, S, S) standard normal input,
                                 "logits": the model's output in eval mode

The safetensors format is written by hand (Debian's torch 1.13 has no
safetensors package): 8-byte little-endian header length, a JSON header
{name: {dtype, shape, data_offsets}} padded with spaces to a multiple of 8,
then the raw little-endian data. The Go test in models/torchvision_test.go
runs this script into a temporary directory.
"""
import argparse
import json
import struct

import torch
import torchvision

DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def save(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("outdir")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    kw = {"num_classes": a.classes}
    if a.model == "googlenet":
        kw["init_weights"] = True  # the default with aux_logits=True: aux1/aux2 are in the state_dict
    model = getattr(torchvision.models, a.model)(**kw)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.num_batches_tracked.fill_(7)
    model.eval()
    x = torch.randn(2, 3, a.size, a.size)
    with torch.no_grad():
        logits = model(x)
    save(f"{a.outdir}/state_dict.safetensors", model.state_dict())
    save(f"{a.outdir}/ref.safetensors", {"x": x, "logits": logits})


if __name__ == "__main__":
    main()
