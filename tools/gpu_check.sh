#!/usr/bin/env bash
# The whole GPU measurement of issue #19 in one run, so that the few minutes an accelerator is
# lent go to measuring, not to setting up (target: under 8 minutes).
#
# Here, before asking for the device:   tools/gpu_check.sh --pack
#   builds the release binary and compresses it to gpu-bin/rna-lens.xz (ignored by git; the
#   binary itself is over the device tool's 64 MiB carry limit). Then run, through the device
#   tool, with carry ["gpu-bin"]:         bash tools/gpu_check.sh
# On the device it unpacks the binary (or builds one when gpu-bin/ is absent: far slower),
# records the adapter, times rna-lens on wgpu and PyTorch on CUDA in one run
# (tools/bench_compare.py --device gpu), times the interactive jobs on the same machine's CPU,
# and writes everything under $OUT/gpu-check (or /tmp/gpu-check): nvidia-smi.txt, device.txt,
# rna-lens.json, pytorch.json, bench_compare.txt (the README's table), cpu.json.
set -uo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

if [ "${1:-}" = --pack ]; then
  set -e
  cargo build --release --quiet
  mkdir -p gpu-bin
  xz -T0 -6 -c "$target/release/rna-lens" > gpu-bin/rna-lens.xz
  ls -l gpu-bin/rna-lens.xz
  exit 0
fi

out="${OUT:-/tmp}/gpu-check"
mkdir -p "$out"
start=$(date +%s)
say() { echo "[$(( $(date +%s) - start )) s] $*" | tee -a "$out/log.txt"; }

if [ -f gpu-bin/rna-lens.xz ]; then
  xz -dc gpu-bin/rna-lens.xz > /tmp/rna-lens-gpu && chmod +x /tmp/rna-lens-gpu
  bin=/tmp/rna-lens-gpu
else
  say "no gpu-bin/rna-lens.xz: building (minutes)"
  cargo build --release --quiet || { say "build failed"; exit 1; }
  bin="$target/release/rna-lens"
fi
say "binary ready"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
# Which adapter `auto` picks, as the app's device line says it.
"$bin" -v info --device auto > "$out/device.txt" 2>&1 || true
grep -i "device\|adapter\|runs on" "$out/device.txt" | head -5 | tee -a "$out/log.txt"

py="${PYTHON:-python3}"
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
  2>&1 | tee -a "$out/log.txt"
say "GPU: rna-lens on wgpu against PyTorch on CUDA"
RNA_LENS="$bin" PYTHON="$py" timeout 330 "$py" tools/bench_compare.py --device gpu \
  --warmup 3 --repeats 3 --out "$out" > "$out/bench_compare.txt" 2> "$out/bench_compare.err"
say "bench_compare exit $? (table in bench_compare.txt)"
cat "$out/bench_compare.txt"
say "CPU of the same machine: the interactive jobs"
timeout 90 "$bin" bench --device cpu --only ensemble_batched,pgd20_fixed,pgd20_eot10 \
  --repeats 3 --json > "$out/cpu.json" 2> "$out/cpu.err"
say "cpu bench exit $?"
say "done"
