#!/usr/bin/env python3
"""Writes internal/torchref/testdata/resnet20.safetensors, the PyTorch golden
reference for models.NewResNet20 (internal/torchref/resnet_test.go).

Run from the repository root with a Python that has torch (Debian's
python3-torch 1.13 works):

    /usr/bin/python3 tools/refgen/resnet_ref.py [outdir]

The model is ResNet20 of shared/bench/peers/models.py (found next to this
repository as ../shared/bench/peers, or in $PEERS_DIR), built in float32 with
torch.manual_seed(901). Its batch norms get random affine parameters and
running statistics, so evaluation mode is not the identity. The forward
passes run in float64 on those exact float32 values and are rounded once
when written (metadata "reference_precision"), as in refgen.py.

Tensors:
  <state_dict name>           the model's float32 state dict (metadata "state"
                              lists the names; num_batches_tracked as float32 [1])
  x                           input (2, 3, 32, 32)
  labels                      class indices as float32 (2)
  logits_eval                 evaluation-mode logits (running statistics)
  logits_train, loss_train    training-mode logits (batch statistics) and
                              their mean cross-entropy
  grad.<param>                d loss_train / d param, for the parameters
                              with fewer than 10,000 elements (all but the
                              stage-3 convolutions, to keep the file small)
  after.<bn>.running_mean/var running statistics after the training forward
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refgen import write_st  # noqa: E402
import refgen  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.environ.get("PEERS_DIR", os.path.join(HERE, "..", "..", "..", "shared", "bench", "peers"))
sys.path.insert(0, PEERS)
import models  # noqa: E402  (shared/bench/peers/models.py)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join("internal", "torchref", "testdata")
REF = torch.float64


def main():
    os.makedirs(OUT, exist_ok=True)
    refgen.OUT = OUT
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(901)
    m = models.ResNet20()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(1.0 + 0.2 * torch.randn(c))
                mod.bias.copy_(0.2 * torch.randn(c))
                mod.running_mean.copy_(0.2 * torch.randn(c))
                mod.running_var.copy_(1.0 + 0.5 * torch.rand(c))
                mod.num_batches_tracked.fill_(3)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float32)
    labels = torch.randint(0, 10, (2,))
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    assert models.n_params(m) == 272474

    m = m.double()
    X = x.to(REF)
    m.eval()
    with torch.no_grad():
        logits_eval = m(X)
    m.train()
    logits_train = m(X)
    loss = F.cross_entropy(logits_train, labels)
    loss.backward()

    t = {"x": x, "labels": labels.float(), "logits_eval": logits_eval,
         "logits_train": logits_train, "loss_train": loss}
    t.update(state)
    for k, p in m.named_parameters():
        if p.numel() < 10000:
            t["grad." + k] = p.grad
    for k, mod in m.named_modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            t["after.%s.running_mean" % k] = mod.running_mean
            t["after.%s.running_var" % k] = mod.running_var
    write_st("resnet20", t, {"op": "resnet20", "generator": "tools/refgen/resnet_ref.py",
                             "model": "shared/bench/peers/models.py ResNet20", "seed": 901,
                             "loss": "cross_entropy mean", "state": ",".join(state)})
    path = os.path.join(OUT, "resnet20.safetensors")
    print("wrote %s, %d bytes" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
