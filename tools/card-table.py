"""Merges `rna-lens eval --json` outputs into MODEL.eval.json (what the app shows) and prints the
model card's Markdown table, with the intervals `eval` computed (over images with a path pair per
image, over batches with one pair per batch).

Usage: python3 tools/card-table.py MODEL.safetensors NATURAL.json [MORE.json ...]
NATURAL.json holds natural accuracy (and the headline PGD-20) on the whole split; a `natural`
row in the other files (on the attacked subset) is kept as `natural-subset`. Missing files are skipped.
"""
import json
import os
import sys

ORDER = ["natural", "natural-subset", "fgsm", "pgd20", "pgd20-32-defenders", "mifgsm", "pgd20-fixed", "eot-pgd20",
         "autoattack-rand", "autoattack-standard", "arc", "square"]


def pct(p):
    return f"{100 * p['value']:.1f}% ({100 * p['low']:.1f}–{100 * p['high']:.1f})"


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
    # The sanity preset's ε curve and checks (its points stay in `protocols`, where the app
    # reads how many images they cover).
    merged["sanity"] = next((p["sanity"] for p in parts if p.get("sanity")), None)
    # The headline: robust accuracy in the AutoAttack convention, natural without an attack.
    merged["accuracy"] = {
        k: (v["robust"] or v["natural"])["value"] for k, v in merged["protocols"].items()
    }
    card = model.rsplit(".", 1)[0] + ".eval.json"
    with open(card, "w") as f:
        json.dump(merged, f, indent=2)
    print("| protocol | robust (clean and adversarial right) | adversarial accuracy (official convention) | natural | images | pairing | what exactly |")
    print("|---|---|---|---|---|---|---|")
    names = ORDER + [k for k in merged["protocols"] if k not in ORDER and not k.startswith("sanity-")]
    for name in names:
        r = merged["protocols"].get(name)
        if r is None:
            continue
        robust = pct(r["robust"]) if r["robust"] else "—"
        adversarial = pct(r["adversarial"]) if r["adversarial"] else "—"
        print(f"| {name} | {robust} | {adversarial} | {pct(r['natural'])} | {r['images']} | {r['pairing']} | {r['protocol']} |")
        d = r.get("defender")
        if d:
            print(f"| {name}, over {d['paths']} defender paths | mean {pct(d['mean'])}; majority vote {pct(d['vote'])}; right on all {pct(d['all_paths'])} | | natural mean {pct(d['natural_mean'])} | {r['images']} | {r['pairing']} | |")
    sanity = merged["sanity"]
    if sanity:
        n = next(v["images"] for k, v in merged["protocols"].items() if k.startswith("sanity-"))
        print(f"\nGradient-masking checks (sanity preset, {n} images):")
        for curve in sanity["curves"]:
            points = ", ".join(f"{e:g}/255: {100 * a:.1f}%" for e, a in curve["points"])
            print(f"- robust accuracy against ε, {curve['policy']}: {points}")
        for c in sanity["checks"]:
            print(f"- {'pass' if c['passed'] else 'FAIL'}: {c['check']} ({c['detail']})")
    print(f"\nseed {merged['seed']}; data {merged['data']} ({merged['split']} split); 95% intervals as `eval` states them; written to {card}")


if __name__ == "__main__":
    main()
