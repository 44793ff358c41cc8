#!/usr/bin/env python3
"""airbench94 in PyTorch on the CPU, fp32: the reference of recipes/cifar10-94.yaml.

A port of K. Jordan's airbench94 (arXiv 2404.00498; KellerJordan/cifar10-airbench,
legacy/airbench94.py, MIT license) to the CPU in float32, reading the same JPEG
archives as `fovea train`, for the side-by-side time and accuracy of
docs/recipes.md ("CIFAR-10 to 94%"). The method is unchanged: the network
(2x2 patch-whitening convolution initialized from 5,000 training images,
three conv groups 64/256/256, GELU, batch norm without learned scale,
momentum 0.6 in the reference's convention, eps 1e-12, Dirac-initialized
convolutions, linear head scaled by 1/9), Nesterov SGD with momentum 0.85,
decoupled learning rate 11.5 and weight decay 0.0153 per 1,024 examples,
batch-norm biases at 64x the rate, a triangular schedule (0.2 -> 1 over the
first 23% of the steps, then -> 0.07), label smoothing 0.2 on the summed
loss, Lookahead weight averaging every 5 steps, the whitening bias trained
for 3 epochs only, alternating flips and 2-pixel reflect-padded
translations, 9.9 epochs of batch 1,024 (drop last), and test-time
augmentation (mirror and 1-pixel translations, 6 views) at the end.
Normalization uses the reference's CIFAR-10 constants.

Run with Debian's python3-torch (1.13, CPU):

    /usr/bin/python3 tools/recipes/airbench94_torch.py \
        ../shared/datasets/cifar10-jpeg --threads 2 --seed 1

It prints each epoch's training time, the test accuracy without and, at the
end, with TTA, and the wall time from start (decoding included) to the
final accuracy.
"""
import argparse
import io
import math
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR_MEAN = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
CIFAR_STD = torch.tensor((0.2470, 0.2435, 0.2616)).view(1, 3, 1, 1)

HYP = dict(epochs=9.9, batch_size=1024, lr=11.5, momentum=0.85, weight_decay=0.0153, bias_scaler=64.0,
           label_smoothing=0.2, whiten_bias_epochs=3, translate=2, widths=(64, 256, 256),
           bn_momentum=0.6, scaling_factor=1 / 9)


def load(path):
    xs, ys = [], []
    with tarfile.open(path) as tf:
        for m in tf:
            if not m.isfile() or not m.name.endswith(".jpg"):
                continue
            img = Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB")
            xs.append(np.asarray(img, dtype=np.uint8))
            ys.append(CLASSES.index(m.name.split("/")[-2]))
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255
    return (x - CIFAR_MEAN) / CIFAR_STD, torch.tensor(ys)


def batch_flip_lr(x):
    mask = (torch.rand(len(x)) < 0.5).view(-1, 1, 1, 1)
    return torch.where(mask, x.flip(-1), x)


def batch_crop(images, size):
    r = (images.size(-1) - size) // 2
    shifts = torch.randint(-r, r + 1, size=(len(images), 2))
    out = torch.empty((len(images), images.size(1), size, size), dtype=images.dtype)
    for sy in range(-r, r + 1):
        for sx in range(-r, r + 1):
            m = (shifts[:, 0] == sy) & (shifts[:, 1] == sx)
            out[m] = images[m, :, r + sy:r + sy + size, r + sx:r + sx + size]
    return out


class Loader:
    """The reference's CifarLoader: images pre-flipped once at random, all
    flipped on odd epochs, reflect-padded random translations."""

    def __init__(self, x, y, batch_size, train):
        self.x, self.y, self.bs, self.train, self.epoch = x, y, batch_size, train, 0
        if train:
            self.flipped = batch_flip_lr(x)
            self.padded = F.pad(self.flipped, (HYP["translate"],) * 4, "reflect")

    def __len__(self):
        return len(self.x) // self.bs if self.train else math.ceil(len(self.x) / self.bs)

    def __iter__(self):
        if self.train:
            images = batch_crop(self.padded, self.x.size(-1))
            if self.epoch % 2 == 1:
                images = images.flip(-1)
            idx = torch.randperm(len(images))
        else:
            images, idx = self.x, torch.arange(len(self.x))
        self.epoch += 1
        for i in range(len(self)):
            j = idx[i * self.bs:(i + 1) * self.bs]
            yield images[j], self.y[j]


