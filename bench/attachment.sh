#!/usr/bin/env bash
# bench/attachment.sh [RUNS] [SIZE_MB] - one message with a large random
# attachment (default 100 MB = 100,000,000 octets) sent to the testbed's
# smtp-sink (127.0.0.1:2526: plaintext, no SIZE limit, discards the mail), per
# client: whole-process wall time and peak resident set size (RSS).
#
#   missive  target/release/missive send --server 127.0.0.1:2526 --tls none --attach FILE
#   swaks    swaks --server 127.0.0.1 --port 2526 --attach @FILE --suppress-data
#   python   /usr/bin/python3: email.message.EmailMessage.add_attachment + smtplib
#
# plus two informational rows: "missive --dry-run", the same message composed and
# encoded to /dev/null with no network (missive's encoding cost alone), and
# "smtp-source floor", Postfix's smtp-source sending a generated message of the
# same size on the wire (no file, no encoding): how fast smtp-sink itself absorbs it.
#
# The clients are interleaved round-robin (the first client rotates each round),
# RUNS measured rounds (default 3) after one warm-up round. Every run must exit 0.
# Wall time comes from bash's $EPOCHREALTIME around the command; peak RSS, user
# and system CPU from `/usr/bin/time -v` when it is installed, else from a tiny
# Python driver that runs the command and reads os.wait4()'s rusage (ru_maxrss).
# Prints a table (median/min/max wall, CPU, peak RSS, ratios to missive) and the
# issue's target: missive peak RSS <= 16 MiB and wall time <= 1.5 s.
#
# It builds missive (cargo build --release -p missive) and starts the testbed
# (testbed/install.sh + testbed/testbed.sh up) when smtp-sink does not answer.
# It leaves the testbed running. smtp-sink delivers nothing, so there is no mail
# to clean up. This is a benchmark, not a test.
set -euo pipefail
export LC_ALL=C

