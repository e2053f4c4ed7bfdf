#!/usr/bin/env bash
# bench/run.sh - every benchmark, one after the other, and one table:
#   submission.sh (one STARTTLS+AUTH send, beside msmtp, swaks and the floor),
#   attachment.sh (100 MB, to smtp-sink and over TLS, beside the floor),
#   bulk.sh (10,000 messages, beside smtp-source), fanout.sh (direct delivery
#   to 1, 10, 100 domains), startup.sh (hyperfine, peak RSS).
# Each script appends its rows (BENCH_SUMMARY); the table, the load average
# and every script's full output are written to bench/results.md.
# RUNS_SUBMISSION, RUNS_ATTACHMENT, BULK_MESSAGES, FANOUT_ROUNDS, STARTUP_RUNS
# change the sizes. Benchmarks are not tests: nothing here is in the suite.
set -euo pipefail
export LC_ALL=C
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${RESULTS:-$ROOT/bench/results.md}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/missive-run.XXXXXX")
trap 'rm -rf -- "$TMP"' EXIT
export BENCH_SUMMARY="$TMP/rows.tsv"
: >"$BENCH_SUMMARY"
log() { printf '[run] %s\n' "$*" >&2; }

BENCHES=(
  "submission.sh ${RUNS_SUBMISSION:-15}"
  "attachment.sh ${RUNS_ATTACHMENT:-3} 100"
  "bulk.sh ${BULK_MESSAGES:-10000}"
  "fanout.sh ${FANOUT_ROUNDS:-3}"
  "startup.sh ${STARTUP_RUNS:-100}"
)
START=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A LOADS
for b in "${BENCHES[@]}"; do
  read -r script args <<<"$b"
  log "bench/$script $args"
  l0=$(cut -d' ' -f1 /proc/loadavg)
  # shellcheck disable=SC2086
  if ! timeout 1200 bash "$ROOT/bench/$script" $args >"$TMP/$script.out" 2>"$TMP/$script.err"; then
    log "bench/$script failed:"; tail -20 "$TMP/$script.err" >&2
    echo "$script: FAILED (see its output below)" >>"$TMP/failed"
  fi
  LOADS[$script]="$l0 -> $(cut -d' ' -f1 /proc/loadavg)"
done

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
{
  echo "# Benchmark results"
  echo
  echo "Written by \`bench/run.sh\` ($START). Machine: $(nproc) CPU(s)${cpu:+ ($cpu)}, $(uname -sr);"
  echo "load average (1, 5, 15 min) $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo "Each script measures missive, its peers and the floor interleaved in the same run;"
  echo "the load averages below say how quiet the machine was (figures from a busy machine"
  echo "move a lot: bench/README.md says which and why)."
  echo "\"floor\": what the server and the wire allow, measured by \`bench/floor\` (a minimal"
  echo "Rust client, not part of missive) or the named reference. See bench/README.md."
  echo
  echo "| benchmark | measure | missive | floor | missive / floor | peers | target | met |"
  echo "| --- | --- | ---: | ---: | ---: | --- | --- | --- |"
  while IFS=$'\t' read -r name measure ours floor ratio peers target met; do
    echo "| $name | $measure | $ours | $floor | $ratio | $peers | $target | $met |"
  done <"$BENCH_SUMMARY"
  echo
  echo "1-minute load average before -> after each script:"
  for b in "${BENCHES[@]}"; do read -r script _ <<<"$b"; echo "- $script: ${LOADS[$script]}"; done
  [ -f "$TMP/failed" ] && { echo; sed 's/^/- /' "$TMP/failed"; }
  echo
  echo "## Full output of each script"
  for b in "${BENCHES[@]}"; do
    read -r script args <<<"$b"
    echo
    echo "### bench/$script $args"
    echo
    echo '```'
    cat "$TMP/$script.out"
    echo '```'
  done
} >"$OUT"
log "wrote $OUT"
sed -n '/^| benchmark/,/^$/p' "$OUT"
