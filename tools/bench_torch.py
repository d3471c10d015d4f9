#!/usr/bin/env python3
"""The PyTorch twin of `rna-lens bench`: the same work, the same names, the same JSON keys.

The network is the RNA ResNet of tests/python/rna_torch.py (every norm random over bn, gnr_1),
freshly initialised: speed does not depend on the weights. Paths are evaluated the way the
official code must (one forward per path) and, where a batched alternative exists, also in one
batched pass with per-sample candidate masks (`*_batched`); the comparison uses the faster.

On `--device cuda` every timed run ends with `torch.cuda.synchronize()`, so queued GPU work is
counted; peak memory is then the GPU allocator's peak, not the process's resident size.

Usage: bench_torch.py [--models resnet20,resnet18] [--only a,b] [--repeats 5] [--warmup 1]
                      [--threads N] [--device cpu|cuda] [--json]
"""
import argparse
import json
import os
import random
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from rna_torch import ResNet  # noqa: E402

ARCHS = {"resnet20": ((16, 32, 64), (3, 3, 3)), "resnet18": ((64, 128, 256, 512), (2, 2, 2, 2))}
MEASUREMENTS = [
    "ensemble_batched", "ensemble_single", "pgd20_fixed", "pgd20_eot10", "pgd20_eot10_batched",
    "pgd20_eval", "train_step",
]
EPS, ALPHA = 8 / 255, 2 / 255
PATHS, BATCH, TRAIN_STEPS, CHUNK, EVAL_BATCHES = 1024, 128, 2, 256, 2


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def random_path(layers):
    return [random.randrange(2) for _ in range(layers)]


def pgd(model, x, y, steps, alpha, paths_per_step=None, batched=False):
    """L∞ PGD with a random start. `paths_per_step`: None keeps the model's current path;
    K averages the loss over K random paths per step (EOT), looped or in one batched pass."""
    layers = len(model.random_norms())
    x_adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        if paths_per_step is None:
            loss = F.cross_entropy(model(x_adv), y)
            grad = torch.autograd.grad(loss, x_adv)[0]
        elif batched:
            k = paths_per_step
            model.set_paths([random_path(layers) for _ in range(k) for _ in range(len(x))])
            loss = F.cross_entropy(model(x_adv.repeat(k, 1, 1, 1)), y.repeat(k))
            grad = torch.autograd.grad(loss, x_adv)[0]
        else:
            grad = torch.zeros_like(x_adv)
            for _ in range(paths_per_step):
                model.set_path(random_path(layers))
                loss = F.cross_entropy(model(x_adv), y) / paths_per_step
                grad += torch.autograd.grad(loss, x_adv)[0]
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - EPS), x + EPS).clamp(0, 1)
    return x_adv.detach()


