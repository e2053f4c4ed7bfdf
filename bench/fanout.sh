#!/usr/bin/env bash
# bench/fanout.sh [ROUNDS] - direct delivery fan-out: ONE message to 10
# recipients in each of 1, 10 and 100 domains (10, 100 and 1,000 recipients),
# every MX host a `missive serve` on loopback that waits 100 ms before each
# reply (--delay STAGE=100 at every stage). The zones are generated here into
# a dnsmasq of its own (127.0.0.1, a port of its own): the testbed's shared
# one is not touched. The sizes are interleaved, ROUNDS rounds (default 3),
# the median wall time of each is printed, and the target of issue 17:
# 100 domains <= 3 x 1 domain. The limits are the defaults of
# direct_connections / direct_connections_per_domain unless
# MISSIVE_DIRECT_CONNECTIONS(_PER_DOMAIN) are set.
# Bounded: each send is killed after 120 s. This is a benchmark, not a test.
set -euo pipefail
export LC_ALL=C
ROUNDS=${1:-3}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }
command -v dnsmasq >/dev/null || die "dnsmasq not found (testbed/install.sh)"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/missive-fanout.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf -- "$TMP"
}
trap cleanup EXIT

log "cargo build --release -p missive"
(cd "$ROOT" && cargo build --release -p missive) >"$TMP/build.log" 2>&1 ||
  { cat "$TMP/build.log" >&2; die "cargo build failed"; }
MISSIVE="${MISSIVE_BIN:-$ROOT/target/release/missive}"   # MISSIVE_BIN: compare another build

free_port() { # a port nothing on 127.0.0.1 answers on (TCP)
  local p
  for ((p = $1; p < $1 + 200; p++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free port near $1"
}
DNS_PORT=$(free_port $((20000 + $$ % 10000)))
MX_PORT=$(free_port $((DNS_PORT + 1)))

# --- the zones: fanN.test, MX 10 mx.fanN.test -> 127.0.0.1 -------------------------
{
  echo "port=$DNS_PORT"; echo "listen-address=127.0.0.1"; echo "bind-interfaces"
  echo "no-resolv"; echo "no-hosts"; echo "no-poll"; echo "local=/test/"; echo "local-ttl=600"
  for ((d = 1; d <= 100; d++)); do
    echo "mx-host=fan$d.test,mx.fan$d.test,10"
    echo "host-record=mx.fan$d.test,127.0.0.1"
  done
} >"$TMP/dnsmasq.conf"
dnsmasq --conf-file="$TMP/dnsmasq.conf" --keep-in-foreground --pid-file= \
  >"$TMP/dnsmasq.log" 2>&1 &
PIDS+=($!)

# --- every MX: one missive serve, 100 ms before each reply ------------------------
DELAYS=()
for st in greeting ehlo mail rcpt data end-of-data; do DELAYS+=(--delay "$st=100"); done
"$MISSIVE" serve --listen "127.0.0.1:$MX_PORT" --maildir "$TMP/mail" -q "${DELAYS[@]}" \
  >"$TMP/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MX_PORT") 2>/dev/null && break; sleep 0.05; done
(exec 3<>"/dev/tcp/127.0.0.1/$MX_PORT") 2>/dev/null || { cat "$TMP/serve.log" >&2; die "missive serve did not start"; }

export HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/home/.config" XDG_STATE_HOME="$TMP/home/.state"
mkdir -p "$HOME"
rcpts() { # DOMAINS -> 10 recipients in each, comma-separated
  local d i out=""
  for ((d = 1; d <= $1; d++)); do for ((i = 1; i <= 10; i++)); do out+="${out:+,}r$i@fan$d.test"; done; done
  echo "$out"
}
SIZES=(1 10 100)
for n in "${SIZES[@]}"; do rcpts "$n" >"$TMP/rcpts.$n"; done
run() { # DOMAINS -> wall ms appended to $TMP/t.DOMAINS
  local n=$1 t0 t1 rc=0
  t0=$EPOCHREALTIME
  timeout 120 "$MISSIVE" send --direct --dns-server "127.0.0.1:$DNS_PORT" --mx-port "$MX_PORT" \
    --from bench@client.test --to "$(cat "$TMP/rcpts.$n")" --subject fanout --body "fan-out bench" \
    --json >"$TMP/out.$n" 2>&1 || rc=$?
  t1=$EPOCHREALTIME
  if [ "$rc" -ne 0 ]; then tail -20 "$TMP/out.$n" >&2; die "send to $n domain(s) failed (exit $rc)"; fi
  awk -v a="${t0/./}" -v b="${t1/./}" 'BEGIN {printf "%.1f\n", (b - a) / 1000}' >>"$TMP/t.$n"
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "warm-up, then $ROUNDS rounds of ${SIZES[*]} domain(s), interleaved"
run 1 && : >"$TMP/t.1"
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < ${#SIZES[@]}; k++)); do run "${SIZES[(r + k) % ${#SIZES[@]}]}"; done
  printf '.' >&2
done
printf '\n' >&2
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
med() { sort -n "$1" | awk '{v[NR] = $1} END {printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
declare -A M
for n in "${SIZES[@]}"; do M[$n]=$(med "$TMP/t.$n"); done
conns=${MISSIVE_DIRECT_CONNECTIONS:-default 50}; per=${MISSIVE_DIRECT_CONNECTIONS_PER_DOMAIN:-default 4}
echo
echo "Direct delivery fan-out: 10 recipients a domain, every MX a missive serve on 127.0.0.1:$MX_PORT"
echo "waiting 100 ms before each reply; zones in a dnsmasq of its own (127.0.0.1:$DNS_PORT)"
echo "limits: direct_connections $conns, direct_connections_per_domain $per; $ROUNDS rounds after a warm-up"
echo "machine: $(nproc) CPU(s), $(uname -sr); load average $LOAD_BEFORE before, $LOAD_AFTER after"
echo
printf '| %-8s | %10s | %9s | %-30s |\n' domains recipients 'median s' 'every run, ms'
printf '| %-8s | %10s | %9s | %-30s |\n' --- ---: ---: ---
for n in "${SIZES[@]}"; do
  printf '| %-8s | %10s | %9s | %-30s |\n' "$n" "$((n * 10))" "$(awk -v m="${M[$n]}" 'BEGIN {printf "%.2f", m / 1000}')" "$(tr '\n' ' ' <"$TMP/t.$n")"
done
ratio=$(awk -v a="${M[100]}" -v b="${M[1]}" 'BEGIN {printf "%.2f", a / b}')
if awk -v r="$ratio" 'BEGIN {exit !(r <= 3)}'; then verdict=MET; else verdict="NOT MET"; fi
echo
echo "target (issue 17): 100 domains <= 3 x 1 domain -> $verdict (ratio $ratio)"
if [ -n "${BENCH_SUMMARY:-}" ]; then
  printf 'fan-out: 1,000 recipients in 100 domains, MX replies delayed 100 ms\tmedian s\t%s\t%s\t%s\t10 domains %s s\t<= 3 x 1 domain\t%s\n' \
    "$(awk -v m="${M[100]}" 'BEGIN {printf "%.2f", m / 1000}')" "$(awk -v m="${M[1]}" 'BEGIN {printf "%.2f", m / 1000}')" \
    "$ratio" "$(awk -v m="${M[10]}" 'BEGIN {printf "%.2f", m / 1000}')" "$verdict" >>"$BENCH_SUMMARY"
fi
