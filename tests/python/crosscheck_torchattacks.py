"""Cross-checks rna-lens against torchattacks on the same weights and the same images.

Exports an rna-lens model to PyTorch (`rna-lens export`), rebuilds it in PyTorch
(`rna_torch.py`) and measures PGD-20 (ε 8/255, α 2/255, random start) robust accuracy with
torchattacks and with `rna-lens eval` on the same N test images, under the official protocol
(attack on one random path, defence on an independent one, a new pair for every image) and
under one fixed path (the same path in both libraries). Prints both side by side.

The images are decoded once here and written as PNG, so both libraries read identical pixels.

Usage (needs torch and torchattacks from PyPI; not part of the test suite):
    python3 tests/python/crosscheck_torchattacks.py MODEL.safetensors DATA_DIR [N] [RNA_LENS_BINARY]
DATA_DIR is an image-folder tree with test/<class>/*.jpg|png (tools/prepare-data.sh makes one).
"""
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchattacks
from PIL import Image

from rna_torch import ResNet

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def rna_lens(binary, *args):
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout


def subset(data_dir, n, out_dir):
    """n/10 images per class (sorted names, a seeded shuffle), written as PNG."""
    rng = random.Random(0)
    xs, ys = [], []
    for label, name in enumerate(CLASSES):
        folder = os.path.join(data_dir, "test", name)
        files = sorted(os.listdir(folder))
        rng.shuffle(files)
        os.makedirs(os.path.join(out_dir, "test", name), exist_ok=True)
        for f in files[: n // len(CLASSES)]:
            pixels = np.asarray(Image.open(os.path.join(folder, f)).convert("RGB"))
            Image.fromarray(pixels).save(os.path.join(out_dir, "test", name, os.path.splitext(f)[0] + ".png"))
            xs.append(pixels)
            ys.append(label)
    x = torch.tensor(np.stack(xs)).permute(0, 3, 1, 2).float() / 255.0
    return x, torch.tensor(ys)


def torch_accuracy(model, x, y, paths_for_batch, batch=128, seed=0):
    """PGD-20 robust accuracy; paths_for_batch(i) -> (attacker path, defender path)."""
    torch.manual_seed(seed)
    correct = 0
    for i in range(0, len(x), batch):
        xb, yb = x[i : i + batch], y[i : i + batch]
        attack_path, defend_path = paths_for_batch(i // batch)
        model.set_path(attack_path)
        adv = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=20, random_start=True)(xb, yb)
        model.set_path(defend_path)
        with torch.no_grad():
            correct += (model(adv).argmax(1) == yb).sum().item()
    return correct / len(x)


def main():
    model_file, data_dir = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    binary = sys.argv[4] if len(sys.argv) > 4 else "target/release/rna-lens"
    torch.set_num_threads(os.cpu_count() or 1)
    info = json.loads(rna_lens(binary, "info", "--model", model_file, "--json"))
    arch = info["config"]["architecture"]
    kinds = info["candidates"]
    layers = len(info["random_layers"])
    tmp = tempfile.mkdtemp(prefix="rna-lens-crosscheck-")
    pth = os.path.join(tmp, "model.pth")
    rna_lens(binary, "export", "--model", model_file, "--to", pth)
    model = ResNet(arch["stage_widths"], arch["blocks_per_stage"], kinds)
    model.load_state_dict({k.removeprefix("module."): v for k, v in torch.load(pth, weights_only=True).items()}, strict=True)
    model.eval()
    x, y = subset(data_dir, n, tmp)

    rng = random.Random(1)
    draw = lambda: [rng.randrange(len(kinds)) for _ in range(layers)]
    # Official protocol with a fresh (attacker, defender) pair per image (batch 1 on both
    # sides): a pair per batch of 128 would leave only 8 pairs, and robust accuracy varies a lot
    # between pairs, so the two libraries' figures would differ by path luck alone.
    official = [(draw(), draw()) for _ in range(len(x))]
    fixed = draw()
    fixed_text = "".join(str(c) for c in fixed)
    rows = [
        (
            "official (a path pair per image)",
            torch_accuracy(model, x, y, lambda b: official[b], batch=1),
            ["--policy", "official", "--pairing", "image"],
        ),
        (
            f"fixed {fixed_text or '(no random layers)'}",
            torch_accuracy(model, x, y, lambda b: (fixed, fixed)),
            ["--policy", "fixed"] + (["--path", fixed_text] if fixed_text else []),
        ),
    ]
    print(f"PGD-20 (ε 8/255, α 2/255, random start) on {len(x)} test images of {model_file}")
    print(f"{'protocol':<32} {'torchattacks':>13} {'rna-lens':>9} {'difference':>11}")
    for name, theirs, flags in rows:
        report = json.loads(
            rna_lens(binary, "eval", "--model", model_file, "--data", tmp, "--attack", "pgd", "--eps", "8",
                     "--alpha", "2", "--steps", "20", *flags, "--json")
        )
        # torchattacks' figure counts adversarial right (the official convention).
        ours = next(iter(report["protocols"].values()))["adversarial"]["value"]
        print(f"{name:<32} {100 * theirs:12.2f}% {100 * ours:8.2f}% {100 * (ours - theirs):+10.2f}")


if __name__ == "__main__":
    main()
