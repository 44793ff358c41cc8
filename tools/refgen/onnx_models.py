#!/usr/bin/env python3
"""Export torchvision models to ONNX with reference outputs for Fovea's importer.

    /usr/bin/python3 tools/refgen/onnx_models.py OUTDIR [NAME...]

For each model (resnet18, mobilenet_v2, googlenet, vgg11 by default) this
writes into OUTDIR:

    NAME.onnx        torch.onnx.export, opset 13, constant folding, eval mode
    NAME.input.npy   the fixed random input, float32 NCHW
    NAME.output.npy  torch's output for that input, float32

Weights are random (torch.manual_seed per model) so no download is needed.
The test in onnx/import_test.go (TestTorchvisionModels) runs this script into
a temporary directory; nothing it writes is committed. Needs torch and
torchvision (Debian's python3-torch 1.13 works: use /usr/bin/python3).
"""

import os
import sys

import numpy as np
import torch
import torchvision

# name -> (constructor, input size). VGG keeps 224: its AdaptiveAvgPool2d((7,7))
# only exports (as AveragePool) when the 7x7 output divides the feature map,
# and its classifier dominates the size whatever the input.
MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(), 64),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), 64),
    "googlenet": (
        lambda: torchvision.models.googlenet(
            aux_logits=False, init_weights=True, transform_input=False
        ),
        64,
    ),
    "vgg11": (lambda: torchvision.models.vgg11(), 224),
}


def randomize_bn(model):
    """Give batch norms non-trivial statistics so folding mistakes show."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def export(name, outdir):
    ctor, size = MODELS[name]
    torch.manual_seed(0)
    model = ctor().eval()
    randomize_bn(model)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = model(x)
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(
        model,
        x,
        path,
        opset_version=13,
        do_constant_folding=True,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )
    np.save(os.path.join(outdir, name + ".input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(outdir, name + ".output.npy"), y.numpy().astype(np.float32))
    print(f"{name}: input {tuple(x.shape)} output {tuple(y.shape)} -> {path}")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: onnx_models.py OUTDIR [NAME...]")
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for name in names:
        if name not in MODELS:
            sys.exit(f"unknown model {name!r}; known: {', '.join(MODELS)}")
        export(name, outdir)


if __name__ == "__main__":
    main()
