#!/usr/bin/python3
"""A plain PyTorch training script, tuned by tuner-server through the command trainer.

It reads its hyperparameters with tuner.params(), trains from tuner.start_epoch() + 1 to
tuner.budget_epochs() (Hyperband's rung budget), saves a checkpoint in tuner.checkpoint_dir()
after every epoch *before* reporting it, and on a promotion resumes from tuner.resume_dir()
instead of starting over. Run by hand it trains with the defaults below:

    PYTHONPATH=clients/python /usr/bin/python3 examples/own-code/train_fashion_mnist.py

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, the original idx
files); FASHION_MNIST_DIR overrides the path, TRAIN_IMAGES / VAL_IMAGES the subset sizes.
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
from torch import nn

import tuner

DEFAULTS = {"learning_rate": 1e-3, "units": 128, "dropout": 0.2, "optimizer": "adam"}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_data(train_images, val_images):
    root = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
    images = read_idx(os.path.join(root, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(root, "train-labels-idx1-ubyte.gz"))
    # A fixed split, the same in every trial: the last val_images images validate.
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return (x[:train_images], y[:train_images]), (x[-val_images:], y[-val_images:])


def make_model(p):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(p["dropout"]),
        nn.Linear(32 * 7 * 7, p["units"]), nn.ReLU(), nn.Linear(p["units"], 10))


def evaluate(model, x, y):
    model.eval()
    with torch.no_grad():
        logits = model(x)
        return ((logits.argmax(1) == y).float().mean().item(),
                nn.functional.cross_entropy(logits, y).item())


def main():
    p = tuner.params(DEFAULTS)
    torch.manual_seed(tuner.seed())
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    (x, y), (vx, vy) = load_data(int(os.environ.get("TRAIN_IMAGES", "12000")),
                                 int(os.environ.get("VAL_IMAGES", "2000")))
    model = make_model(p)
    optimizer = (torch.optim.Adam(model.parameters(), lr=p["learning_rate"])
                 if p["optimizer"] == "adam"
                 else torch.optim.SGD(model.parameters(), lr=p["learning_rate"], momentum=0.9))
    start = tuner.start_epoch()
    if start > 0:
        state = torch.load(os.path.join(tuner.resume_dir(), "model.pt"))
        if state["epoch"] != start:
            sys.exit(f"checkpoint is at epoch {state['epoch']}, TUNER_START_EPOCH is {start}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        print(f"resumed from the checkpoint of epoch {start}", flush=True)
    checkpoint = os.path.join(tuner.checkpoint_dir(), "model.pt")
    for epoch in range(start + 1, tuner.budget_epochs(3) + 1):
        began = time.time()
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            batch = order[i:i + 128]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        val_accuracy, val_loss = evaluate(model, vx, vy)
        # Checkpoint first (atomically), then report: a stop may come as the answer.
        torch.save({"epoch": epoch, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()},
                   checkpoint + ".tmp")
        os.replace(checkpoint + ".tmp", checkpoint)
        print(f"epoch {epoch}: train_loss {loss.item():.4f} val_accuracy {val_accuracy:.4f} "
              f"({time.time() - began:.1f} s)", file=sys.stderr, flush=True)
        if tuner.report(epoch, val_accuracy=val_accuracy, val_loss=val_loss,
                        train_loss=loss.item()):
            break


if __name__ == "__main__":
    main()
