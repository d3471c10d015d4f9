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
# eframe restores the window size it stored last time, even with --fresh-settings: a home of
# its own gives every screenshot the default size.
home=$(mktemp -d); trap 'rm -rf "$home"' EXIT
shoot() { # name view [screen [gui options...]]
  local name=$1 view=$2 screen=${3:-1400x900}; shift $(( $# < 3 ? $# : 3 ))
  HOME="$home" xvfb-run -a -s "-screen 0 ${screen}x24" "$bin" gui "${model[@]}" \
    --fresh-settings --view "$view" --attack-on-start --screenshot "screenshots/$name.png" --exit "$@"
}
lesson() { # name step [screen]
  HOME="$home" xvfb-run -a -s "-screen 0 ${3:-1280x720}x24" "$bin" gui "${model[@]}" \
    --fresh-settings --lesson-step "$2" --screenshot "screenshots/$1.png" --exit
}
shoot main attack
shoot layers layers
shoot paths paths
shoot ensemble ensemble
shoot transfer transfer
shoot compare compare
shoot budget budget
# A projector's size: the window fills the screen.
shoot main-1280x720 attack 1280x720
# Presentation mode for a room: 150% zoom, high contrast, side panels hidden (F9).
shoot presentation attack 1280x720 --zoom 1.5 --high-contrast --no-side-panels
# The guided lesson at a projector's size: the white-box step and the defender's step.
lesson lesson-whitebox 4
lesson lesson-defender 5
lesson lesson-eot 7 1920x1080
ls -l screenshots/*.png
