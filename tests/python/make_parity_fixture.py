"""Writes the PyTorch parity fixture for rna-lens (tests/fixtures/rna_resnet18_w8.{pth,json}).

An RNA ResNet-18 (`rna_torch.py`: every normalization random over [BatchNorm2d,
GroupNorm(C, C)], the release's `--random_type bn --gn_type gnr`), saved as a DataParallel-style
state dict (`module.` prefix) like the released `weight.pth`. Widths are 1/8
of ResNet-18 (8/16/32/64) so the fixture stays small. Running statistics are made non-trivial
by train-mode passes along random paths. The JSON holds inputs, paths (candidate index per
random layer, in network order) and eval-mode logits for every (input, path) pair.

Run: python3 tests/python/make_parity_fixture.py [OUT_DIR]   (needs torch; CPU is enough)
"""
import json
import os
import sys

import torch

from rna_torch import ResNet


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
