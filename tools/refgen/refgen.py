#!/usr/bin/env python3
"""Writes the PyTorch golden references that internal/torchref tests read.

Run from the repository root:

    python3 tools/refgen/refgen.py [outdir]

outdir defaults to internal/torchref/testdata. Every case is one
.safetensors file: float32 little-endian tensors plus "__metadata__" with the
hyper-parameters as strings. Inputs are drawn as float32 from a fixed
torch.manual_seed per case; the op itself is evaluated in float64 on those
exact float32 values and the results rounded once to float32, so the stored
outputs and gradients carry no float32 accumulation error of PyTorch's own
(metadata "reference_precision"). Optimizer cases run in float32, as PyTorch
trains.

Tensor naming: x / w / b are inputs, y the output, grad_y the upstream
gradient fed to backward (random, not ones), grad_<input> the gradients.
Scalars (losses) are stored with shape [1]. Integer labels are stored as
float32 ("labels").
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join("internal", "torchref", "testdata")
REF = torch.float64


def write_safetensors(path, tensors, meta):
    """Writes tensors (name -> tensor, as float32; a scalar as shape [1]) and
    meta (str -> str) to path as safetensors: 8-byte little-endian header
    length, JSON header (sorted keys, padded to 8 bytes), raw data."""
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].detach().to(torch.float32).contiguous().cpu()
        if t.dim() == 0:
            t = t.reshape(1)
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


def write_st(name, tensors, meta):
    """Writes OUT/name.safetensors with this generator's metadata added."""
    m = {"generator": "tools/refgen/refgen.py", "torch": torch.__version__,
         "reference_precision": "float64"}
    m.update(meta)
    write_safetensors(os.path.join(OUT, name + ".safetensors"), tensors, m)


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * scale)


def leaf(t):
    """float32 tensor -> float64 leaf that requires grad."""
    return t.to(REF).requires_grad_(True)


def pair(v):
    return "%d,%d" % (v, v) if isinstance(v, int) else "%d,%d" % tuple(v)


# ---------------------------------------------------------------- conv2d

def conv_case(name, seed, xs, ws, bias=True, stride=1, padding=0, dilation=1, groups=1):
    torch.manual_seed(seed)
    x, w = rnd(*xs), rnd(*ws, scale=0.5)
    b = rnd(ws[0], scale=0.5) if bias else None
    X, W = leaf(x), leaf(w)
    B = leaf(b) if bias else None
    y = F.conv2d(X, W, B, stride=stride, padding=padding, dilation=dilation, groups=groups)
    gy = rnd(*y.shape)
    y.backward(gy.to(REF))
    t = {"x": x, "w": w, "y": y, "grad_y": gy, "grad_x": X.grad, "grad_w": W.grad}
    if bias:
        t["b"], t["grad_b"] = b, B.grad
    write_st(name, t, {"op": "conv2d", "stride": pair(stride), "padding": pair(padding),
                       "dilation": pair(dilation), "groups": groups, "bias": str(bias).lower()})


def conv_cases():
    conv_case("conv2d_3x3_pad1", 101, (2, 3, 8, 8), (4, 3, 3, 3), padding=1)
    conv_case("conv2d_stride2_asym", 102, (2, 3, 9, 7), (5, 3, 3, 2), stride=(2, 2), padding=(1, 0))
    conv_case("conv2d_dilation2", 103, (2, 3, 10, 9), (4, 3, 3, 3), padding=2, dilation=2)
    conv_case("conv2d_groups2", 104, (2, 4, 6, 6), (6, 2, 3, 3), padding=1, groups=2)
    conv_case("conv2d_depthwise", 105, (2, 4, 7, 7), (4, 1, 3, 3), stride=2, padding=1, groups=4)
    conv_case("conv2d_1x1", 106, (2, 5, 6, 6), (3, 5, 1, 1))
    conv_case("conv2d_5x5_pad2", 107, (2, 1, 12, 12), (6, 1, 5, 5), padding=2)
    conv_case("conv2d_nobias", 108, (2, 3, 6, 6), (4, 3, 3, 3), bias=False, padding=1)


# ---------------------------------------------------------------- batchnorm

