#!/usr/bin/env bash
# bench/submission.sh [RUNS] - wall time of ONE small message sent through the
# testbed's Postfix submission port (127.0.0.1:5870: STARTTLS + AUTH PLAIN, the
# server certificate verified against the testbed CA), whole process, per client:
#
#   missive  target/release/missive send ... --cafile CA --auth plain --password-env VAR
#   msmtp    -C <0600 config with tls_trust_file + auth plain + password>
#   swaks    --tls --tls-verify --tls-ca-path CA --auth PLAIN --auth-password ...
#   floor    bench/floor (a minimal in-process Rust client, not part of missive):
#            the same conversation with TCP_QUICKACK, no process start, no
#            session resumption, trusting the CA file alone; each round it does
#            1 warm-up and PER_ROUND (3) measured conversations.
#   true     /bin/true: a process that does nothing, for the least a
#            process-per-send client can cost (floor + true).
#
# The clients are interleaved round-robin (the starting client rotates each
# round), 2 warm-up rounds first, then RUNS measured rounds (default 15). In a
# measured round every client gets what the floor gets: 1 warm-up run, then
# PER_ROUND measured runs back to back (a run that follows 190 ms of msmtp
# waiting meets idle, slow-to-wake CPUs; the floor's never did). Before each
# run (and each of the floor's conversations) the bench pauses PAUSE_MS
# (default 10, untimed) so that Postfix has delivered the previous message:
# one send is measured against a server that is not still busy with the
# last one (with 2 cores, that delivery competed with the next run). Every
# run must exit 0, otherwise the bench stops and prints that run's output.
# Prints median/min/max in ms, missive's median over each peer's median, and
# whether the targets of the issues are met: missive median <= 0.2 x msmtp
# median (issue 7) and <= 1.5 x the floor's median (issue 17).
# BENCH_CLIENTS (default "missive floor msmtp swaks true") picks the clients;
# the targets of the peers left out are not printed.
# With BENCH_SUMMARY=FILE it also appends one tab-separated row for bench/run.sh.
#
# It builds missive (cargo build --release -p missive) and starts the testbed
# (testbed/install.sh + testbed/testbed.sh up) when
# $TESTBED_DIR/credentials.env is missing. It leaves the testbed running. The
# mail it sends goes to bench-<pid>-<client>@example.test, and those Maildirs
# are deleted once everything is delivered.
# This is a benchmark, not a test: it does not check the delivered bytes.
set -euo pipefail
export LC_ALL=C

RUNS=${1:-15}
WARMUP=2
case "$RUNS" in '' | *[!0-9]*) echo "usage: $0 [RUNS]   (RUNS: a positive integer, default 15)" >&2; exit 64 ;; esac
[ "$RUNS" -ge 1 ] || { echo "usage: $0 [RUNS]   (RUNS >= 1)" >&2; exit 64; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTBED_DIR="${TESTBED_DIR:-/tmp/smtp-testbed}"
CREDS="$TESTBED_DIR/credentials.env"
read -r -a CLIENTS <<<"${BENCH_CLIENTS:-missive floor msmtp swaks true}"
PER_ROUND=3
PAUSE_MS=${PAUSE_MS:-10}
case "$PAUSE_MS" in '' | *[!0-9]*) echo "[bench] PAUSE_MS must be whole milliseconds, not '$PAUSE_MS'" >&2; exit 2 ;; esac
case " ${CLIENTS[*]} " in *" missive "*) ;; *) echo "[bench] BENCH_CLIENTS must include missive" >&2; exit 2 ;; esac
for c in "${CLIENTS[@]}"; do
  case "$c" in missive | floor | msmtp | swaks | true) ;;
    *) echo "[bench] unknown client '$c' in BENCH_CLIENTS (missive floor msmtp swaks true)" >&2; exit 2 ;; esac
