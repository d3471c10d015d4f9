#!/usr/bin/env bash
# The app's CPU use while nothing changes (issue: quiet when idle): opens the real window under
# xvfb on the bundled model, runs one attack, waits for it to end, then counts the process's
# CPU time (all threads, /proc/PID/stat) over a quiet interval. Then the frame times while an
# attack runs and while idle, from `--frame-stats` (which repaints continuously to measure).
# Usage: tools/idle-cpu.sh [SECONDS]   (needs xvfb-run and a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
bin="${CARGO_TARGET_DIR:-target}/release/rna-lens"
home=$(mktemp -d); trap 'rm -rf "$home"' EXIT
# The app writes its own PID (exec keeps it), so no other rna-lens process is ever measured.
HOME="$home" xvfb-run -a -s "-screen 0 1400x900x24" \
  sh -c 'echo $$ > "$0/pid"; exec "$1" gui --fresh-settings --attack-on-start' "$home" "$bin" \
  > /dev/null 2>&1 &
runner=$!
pid=""
for _ in $(seq 100); do
  pid=$(cat "$home/pid" 2> /dev/null || true)
  [ -n "$pid" ] && break
  sleep 0.2
done
[ -n "$pid" ] || { echo "error: the app did not start" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The attack ends when its thread stops using CPU: wait for 3 quiet seconds in a row.
quiet=0
while [ $quiet -lt 3 ]; do
  a=$(ticks "$pid"); sleep 1; b=$(ticks "$pid")
  if [ $((b - a)) -le 2 ]; then quiet=$((quiet + 1)); else quiet=0; fi
done
a=$(ticks "$pid"); sleep "$seconds"; b=$(ticks "$pid")
hz=$(getconf CLK_TCK)
awk -v t=$((b - a)) -v hz="$hz" -v s="$seconds" \
  'BEGIN { printf "idle: %.2f%% of one core over %d s (%d ticks at %d Hz)\n", 100 * t / hz / s, s, t, hz }'
kill "$pid" 2> /dev/null || true
wait "$runner" 2> /dev/null || true
HOME="$home" xvfb-run -a -s "-screen 0 1400x900x24" "$bin" gui --fresh-settings --attack-on-start \
  --frame-stats --exit 2>&1 | grep "frame times" || true
