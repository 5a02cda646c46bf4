"""Cached head step, python side (issue 14): the straightforward PyTorch loop a user writes
over features held in memory — the same head (Linear(2048, units), ReLU, Dropout(0.3),
Linear(units, 10)), the same optimizer and learning rate, batches gathered with index_select in
a shuffled order, on Debian's libtorch 1.13 (the library bench-head links). Prints one JSON
object with bench-head's keys; bench/run runs it with the default BLAS threads and with
OPENBLAS_NUM_THREADS=1 and takes python's better figure.

  /usr/bin/python3 bench/head_peer.py --threads 2 --batches 64,512 --train 4096 --epochs 3
"""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F


def gemm_gflops():
    best = 0.0
    for m, k, n in ((1024, 1024, 1024), (2048, 2048, 512)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        c = torch.empty(m, n)
        torch.mm(a, b, out=c)
        for _ in range(5):
            start = time.perf_counter()
            torch.mm(a, b, out=c)
            best = max(best, 2.0 * m * k * n / (time.perf_counter() - start) / 1e9)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", default="64,512")
    p.add_argument("--train", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--optimizer", default="adam", choices=["adam", "rmsprop", "sgd"])
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    features = torch.randn(a.train, 2048)
    labels = torch.randint(0, 10, (a.train,))
    out = {"side": "python", "threads": torch.get_num_threads(), "train_images": a.train,
           "units": a.units, "optimizer": a.optimizer,
           "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
           "gemm_gflops": gemm_gflops()}
    for batch in (int(b) for b in a.batches.split(",")):
        torch.manual_seed(1)
        head = torch.nn.Sequential(torch.nn.Linear(2048, a.units), torch.nn.ReLU(),
                                   torch.nn.Dropout(0.3), torch.nn.Linear(a.units, 10))
        head.train()
        if a.optimizer == "adam":
            opt = torch.optim.Adam(head.parameters(), 1e-3, eps=1e-7)
        elif a.optimizer == "rmsprop":
            opt = torch.optim.RMSprop(head.parameters(), 1e-3, alpha=0.9, eps=1e-7)
        else:
            opt = torch.optim.SGD(head.parameters(), 1e-3, momentum=0.9)
        fastest = float("inf")
        for epoch in range(a.epochs + 1):  # epoch 0 warms up
            order = torch.randperm(a.train)
            start = time.perf_counter()
            for s in range(0, a.train, batch):
                idx = order[s:s + batch]
                x, y = features.index_select(0, idx), labels.index_select(0, idx)
                opt.zero_grad()
                loss = F.cross_entropy(head(x), y)
                loss.backward()
                opt.step()
                loss.item()  # the trainer reads every step's loss too
            if epoch > 0:
                fastest = min(fastest, time.perf_counter() - start)
        out[f"head_b{batch}"] = a.train / fastest
    print(json.dumps(out))


if __name__ == "__main__":
    main()
