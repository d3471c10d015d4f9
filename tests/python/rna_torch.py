"""An RNA CIFAR ResNet in PyTorch, written for this repository from the official release's
description (not copied): every normalization is a `RandomNorm` holding one module per candidate
in `<layer>.norm = nn.ModuleList([...])` (`bn`: BatchNorm2d, `gnr_1`: GroupNorm(C, C), i.e.
instance norm with affine), 3×3 stem, basic blocks with 1×1 convolution shortcuts where the shape
changes, inputs in [0, 1] normalized inside the model. The keys are those of the released
checkpoints and of `rna-lens export`. Shared by the parity fixture, the export check and the
torchattacks cross-check.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2471, 0.2435, 0.2616)
RELEASED = ("bn", "gnr_1")


class RandomNorm(nn.Module):
    """One module per candidate; `choice` selects the one used by the next forward pass, or
    `masks` (one `[N, 1, 1, 1]` 0/1 tensor per candidate) a candidate per sample."""

    def __init__(self, channels, kinds=RELEASED):
        super().__init__()
        make = {"bn": lambda: nn.BatchNorm2d(channels), "gnr_1": lambda: nn.GroupNorm(channels, channels)}
        self.norm = nn.ModuleList([make[k]() for k in kinds])
        self.choice = 0
        self.masks = None

    def forward(self, x):
        if self.masks is None:
            return self.norm[self.choice](x)
        return sum(self.norm[c](x) * m for c, m in enumerate(self.masks) if m is not None)


class BasicBlock(nn.Module):
    def __init__(self, inputs, width, stride, kinds=RELEASED):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, width, 3, stride, 1, bias=False)
        self.bn1 = RandomNorm(width, kinds)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = RandomNorm(width, kinds)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != width:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, width, 1, stride, bias=False), RandomNorm(width, kinds))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Defaults: ResNet-18 at 1/8 width (the parity fixture); ResNet-20 is widths (16, 32, 64),
    blocks (3, 3, 3)."""

    def __init__(self, widths=(8, 16, 32, 64), blocks=(2, 2, 2, 2), kinds=RELEASED, classes=10):
        super().__init__()
        self.stages = len(widths)
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = RandomNorm(widths[0], kinds)
        inputs = widths[0]
        for s, (w, n) in enumerate(zip(widths, blocks)):
            layer = []
            for b in range(n):
                layer.append(BasicBlock(inputs, w, 2 if s > 0 and b == 0 else 1, kinds))
                inputs = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))
        self.linear = nn.Linear(inputs, classes)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def random_norms(self):
        """Random layers in network order: stem, then per block bn1, bn2, shortcut norm."""
        out = [self.bn1]
        for s in range(1, self.stages + 1):
            for block in getattr(self, f"layer{s}"):
                out += [block.bn1, block.bn2]
                if len(block.shortcut) > 0:
                    out.append(block.shortcut[1])
        return out

    def set_path(self, path):
        for norm, c in zip(self.random_norms(), path):
            norm.choice = c
            norm.masks = None

    def set_paths(self, paths):
        """One path per sample of the next batch (eval mode), in one batched pass."""
        for layer, norm in enumerate(self.random_norms()):
            choices = torch.tensor([p[layer] for p in paths], device=self.mean.device)
            norm.masks = [
                (choices == c).float().view(-1, 1, 1, 1) if bool((choices == c).any()) else None
                for c in range(len(norm.norm))
            ]

    def forward(self, x):
        x = (x - self.mean) / self.std
        out = F.relu(self.bn1(self.conv1(x)))
        for s in range(1, self.stages + 1):
            out = getattr(self, f"layer{s}")(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)
