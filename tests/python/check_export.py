"""Checks that PyTorch reads a file written by `rna-lens export` exactly: strict state-dict
loading into the reference model of rna_torch.py, and the fixture's logits.

Run: rna-lens import --from tests/fixtures/rna_resnet18_w8.pth --out m.safetensors
     rna-lens export --model m.safetensors --to exported.pth
     python3 tests/python/check_export.py exported.pth
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from rna_torch import ResNet  # noqa: E402

state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
model = ResNet()
model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
model.eval()
fixture = os.path.join(os.path.dirname(__file__), "..", "fixtures", "rna_resnet18_w8.json")
ref = json.load(open(fixture))
x = torch.tensor(ref["inputs"]).view(*ref["inputs_shape"])
worst = 0.0
with torch.no_grad():
    for path, logits in zip(ref["paths"], ref["logits"]):
        model.set_path(path)
        worst = max(worst, (model(x) - torch.tensor(logits)).abs().max().item())
print(f"strict load ok; {len(state)} tensors; max |logit difference| over {len(ref['paths'])} paths = {worst:.2e}")
assert worst < 1e-5
