#!/usr/bin/env bash
# The whole CI, as CI runs it, on a loaded machine (issue 13's done-when): RUNS times in a row, each from a fresh
# clone of this repository's HEAD with ../shared beside it, `bash .ci/run` while one busy loop per core keeps every
# core loaded. It stops at the first failed run. Each run's time, commit and load average go to the summary.
#
#   bench/ci_loaded.sh [RUNS]        (default 3; logs and the summary under $CI_LOADED_DIR, default /tmp/ci-loaded)
#
# .ci/run uses the machine's PostgreSQL (database test) and Redis (database 15): run nothing else against them
# meanwhile.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="$(cd "$repo/../shared" && pwd)"
runs="${1:-3}"
out="${CI_LOADED_DIR:-/tmp/ci-loaded}"
mkdir -p "$out"
summary="$out/summary.txt"
hogs=()
stop_hogs() { ((${#hogs[@]})) && kill "${hogs[@]}" 2>/dev/null; hogs=(); }
trap stop_hogs EXIT
for n in $(seq "$runs"); do
  root="$out/run-$n"
  rm -rf "$root" && mkdir -p "$root"
  git clone -q "$repo" "$root/main" && ln -s "$shared" "$root/shared"
  for _ in $(seq "$(nproc)"); do python3 -c "while True: pass" & hogs+=($!); done
  start=$(date +%s)
  (cd "$root/main" && bash .ci/run) >"$out/run-$n.log" 2>&1
  rc=$?
  seconds=$(($(date +%s) - start))
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  stop_hogs
  tests=$(grep -E '^=+ .*(passed|failed)' "$out/run-$n.log" | tail -n 1 || true)
  line="run $n: rc=$rc in ${seconds} s, commit $(git -C "$root/main" rev-parse --short HEAD), load $load: ${tests:-no pytest summary}"
  echo "$line" | tee -a "$summary"
  [ "$rc" -eq 0 ] || exit "$rc"
done