RUNS=${1:-3}
SIZE_MB=${2:-100}
WARMUP=1
usage() { echo "usage: $0 [RUNS] [SIZE_MB]   (positive integers, default 3 and 100)" >&2; exit 64; }
case "$RUNS" in '' | *[!0-9]*) usage ;; esac
case "$SIZE_MB" in '' | *[!0-9]*) usage ;; esac
[ "$RUNS" -ge 1 ] && [ "$SIZE_MB" -ge 1 ] || usage

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTBED_DIR="${TESTBED_DIR:-/tmp/smtp-testbed}"
SINK_HOST=127.0.0.1
SINK_PORT=${TB_SINK_PORT:-2526}
PYTHON=/usr/bin/python3
CLIENTS=(missive swaks python)
TARGET_RSS_KIB=$((16 * 1024))
TARGET_WALL_S=1.5

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in cargo awk sort head; do command -v "$tool" >/dev/null || die "$tool not found"; done
[ -x "$PYTHON" ] || die "$PYTHON not found (the Python client and the fallback RSS driver need it)"
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 with \$EPOCHREALTIME is needed"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/missive-bench-attach.XXXXXX")
cleanup() {
  local rc=$?
  rm -rf -- "$TMP"
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

# --- testbed: only smtp-sink is used -------------------------------------------------
sink_up() { (exec 3<>"/dev/tcp/$SINK_HOST/$SINK_PORT") 2>/dev/null; }
if ! sink_up; then
  log "smtp-sink does not answer on $SINK_HOST:$SINK_PORT: testbed/install.sh + testbed/testbed.sh up"
  { bash "$ROOT/testbed/install.sh" && bash "$ROOT/testbed/testbed.sh" up; } >"$TMP/testbed.log" 2>&1 ||
    { cat "$TMP/testbed.log" >&2; die "could not start the testbed"; }
  sink_up || die "$SINK_HOST:$SINK_PORT still does not answer"
fi
if ! command -v swaks >/dev/null; then
  log "swaks missing: testbed/install.sh"
  bash "$ROOT/testbed/install.sh" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log" >&2; die "testbed/install.sh failed"; }
  command -v swaks >/dev/null || die "swaks still not found"
fi

# --- the attachment and the clients -------------------------------------------------
OCTETS=$((SIZE_MB * 1000 * 1000))
ATT="$TMP/random-${SIZE_MB}MB.bin"
log "writing $OCTETS random octets to $ATT"
head -c "$OCTETS" /dev/urandom >"$ATT"
FROM=bench@example.test
TO="bench-attach-$$@example.test"
BODY_TEXT="A benchmark message with a ${SIZE_MB} MB attachment."

cat >"$TMP/client.py" <<'EOF'
import os, sys, smtplib
from email.message import EmailMessage
host, port, frm, to, path, text = sys.argv[1:7]
msg = EmailMessage()
msg["From"], msg["To"], msg["Subject"] = frm, to, "bench"
msg.set_content(text + "\n")
with open(path, "rb") as f:
    data = f.read()
msg.add_attachment(data, maintype="application", subtype="octet-stream",
                   filename=os.path.basename(path))
with smtplib.SMTP(host, int(port)) as s:
    s.send_message(msg)
EOF

# Runs argv, waits with os.wait4 and prints "maxrss_kib user_s sys_s" of that child.
cat >"$TMP/rusage.py" <<'EOF'
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write("%d %.3f %.3f\n" % (ru.ru_maxrss, ru.ru_utime, ru.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status))
EOF

CMD_missive=("$MISSIVE" send --server "$SINK_HOST:$SINK_PORT" --tls none --from "$FROM" --to "$TO"
  --subject bench --body "$BODY_TEXT" --attach "$ATT")
CMD_swaks=(swaks --server "$SINK_HOST" --port "$SINK_PORT" --from "$FROM" --to "$TO"
  --header "Subject: bench" --body "$BODY_TEXT" --attach "@$ATT" --suppress-data)
CMD_python=("$PYTHON" "$TMP/client.py" "$SINK_HOST" "$SINK_PORT" "$FROM" "$TO" "$ATT" "$BODY_TEXT")
CMD_dryrun=("$MISSIVE" send --server "$SINK_HOST:$SINK_PORT" --tls none --from "$FROM" --to "$TO"
  --subject bench --body "$BODY_TEXT" --attach "$ATT" --dry-run)

# The octets missive puts on the wire, from its --dry-run header line.
wire=$("$MISSIVE" send --server "$SINK_HOST:$SINK_PORT" --tls none --from "$FROM" --to "$TO" \
  --subject bench --body "$BODY_TEXT" --attach "$ATT" --dry-run 2>/dev/null | head -n1 |
  sed -n 's/.*, \([0-9]*\) octets).*/\1/p' || true)
[ -n "$wire" ] || die "could not read the message size from missive --dry-run"
# Reference: Postfix's smtp-source sends a generated message of the same size,
# no file and no encoding: what smtp-sink itself can absorb on this machine.
SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
CMD_floor=("$SMTP_SOURCE" -m 1 -l "$wire" -f "$FROM" -t "$TO" "$SINK_HOST:$SINK_PORT")

# The floor (issue 17): bench/floor writes missive's own message (the bytes of
# its --dry-run, already CRLF and base64) after DATA in 64 KiB writes: the
# same octets from a sender that does nothing else. Over TLS: both send to a
# missive serve with implicit TLS (the testbed's certificate, CA-verified),
# which writes each message to a Maildir in $TMP that is emptied after each run.
"$MISSIVE" send --server "$SINK_HOST:$SINK_PORT" --tls none --from "$FROM" --to "$TO" \
  --subject bench --body "$BODY_TEXT" --attach "$ATT" --dry-run 2>/dev/null | tail -n +5 >"$TMP/wire.eml"
CMD_minimal=("$FLOOR" data "$SINK_HOST:$SINK_PORT" none - "$SINK_HOST" "$FROM" "$TO" "$TMP/wire.eml")
CA="$TESTBED_DIR/tls/ca.crt"
if [ -r "$CA" ] && [ -r "$TESTBED_DIR/tls/server-chain.pem" ]; then
  free_port() { # two consecutive ports nothing on 127.0.0.1 answers on
    local p
    for ((p = $1; p < $1 + 400; p += 2)); do
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
      (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null && continue
      echo "$p"; return
    done
    die "no free port near $1"
  }
  TLS_PORT=$(free_port $((30000 + $$ % 10000)))
  "$MISSIVE" serve --tls-listen "127.0.0.1:$TLS_PORT" --listen "127.0.0.1:$((TLS_PORT + 1))" --cert "$TESTBED_DIR/tls/server-chain.pem" \
    --key "$TESTBED_DIR/tls/server.key" --maildir "$TMP/serve-mail" --max-size 400000000 -q \
    >"$TMP/serve.log" 2>&1 &
  SERVE_PID=$!
  trap 'kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; rm -rf -- "$TMP"' EXIT
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null && break; sleep 0.05; done
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$TMP/serve.log" >&2; die "missive serve did not start"; }
  # --no-chunking: missive serve offers CHUNKING, the floor speaks DATA; both send DATA here.
  CMD_missive_tls=("$MISSIVE" send --server "127.0.0.1:$TLS_PORT" --tls implicit --cafile "$CA" --no-chunking
    --from "$FROM" --to "$TO" --subject bench --body "$BODY_TEXT" --attach "$ATT")
  CMD_minimal_tls=("$FLOOR" data "127.0.0.1:$TLS_PORT" implicit "$CA" 127.0.0.1 "$FROM" "$TO" "$TMP/wire.eml")
fi

if [ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1; then
  RSS_METHOD="/usr/bin/time -v (Maximum resident set size)"
  measured() { /usr/bin/time -v -o "$TMP/rusage" "$@"; }
  read_rusage() {
    awk -F': ' '/Maximum resident set size/ {m = $2} /User time/ {u = $2} /System time/ {s = $2}
      END {print m, u, s}' "$TMP/rusage"
  }
else
  RSS_METHOD="os.wait4() rusage via $PYTHON (ru_maxrss)"
  measured() { "$PYTHON" "$TMP/rusage.py" "$TMP/rusage" "$@"; }
  read_rusage() { cat "$TMP/rusage"; }
fi

run_one() { # CLIENT LABEL -> appends "wall_us rss_kib user_s sys_s" to $TMP/CLIENT.runs
  local c=$1 out="$TMP/$1.out" t0 t1 rc=0 rss user sys
  local -n cmd="CMD_$c"
  local sink=$out
  [ "$c" = dryrun ] && sink=/dev/null
  t0=$EPOCHREALTIME
  measured "${cmd[@]}" </dev/null >"$sink" 2>"$out.err" || rc=$?
  t1=$EPOCHREALTIME
  if [ "$rc" -ne 0 ]; then
    printf '[bench] %s run (%s) failed with exit code %d:\n  $ %s\n' "$c" "$2" "$rc" "${cmd[*]}" >&2
    cat "$out.err" "$out" 2>/dev/null | tail -40 | sed 's/^/  | /' >&2
    die "aborting: every run must succeed"
  fi
  [ -d "$TMP/serve-mail" ] && find "$TMP/serve-mail" -type f -delete
  read -r rss user sys < <(read_rusage)
  [ -n "$3" ] && echo "$((10#${t1/./} - 10#${t0/./})) $rss $user $sys" >>"$TMP/$c.runs"
  return 0
}

# --- runs ----------------------------------------------------------------------
ALL=("${CLIENTS[@]}" dryrun)
if [ -x "$SMTP_SOURCE" ]; then ALL+=(floor); else log "no smtp-source: no floor row"; fi
ALL+=(minimal)
[ -n "${SERVE_PID:-}" ] && ALL+=(missive_tls minimal_tls)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
log "$RUNS measured + $WARMUP warm-up rounds, round-robin: ${ALL[*]}"
n=${#ALL[@]}
for ((round = 0; round < WARMUP + RUNS; round++)); do
  for ((k = 0; k < n; k++)); do
    c=${ALL[(round + k) % n]}
    if ((round < WARMUP)); then run_one "$c" "warm-up" ""; else run_one "$c" "run $((round - WARMUP + 1))" yes; fi
    printf '.' >&2
  done
done
printf '\n' >&2
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

# --- report --------------------------------------------------------------------
# FILE -> "median_s min_s max_s rss_max_kib user_median_s sys_median_s"
stats() {
  awk '{w[NR] = $1; r = ($2 > r ? $2 : r); u[NR] = $3; s[NR] = $4}
    function med(a, n,   i, j, t) {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) {t = a[i]; a[i] = a[j]; a[j] = t}
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
      lo = w[1]; hi = w[1]; for (i = 1; i <= NR; i++) {if (w[i] < lo) lo = w[i]; if (w[i] > hi) hi = w[i]}
      printf "%.3f %.3f %.3f %d %.2f %.2f\n", med(w, NR) / 1e6, lo / 1e6, hi / 1e6, r, med(u, NR), med(s, NR)
    }' "$1"
}
declare -A MED MIN MAX RSS USR SYS
for c in "${ALL[@]}"; do
  read -r "MED[$c]" "MIN[$c]" "MAX[$c]" "RSS[$c]" "USR[$c]" "SYS[$c]" < <(stats "$TMP/$c.runs")
done
label() {
  case $1 in
    dryrun) echo "missive --dry-run" ;; floor) echo "smtp-source floor" ;; minimal) echo "floor (same bytes)" ;;
    missive_tls) echo "missive, TLS" ;; minimal_tls) echo "floor, TLS" ;; *) echo "$1" ;;
  esac
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }

