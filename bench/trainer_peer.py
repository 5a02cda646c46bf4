"""Trainer table, python side: torchvision's resnet50 on Debian's libtorch (the same library
bench-trainer links), the same head, batch, input size and thread count, the same steps.
Prints one JSON object with bench-trainer's keys.

  /usr/bin/python3 bench/trainer_peer.py --threads 2 --batch 32 --size 32 --steps 6
"""
import argparse
import gzip
import json
import math
import os
import time

import torch
import torch.nn.functional as F
import torchvision

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def rate(batch, steps, step):
    """Images/s from the fastest step after a warm-up step (as bench-trainer)."""
    step()
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return batch / min(seconds)


def load_idx_images(path, limit):
    for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"):
        full = os.path.join(path, name)
        if os.path.exists(full):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(full, "rb") as f:
                data = f.read()
            n, h, w = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
            n = min(n, limit)
            return torch.frombuffer(bytearray(data[16:16 + n * h * w]), dtype=torch.uint8).view(n, 1, h, w)
    return None


def transform(images, size, augment, gen):
    """uint8 [B,1,H,W] -> normalised float [B,3,S,S]; augmentation as one batched affine
    resample (rotation 15 deg, shift 0.1, flip), the way a careful python user would write it."""
    x = images.float().div_(255.0)
    if augment:
        b = x.size(0)
        angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(15)
        shift = (torch.rand(b, 2, generator=gen) * 2 - 1) * 0.2  # 0.1 of the side in [-1, 1] units
        flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                             torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    if x.size(-1) != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.expand(-1, 3, -1, -1)
    return (x - MEAN) / STD


def loader_rate(images, batch, size, augment):
    gen = torch.Generator().manual_seed(1)
    order = torch.randperm(images.size(0), generator=gen)
    start = time.perf_counter()
    seen = 0
    for i in range(0, images.size(0), batch):
        idx = order[i:i + batch]
        transform(images[idx], size, augment, gen)
        seen += idx.numel()
    return seen / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--dataset", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    model.fc = torch.nn.Identity()
    head = torch.nn.Sequential(torch.nn.Linear(2048, 256), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                               torch.nn.Linear(256, 10))
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, 10, (a.batch,))
    out = {"side": "python", "threads": torch.get_num_threads(), "batch": a.batch, "size": a.size}

    model.eval()
    head.train()
    head_opt = torch.optim.Adam(head.parameters(), 1e-3)

    def frozen_step():
        with torch.no_grad():
            f = model(x)
        loss = F.cross_entropy(head(f), y)
        head_opt.zero_grad()
        loss.backward()
        head_opt.step()

    def forward():
        with torch.no_grad():
            model(x)

    out["frozen_train"] = rate(a.batch, a.steps, frozen_step)
    out["forward"] = rate(a.batch, a.steps, forward)

    model.train()
    full_opt = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), 0.01, momentum=0.9)

    def full_step():
        loss = F.cross_entropy(head(model(x)), y)
        full_opt.zero_grad()
        loss.backward()
        full_opt.step()

    out["full_train"] = rate(a.batch, max(1, a.steps // 2), full_step)
    images = load_idx_images(a.dataset, 8192)
    if images is not None:
        images = images[: int(images.size(0))]
        out["loader"] = loader_rate(images, a.batch, a.size, False)
        out["loader_augmented"] = loader_rate(images, a.batch, a.size, True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
