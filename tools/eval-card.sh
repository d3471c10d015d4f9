#!/usr/bin/env bash
# Measures a model's card table with `rna-lens eval`, writes MODEL.eval.json beside the model
# (the app shows it) and prints the table as Markdown.
#
# Usage: tools/eval-card.sh MODEL.safetensors DATA_DIR [SUBSET] [AA_LIMIT] [SEED]
#   Every row with a path pair per image, both conventions (robust and adversarial accuracy).
#   On the whole test split: natural accuracy and PGD-20 under the official policy (the card's
#   headline). On SUBSET images (default 1000; `all` for the whole split; a fixed random subset
#   covering every class, `eval --limit`, the same images for every row): natural, FGSM, MI-FGSM,
#   PGD-20 scored on 32 defender paths (its single-draw row is PGD-20 on the subset), and for a
#   random model PGD-20 under `fixed` and EOT-PGD-20 (K = 10). On AA_LIMIT images (default 1000;
#   0 skips them): autoattack-rand (EOT-20), ARC (K = 10) and Square (5,000 queries) for a random
#   model, AutoAttack's standard version for a deterministic one. For a model without random
#   layers every path policy is the same attack, so those rows are not repeated.
#   On SANITY_LIMIT images (default 100; 0 skips it) the sanity preset: robust accuracy against
#   ε under official and eot:10 (the app draws it beside an image's own curve), PGD-100, EOT-50
#   and Square checks.
#   For a random model, also the transfer study by composition (issue #16): PGD-20 crafted on
#   each of 4 IN-heavy (15% BN) and 4 BN-heavy (85% BN) paths, on 256 test images all 8 paths
#   classify right, tested on all 8; written to MODEL.transfer.json and printed by group.
#   The stages run side by side, one process each. Each records its finished batches in
#   $CHECKPOINTS (default ~/.cache/rna-lens/eval-card/MODEL-SEED-SUBSET-AA_LIMIT; the whole-split
#   stage in MODEL-SEED-whole), so after an interruption the same command goes on where it stopped.
set -euo pipefail
model="$1"; data="$2"; limit="${3:-1000}"; aa_limit="${4:-1000}"; seed="${5:-0}"
sanity_limit="${SANITY_LIMIT:-100}"
bin="${RNA_LENS:-cargo run --release --quiet --}"
out=$(mktemp -d)
checkpoints="${CHECKPOINTS:-$HOME/.cache/rna-lens/eval-card/$(basename "$model" .safetensors)-$seed-$limit-$aa_limit}"
# The whole-split stage depends on neither SUBSET nor AA_LIMIT: its journal is kept apart.
whole="${checkpoints%-$limit-$aa_limit}-whole"
mkdir -p "$checkpoints" "$whole"
subset=(); [ "$limit" != all ] && subset=(--limit "$limit")
random=$($bin info --model "$model" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(len(d["candidates"]) > 1 and len(d["random_layers"]) > 0))')
# eval_json STAGE ARGS...: one stage, resumable from its own checkpoint file.
eval_json() {
  local stage="$1"; shift
  local dir="$checkpoints"; [ "$stage" = natural ] && dir="$whole"
  $bin eval --model "$model" --data "$data" --seed "$seed" --json --checkpoint "$dir/$stage.jsonl" "$@"
}

eval_json natural --preset natural,pgd20 > "$out/natural.json" &
if [ "$random" = 1 ]; then
  eval_json attacks ${subset[@]+"${subset[@]}"} --preset natural,fgsm,mifgsm,pgd20-fixed > "$out/attacks.json" &
  eval_json eot ${subset[@]+"${subset[@]}"} --preset eot-pgd20 > "$out/eot.json" &
  [ "$aa_limit" != 0 ] && eval_json aa --limit "$aa_limit" --preset autoattack-rand,arc,square > "$out/aa.json" &
else
  eval_json attacks ${subset[@]+"${subset[@]}"} --preset natural,fgsm,mifgsm > "$out/attacks.json" &
  [ "$aa_limit" != 0 ] && eval_json aa --limit "$aa_limit" --preset autoattack-standard > "$out/aa.json" &
fi
[ "$sanity_limit" != 0 ] && eval_json sanity --limit "$sanity_limit" --preset sanity > "$out/sanity.json" &
for job in $(jobs -p); do wait "$job"; done
# The same PGD-20 scored on 32 defender paths per image (mean, vote, worst case), after the rest.
eval_json paths ${subset[@]+"${subset[@]}"} --preset pgd20 --defender-paths 32 \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); p=d["protocols"]; p["pgd20-32-defenders"]=p.pop("pgd20"); d["accuracy"]={"pgd20-32-defenders": d["accuracy"]["pgd20"]}; json.dump(d,sys.stdout)' \
  > "$out/paths.json"

python3 tools/card-table.py "$model" "$out/natural.json" "$out"/attacks.json "$out"/eot.json "$out"/aa.json "$out"/paths.json "$out"/sanity.json
if [ "$random" = 1 ]; then
  transfer="${model%.safetensors}.transfer.json"
  $bin transfer --model "$model" --data "$data" --seed "$seed" --bn-shares 0.15,0.85 --paths 4 \
    --clean-right-on-all --limit 256 --json > "$transfer"
  python3 - "$transfer" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"\nTransfer by composition: PGD-20 on {m['images']} images every path gets right; "
      "success with 95% intervals over images (these paths) and over path pairs")
print("| from | to | success | over images | over pairs | pairs |\n|---|---|---|---|---|---|")
for g in m["groups"]:
    s, p = g["success"], g["over_pairs"]
    print(f"| {g['source_bin']} | {g['target_bin']} | {100*s['value']:.1f}% | "
          f"{100*s['low']:.1f}–{100*s['high']:.1f}% | {100*p['low']:.1f}–{100*p['high']:.1f}% | {g['pairs']} |")
PY
fi