ver_missive=$("$MISSIVE" --version 2>/dev/null | head -n1)
ver_swaks=$(swaks --version | head -n1)
ver_python=$("$PYTHON" --version 2>&1)
ver_rustc=$(rustc --version 2>/dev/null || echo '?')
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)

echo
echo "One message with a ${SIZE_MB} MB random attachment ($OCTETS octets; missive's message is $wire octets on the wire)"
echo "sent to smtp-sink $SINK_HOST:$SINK_PORT (plaintext, DATA, discards); $RUNS runs per client after $WARMUP warm-up, round-robin"
echo "wall: \$EPOCHREALTIME around the process; peak RSS, CPU: $RSS_METHOD"
echo "machine: $(nproc) CPU(s)${cpu:+ ($cpu)}, $(uname -sr); load average $LOAD_BEFORE before, $LOAD_AFTER after"
echo "versions: $ver_missive ($ver_rustc, release); $ver_swaks; $ver_python"
echo
printf '| %-18s | %8s | %8s | %8s | %6s | %6s | %13s | %-14s | %-14s |\n' client 'median s' 'min s' 'max s' 'user s' 'sys s' 'peak RSS MiB' 'time / missive' 'RSS / missive'
printf '| %-18s | %8s | %8s | %8s | %6s | %6s | %13s | %-14s | %-14s |\n' '---' '---:' '---:' '---:' '---:' '---:' '---:' '---' '---'
for c in "${ALL[@]}"; do
  name=$(label "$c")
  if [ "$c" = missive ]; then rt='-' rr='-'; else rt="$(ratio "${MED[$c]}" "${MED[missive]}") x" rr="$(ratio "${RSS[$c]}" "${RSS[missive]}") x"; fi
  printf '| %-18s | %8s | %8s | %8s | %6s | %6s | %13s | %-14s | %-14s |\n' "$name" "${MED[$c]}" "${MIN[$c]}" "${MAX[$c]}" \
    "${USR[$c]}" "${SYS[$c]}" "$(mib "${RSS[$c]}")" "$rt" "$rr"
