#!/usr/bin/env bash
# bench/bulk.sh [MESSAGES] - missive bulk beside Postfix's smtp-source, both
# sending MESSAGES (default 10000) messages of about 2 KB to the testbed's
# smtp-sink (127.0.0.1:2526, no TLS, discards everything), measured in one
# run: one connection, then eight, each as ROUNDS (default 3) rounds that
# alternate the two senders (which goes first changes every round); then
# missive's peak memory for a 100,000-row CSV. Prints a table: the median
# messages a second of each, the ratio of the medians, and every round.
#
# missive: target/release/missive bulk --csv N rows --template (a 2 KB body)
#          --server 127.0.0.1:2526 --tls none --yes --connections C
# peer:    smtp-source -d [-s C] -m MESSAGES -l 2048 127.0.0.1:2526
# Targets (issue 11): one connection >= 2 x smtp-source; eight >= 1 x;
# 100,000 rows <= 32 MB peak RSS. This is a benchmark, not a test.
# With BENCH_SUMMARY=FILE it also appends tab-separated rows for bench/run.sh.
set -euo pipefail
export LC_ALL=C
N=${1:-10000}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTBED_DIR="${TESTBED_DIR:-/tmp/smtp-testbed}"
SINK=127.0.0.1:2526
log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/missive-bulk-bench.XXXXXX")
trap 'rm -rf -- "$TMP"' EXIT

log "cargo build --release -p missive"
(cd "$ROOT" && cargo build --release -p missive) >"$TMP/build.log" 2>&1 ||
  { cat "$TMP/build.log" >&2; die "cargo build failed"; }
MISSIVE="$ROOT/target/release/missive"
if ! (exec 3<>/dev/tcp/127.0.0.1/2526) 2>/dev/null; then
  log "starting the testbed (smtp-sink on $SINK)"
  bash "$ROOT/testbed/install.sh" >/dev/null && bash "$ROOT/testbed/testbed.sh" up >/dev/null
fi
command -v smtp-source >/dev/null || die "smtp-source not found (postfix package)"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null 2>&1 || true; }

# The CSV and a template whose messages are about 2 KB, like smtp-source -l 2048.
rows() {
  echo "email,name,id"
  awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "r%d@bench.test,Name %d,%d\n", i, i, i }'
}
rows "$N" >"$TMP/rows.csv"
{
  echo "From: Bench <bench@example.test>"
  echo "Subject: message {{ id }} for {{ name }}"
  echo
  for _ in $(seq 1 24); do echo "Hello {{ name }}, this line makes the message about two kilobytes long: 0123456789."; done
} >"$TMP/message.tmpl"

now() { date +%s.%N; }
rate() { awk -v n="$N" -v s="$1" -v e="$2" 'BEGIN { printf "%.0f", n / (e - s) }'; }

missive_run() { # CONNECTIONS
  rm -f "$TMP/journal"
  local s e
  s=$(now)
  "$MISSIVE" bulk --csv "$TMP/rows.csv" --template "$TMP/message.tmpl" --journal "$TMP/journal" \
    --server "$SINK" --tls none --yes --quiet --connections "$1" >"$TMP/missive.out" 2>&1 ||
    { cat "$TMP/missive.out" >&2; die "missive bulk failed"; }
  e=$(now)
  rate "$s" "$e"
}
source_run() { # CONNECTIONS
  local s e
  s=$(now)
  smtp-source -d -s "$1" -m "$N" -l 2048 -f bench@example.test -t sink@bench.test "$SINK" >"$TMP/source.out" 2>&1 ||
    { cat "$TMP/source.out" >&2; die "smtp-source failed"; }
  e=$(now)
  rate "$s" "$e"
}

# The middle value (of an even count, the lower of the two middle ones).
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ROUNDS=${ROUNDS:-3}
case "$ROUNDS" in '' | *[!0-9]* | 0) die "ROUNDS must be a whole number of at least 1, not '$ROUNDS'" ;; esac

printf '%-14s %14s %14s %8s %s\n' "connections" "missive msg/s" "smtp-source" "ratio" "target"
rounds=""
for c in 1 8; do
  all_ours="" all_src=""
  for r in $(seq 1 "$ROUNDS"); do
    # who goes first alternates, and differs between the 1- and 8-connection runs
    if [ $(((r + c) % 2)) = 1 ]; then
      s1=$(source_run "$c"); o1=$(missive_run "$c")
    else
      o1=$(missive_run "$c"); s1=$(source_run "$c")
    fi
    all_ours="$all_ours $o1" all_src="$all_src $s1"
  done
  rounds="${rounds}rounds, $c connection(s), msg/s: missive$all_ours; smtp-source$all_src"$'\n'
  ours=$(echo "$all_ours" | median)
  src=$(echo "$all_src" | median)
  target=$([ "$c" = 1 ] && echo 2 || echo 1)
  ratio=$(awk -v a="$ours" -v b="$src" 'BEGIN { printf "%.2f", a / b }')
  met=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r >= t) ? "MET" : "NOT MET" }')
  printf '%-14s %14s %14s %8s >= %sx %s\n' "$c" "$ours" "$src" "${ratio}x" "$target" "$met"
  if [ -n "${BENCH_SUMMARY:-}" ]; then
    printf 'bulk: %s messages of 2 KB to smtp-sink, %s connection(s)\tmsg/s (higher is better)\t%s\t%s\t%s\t-\t>= %s x smtp-source\t%s\n' \
      "$N" "$c" "$ours" "$src" "$ratio" "$target" "$met" >>"$BENCH_SUMMARY"
  fi
done

# Memory: 100,000 rows, checked and sent.
rows 100000 >"$TMP/big.csv"
rm -f "$TMP/journal"
/usr/bin/time -f "%M" -o "$TMP/rss" "$MISSIVE" bulk --csv "$TMP/big.csv" --template "$TMP/message.tmpl" \
  --journal "$TMP/journal" --server "$SINK" --tls none --yes --quiet --connections 8 >/dev/null 2>&1 ||
  die "the 100,000-row run failed"
kb=$(cat "$TMP/rss")
printf '%-14s %14s %14s %8s %s\n' "100k rows RSS" "$((kb / 1024)) MiB" "-" "-" "$([ "$kb" -le 32768 ] && echo '<= 32 MiB MET' || echo '<= 32 MiB NOT MET')"
if [ -n "${BENCH_SUMMARY:-}" ]; then
  printf 'bulk: 100,000 rows, peak RSS\tMiB\t%s\t-\t-\t-\t<= 32 MiB\t%s\n' "$((kb / 1024))" \
    "$([ "$kb" -le 32768 ] && echo MET || echo 'NOT MET')" >>"$BENCH_SUMMARY"
fi
printf '%s' "$rounds"
printf 'machine: %s cores, %s, load %s\n' "$(nproc)" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)"
