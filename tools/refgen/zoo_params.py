#!/usr/bin/env python3
"""Writes models/testdata/zoo_params.json: the parameter counts and ordered
state_dict names and shapes of the model zoo, for models/zoo_test.go.

Run from the repository root with a Python that has torch and torchvision
(Debian's python3-torch 1.13 and python3-torchvision 0.14 work; the
`python3` of a pyenv or venv may lack them):

    /usr/bin/python3 tools/refgen/zoo_params.py [out.json]

Every case is a Fovea registry name with its Options (num_classes, width)
and the PyTorch module it must match:

  * torchvision's own models (vgg*, resnet18/34/50, googlenet with
    aux_logits=False and transform_input=False, mobilenet_v2 with
    width_mult), built with num_classes 1000;
  * for the CIFAR variants, which torchvision lacks, the PyTorch
    definitions below, which mirror models/vgg.go, inception_cifar.go and
    mobilenetv2.go; built with 10 classes.

"state" lists named_parameters() and then named_buffers(), the order of
Fovea's nn.StateDict; a shape [] is a scalar (num_batches_tracked), which
Fovea stores as [1]. The output is deterministic.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models import vgg as tvvgg

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join("models", "testdata", "zoo_params.json")


def scaled(c, width):
    """Fovea's Options.scaled: round half away from zero, at least 1."""
    return max(1, int(math.floor(c * width + 0.5)))


class VGGCIFAR(nn.Module):
    """models.NewVGG(cfg, bn, cifar=true): torchvision's features, then a
    global average pool and one Linear named classifier."""

    def __init__(self, cfg, bn, num_classes=10, width=1.0):
        super().__init__()
        cfg = [v if v == "M" else scaled(v, width) for v in cfg]
        self.features = tvvgg.make_layers(cfg, batch_norm=bn)
        last = [v for v in cfg if v != "M"][-1]
        self.classifier = nn.Linear(last, num_classes)

    def forward(self, x):
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)
        return self.classifier(x)


class BasicConv2d(nn.Module):
    """conv (no bias) + BatchNorm2d + ReLU, named conv and bn."""

    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Concat(nn.Sequential):
    """Fovea's nn.Concat: branches named 0, 1, ... concatenated on channels."""

    def forward(self, x):
        return torch.cat([m(x) for m in self], 1)


class InceptionCIFAR(nn.Module):
    """models.NewInceptionCIFAR: the small Inception of Zhang et al. 2017."""

    def __init__(self, num_classes=10, width=1.0):
        super().__init__()
        s = lambda c: scaled(c, width)  # noqa: E731
        layers = [BasicConv2d(3, s(96), 3, padding=1)]
        cin = s(96)
        for kind, a, b in [("I", 32, 32), ("I", 32, 48), ("D", 80, 0), ("I", 112, 48), ("I", 96, 64),
                           ("I", 80, 80), ("I", 48, 96), ("D", 96, 0), ("I", 176, 160), ("I", 176, 160)]:
            if kind == "I":
                layers.append(Concat(BasicConv2d(cin, s(a), 1), BasicConv2d(cin, s(b), 3, padding=1)))
                cin = s(a) + s(b)
            else:
                layers.append(Concat(BasicConv2d(cin, s(a), 3, stride=2, padding=1), nn.MaxPool2d(3, 2, 1)))
                cin += s(a)
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)
        return self.fc(x)


def mobilenetv2_cifar(num_classes=10, width=1.0):
    """models.NewMobileNetV2(opt, cifar=true): torchvision's MobileNetV2
    with stride 1 in features.0 and features.2."""
    m = torchvision.models.mobilenet_v2(num_classes=num_classes, width_mult=width)
    m.features[0][0].stride = (1, 1)
    m.features[2].conv[1][0].stride = (1, 1)
    return m


def tv(name, **kw):
    return lambda nc, w: getattr(torchvision.models, name)(num_classes=nc, **kw)


CFGS = {11: "A", 13: "B", 16: "D"}

# (Fovea name, num_classes, width, builder(num_classes, width), input for a
# forward check of the output shape)
CASES = []
for depth in (11, 13, 16):
    for bn in (False, True):
        name = f"vgg{depth}" + ("_bn" if bn else "")
        CASES.append((name, 1000, 0, tv(name)))
        CASES.append((name + "-cifar", 10, 0,
                      lambda nc, w, d=depth, b=bn: VGGCIFAR(tvvgg.cfgs[CFGS[d]], b, nc, w or 1.0)))
CASES += [
    ("vgg11_bn-cifar", 10, 0.5, lambda nc, w: VGGCIFAR(tvvgg.cfgs["A"], True, nc, w)),
    ("resnet18", 1000, 0, tv("resnet18")),
    ("resnet34", 1000, 0, tv("resnet34")),
    ("resnet50", 1000, 0, tv("resnet50")),
    ("googlenet", 1000, 0, tv("googlenet", aux_logits=False, transform_input=False, init_weights=True)),
    ("inception-cifar", 10, 0, lambda nc, w: InceptionCIFAR(nc)),
    ("inception-cifar", 10, 0.5, lambda nc, w: InceptionCIFAR(nc, w)),
    ("mobilenetv2", 1000, 0, tv("mobilenet_v2")),
    ("mobilenetv2", 1000, 0.5, lambda nc, w: torchvision.models.mobilenet_v2(num_classes=nc, width_mult=w)),
    ("mobilenetv2", 1000, 1.4, lambda nc, w: torchvision.models.mobilenet_v2(num_classes=nc, width_mult=w)),
    ("mobilenetv2-cifar", 10, 0, lambda nc, w: mobilenetv2_cifar(nc)),
    ("mobilenetv2-cifar", 10, 0.75, lambda nc, w: mobilenetv2_cifar(nc, w)),
]


def main():
    torch.manual_seed(0)
    cases = []
    for name, nc, width, build in CASES:
        with torch.no_grad():
            m = build(nc, width)
        m.eval()
        params = sum(p.numel() for p in m.parameters())
        state = [[k, list(v.shape)] for k, v in m.named_parameters()]
        state += [[k, list(v.shape)] for k, v in m.named_buffers()]
        # The state dict holds exactly these tensors.
        assert sorted(k for k, _ in state) == sorted(m.state_dict().keys()), name
        small = 32 if name.endswith("-cifar") else 64
        with torch.no_grad():
            y = m(torch.zeros(1, 3, small, small))
        assert tuple(y.shape) == (1, nc), (name, y.shape)
        cases.append({"model": name, "num_classes": nc, "width": width, "params": params, "state": state})
        print(f"{name:18s} width {width or 1.0:<4} classes {nc:4d}: {params:,} parameters, {len(state)} tensors")

    os.makedirs(os.path.dirname(OUT) or ".", exist_ok=True)
    with open(OUT, "w") as f:
        # One state entry per line, so diffs of the fixture stay readable.
        f.write('{\n  "generator": "tools/refgen/zoo_params.py",\n')
        f.write(f'  "torch": {json.dumps(torch.__version__)},\n')
        f.write(f'  "torchvision": {json.dumps(torchvision.__version__)},\n')
        f.write('  "cases": [\n')
        for i, c in enumerate(cases):
            f.write("    {" + f'"model": {json.dumps(c["model"])}, "num_classes": {c["num_classes"]}, '
                    f'"width": {json.dumps(c["width"])}, "params": {c["params"]}, "state": [\n')
            f.write(",\n".join("      " + json.dumps(s) for s in c["state"]))
            f.write("\n    ]}" + ("," if i < len(cases) - 1 else "") + "\n")
        f.write("  ]\n}\n")


if __name__ == "__main__":
    main()
