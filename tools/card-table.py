"""Merges `rna-lens eval --json` outputs into MODEL.eval.json (what the app shows) and prints the
model card's Markdown table with 95% Wilson intervals.

Usage: python3 tools/card-table.py MODEL.safetensors NATURAL.json [MORE.json ...]
NATURAL.json holds natural accuracy on the whole split; a `natural` row in the other files (on
the attacked subset) is kept as `natural-subset`. Missing files are skipped.
"""
import json
import os
import sys

ORDER = ["natural", "natural-subset", "fgsm", "pgd20", "mifgsm", "pgd20-fixed", "eot-pgd20", "autoattack-rand"]


def wilson(p, n, z=1.959964):
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return centre - half, centre + half


def main():
    model, natural, *others = sys.argv[1:]
    parts = [json.load(open(natural))]
    for path in others:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            part = json.load(open(path))
            if "natural" in part["protocols"]:
                part["protocols"]["natural-subset"] = part["protocols"].pop("natural")
            parts.append(part)
    merged = dict(parts[0])
    merged["protocols"] = {k: v for p in parts for k, v in p["protocols"].items()}
    merged["accuracy"] = {
        k: (v["robust_accuracy"] if v["robust_accuracy"] is not None else v["natural_accuracy"])
        for k, v in merged["protocols"].items()
    }
    card = model.rsplit(".", 1)[0] + ".eval.json"
    with open(card, "w") as f:
        json.dump(merged, f, indent=2)
    print("| protocol | accuracy | 95% interval | images | what exactly |")
    print("|---|---|---|---|---|")
    for name in ORDER:
        r = merged["protocols"].get(name)
        if r is None:
            continue
        acc = merged["accuracy"][name]
        low, high = wilson(acc, r["images"])
        print(f"| {name} | {100 * acc:.1f}% | {100 * low:.1f}–{100 * high:.1f}% | {r['images']} | {r['protocol']} |")
    print(f"\nseed {merged['seed']}; data {merged['data']} ({merged['split']} split); written to {card}")


if __name__ == "__main__":
    main()