class Mul(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


class BatchNorm(nn.BatchNorm2d):
    def __init__(self, c, momentum, eps=1e-12):
        super().__init__(c, eps=eps, momentum=1 - momentum)
        self.weight.requires_grad = False


class Conv(nn.Conv2d):
    def __init__(self, cin, cout, k=3, padding="same", bias=False):
        super().__init__(cin, cout, kernel_size=k, padding=padding, bias=bias)

    def reset_parameters(self):
        super().reset_parameters()
        if self.bias is not None:
            self.bias.data.zero_()
        w = self.weight.data
        torch.nn.init.dirac_(w[:w.size(1)])


class ConvGroup(nn.Module):
    def __init__(self, cin, cout, m):
        super().__init__()
        self.conv1, self.pool, self.norm1 = Conv(cin, cout), nn.MaxPool2d(2), BatchNorm(cout, m)
        self.conv2, self.norm2, self.activ = Conv(cout, cout), BatchNorm(cout, m), nn.GELU()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


def make_net():
    w, m = HYP["widths"], HYP["bn_momentum"]
    net = nn.Sequential(Conv(3, 24, 2, padding=0, bias=True), nn.GELU(), ConvGroup(24, w[0], m), ConvGroup(w[0], w[1], m),
                        ConvGroup(w[1], w[2], m), nn.MaxPool2d(3), nn.Flatten(), nn.Linear(w[2], 10, bias=False),
                        Mul(HYP["scaling_factor"]))
    net[0].weight.requires_grad = False
    return net


def init_whitening(layer, x, eps=5e-4):
    c, (h, w) = x.shape[1], layer.weight.shape[2:]
    patches = x.unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c, h, w).double()
    flat = patches.view(len(patches), -1)
    cov = flat.T @ flat / len(flat)
    vals, vecs = torch.linalg.eigh(cov, UPLO="U")
    vals, vecs = vals.flip(0).view(-1, 1, 1, 1), vecs.T.reshape(c * h * w, c, h, w).flip(0)
    scaled = (vecs / torch.sqrt(vals + eps)).float()
    layer.weight.data[:] = torch.cat((scaled, -scaled))


class Lookahead:
    def __init__(self, net):
        self.ema = {k: v.clone() for k, v in net.state_dict().items()}

    def update(self, net, decay):
        for e, p in zip(self.ema.values(), net.state_dict().values()):
            if p.dtype == torch.float:
                e.lerp_(p, 1 - decay)
                p.copy_(e)


def infer(model, x, tta):
    def mirror(inp):
        return 0.5 * model(inp) + 0.5 * model(inp.flip(-1))

    out = []
    with torch.no_grad():
        for inp in x.split(2000):
            if tta == 0:
                out.append(model(inp))
                continue
            logits = mirror(inp)
            pad = F.pad(inp, (1,) * 4, "reflect")
            shifted = [mirror(pad[:, :, 0:32, 0:32]), mirror(pad[:, :, 2:34, 2:34])]
            out.append(0.5 * logits + 0.5 * torch.stack(shifted).mean(0))
    return torch.cat(out)


def evaluate(model, x, y, tta):
    model.eval()
    acc = (infer(model, x, tta).argmax(1) == y).float().mean().item()
    model.train()
    return acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=float, default=HYP["epochs"], help="the schedule's length (the recipe: 9.9)")
    a = ap.parse_args()
    HYP["epochs"] = a.epochs
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    start = time.time()
    xtr, ytr = load(f"{a.dir}/cifar10-train-jpeg.tar.gz")
    xte, yte = load(f"{a.dir}/cifar10-test-jpeg.tar.gz")
    print(f"loaded {len(xtr)} + {len(xte)} images in {time.time() - start:.1f}s", flush=True)

    bs, mom = HYP["batch_size"], HYP["momentum"]
    kilostep = 1024 * (1 + 1 / (1 - mom))
    lr = HYP["lr"] / kilostep
    wd = HYP["weight_decay"] * bs / kilostep
    lr_biases = lr * HYP["bias_scaler"]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=HYP["label_smoothing"], reduction="none")
    train = Loader(xtr, ytr, bs, True)
    total = math.ceil(len(train) * HYP["epochs"])

    model = make_net()
    norm_biases = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    others = [p for k, p in model.named_parameters() if "norm" not in k and p.requires_grad]
    opt = torch.optim.SGD([dict(params=norm_biases, lr=lr_biases, weight_decay=wd / lr_biases),
                           dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=mom, nesterov=True)

    def get_lr(step):
        warm = int(total * 0.23)
        if step < warm:
            f = step / warm
            return 0.2 * (1 - f) + 1.0 * f
        f = (step - warm) / (total - warm)
        return 1.0 * (1 - f) + 0.07 * f

    sched = torch.optim.lr_scheduler.LambdaLR(opt, get_lr)
    alpha = 0.95 ** 5 * (torch.arange(total + 1) / total) ** 3
    init_whitening(model[0], xtr[:5000])
    look = Lookahead(model)
    steps = 0
    for epoch in range(math.ceil(HYP["epochs"])):
        model[0].bias.requires_grad = epoch < HYP["whiten_bias_epochs"]
        t0, n = time.time(), 0
        for inputs, labels in train:
            out = model(inputs)
            loss = loss_fn(out, labels).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            steps, n = steps + 1, n + len(inputs)
            if steps % 5 == 0:
                look.update(model, decay=alpha[steps].item())
            if steps >= total:
                look.update(model, decay=1.0)
                break
        dt = time.time() - t0
        acc = evaluate(model, xte, yte, 0)
        print(f"epoch {epoch + 1}: {dt:.1f}s, {n / dt:.0f} img/s, train loss {loss.item() / bs:.4f}, test accuracy {acc * 100:.2f}%",
              flush=True)
    tta = evaluate(model, xte, yte, 2)
    print(f"final: test accuracy {tta * 100:.2f}% with TTA, {acc * 100:.2f}% without; wall {time.time() - start:.1f}s "
          f"(threads {a.threads}, seed {a.seed}, torch {torch.__version__})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
