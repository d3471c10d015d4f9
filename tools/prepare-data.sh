#!/usr/bin/env bash
# Unpacks the development copy of CIFAR-10 (../shared/data, JPEG-75) into a cache folder outside
# the repository and prints that folder, for `rna-lens train/eval --data`.
set -euo pipefail
archive="${1:-$(dirname "$0")/../../shared/data/cifar10-jpeg.tar.gz}"
dest="${XDG_CACHE_HOME:-$HOME/.cache}/rna-lens/cifar10-jpeg"
if [ ! -f "$dest/.complete" ]; then
  mkdir -p "$dest"
  tar xzf "$archive" -C "$dest"
  touch "$dest/.complete"
fi
# The archive may wrap the tree in one folder; print the folder that holds train/ and test/.
root=$(dirname "$(find "$dest" -maxdepth 3 -type d -name train | head -n 1)")
echo "$root"
