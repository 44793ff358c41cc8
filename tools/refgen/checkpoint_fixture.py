"""Writes checkpoint/testdata/torch_small.safetensors and torch_small.json.

A small PyTorch model's state_dict, written in the safetensors format by
hand (torch 1.13 has no safetensors package): 8-byte little-endian header
length, JSON header padded with spaces to a multiple of 8, then the raw
little-endian data. The file mixes dtypes the Go reader must convert:
batch norm's num_batches_tracked is I64 as PyTorch stores it, the linear
weight is F16, its bias BF16, the rest F32. Tensors are laid out in
state_dict order, not sorted, as other writers may do.

torch_small.json holds, for each tensor, its dtype, shape and values as
float64 after the same rounding: what Fovea must read back.

Run from the repository root:  python3 tools/refgen/checkpoint_fixture.py
"""
import json
import os
import struct

import torch

torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 2, 3),
    torch.nn.BatchNorm2d(2),
    torch.nn.ReLU(),
    torch.nn.Flatten(),
    torch.nn.Linear(8, 3),
)
model.train()
for _ in range(3):  # move the running statistics and num_batches_tracked
    model(torch.randn(5, 1, 4, 4))
model.eval()

store = {"4.weight": torch.float16, "4.bias": torch.bfloat16}
dtype_names = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
}

header, chunks, expected, offset = {}, [], {}, 0
for name, t in model.state_dict().items():
    t = t.detach().to(store.get(name, t.dtype)).contiguous()
    # bytes of the tensor: view 2-byte types as int16 since numpy lacks bf16
    if t.dtype in (torch.float16, torch.bfloat16):
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
    else:
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
    header[name] = {
        "dtype": dtype_names[t.dtype],
        "shape": list(t.shape),
        "data_offsets": [offset, offset + len(raw)],
    }
    expected[name] = {
        "dtype": dtype_names[t.dtype],
        "shape": list(t.shape),
        "values": t.to(torch.float64).flatten().tolist(),
    }
    chunks.append(raw)
    offset += len(raw)
header["__metadata__"] = {"format": "pt"}

h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)

here = os.path.join("checkpoint", "testdata")
with open(os.path.join(here, "torch_small.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for c in chunks:
        f.write(c)
with open(os.path.join(here, "torch_small.json"), "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")
