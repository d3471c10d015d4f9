"""Writes the PyTorch parity fixture for rna-lens (tests/fixtures/rna_resnet18_w8.{pth,json}).

An RNA ResNet-18 defined here from the description of the official release (written for this
repository, not copied): CIFAR-style ResNet-18 with every normalization random over
[BatchNorm2d, GroupNorm(C, C)] (`--random_type bn --gn_type gnr`), candidates held in
`<layer>.norm = nn.ModuleList([...])`, inputs in [0, 1] normalized inside the model, saved as a
DataParallel-style state dict (`module.` prefix) like the released `weight.pth`. Widths are 1/8
of ResNet-18 (8/16/32/64) so the fixture stays small. Running statistics are made non-trivial
by train-mode passes along random paths. The JSON holds inputs, paths (candidate index per
random layer, in network order) and eval-mode logits for every (input, path) pair.

Run: python3 tests/python/make_parity_fixture.py [OUT_DIR]   (needs torch; CPU is enough)
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2471, 0.2435, 0.2616)


class RandomNorm(nn.Module):
    """One module per candidate; `choice` selects the one used by the next forward pass."""

    def __init__(self, channels):
        super().__init__()
        self.norm = nn.ModuleList([nn.BatchNorm2d(channels), nn.GroupNorm(channels, channels)])
        self.choice = 0

    def forward(self, x):
        return self.norm[self.choice](x)


class BasicBlock(nn.Module):
    def __init__(self, inputs, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, width, 3, stride, 1, bias=False)
        self.bn1 = RandomNorm(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = RandomNorm(width)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != width:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, width, 1, stride, bias=False), RandomNorm(width))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, widths=(8, 16, 32, 64), blocks=(2, 2, 2, 2), classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = RandomNorm(widths[0])
        inputs = widths[0]
        for s, (w, n) in enumerate(zip(widths, blocks)):
            layer = []
            for b in range(n):
                layer.append(BasicBlock(inputs, w, 2 if s > 0 and b == 0 else 1))
                inputs = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))
        self.linear = nn.Linear(inputs, classes)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def random_norms(self):
        """Random layers in network order: stem, then per block bn1, bn2, shortcut norm."""
        out = [self.bn1]
        for s in range(1, 5):
            for block in getattr(self, f"layer{s}"):
                out += [block.bn1, block.bn2]
                if len(block.shortcut) > 0:
                    out.append(block.shortcut[1])
        return out

    def set_path(self, path):
        for norm, c in zip(self.random_norms(), path):
            norm.choice = c

    def forward(self, x):
        x = (x - self.mean) / self.std
        out = F.relu(self.bn1(self.conv1(x)))
        for s in range(1, 5):
            out = getattr(self, f"layer{s}")(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures")
    torch.manual_seed(0)
    model = ResNet()
    layers = len(model.random_norms())
    # Non-trivial affine parameters and running statistics.
    with torch.no_grad():
        for norm in model.random_norms():
            for cand in norm.norm:
                cand.weight.uniform_(0.5, 1.5)
                cand.bias.uniform_(-0.3, 0.3)
    model.train()
    for step in range(12):
        model.set_path(torch.randint(0, 2, (layers,)).tolist())
        with torch.no_grad():
            model(torch.rand(16, 3, 32, 32) * 0.8 + 0.1 * step / 12)
    model.eval()

    inputs = torch.rand(3, 3, 32, 32)
    paths = [[0] * layers, [1] * layers] + torch.randint(0, 2, (4, layers)).tolist()
    logits = []
    with torch.no_grad():
        for path in paths:
            model.set_path(path)
            logits.append(model(inputs).tolist())

    state = {"module." + k: v for k, v in model.state_dict().items()}
    os.makedirs(out_dir, exist_ok=True)
    torch.save(state, os.path.join(out_dir, "rna_resnet18_w8.pth"))
    with open(os.path.join(out_dir, "rna_resnet18_w8.json"), "w") as f:
        json.dump(
            {
                "description": "RNA ResNet-18 at 1/8 width, candidates [bn, gnr_1]; logits[p][i] = path p on input i, eval mode",
                "torch_version": torch.__version__,
                "inputs_shape": list(inputs.shape),
                "inputs": inputs.flatten().tolist(),
                "paths": paths,
                "logits": logits,
            },
            f,
        )
    print(f"{layers} random layers, {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
