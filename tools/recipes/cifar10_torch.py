#!/usr/bin/env python3
"""The CIFAR-10 ResNet-20 recipe of docs/recipes.md in PyTorch, for timing.

Reads the same JPEG archives as `fovea train`, trains ResNet20 of
shared/bench/peers/models.py with the same recipe (SGD momentum 0.9
Nesterov, learning rate 0.1 with 5% linear warmup then cosine to 0 as
`fovea train --schedule cosine`, or `--schedule onecycle` as PyTorch's
OneCycleLR; weight decay 5e-4 on every parameter, label smoothing 0.1,
batch 128, drop-last, random crop with 4-pixel zero padding + horizontal
flip, per-channel normalization with the training set's mean/std) and
prints, per epoch, the training images/s and the test accuracy. Run with
Debian's python3-torch (CPU):

    /usr/bin/python3 tools/recipes/cifar10_torch.py \
        ../shared/datasets/cifar10-jpeg --epochs 50 --threads 2

`--epochs` sets the schedule's length; `--stop-after N` ends the run after
N epochs (the throughput of a full run is the same per epoch). `--state
FILE` saves the whole training state (model, optimizer, schedule, random
generator) to FILE after every epoch, written to a temporary file and
renamed; a later run with the same `--state FILE` continues from it, so a
50-epoch run can span interruptions.
"""
import argparse
import io
import math
import os
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def load(path):
    xs, ys = [], []
    with tarfile.open(path) as tf:
        for m in tf:
            if not m.isfile() or not m.name.endswith(".jpg"):
                continue
            cls = m.name.split("/")[-2]
            img = Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB")
            xs.append(np.asarray(img, dtype=np.uint8))
            ys.append(CLASSES.index(cls))
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255
    return x, torch.tensor(ys)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--stop-after", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--schedule", choices=["cosine", "onecycle"], default="cosine")
    ap.add_argument("--state", default="", help="resumable training state, saved after every epoch")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    sys.path.insert(0, "../shared/bench/peers")
    from models import ResNet20

    t0 = time.time()
    xtr, ytr = load(f"{a.dir}/cifar10-train-jpeg.tar.gz")
    xte, yte = load(f"{a.dir}/cifar10-test-jpeg.tar.gz")
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
    std = xtr.std(dim=(0, 2, 3), keepdim=True)
    xte = (xte - mean) / std
    print(f"loaded {len(xtr)} + {len(xte)} images in {time.time() - t0:.1f}s", flush=True)

    model = ResNet20(10)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = len(xtr) // 128
    total = steps * a.epochs
    if a.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=total)
    else:  # optim.CosineWarmup: 5% linear warmup from lr/W, then a half cosine to 0
        warm = total // 20

        def factor(step):
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm))) if step < total else 0.0
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    start = 0
    if a.state and os.path.exists(a.state):
        st = torch.load(a.state)
        if st["epochs"] != a.epochs or st["schedule"] != a.schedule or st["lr"] != a.lr:
            sys.exit(f"{a.state}: saved by a run with --epochs {st['epochs']} --schedule {st['schedule']} --lr {st['lr']}")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        torch.set_rng_state(st["rng"])
        start = st["epoch"]
        print(f"resumed from {a.state} after epoch {start}", flush=True)
    for epoch in range(start, a.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        t = time.time()
        seen = correct = 0
        for s in range(steps):
            idx = perm[s * 128:(s + 1) * 128]
            x = xtr[idx]
            # Random crop with 4-pixel zero padding, horizontal flip.
            x = F.pad(x, (4, 4, 4, 4))
            dy, dx = torch.randint(0, 9, (2, len(idx)))
            x = torch.stack([x[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(len(idx))])
            flip = torch.rand(len(idx)) < 0.5
            x[flip] = x[flip].flip(3)
            x = (x - mean) / std
            y = ytr[idx]
            out = model(x)
            loss = F.cross_entropy(out, y, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            correct += (out.argmax(1) == y).sum().item()
        train_s = time.time() - t
        model.eval()
        with torch.no_grad():
            acc = sum((model(xte[i:i + 500]).argmax(1) == yte[i:i + 500]).sum().item() for i in range(0, len(xte), 500)) / len(xte)
        print(f"epoch {epoch + 1}/{a.epochs}  train acc {correct / seen:.4f}  test acc {acc:.4f}  "
              f"{seen / train_s:.0f} img/s  train {train_s:.1f}s  epoch {time.time() - t:.1f}s", flush=True)
        if a.state:
            tmp = a.state + ".tmp"
            with open(tmp, "wb") as f:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                            "rng": torch.get_rng_state(), "epoch": epoch + 1, "epochs": a.epochs,
                            "schedule": a.schedule, "lr": a.lr}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, a.state)
        if a.stop_after and epoch + 1 >= a.stop_after:
            break


if __name__ == "__main__":
    main()
