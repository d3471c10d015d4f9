#!/usr/bin/env python3
"""Runs `rna-lens bench` and its PyTorch twin (tools/bench_torch.py) on the same work, with the
same threads, and prints the ratio table that README's performance section quotes.

Usage: tools/bench_compare.py [--models resnet20,resnet18] [--repeats 5] [--warmup 1]
                              [--threads N] [--device cpu|gpu] [--processes 1] [--out DIR]
                              [--from-json OURS.json TORCH.json]
`--device gpu` runs rna-lens on wgpu and PyTorch on CUDA (give wgpu `--warmup 3`: its first runs
compile and autotune kernels). The issue's goals against PyTorch are CPU goals; on a GPU the
goal is the batched ensemble against rna-lens's own 1,024 one-path passes (≥ 20×).
Environment: RNA_LENS (the rna-lens command; default `cargo run --release --quiet --`),
             PYTHON (a Python with torch; default `python3`).
The small model is the shipped `assets/models/rna-resnet20.safetensors`; the others are
architectures freshly initialised with the released candidates [bn, gnr_1].
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = {"resnet20": os.path.join(ROOT, "assets", "models", "rna-resnet20.safetensors")}

# measurement → (PyTorch measurements it is compared with (the fastest counts), goal as the
# minimum PyTorch/rna-lens time ratio, or None where the issue sets none)
GOALS = {
    "ensemble_batched": (["ensemble_single", "ensemble_batched"], 3.0),
    "ensemble_single": (["ensemble_single"], None),
    "pgd20_fixed": (["pgd20_fixed"], 1.0),
    "pgd20_eot10": (["pgd20_eot10", "pgd20_eot10_batched"], None),
    "pgd20_eval": (["pgd20_eval"], None),
    "train_step": (["train_step"], 1 / 1.2),
}


def run_json(command):
    print("$", " ".join(shlex.quote(c) for c in command), file=sys.stderr)
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout)


def merge(reports):
    """One report from single-measurement reports, measurements grouped by model."""
    merged = dict(reports[0], models=[])
    for report in reports:
        for model in report["models"]:
            same = [m for m in merged["models"] if m["model"] == model["model"]]
            if same:
                same[0]["measurements"] += model["measurements"]
            else:
                merged["models"].append(dict(model, measurements=list(model["measurements"])))
    return merged


def fmt_time(seconds):
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.0f} ms"


GPU_ENSEMBLE_GOAL = 20.0


def table(ours, torch):
    gpu = ours["device"].startswith("GPU")
    by_arch = {m["architecture"]: m for m in torch["models"]}
    lines = [
        f"rna-lens: {ours['device']}, {ours['threads']} threads · PyTorch: {torch['device']}, "
        f"{torch['threads']} threads · medians of {ours['settings']['repeats']} runs",
        "",
        "| model | work | rna-lens | PyTorch (best) | PyTorch ÷ rna-lens | goal | rna-lens GFLOP/s | "
        "PyTorch GFLOP/s | peak MiB (ours / PyTorch) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model in ours["models"]:
        theirs = by_arch.get(model["architecture"])
        if theirs is None:
            continue
        their_runs = {m["name"]: m for m in theirs["measurements"]}
        for m in model["measurements"]:
            names, goal = GOALS[m["name"]]
            goal = None if gpu else goal
            candidates = [their_runs[n] for n in names if n in their_runs]
            if not candidates:
                continue
            best = min(candidates, key=lambda t: t["seconds"])
            ratio = best["seconds"] / m["seconds"]
            verdict = "—" if goal is None else ("met" if ratio >= goal else "not met")
            goal_text = "" if goal is None else f"≥ {goal:.2f}× ({verdict})"
            label = best["name"] if len(candidates) > 1 else ""
            lines.append(
                f"| {model['architecture']} | {m['name']} | {fmt_time(m['seconds'])} | "
                f"{fmt_time(best['seconds'])}{' (' + label + ')' if label else ''} | "
                f"{ratio:.2f}× | {goal_text} | {m['gflops_per_s']:.0f} | {best['gflops_per_s']:.0f} | "
                f"{m['peak_rss_mib'] or 0:.0f} / {best['peak_rss_mib'] or 0:.0f} |"
            )
    lines.append("")
    if gpu:
        for model in ours["models"]:
            runs = {m["name"]: m["seconds"] for m in model["measurements"]}
            if "ensemble_batched" in runs and "ensemble_single" in runs:
                speedup = runs["ensemble_single"] / runs["ensemble_batched"]
                verdict = "met" if speedup >= GPU_ENSEMBLE_GOAL else "not met"
                lines.append(
                    f"{model['architecture']}: batched ensemble {speedup:.1f}× faster than 1,024 "
                    f"one-path passes (goal ≥ {GPU_ENSEMBLE_GOAL:.0f}×: {verdict})"
                )
        lines.append("")
    lines.append(
        "FLOPs per image forward: "
        + ", ".join(
            f"{m['architecture']} {m['flops_per_image'] / 1e6:.1f} M (PyTorch's counter: "
            f"{by_arch[m['architecture']]['flops_per_image'] / 1e6:.1f} M)"
            for m in ours["models"] if m["architecture"] in by_arch
        )
    )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet20,resnet18")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                        help="gpu: rna-lens on wgpu, PyTorch on CUDA")
    parser.add_argument("--processes", type=int, default=1,
                        help="processes per measurement; the fastest median counts")
    parser.add_argument("--out", help="also write rna-lens.json and pytorch.json here")
    parser.add_argument("--from-json", nargs=2, metavar=("OURS", "TORCH"),
                        help="print the table of earlier runs instead of measuring")
    args = parser.parse_args()
    if args.from_json:
        ours, torch = (json.load(open(p)) for p in args.from_json)
    else:
        archs = args.models.split(",")
        ours_models = ",".join(SHIPPED.get(a, a) if os.path.exists(SHIPPED.get(a, "")) else a
                               for a in archs)
        common = ["--repeats", str(args.repeats), "--warmup", str(args.warmup),
                  "--threads", str(args.threads), "--json"]
        rna_lens = shlex.split(os.environ.get("RNA_LENS", "cargo run --release --quiet --"))
        python = os.environ.get("PYTHON", "python3")
        torch_bench = [python, os.path.join(ROOT, "tools", "bench_torch.py")]
        # One process per measurement and model, for both tools: what ran before (allocator
        # state, thread pools) changes timings by up to 50% otherwise. Some timings are also
        # bimodal across processes (PyTorch's one-image PGD: 62 or 94 ms), so each measurement
        # runs in `--processes` processes and the fastest median counts.
        def fastest(command):
            runs = [run_json(command) for _ in range(args.processes)]
            return min(runs, key=lambda r: r["models"][0]["measurements"][0]["seconds"])
        ours_device = ["--device", "wgpu" if args.device == "gpu" else "cpu"]
        torch_device = ["--device", "cuda" if args.device == "gpu" else "cpu"]
        ours = merge([fastest(rna_lens + ["bench", "--models", m, "--only", name] + common
                              + ours_device)
                      for m in ours_models.split(",") for name in GOALS])
        theirs = [name for names, _ in GOALS.values() for name in names]
        torch = merge([fastest(torch_bench + ["--models", m, "--only", name] + common
                               + torch_device)
                       for m in args.models.split(",") for name in dict.fromkeys(theirs)])
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            for name, report in (("rna-lens.json", ours), ("pytorch.json", torch)):
                with open(os.path.join(args.out, name), "w") as f:
                    json.dump(report, f, indent=2)
    print(table(ours, torch))


if __name__ == "__main__":
    main()
