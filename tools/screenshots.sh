#!/usr/bin/env bash
# Regenerates screenshots/*.png from the real app under a virtual X server (xvfb), on the
# bundled model and the first gallery image, with default settings. Needs xvfb-run and a Vulkan
# driver (mesa-vulkan-drivers gives a software one).
# Usage: tools/screenshots.sh [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
model=(); [ $# -ge 1 ] && model=(--model "$1")
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/rna-lens"
shoot() { # name view
  xvfb-run -a -s "-screen 0 1400x900x24" "$bin" gui "${model[@]}" --fresh-settings \
    --view "$2" --attack-on-start --screenshot "screenshots/$1.png" --exit
}
shoot main attack
shoot paths paths
shoot ensemble ensemble
shoot transfer transfer
shoot compare compare
ls -l screenshots/*.png
