"""End-to-end table, python side: the seed-000 study done the straightforward way, a python
PyTorch loop like the Keras original. For each configuration (the same ones our study ran,
read from `tunectl trials --json`) and each of its executions: a frozen torchvision resnet50
(random init: no pretrained weights can be fetched here) under a transfer head, trained with
fresh augmentation every epoch (rotation 15, shift 0.1, horizontal flip), the backbone run on
every batch, validation every epoch, EarlyStopping(patience 5, restore best) and
ReduceLROnPlateau(0.5, patience 2) on val_accuracy. Prints one JSON object.

  /usr/bin/python3 bench/e2e_peer.py TRIALS.json DATASET TRAIN VAL EPOCHS EXECUTIONS
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from trainer_peer import load_idx_images, transform  # noqa: E402


def load_labels(path, limit):
    import gzip
    import os
    for name in ("train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte"):
        full = os.path.join(path, name)
        if os.path.exists(full):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(full, "rb") as f:
                data = f.read()
            return torch.tensor(list(data[8:8 + limit]), dtype=torch.long)
    raise SystemExit(f"no labels in {path}")


def run_execution(trunk, params, seed, data, epochs):
    (xtr, ytr), (xva, yva) = data
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Sequential(torch.nn.Linear(2048, int(params["units"])), torch.nn.ReLU(),
                               torch.nn.Dropout(float(params["dropout"])),
                               torch.nn.Linear(int(params["units"]), 10))
    lr = float(params["learning_rate"])
    if params["optimizer"] == "rmsprop":
        opt = torch.optim.RMSprop(head.parameters(), lr, alpha=0.9, eps=1e-7)
    else:
        opt = torch.optim.Adam(head.parameters(), lr, eps=1e-7)
    best, best_state, since_best, since_lr = -1.0, None, 0, 0
    for _ in range(epochs):
        head.train()
        order = torch.randperm(xtr.size(0), generator=gen)
        for i in range(0, xtr.size(0), 64):
            idx = order[i:i + 64]
            x = transform(xtr[idx], 32, True, gen)
            with torch.no_grad():
                f = trunk(x)
            loss = F.cross_entropy(head(f), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        head.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, xva.size(0), 256):
                logits = head(trunk(transform(xva[i:i + 256], 32, False, gen)))
                correct += (logits.argmax(1) == yva[i:i + 256]).sum().item()
        acc = correct / xva.size(0)
        if acc > best:
            best, since_best, since_lr = acc, 0, 0
            best_state = {k: v.clone() for k, v in head.state_dict().items()}
        else:
            since_best += 1
            since_lr += 1
            if since_lr >= 2:  # ReduceLROnPlateau(factor 0.5, patience 2)
                for g in opt.param_groups:
                    g["lr"] *= 0.5
                since_lr = 0
            if since_best >= 5:  # EarlyStopping(patience 5, restore_best_weights)
                break
    head.load_state_dict(best_state)
    return best


def main():
    trials_path, dataset = sys.argv[1], sys.argv[2]
    train, val, epochs, executions = (int(v) for v in sys.argv[3:7])
    torch.set_num_threads(2)
    with open(trials_path) as f:
        configs = [t["params"] for t in json.load(f)["trials"]]
    start = time.perf_counter()
    images = load_idx_images(dataset, 60000)
    labels = load_labels(dataset, 60000)
    order = torch.randperm(images.size(0), generator=torch.Generator().manual_seed(0))
    n_val = round(images.size(0) * 0.1)
    va, tr = order[:n_val][:val], order[n_val:][:train]
    data = ((images[tr], labels[tr]), (images[va], labels[va]))
    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    model.fc = torch.nn.Identity()
    trunk = model.eval()
    for p in trunk.parameters():
        p.requires_grad_(False)
    values = []
    for params in configs:
        runs = [run_execution(trunk, params, seed, data, epochs) for seed in range(executions)]
        values.append(sum(runs) / len(runs))
    seconds = time.perf_counter() - start
    print(json.dumps({"trials": len(values), "values": values, "best": max(values),
                      "seconds": seconds}))


if __name__ == "__main__":
    main()