def bn_case(name, seed, xs, training, momentum=0.1, eps=1e-5):
    torch.manual_seed(seed)
    c = xs[1]
    x = rnd(*xs, scale=2.0) + 0.5
    g, b = 1.0 + rnd(c, scale=0.3), rnd(c, scale=0.3)
    rm, rv = rnd(c, scale=0.2), 1.0 + rnd(c).abs() * 0.5
    X, G, B = leaf(x), leaf(g), leaf(b)
    RM, RV = rm.to(REF).clone(), rv.to(REF).clone()
    y = F.batch_norm(X, RM, RV, G, B, training=training, momentum=momentum, eps=eps)
    gy = rnd(*y.shape)
    y.backward(gy.to(REF))
    write_st(name, {"x": x, "w": g, "b": b, "running_mean": rm, "running_var": rv,
                    "running_mean_after": RM, "running_var_after": RV,
                    "y": y, "grad_y": gy, "grad_x": X.grad, "grad_w": G.grad, "grad_b": B.grad},
             {"op": "batch_norm", "training": str(training).lower(), "momentum": momentum, "eps": eps,
              "note": "running_var update uses the unbiased batch variance (n/(n-1)); y uses the biased one"})


def bn_cases():
    bn_case("batchnorm2d_train", 201, (4, 3, 5, 5), True)
    bn_case("batchnorm2d_eval", 202, (4, 3, 5, 5), False)
    bn_case("batchnorm1d_train", 203, (8, 5), True)


# ---------------------------------------------------------------- pooling

def pool_case(name, seed, xs, kind, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    torch.manual_seed(seed)
    x = rnd(*xs)
    X = leaf(x)
    if kind == "max":
        y = F.max_pool2d(X, kernel, stride, padding, ceil_mode=ceil_mode)
    elif kind == "avg":
        y = F.avg_pool2d(X, kernel, stride, padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    else:
        y = F.adaptive_avg_pool2d(X, 1)
    gy = rnd(*y.shape)
    y.backward(gy.to(REF))
    stride = kernel if stride is None else stride
    write_st(name, {"x": x, "y": y, "grad_y": gy, "grad_x": X.grad},
             {"op": {"max": "max_pool2d", "avg": "avg_pool2d"}.get(kind, "adaptive_avg_pool2d"), "kernel": pair(kernel), "stride": pair(stride), "padding": pair(padding),
              "ceil_mode": str(ceil_mode).lower(), "count_include_pad": str(count_include_pad).lower()})


def pool_cases():
    pool_case("maxpool_2x2", 301, (2, 3, 8, 8), "max", 2, 2)
    pool_case("maxpool_3x3_s2_p1", 302, (2, 3, 9, 9), "max", 3, 2, 1)
    pool_case("maxpool_ceil", 303, (2, 2, 7, 8), "max", 3, 2, 0, ceil_mode=True)
    pool_case("avgpool_2x2", 311, (2, 3, 8, 8), "avg", 2, 2)
    pool_case("avgpool_3x3_s1_p1_countpad", 312, (2, 3, 6, 7), "avg", 3, 1, 1, count_include_pad=True)
    pool_case("avgpool_3x3_s2_p1_nocountpad", 313, (2, 3, 7, 6), "avg", 3, 2, 1, count_include_pad=False)
    pool_case("adaptive_avgpool_1", 321, (2, 4, 5, 6), "adaptive", 1, 1)


# ---------------------------------------------------------------- linear, activations

def linear_case():
    torch.manual_seed(401)
    x, w, b = rnd(4, 7), rnd(5, 7, scale=0.5), rnd(5, scale=0.5)
    X, W, B = leaf(x), leaf(w), leaf(b)
    y = F.linear(X, W, B)
    gy = rnd(*y.shape)
    y.backward(gy.to(REF))
    write_st("linear", {"x": x, "w": w, "b": b, "y": y, "grad_y": gy,
                        "grad_x": X.grad, "grad_w": W.grad, "grad_b": B.grad}, {"op": "linear"})


ACTS = [
    ("relu", lambda x: F.relu(x), {}),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), {"negative_slope": 0.1}),
    ("elu", lambda x: F.elu(x, alpha=1.3), {"alpha": 1.3}),
    ("gelu", lambda x: F.gelu(x), {"approximate": "none"}),
    ("silu", lambda x: F.silu(x), {}),
    ("sigmoid", lambda x: torch.sigmoid(x), {}),
    ("tanh", lambda x: torch.tanh(x), {}),
    ("softmax", lambda x: F.softmax(x, dim=1), {"dim": 1}),
    ("log_softmax", lambda x: F.log_softmax(x, dim=1), {"dim": 1}),
]