def work_for(name, model, flops, device):
    """The run function of measurement `name`, its nominal FLOPs, and images per run."""
    layers = len(model.random_norms())
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 32, 32, generator=g).to(device)
    label = torch.randint(0, 10, (1,), generator=g).to(device)
    pgd20 = 20 * 3 * flops + flops
    if name == "ensemble_single":
        paths = [random_path(layers) for _ in range(PATHS)]

        def run():
            model.eval()
            with torch.no_grad():
                out = []
                for p in paths:
                    model.set_path(p)
                    out.append(model(image))
                return torch.cat(out)
        return run, PATHS * flops, 0
    if name == "ensemble_batched":
        paths = [random_path(layers) for _ in range(PATHS)]

        def run():
            model.eval()
            with torch.no_grad():
                out = []
                for i in range(0, PATHS, CHUNK):
                    chunk = paths[i:i + CHUNK]
                    model.set_paths(chunk)
                    out.append(model(image.expand(len(chunk), -1, -1, -1)))
                return torch.cat(out)
        return run, PATHS * flops, 0
    if name == "pgd20_fixed":
        def run():
            model.eval()
            model.set_path(random_path(layers))
            x_adv = pgd(model, image, label, 20, ALPHA)
            with torch.no_grad():
                return model(x_adv)
        return run, pgd20, 0
    if name in ("pgd20_eot10", "pgd20_eot10_batched"):
        batched = name.endswith("batched")

        def run():
            model.eval()
            x_adv = pgd(model, image, label, 20, ALPHA, paths_per_step=10, batched=batched)
            model.set_path(random_path(layers))
            with torch.no_grad():
                return model(x_adv)
        return run, 20 * 10 * 3 * flops + flops, 0
    if name == "pgd20_eval":
        xs = torch.rand(EVAL_BATCHES, BATCH, 3, 32, 32, generator=g).to(device)
        ys = torch.randint(0, 10, (EVAL_BATCHES, BATCH), generator=g).to(device)

        def run():
            model.eval()
            counts = []
            for x, y in zip(xs, ys):
                attacker, defender = random_path(layers), random_path(layers)
                with torch.no_grad():
                    model.set_path(defender)
                    natural = (model(x).argmax(1) == y).sum()
                model.set_path(attacker)
                x_adv = pgd(model, x, y, 20, ALPHA)
                with torch.no_grad():
                    model.set_path(defender)
                    counts.append((natural, (model(x_adv).argmax(1) == y).sum()))
            return counts
        return run, EVAL_BATCHES * BATCH * (pgd20 + flops), EVAL_BATCHES * BATCH
    if name == "train_step":
        x = torch.rand(BATCH, 3, 32, 32, generator=g).to(device)
        y = torch.randint(0, 10, (BATCH,), generator=g).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

        def run():
            model.train()
            model.set_path(random_path(layers))
            x_adv = pgd(model, x, y, TRAIN_STEPS, EPS / 2)
            model.set_path(random_path(layers))
            opt.zero_grad()
            loss = F.cross_entropy(model(x_adv), y)
            loss.backward()
            opt.step()
            return loss.item()
        return run, BATCH * (TRAIN_STEPS + 1) * 3 * flops, 0
    raise SystemExit(f"unknown measurement '{name}': expected one of {', '.join(MEASUREMENTS)}")


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name, model, flops, repeats, warmup, device):
    run, work, images = work_for(name, model, flops, device)
    for _ in range(warmup):
        run()
    synchronize(device)
    reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        synchronize(device)
        runs.append(time.perf_counter() - started)
    seconds = statistics.median(runs)
    return {
        "name": name, "seconds": seconds, "runs": runs, "flops": work,
        "gflops_per_s": work / seconds / 1e9,
        "images_per_s": images / seconds if images else None,
        "peak_rss_mib": (torch.cuda.max_memory_allocated(device) / 2**20
                         if device.type == "cuda" else peak_rss_mib()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet20,resnet18")
    parser.add_argument("--only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no CUDA device")
    torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    names = args.only.split(",") if args.only else MEASUREMENTS
    report = {
        "tool": "pytorch",
        "device": (f"{torch.cuda.get_device_name(device)} (PyTorch {torch.__version__}, CUDA)"
                   if device.type == "cuda" else f"CPU (PyTorch {torch.__version__})"),
        "threads": torch.get_num_threads(),
        "settings": {"repeats": args.repeats, "warmup": args.warmup, "paths": PATHS, "batch": BATCH,
                     "train_attack_steps": TRAIN_STEPS, "seed": 0,
                     "eval_batches": EVAL_BATCHES},
        "models": [],
    }
    if not args.json:
        print(f"{report['device']} · {report['threads']} threads · median of {args.repeats} runs")
    for arch in args.models.split(","):
        if arch not in ARCHS:
            raise SystemExit(f"unknown architecture '{arch}': expected one of {', '.join(ARCHS)}")
        widths, blocks = ARCHS[arch]
        model = ResNet(widths, blocks).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.rand(1, 3, 32, 32))
        model.to(device)
        flops = counter.get_total_flops()
        if not args.json:
            print(f"\n{arch}: {flops / 1e6:.1f} MFLOP per image forward")
        results = []
        for name in names:
            m = measure(name, model, flops, args.repeats, args.warmup, device)
            results.append(m)
            if not args.json:
                rate = f"  {m['images_per_s']:6.1f} images/s" if m["images_per_s"] else ""
                print(f"  {name:<20} {m['seconds'] * 1e3:9.1f} ms  {m['gflops_per_s']:6.1f} GFLOP/s"
                      f"{rate}  peak {m['peak_rss_mib']:6.0f} MiB")
        report["models"].append({"model": arch, "architecture": arch, "flops_per_image": flops,
                                 "measurements": results})
    if args.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