done
export FLOOR_PAUSE_MS=$PAUSE_MS
PAUSE_S=$(awk -v ms="$PAUSE_MS" 'BEGIN { printf "%.3f", ms / 1000 }')

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in cargo awk sort; do command -v "$tool" >/dev/null || die "$tool not found"; done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/missive-bench.XXXXXX")
MAIL_DIRS=()
cleanup() {
  local rc=$?
  rm -rf -- "$TMP"
  # Bench mail that is already delivered; an aborted run may leave some behind
  # in the queue, which deliver.sh then writes to a fresh directory.
  if [ "${#MAIL_DIRS[@]}" -gt 0 ]; then rm -rf -- "${MAIL_DIRS[@]}"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ---------------------------------------------------------------------
log "cargo build --release -p missive"
(cd "$ROOT" && cargo build --release -p missive) >"$TMP/build.log" 2>&1 ||
  { cat "$TMP/build.log" >&2; die "cargo build failed"; }
MISSIVE="$ROOT/target/release/missive"
[ -x "$MISSIVE" ] || die "$MISSIVE was not built"
log "cargo build --release (bench/floor)"
FLOOR=$(bash "$ROOT/bench/floor/build.sh" 2>"$TMP/floor-build.log") ||
  { cat "$TMP/floor-build.log" >&2; die "building bench/floor failed"; }

# --- testbed -------------------------------------------------------------------
if [ ! -f "$CREDS" ]; then
  log "no $CREDS: starting the testbed (testbed/install.sh, testbed/testbed.sh up)"
  bash "$ROOT/testbed/install.sh" >"$TMP/testbed.log" 2>&1 &&
    bash "$ROOT/testbed/testbed.sh" up >>"$TMP/testbed.log" 2>&1 ||
    { cat "$TMP/testbed.log" >&2; die "could not start the testbed"; }
  [ -f "$CREDS" ] || die "testbed is up but $CREDS is still missing"
fi
if ! command -v msmtp >/dev/null || ! command -v swaks >/dev/null; then
  log "msmtp or swaks missing: testbed/install.sh"
  bash "$ROOT/testbed/install.sh" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log" >&2; die "testbed/install.sh failed"; }
  for tool in msmtp swaks; do command -v "$tool" >/dev/null || die "$tool still not found"; done
fi
# shellcheck disable=SC1090
. "$CREDS"
HOST=${SMTP_HOST:?} PORT=${SMTP_PORT_SUBMISSION:?} USER_=${SMTP_USER:?} CA=${SMTP_CA:?}
[ -r "$CA" ] || die "CA file $CA not readable"
# credentials.env can outlive the daemons: check that the port answers
if ! (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
  log "$HOST:$PORT does not answer: testbed/testbed.sh up"
  bash "$ROOT/testbed/testbed.sh" up >"$TMP/testbed.log" 2>&1 ||
    { cat "$TMP/testbed.log" >&2; die "could not start the testbed"; }
  (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null || die "$HOST:$PORT still does not answer"
fi

# --- per-client setup ------------------------------------------------------------
TAG="bench-$$"
rcpt() { printf '%s-%s@example.test' "$TAG" "$1"; }
for c in "${CLIENTS[@]}"; do
  [ "$c" = true ] || MAIL_DIRS+=("${SMTP_MAILDIR_BASE:-$TESTBED_DIR/mail}/example.test/$TAG-$c")
done

BODY="$TMP/body.txt"
printf 'A small benchmark message.\nSecond line.\n' >"$BODY"
# the same message as a full RFC 5322 message for msmtp (stdin) and swaks (--data):
# CRLF line endings, no final CRLF (swaks appends CRLF.CRLF; msmtp is given one)
mkmsg() { # FILE TO
  printf 'From: %s\r\nTo: %s\r\nSubject: bench\r\nDate: %s\r\nMessage-ID: <%s.%s@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nA small benchmark message.\r\nSecond line.' \
    "$USER_" "$2" "$(date -R)" "$TAG" "$(basename "$1" .eml)" >"$1"
}
mkmsg "$TMP/msmtp.eml" "$(rcpt msmtp)"; printf '\r\n' >>"$TMP/msmtp.eml"
mkmsg "$TMP/swaks.eml" "$(rcpt swaks)"
mkmsg "$TMP/floor.eml" "$(rcpt floor)"; printf '\r\n' >>"$TMP/floor.eml"

MSMTPRC="$TMP/msmtprc"
(umask 077; cat >"$MSMTPRC" <<EOF
defaults
tls on
tls_trust_file $CA
account bench
host $HOST
port $PORT
tls_starttls on
auth plain
user $USER_
password $SMTP_PASS
from $USER_
EOF
)
chmod 600 "$MSMTPRC"

export MISSIVE_BENCH_PW="$SMTP_PASS"
CMD_missive=("$MISSIVE" send --server "$HOST:$PORT" --tls starttls --cafile "$CA"
  --auth plain --user "$USER_" --password-env MISSIVE_BENCH_PW
  --from "$USER_" --to "$(rcpt missive)" --subject bench --body-file "$BODY")
CMD_msmtp=(msmtp -C "$MSMTPRC" -a bench "$(rcpt msmtp)")
CMD_swaks=(swaks --server "$HOST" --port "$PORT" --tls --tls-verify --tls-ca-path "$CA"
  --auth PLAIN --auth-user "$USER_" --auth-password "$SMTP_PASS"
  --from "$USER_" --to "$(rcpt swaks)" --data "@$TMP/swaks.eml")
# /bin/true: what a process costs before it does anything (fork, exec, exit)
CMD_true=(/bin/true)
CMD_floor=("$FLOOR" submission "$HOST:$PORT" "$CA" "$USER_" MISSIVE_BENCH_PW
  "$USER_" "$(rcpt floor)" "$TMP/floor.eml" 1 "$PER_ROUND")

# Wall time of one whole process in microseconds, into $ELAPSED_US. $EPOCHREALTIME
# (bash 5) is read without a fork, so no date(1) start-up lands inside the interval.
now_us() {
  if [ -n "${EPOCHREALTIME:-}" ]; then local t=$EPOCHREALTIME; printf '%s' "${t/./}"
  else local n; n=$(date +%s%N); printf '%s' "$((n / 1000))"; fi
}
[ -n "${EPOCHREALTIME:-}" ] || log "bash without EPOCHREALTIME: timing with date +%s%N (adds ~1 ms per run)"
run_one() { # CLIENT LABEL
  local c=$1 out="$TMP/$1.out" t0 t1 rc=0
  local -n cmd="CMD_$c"
  local input=/dev/null
  [ "$c" = msmtp ] && input="$TMP/msmtp.eml"
  # the floor pauses before each of its conversations itself
  [ "$c" = floor ] || sleep "$PAUSE_S"
  if [ -n "${EPOCHREALTIME:-}" ]; then
    t0=$EPOCHREALTIME; "${cmd[@]}" <"$input" >"$out" 2>&1 || rc=$?; t1=$EPOCHREALTIME
    t0=${t0/./} t1=${t1/./}
  else
    t0=$(now_us); "${cmd[@]}" <"$input" >"$out" 2>&1 || rc=$?; t1=$(now_us)
  fi
  if [ "$rc" -ne 0 ]; then
    printf '[bench] %s run (%s) failed with exit code %d:\n  $ %s\n' "$c" "$2" "$rc" "${cmd[*]}" >&2
    sed 's/^/  | /' "$out" | tail -40 >&2
    die "aborting: every run must succeed"
  fi
  ELAPSED_US=$((10#$t1 - 10#$t0))
}
# The floor times itself, in-process: its lines are the measured conversations.
record() { # CLIENT
  if [ "$1" = floor ]; then awk '{printf "%d\n", $1 * 1000}' "$TMP/floor.out" >>"$TMP/floor.times"
  else echo "$ELAPSED_US" >>"$TMP/$1.times"; fi
}

# --- runs ----------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
log "$RUNS measured + $WARMUP warm-up runs per client, round-robin: ${CLIENTS[*]}"
n=${#CLIENTS[@]}
for ((round = 0; round < WARMUP + RUNS; round++)); do
  for ((k = 0; k < n; k++)); do
    c=${CLIENTS[(round + k) % n]}
    if ((round < WARMUP)); then
      run_one "$c" "warm-up $((round + 1))"
    elif [ "$c" = floor ]; then
      run_one "$c" "run $((round - WARMUP + 1))"
      record "$c"
    else
      run_one "$c" "warm-up of run $((round - WARMUP + 1))"
      for ((i = 1; i <= PER_ROUND; i++)); do
        run_one "$c" "run $((round - WARMUP + 1)).$i"
        record "$c"
      done
    fi
  done
  printf '.' >&2
done
printf '\n' >&2
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

# --- report --------------------------------------------------------------------
stats() { # FILE -> "median min max" in ms
  sort -n "$1" | awk '{v[NR] = $1}
    END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
         printf "%.2f %.2f %.2f\n", m / 1000, v[1] / 1000, v[NR] / 1000}'
}
declare -A MED MIN MAX
for c in "${CLIENTS[@]}"; do read -r "MED[$c]" "MIN[$c]" "MAX[$c]" < <(stats "$TMP/$c.times"); done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

ver_missive=$("$MISSIVE" --version 2>/dev/null | head -n1)
ver_msmtp=$(msmtp --version | head -n1)
ver_swaks=$(swaks --version | head -n1)
ver_postfix=$(postconf -d -h mail_version 2>/dev/null || echo '?')
ver_rustc=$(rustc --version 2>/dev/null || echo '?')
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)

echo
echo "One message, STARTTLS + AUTH PLAIN, CA-verified, via $HOST:$PORT (Postfix $ver_postfix)"
echo "$RUNS rounds after $WARMUP warm-up rounds, clients interleaved round-robin; in each round every"
echo "client does 1 warm-up and $PER_ROUND measured runs, each after a $PAUSE_MS ms pause: whole-process wall time for"
echo "missive, msmtp and swaks; the floor (bench/floor) times its conversations in-process"
echo "machine: $(nproc) CPU(s)${cpu:+ ($cpu)}, $(uname -sr); load average $LOAD_BEFORE before, $LOAD_AFTER after"
echo "versions: $ver_missive ($ver_rustc, release); $ver_msmtp; $ver_swaks"
echo
printf '| %-8s | %10s | %8s | %8s | %-24s |\n' client 'median ms' 'min ms' 'max ms' 'missive median / this'
printf '| %-8s | %10s | %8s | %8s | %-24s |\n' '---' '---:' '---:' '---:' '---'
for c in "${CLIENTS[@]}"; do
  if [ "$c" = missive ]; then r='-'; else r="missive/$c = $(ratio "${MED[missive]}" "${MED[$c]}")"; fi
  printf '| %-8s | %10s | %8s | %8s | %-24s |\n' "$c" "${MED[$c]}" "${MIN[$c]}" "${MAX[$c]}" "$r"
done
echo
echo "every run, ms, in the order measured:"
for c in "${CLIENTS[@]}"; do
  printf '  %-8s %s\n' "$c" "$(awk '{printf "%s%.1f", (NR > 1 ? " " : ""), $1 / 1000}' "$TMP/$c.times")"
done
echo
# The targets, for the peers that took part (BENCH_CLIENTS may leave some out).
fr=- fverdict=-
if [ -n "${MED[floor]+set}" ]; then
  fgoal=$(awk -v m="${MED[floor]}" 'BEGIN {printf "%.2f", 1.5 * m}')
  fr=$(ratio "${MED[missive]}" "${MED[floor]}")
  if awk -v a="${MED[missive]}" -v g="$fgoal" 'BEGIN {exit !(a <= g)}'; then fverdict=MET; else fverdict="NOT MET"; fi
  echo "target (issue 17): missive median <= 1.5 x floor median = $fgoal ms -> $fverdict (missive ${MED[missive]} ms, ratio $fr)"
  if [ -n "${MED[true]+set}" ]; then
    least=$(awk -v a="${MED[floor]}" -v b="${MED[true]}" 'BEGIN {printf "%.2f", a + b}')
    echo "  (no process-per-send client can beat floor + /bin/true = $least ms, $(ratio "$least" "${MED[floor]}") x the floor)"
  fi
fi
if [ -n "${BENCH_SUMMARY:-}" ]; then
  printf 'submission: 1 message, STARTTLS+AUTH, Postfix\tmedian ms\t%s\t%s\t%s\tmsmtp %s, swaks %s\t<= 1.5 x floor\t%s\n' \
    "${MED[missive]}" "${MED[floor]:--}" "$fr" "${MED[msmtp]:--}" "${MED[swaks]:--}" "$fverdict" >>"$BENCH_SUMMARY"
fi
if [ -n "${MED[msmtp]+set}" ]; then
  goal=$(awk -v m="${MED[msmtp]}" 'BEGIN {printf "%.2f", 0.2 * m}')
  r=$(ratio "${MED[missive]}" "${MED[msmtp]}")
  if awk -v a="${MED[missive]}" -v g="$goal" 'BEGIN {exit !(a <= g)}'; then
    echo "target (issue): missive median <= 0.2 x msmtp median = $goal ms -> MET (missive ${MED[missive]} ms, ratio $r)"
  else
    echo "target (issue): missive median <= 0.2 x msmtp median = $goal ms -> NOT MET (missive ${MED[missive]} ms, ratio $r)"
  fi
fi

# --- remove the bench mail once Postfix has delivered it ----------------------------
deadline=$((SECONDS + 30))
for d in "${MAIL_DIRS[@]}"; do
  expect=$((WARMUP + RUNS * (PER_ROUND + 1)))
  case "$d" in *-floor) expect=$(((WARMUP + RUNS) * (PER_ROUND + 1))) ;; esac
  while :; do
    got=$(find "$d/new" -maxdepth 1 -type f 2>/dev/null | wc -l)
    [ "$got" -ge "$expect" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "note: only $got of $expect messages delivered to $d after 30 s; removing what is there"
      break
    fi
    sleep 0.1
  done
done
