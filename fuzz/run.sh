#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, one after another,
# at low priority, and prints a table: target, executions, seconds, crashes.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#   RUNS=10000000 fuzz/run.sh 0 envelope    # until 10 M executions (0: no time limit)
#
# Environment: RUNS (stop after this many executions), MAX_LEN (longest
# input, default 8192), NICE (default 10), NO_BUILD=1 (use the binaries
# already built), SANITIZER (default none: there is no `unsafe` on the
# fuzzed paths, so AddressSanitizer finds nothing there and costs 3-5x the
# speed; debug assertions and overflow checks stay on, cargo-fuzz's default).
#
# Do not stop a fuzzer with SIGSTOP to free the CPU for a while: on SIGCONT
# libFuzzer counts the pause against the input it was running and reports a
# timeout (and stops) that is not one.
#
# Needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz).
# New inputs go to fuzz/corpus/<target>/ (not committed), on top of the seeds
# in fuzz/seeds/<target>/; crashes to fuzz/artifacts/<target>/; the output of
# each run to fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
nice="${NICE:-10}"
limits=(-max_total_time="$secs" -max_len="${MAX_LEN:-8192}")
if [ -n "${RUNS:-}" ]; then limits+=(-runs="$RUNS"); fi

if [ -z "${NO_BUILD:-}" ]; then nice -n "$nice" cargo +nightly fuzz build -s "${SANITIZER:-none}"; fi
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
bin="target/$triple/release"
mkdir -p logs

rows=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  status=0
  start=$(date +%s)
  nice -n "$nice" "$bin/$t" "corpus/$t" "seeds/$t" \
    "${limits[@]}" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
    >"logs/$t.log" 2>&1 || status=$?
  took=$(( $(date +%s) - start ))
  # scratch files (fuzz/src/lib.rs) of fuzzers that are no longer running
  for f in /dev/shm/missive-fuzz-* "${TMPDIR:-/tmp}"/missive-fuzz-*; do
    [ -e "$f" ] || continue
    pid=${f##*/missive-fuzz-}; pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null || rm -f -- "$f"
  done
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -1)
  crashes=$(( $(find "artifacts/$t" -type f | wc -l) - before ))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="exit $status"; fi
  rows+=("$t|${execs:-?}|$took|$crashes")
  echo "$t: ${execs:-?} executions in $took s, crashes: $crashes" >&2
done

printf '\n%-16s %14s %8s %8s\n' target execs seconds crashes
for r in "${rows[@]}"; do
  IFS='|' read -r t e s c <<<"$r"
  printf '%-16s %14s %8s %8s\n' "$t" "$e" "$s" "$c"
done