def act_cases():
    for i, (name, fn, meta) in enumerate(ACTS):
        torch.manual_seed(500 + i)
        x = rnd(4, 7, scale=2.0)
        X = leaf(x)
        y = fn(X)
        gy = rnd(*y.shape)
        y.backward(gy.to(REF))
        write_st("act_" + name, {"x": x, "y": y, "grad_y": gy, "grad_x": X.grad}, dict(op=name, **meta))


# ---------------------------------------------------------------- losses

def ce_case(name, seed, smoothing, weighted):
    torch.manual_seed(seed)
    n, c = 6, 5
    x = rnd(n, c, scale=2.0)
    labels = torch.randint(0, c, (n,))
    wt = (0.5 + torch.rand(c)) if weighted else None
    X = leaf(x)
    y = F.cross_entropy(X, labels, weight=None if wt is None else wt.to(REF), label_smoothing=smoothing)
    gy = rnd(1).reshape(())
    y.backward(gy.to(REF))
    t = {"x": x, "labels": labels.float(), "y": y, "grad_y": gy, "grad_x": X.grad}
    if weighted:
        t["weight"] = wt
    write_st(name, t, {"op": "cross_entropy", "label_smoothing": smoothing, "weighted": str(weighted).lower(),
                       "reduction": "mean"})


def loss_cases():
    ce_case("cross_entropy", 601, 0.0, False)
    ce_case("cross_entropy_smooth", 602, 0.1, False)
    ce_case("cross_entropy_weight", 603, 0.0, True)
    ce_case("cross_entropy_weight_smooth", 604, 0.1, True)

    for name, seed, weighted in (("nll_loss", 611, False), ("nll_loss_weight", 612, True)):
        torch.manual_seed(seed)
        x = F.log_softmax(rnd(6, 5, scale=2.0), dim=1)
        labels = torch.randint(0, 5, (6,))
        wt = 0.5 + torch.rand(5)
        X = leaf(x)
        y = F.nll_loss(X, labels, weight=wt.to(REF) if weighted else None)
        gy = rnd(1).reshape(())
        y.backward(gy.to(REF))
        t = {"x": x, "labels": labels.float(), "y": y, "grad_y": gy, "grad_x": X.grad}
        if weighted:
            t["weight"] = wt
        write_st(name, t, {"op": "nll_loss", "weighted": str(weighted).lower(), "reduction": "mean"})

    torch.manual_seed(621)
    x, tg = rnd(4, 6), rnd(4, 6)
    X = leaf(x)
    y = F.mse_loss(X, tg.to(REF))
    gy = rnd(1).reshape(())
    y.backward(gy.to(REF))
    write_st("mse_loss", {"x": x, "target": tg, "y": y, "grad_y": gy, "grad_x": X.grad},
             {"op": "mse_loss", "reduction": "mean"})

    torch.manual_seed(631)
    x, tg, pw = rnd(5, 3, scale=2.0), torch.rand(5, 3), 0.5 + 2 * torch.rand(3)
    tg[0] = torch.tensor([0.0, 1.0, 1.0])  # hard labels too
    X = leaf(x)
    y = F.binary_cross_entropy_with_logits(X, tg.to(REF), pos_weight=pw.to(REF))
    gy = rnd(1).reshape(())
    y.backward(gy.to(REF))
    write_st("bce_with_logits", {"x": x, "target": tg, "pos_weight": pw, "y": y, "grad_y": gy,
                                 "grad_x": X.grad}, {"op": "binary_cross_entropy_with_logits", "reduction": "mean"})


# ---------------------------------------------------------------- optimizers

