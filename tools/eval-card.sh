#!/usr/bin/env bash
# Measures a model's card table with `rna-lens eval`, writes MODEL.eval.json beside the model
# (the app shows it) and prints the table as Markdown.
#
# Usage: tools/eval-card.sh MODEL.safetensors DATA_DIR [EOT_LIMIT] [AA_LIMIT] [SEED]
#   On the whole test split: natural; FGSM, PGD-20 and MI-FGSM under the official policy; and for
#   a random model PGD-20 under `fixed`. On EOT_LIMIT images (default: all): EOT-PGD-20 (K = 10).
#   On AA_LIMIT images (default 1000; 0 skips it): autoattack-rand (EOT-20). For a model without
#   random layers every path policy is the same attack, so the fixed/EOT rows are not repeated
#   and AutoAttack runs without EOT (policy `fixed`).
#   Limits pick a fixed random subset covering every class (`eval --limit`).
set -euo pipefail
model="$1"; data="$2"; eot_limit="${3:-}"; aa_limit="${4:-1000}"; seed="${5:-0}"
bin="${RNA_LENS:-cargo run --release --quiet --}"
out=$(mktemp -d)
limit() { [ -n "$1" ] && echo "--limit $1"; true; }
random=$($bin info --model "$model" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(len(d["candidates"]) > 1 and len(d["random_layers"]) > 0))')
eval_json() { $bin eval --model "$model" --data "$data" --seed "$seed" --json "$@"; }

# The stages run side by side, one process each (burn's CPU backend keeps about one core busy).
if [ "$random" = 1 ]; then
  eval_json --preset natural,fgsm,pgd20,mifgsm > "$out/1.json" &
  eval_json --preset eot-pgd20 $(limit "$eot_limit") > "$out/2.json" &
  eval_json --preset pgd20-fixed > "$out/3.json" &
  [ "$aa_limit" != 0 ] && eval_json --preset autoattack-rand --limit "$aa_limit" > "$out/4.json" &
else
  eval_json --preset natural,fgsm,pgd20,mifgsm > "$out/1.json" &
  [ "$aa_limit" != 0 ] && eval_json --attack autoattack-rand --policy fixed --limit "$aa_limit" > "$out/4.json" &
fi
for job in $(jobs -p); do wait "$job"; done

python3 - "$model" "$out"/*.json <<'PY'
import json, sys
model, parts = sys.argv[1], [json.load(open(p)) for p in sys.argv[2:]]
merged = dict(parts[0])
merged["protocols"] = {k: v for p in parts for k, v in p["protocols"].items()}
merged["accuracy"] = {k: v for p in parts for k, v in p["accuracy"].items()}
card = model.rsplit(".", 1)[0] + ".eval.json"
json.dump(merged, open(card, "w"), indent=2)
order = ["natural", "fgsm", "pgd20", "mifgsm", "pgd20-fixed", "eot-pgd20", "autoattack-rand"]
print("| protocol | accuracy | 95% interval | images | what exactly |")
print("|---|---|---|---|---|")
for name in order:
    r = merged["protocols"].get(name)
    if r is None:
        continue
    acc = r["robust_accuracy"] if r["robust_accuracy"] is not None else r["natural_accuracy"]
    n = r["images"]
    z = 1.959964
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (acc * (1 - acc) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    print(f"| {name} | {100 * acc:.2f}% | {100 * (centre - half):.1f}–{100 * (centre + half):.1f}% | {n} | {r['protocol']} |")
print(f"\nseed {merged['seed']}; data {merged['data']} ({merged['split']} split); written to {card}")
PY
