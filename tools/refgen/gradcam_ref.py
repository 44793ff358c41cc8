#!/usr/bin/python3
"""Writes explain/testdata/gradcam_lenet5.safetensors, the PyTorch Grad-CAM
reference that explain's TestGradCAMMatchesPyTorch reads.

Run from the repository root with a Python that has torch (1.13 works):

    /usr/bin/python3 tools/refgen/gradcam_ref.py [outdir]

The model is refgen.py's LeNet-5 (exactly shared/bench/peers/models.py's), with
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
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refgen import LeNet5, write_safetensors  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join("explain", "testdata")


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
    write_safetensors(os.path.join(OUT, "gradcam_lenet5.safetensors"), t,
             {"generator": "tools/refgen/gradcam_ref.py", "torch": torch.__version__,
              "reference_precision": "float64", "layer": "conv2", "class": cls})
    print("class", cls, "raw max", float(raw.max()), "cam mean", float(cam.mean()))


if __name__ == "__main__":
    main()
