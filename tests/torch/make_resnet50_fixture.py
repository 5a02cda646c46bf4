#!/usr/bin/python3
"""Writes the ResNet50 parity fixture for torch_tests.

usage: make_resnet50_fixture.py OUT_DIR

OUT_DIR/resnet50.pth     state dict of torchvision.models.resnet50() (random init, seed 0),
                         written by torch.save (zip format, OrderedDict with _metadata, as
                         torchvision's published files)
OUT_DIR/input.bin        float32 [2, 3, 64, 64] batch (seed 1), little-endian
OUT_DIR/logits.bin       float32 [2, 1000] eval-mode logits of that batch
Exit status 3 when torch or torchvision cannot be imported (the test reports it as a failure).
"""
import sys

try:
    import torch
    import torchvision
except Exception as e:  # noqa: BLE001 - any import problem means "not installed"
    print(f"cannot import torch/torchvision with {sys.executable}: {e}", file=sys.stderr)
    sys.exit(3)


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    # Realistic, non-trivial BN statistics (what eval mode uses): a few training-mode passes
    # with a cumulative average, as a trained network's statistics normalise its activations.
    # That keeps the logits O(1), where a 1e-4 tolerance is meaningful for float32.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
        model.train()
        g = torch.Generator().manual_seed(2)
        for _ in range(3):
            model(torch.randn(8, 3, 64, 64, generator=g))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.1
    model.eval()
    torch.save(model.state_dict(), f"{out}/resnet50.pth")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 64, 64, generator=g)
    with torch.no_grad():
        logits = model(x)
    x.numpy().astype("<f4").tofile(f"{out}/input.bin")
    logits.numpy().astype("<f4").tofile(f"{out}/logits.bin")


if __name__ == "__main__":
    main()
