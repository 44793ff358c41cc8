#!/usr/bin/python3
"""Writes explain/testdata/gradcam_lenet5.safetensors, the PyTorch Grad-CAM
reference that explain's TestGradCAMMatchesPyTorch reads.

Run from the repository root with a Python that has torch (1.13 works):

    /usr/bin/python3 tools/refgen/gradcam_ref.py [outdir]

The model is LeNet-5 exactly as in shared/bench/peers/models.py, with
PyTorch's default initialization from torch.manual_seed(2017); the input is
a fixed synthetic stroke image plus noise. Grad-CAM follows Selvaraju et al.
2017 as pytorch-grad-cam implements it, with hooks on conv2 (its output, the
(1, 16, 10, 10) map before the ReLU): α_c = mean over space of ∂y_class/∂A_c,
cam = ReLU(Σ_c α_c A_c), upsampled bilinearly (align_corners=False) to
28×28 and scaled by (cam − min)/(max − min). It is computed in float64 on the
float32 weights and input, so the stored results carry no float32 rounding
of PyTorch's own.

Tensors: the state_dict (conv1.weight, …, fc3.bias), x (1, 1, 28, 28),
logits (1, 10), weights (16) = α, raw (10, 10) = ReLU(Σ α A) and cam
(28, 28). Metadata: class (the target, the argmax of the logits).
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join("explain", "testdata")


class LeNet5(nn.Module):
    """Exactly shared/bench/peers/models.py LeNet5."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def write_st(path, tensors, meta):
    """Writes tensors (name -> tensor) and meta (str -> str) as safetensors:
    8-byte little-endian header length, JSON header, raw float32 data."""
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].detach().to(torch.float32).contiguous().cpu()
        data = struct.pack("<%df" % t.numel(), *t.reshape(-1).tolist())
        header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for d in blobs:
            f.write(d)


def image():
    """A 28×28 '7'-like stroke in [0, 1] with a little noise, float32."""
    g = torch.Generator().manual_seed(7)
    x = torch.zeros(28, 28)
    x[6:9, 6:22] = 1.0  # top bar
    for i in range(14):  # diagonal
        r, c = 8 + i, 20 - i // 2
        x[r, c - 1:c + 2] = 1.0
    x = (x + 0.1 * torch.rand(28, 28, generator=g)).clamp(0, 1)
    return x.reshape(1, 1, 28, 28).to(torch.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(2017)
    m = LeNet5()
    params = {k: v.detach().clone() for k, v in m.state_dict().items()}
    x = image()
    m = m.double().eval()
    acts = {}
    m.conv2.register_forward_hook(lambda mod, inp, out: acts.__setitem__("A", out))
    logits = m(x.double())
    A = acts["A"]
    cls = int(logits.argmax(1))
    (grad,) = torch.autograd.grad(logits[0, cls], A)
    alpha = grad.mean(dim=(2, 3), keepdim=True)
    raw = F.relu((alpha * A).sum(1, keepdim=True))
    up = F.interpolate(raw, size=(28, 28), mode="bilinear", align_corners=False)[0, 0]
    lo, hi = up.min(), up.max()
    assert hi > lo, "degenerate CAM; change the seed"
    cam = (up - lo) / (hi - lo)
    t = dict(params)
    t.update({"x": x, "logits": logits, "weights": alpha.reshape(-1), "raw": raw[0, 0], "cam": cam})
    write_st(os.path.join(OUT, "gradcam_lenet5.safetensors"), t,
             {"generator": "tools/refgen/gradcam_ref.py", "torch": torch.__version__,
              "reference_precision": "float64", "layer": "conv2", "class": cls})
    print("class", cls, "raw max", float(raw.max()), "cam mean", float(cam.mean()))


if __name__ == "__main__":
    main()
