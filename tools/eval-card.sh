#!/usr/bin/env bash
# Measures the model-card table of a model with `rna-lens eval` and prints it as Markdown.
# Usage: tools/eval-card.sh MODEL.safetensors DATA_DIR [AA_LIMIT] [SEED]
#   natural, FGSM, PGD-20, MI-FGSM (official policy), PGD-20 (fixed), EOT-PGD-20 (K = 10) on the
#   whole test split; autoattack-rand on AA_LIMIT images (default 1000, a fixed random subset).
set -euo pipefail
model="$1"; data="$2"; aa_limit="${3:-1000}"; seed="${4:-0}"
bin="${RNA_LENS:-cargo run --release --quiet --}"
out=$(mktemp -d)
$bin eval --model "$model" --data "$data" --seed "$seed" --json \
  --preset natural,fgsm,pgd20,mifgsm,pgd20-fixed,eot-pgd20 > "$out/full.json"
$bin eval --model "$model" --data "$data" --seed "$seed" --json --limit "$aa_limit" \
  --preset autoattack-rand > "$out/aa.json"
python3 - "$out/full.json" "$out/aa.json" <<'PY'
import json, sys
full, aa = (json.load(open(p)) for p in sys.argv[1:3])
order = ["natural", "fgsm", "pgd20", "mifgsm", "pgd20-fixed", "eot-pgd20", "autoattack-rand"]
found = {**full["protocols"], **aa["protocols"]}
rows = [(n, found[n]) for n in order if n in found]
print("| protocol | accuracy | images | what exactly |")
print("|---|---|---|---|")
for name, r in rows:
    acc = r["robust_accuracy"] if r["robust_accuracy"] is not None else r["natural_accuracy"]
    print(f"| {name} | {100 * acc:.2f}% | {r['images']} | {r['protocol']} |")
print(f"\nseed {full['seed']}; data {full['data']} ({full['split']} split)")
PY