done
echo "(peak RSS: the largest over the runs; user/sys: medians; \"missive --dry-run\" composes and encodes to /dev/null,"
echo " no network; \"smtp-source floor\": Postfix's smtp-source sends a generated message of the same size, no file, no encoding)"
echo
echo "every run, wall s / peak RSS MiB, in the order measured:"
for c in "${ALL[@]}"; do
  printf '  %-18s %s\n' "$(label "$c")" \
    "$(awk '{printf "%s%.2f/%.1f", (NR > 1 ? "  " : ""), $1 / 1e6, $2 / 1024}' "$TMP/$c.runs")"
done
echo
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN {exit !(a <= b)}'; then echo MET; else echo "NOT MET"; fi; }
v_rss=$(verdict "${RSS[missive]}" "$TARGET_RSS_KIB")
v_wall=$(verdict "${MED[missive]}" "$TARGET_WALL_S")
echo "target (issue): missive peak RSS <= 16 MiB -> $v_rss ($(mib "${RSS[missive]}") MiB)"
echo "target (issue): missive wall time <= $TARGET_WALL_S s -> $v_wall (median ${MED[missive]} s, max ${MAX[missive]} s)"
r1=$(awk -v a="${MED[missive]}" -v b="${MED[minimal]}" 'BEGIN {printf "%.2f", a / b}')
v1=$(verdict "$r1" 1.1)
echo "target (issue 17): missive <= 1.1 x the floor (same bytes, smtp-sink) -> $v1 (ratio $r1: ${MED[missive]} s vs ${MED[minimal]} s)"
if [ -n "${SERVE_PID:-}" ]; then
  r2=$(awk -v a="${MED[missive_tls]}" -v b="${MED[minimal_tls]}" 'BEGIN {printf "%.2f", a / b}')
  v2=$(verdict "$r2" 1.3)
  echo "target (issue 17): missive over TLS <= 1.3 x the floor over TLS (missive serve, implicit TLS) -> $v2 (ratio $r2: ${MED[missive_tls]} s vs ${MED[minimal_tls]} s)"
fi
if [ -n "${BENCH_SUMMARY:-}" ]; then
  {
    printf 'attachment: %s MB to smtp-sink\tmedian s\t%s\t%s\t%s\tswaks %s, python %s, smtp-source %s\t<= 1.1 x floor\t%s\n' \
      "$SIZE_MB" "${MED[missive]}" "${MED[minimal]}" "$r1" "${MED[swaks]}" "${MED[python]}" "${MED[floor]:--}" "$v1"
    printf 'attachment: peak RSS\tMiB\t%s\t%s\t-\tswaks %s, python %s\t<= 16 MiB\t%s\n' "$(mib "${RSS[missive]}")" \
      "$(mib "${RSS[minimal]}")" "$(mib "${RSS[swaks]}")" "$(mib "${RSS[python]}")" "$v_rss"
    if [ -n "${SERVE_PID:-}" ]; then
      printf 'attachment: %s MB over implicit TLS to missive serve\tmedian s\t%s\t%s\t%s\t-\t<= 1.3 x floor\t%s\n' \
        "$SIZE_MB" "${MED[missive_tls]}" "${MED[minimal_tls]}" "$r2" "$v2"
    fi
  } >>"$BENCH_SUMMARY"
fi
