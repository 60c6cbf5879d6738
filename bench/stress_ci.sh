#!/usr/bin/env bash
# A loaded machine, on demand (issue 13, item 10): a CPU hog on every core while pytest runs the given targets
# several times, each run timed. A test that waits for a moment instead of an event fails here first.
#
#   bench/stress_ci.sh [-n RUNS] [-j HOGS] [-h] [--] PYTEST_ARGS...
#   MEDES_VAR_DIR=var/stress bench/stress_ci.sh -n 3 tests/test_policy_worker.py tests/test_worker.py
#
# -n RUNS   how many times to run pytest (default 3); every run is reported, the script exits 1 if any failed
# -j HOGS   busy processes (default: one per core, `nproc`); 0 runs without load, for a baseline
#
# The hogs are stress-ng's CPU workers where Debian's stress-ng is installed (apt-get install stress-ng), otherwise
# one Python busy loop each; they run at normal priority, as a neighbour's build would, and are stopped when the
# script ends (also on Ctrl-C). pytest runs with the environment as it is: SQLite and the filesystem broker in
# MEDES_VAR_DIR (default var/stress) unless DATABASE_URL / CELERY_BROKER_URL say otherwise. It runs this working
# tree; bench/ci_loaded.sh runs the whole CI from clean clones under the same load.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
hogs="$(nproc)"
while getopts "n:j:h" opt; do
  case "$opt" in
    n) runs="$OPTARG" ;;
    j) hogs="$OPTARG" ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "stress_ci: -n takes a number of runs of at least 1, not '$runs'" >&2
  exit 2
fi
if [ "$#" -eq 0 ]; then
  echo "stress_ci: name the pytest targets, e.g. tests/test_worker.py" >&2
  exit 2
fi
export MEDES_VAR_DIR="${MEDES_VAR_DIR:-$PWD/var/stress}"
mkdir -p "$MEDES_VAR_DIR"
PYTHON="${PYTHON:-.venv/bin/python}"

hog_pids=()
stop_hogs() {
  for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${hog_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  hog_pids=()
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM

if [ "$hogs" -gt 0 ]; then
  if command -v stress-ng >/dev/null; then
    stress-ng --cpu "$hogs" --cpu-method matrixprod --quiet &
    hog_pids+=("$!")
    load="stress-ng --cpu $hogs"
  else
    for _ in $(seq "$hogs"); do
      "$PYTHON" -c "while True: pass" &
      hog_pids+=("$!")
    done
    load="$hogs Python busy loops"
  fi
else
  load="no load"
fi
echo "stress_ci: $runs run(s) of pytest $* under $load on $(nproc) cores (MEDES_VAR_DIR=$MEDES_VAR_DIR)"

failed=0
summary=()
for n in $(seq "$runs"); do
  log="$MEDES_VAR_DIR/stress-run-$n.log"
  start=$(date +%s.%N)
  if "$PYTHON" -m pytest -q -p no:cacheprovider "$@" >"$log" 2>&1; then result=passed; else result=FAILED; failed=1; fi
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  # no summary line when pytest was killed (out of memory under load, a crash): say so and go on
  last=$(grep -E '(passed|failed|error)' "$log" | tail -n 1 || true)
  line="run $n: $result in ${seconds} s (${last:-no pytest summary: see $log})"
  echo "stress_ci: $line"
  summary+=("$line")
  [ "$result" = passed ] || tail -n 40 "$log"
done
echo "stress_ci: load: $load; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
printf '  %s\n' "${summary[@]}"
exit "$failed"
