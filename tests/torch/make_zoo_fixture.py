#!/usr/bin/python3
"""Writes a backbone parity fixture for torch_tests (zoo_parity_test.cc).

usage: make_zoo_fixture.py NAME OUT_DIR

NAME is a torchvision.models builder (resnet18, vgg16_bn, inception_v3, ...).
OUT_DIR/NAME.pth      state dict of the whole torchvision model (random init, seed 0; the
                      auxiliary classifiers of googlenet / inception_v3 included, as in
                      torchvision's published files), written by torch.save. vgg16_bn's
                      classifier is shrunk to 4 units (same entry names) to keep the file
                      small: the backbone skips it either way.
OUT_DIR/NAME-legacy.pth  densenet121 only: the same entries under the old key names of
                      torchvision's published DenseNet files ("norm.1" for "norm1"), without
                      the BN step counters those files predate.
OUT_DIR/input.bin     float32 [2, 3, S, S] batch (seed 1), S = 75 for inception_v3 (its
                      smallest input), else 64
OUT_DIR/features.bin  float64 [2, F] eval-mode input of torchvision's classifier, globally
                      average pooled (vgg16_bn: its conv features, pooled), computed in
                      float64 from the saved float32 weights: random-init deep networks
                      amplify float32 rounding (python's own float32 and float64 features of
                      resnet152 differ by 3e-3), in float64 an implementation difference
                      stands out of the rounding by many orders of magnitude
Exit status 3 when torch or torchvision cannot be imported (the test reports it as a failure).
"""
import sys

try:
    import torch
    import torchvision
except Exception as e:  # noqa: BLE001 - any import problem means "not installed"
    print(f"cannot import torch/torchvision with {sys.executable}: {e}", file=sys.stderr)
    sys.exit(3)

import re


def build(name):
    if name in ("googlenet", "inception_v3"):
        # transform_input stays off: the C++ backbone folds it into its preprocessing.
        return getattr(torchvision.models, name)(aux_logits=True, init_weights=True)
    return getattr(torchvision.models, name)()


def main():
    name, out = sys.argv[1], sys.argv[2]
    size = 75 if name == "inception_v3" else 64
    torch.manual_seed(0)
    model = build(name)
    if name == "vgg16_bn":
        model.classifier = torch.nn.Sequential(
            torch.nn.Linear(512 * 7 * 7, 4), torch.nn.ReLU(True), torch.nn.Dropout(),
            torch.nn.Linear(4, 4), torch.nn.ReLU(True), torch.nn.Dropout(),
            torch.nn.Linear(4, 4))
    # Realistic, non-trivial BN statistics (what eval mode uses): a few training-mode passes
    # with a cumulative average, as a trained network's statistics normalise its activations.
    # That keeps the features O(1), where a 1e-4 tolerance is meaningful for float32.
    aux = getattr(model, "AuxLogits", None)
    if aux is not None:
        model.AuxLogits = None  # its pooling needs more than the smallest input
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
        model.train()
        g = torch.Generator().manual_seed(2)
        for _ in range(2):
            model(torch.randn(6, 3, size, size, generator=g))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.1
    if aux is not None:
        model.AuxLogits = aux
    model.eval()
    state = model.state_dict()
    torch.save(state, f"{out}/{name}.pth")
    if name == "densenet121":
        legacy = type(state)()
        legacy._metadata = state._metadata
        for key, value in state.items():
            if key.endswith("num_batches_tracked"):
                continue  # the published files predate the counter
            legacy[re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", key)] = value
        torch.save(legacy, f"{out}/{name}-legacy.pth")

    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, size, size, generator=g)
    model.double()
    with torch.no_grad():
        if name == "vgg16_bn":
            features = torch.nn.functional.adaptive_avg_pool2d(
                model.features(x.double()), 1).flatten(1)
        else:
            if hasattr(model, "fc"):
                model.fc = torch.nn.Identity()
            else:
                model.classifier = torch.nn.Identity()
            features = model(x.double())
    x.numpy().astype("<f4").tofile(f"{out}/input.bin")
    features.numpy().astype("<f8").tofile(f"{out}/features.bin")


if __name__ == "__main__":
    main()