def opt_case(name, seed, make, meta):
    """Two steps of an optimizer on params w (4,3) and b (3,), float32."""
    torch.manual_seed(seed)
    w, b = rnd(4, 3), rnd(3)
    grads = [(rnd(4, 3), rnd(3)) for _ in range(2)]
    pw, pb = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
    opt = make([pw, pb])
    t = {"w": w, "b": b}
    for i, (gw, gb) in enumerate(grads, 1):
        pw.grad, pb.grad = gw.clone(), gb.clone()
        opt.step()
        t["grad%d.w" % i], t["grad%d.b" % i] = gw, gb
        t["step%d.w" % i], t["step%d.b" % i] = pw.detach().clone(), pb.detach().clone()
    meta = dict(meta, steps=2, params="w,b")
    meta["reference_precision"] = "float32"
    write_st(name, t, meta)


def opt_cases():
    opt_case("sgd_momentum", 701, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4),
             {"op": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 1e-4, "nesterov": "false"})
    opt_case("sgd_nesterov", 702,
             lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True),
             {"op": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 1e-4, "nesterov": "true"})
    opt_case("adamw", 711, lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
             {"op": "adamw", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01})
    opt_case("adam", 712, lambda p: torch.optim.Adam(p, lr=1e-3),
             {"op": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0})
    opt_case("adam_l2", 713, lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=0.01),
             {"op": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01,
              "note": "coupled L2: grad += weight_decay * param before the moments"})


# ---------------------------------------------------------------- LeNet-5

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


def lenet_case():
    torch.manual_seed(801)
    m = LeNet5()  # float32 init, PyTorch default
    x = rnd(4, 1, 28, 28)
    labels = torch.randint(0, 10, (4,))
    params = {k: v.detach().clone() for k, v in m.state_dict().items()}
    m = m.double()
    logits = m(x.to(REF))
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    t = {"x": x, "labels": labels.float(), "logits": logits, "loss": loss}
    t.update(params)
    for k, p in m.named_parameters():
        t["grad." + k] = p.grad
    write_st("lenet5", t, {"op": "lenet5", "loss": "cross_entropy mean", "params": ",".join(params)})


# ---------------------------------------------------------------- weight averaging

def swa_case():
    """torch.optim.swa_utils: AveragedModel over three sets of weights (the
    'epoch ends' snapN.*), then update_bn over x in batches of 4, 4 and 2
    (the last one short). The net: conv (2->3, 3x3, pad 1, no bias),
    BatchNorm2d(3), ReLU, Flatten, Linear(48, 2)."""
    torch.manual_seed(901)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1, bias=False), torch.nn.BatchNorm2d(3),
                              torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(48, 2))
    t = {}
    params = [k for k, _ in net.named_parameters()]
    snaps = []
    for k in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(rnd(*p.shape, scale=0.3))
        snaps.append({n: p.detach().clone() for n, p in net.named_parameters()})
        for n in params:
            t["snap%d.%s" % (k, n)] = snaps[k][n]
    ref = net.double()
    swa = torch.optim.swa_utils.AveragedModel(ref)
    for k in range(3):
        with torch.no_grad():
            for n, p in ref.named_parameters():
                p.copy_(snaps[k][n].to(REF))
        swa.update_parameters(ref)
    x = rnd(10, 2, 4, 4, scale=2.0) + 0.5
    with torch.no_grad():
        swa.module[1].running_mean.fill_(3.0)
        swa.module[1].running_var.fill_(5.0)
    torch.optim.swa_utils.update_bn([x[0:4].to(REF), x[4:8].to(REF), x[8:10].to(REF)], swa)
    t["x"] = x
    for n, v in swa.module.state_dict().items():
        if n != "1.num_batches_tracked":
            t["avg." + n] = v
    write_st("swa", t, {"op": "swa", "params": ",".join(params), "batch": 4, "snapshots": 3,
                        "note": "AveragedModel then update_bn (momentum None: the mean of the batches' statistics)"})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    conv_cases()
    bn_cases()
    pool_cases()
    linear_case()
    act_cases()
    loss_cases()
    opt_cases()
    lenet_case()
    swa_case()
    names = sorted(f for f in os.listdir(OUT) if f.endswith(".safetensors"))
    print("wrote %d files, %d bytes, to %s" % (len(names), sum(os.path.getsize(os.path.join(OUT, f)) for f in names), OUT))


if __name__ == "__main__":
    main()
