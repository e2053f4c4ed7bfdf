#!/usr/bin/env bash
# bench/startup.sh [RUNS] - start-up: `missive --version` and `missive send
# --dry-run …` with hyperfine (no shell, -N; 5 warm-ups, RUNS runs, default 100),
# beside /bin/true (the floor: a process that does nothing) and msmtp --version;
# then the peak RSS of one real send (STARTTLS + AUTH PLAIN through the
# testbed's Postfix 127.0.0.1:5870, /usr/bin/time -v). Targets (issue 17): each
# median <= 3 ms, peak RSS <= 8 MiB. This is a benchmark, not a test.
set -euo pipefail
export LC_ALL=C
RUNS=${1:-100}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTBED_DIR="${TESTBED_DIR:-/tmp/smtp-testbed}"
log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }
command -v hyperfine >/dev/null || { log "installing hyperfine (apt)"; apt-get install -y -qq hyperfine >/dev/null 2>&1 || true; }
command -v hyperfine >/dev/null || die "hyperfine not found (apt-get install hyperfine)"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null 2>&1 || true; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/missive-startup.XXXXXX")
trap 'rm -rf -- "$TMP"' EXIT
log "cargo build --release -p missive"
(cd "$ROOT" && cargo build --release -p missive) >"$TMP/build.log" 2>&1 ||
  { cat "$TMP/build.log" >&2; die "cargo build failed"; }
MISSIVE="${MISSIVE_BIN:-$ROOT/target/release/missive}"
export HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/home/.config" XDG_STATE_HOME="$TMP/home/.state"
mkdir -p "$HOME"
DRY="$MISSIVE send --dry-run --server 127.0.0.1:5870 --from a@client.test --to b@example.test --subject start --body hello"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
hyperfine -N -w 5 -r "$RUNS" --export-json "$TMP/h.json" -n floor /bin/true \
  -n version "$MISSIVE --version" -n dry-run "$DRY" -n msmtp "msmtp --version" >"$TMP/h.txt" 2>&1 ||
  { cat "$TMP/h.txt" >&2; die "hyperfine failed"; }
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A MED CPU
while read -r name med cpu; do MED[$name]=$med CPU[$name]=$cpu; done < <(python3 -c '
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["command"], "%.2f" % (r["median"] * 1000), "%.2f" % ((r["user"] + r["system"]) * 1000))' "$TMP/h.json")

# Peak RSS of one real send.
RSS="?"
if [ -f "$TESTBED_DIR/credentials.env" ]; then
  # shellcheck disable=SC1091
  . "$TESTBED_DIR/credentials.env"
  export MISSIVE_BENCH_PW="$SMTP_PASS"
  if /usr/bin/time -v "$MISSIVE" send --server 127.0.0.1:5870 --tls starttls --cafile "$SMTP_CA" \
    --auth plain --user "$SMTP_USER" --password-env MISSIVE_BENCH_PW --from "$SMTP_USER" \
    --to "startup-bench-$$@example.test" --subject rss --body hi >/dev/null 2>"$TMP/time.txt"; then
    RSS=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$TMP/time.txt")
  fi
  sleep 1; rm -rf -- "${SMTP_MAILDIR_BASE:-$TESTBED_DIR/mail}/example.test/startup-bench-$$"
fi
echo
echo "Start-up: hyperfine -N, 5 warm-ups + $RUNS runs each; peak RSS of one STARTTLS+AUTH send to Postfix"
echo "machine: $(nproc) CPU(s), $(uname -sr); load average $LOAD_BEFORE before, $LOAD_AFTER after"
echo
echo "(user+sys: mean CPU time of the process, which the load on the machine inflates less than the wall time)"
printf '| %-32s | %9s | %12s |\n' command 'median ms' 'user+sys ms'
printf '| %-32s | %9s | %12s |\n' --- ---: ---:
printf '| %-32s | %9s | %12s |\n' '/bin/true (floor)' "${MED[floor]}" "${CPU[floor]}" 'missive --version' "${MED[version]}" "${CPU[version]}" \
  'missive send --dry-run' "${MED[dry-run]}" "${CPU[dry-run]}" 'msmtp --version' "${MED[msmtp]}" "${CPU[msmtp]}"
echo
echo "peak RSS of one send: $RSS MiB"
v() { awk -v a="$1" -v g="$2" 'BEGIN {exit !(a != "?" && a <= g)}' && echo MET || echo "NOT MET"; }
echo "target (issue 17): missive --version median <= 3 ms -> $(v "${MED[version]}" 3) (${MED[version]} ms)"
echo "target (issue 17): send --dry-run median <= 3 ms -> $(v "${MED[dry-run]}" 3) (${MED[dry-run]} ms)"
echo "target (issue 17): peak RSS of one send <= 8 MiB -> $(v "$RSS" 8) ($RSS MiB)"
if [ -n "${BENCH_SUMMARY:-}" ]; then
  {
    printf 'start-up: missive --version\tmedian ms (CPU ms)\t%s (%s)\t%s (%s)\t%s\tmsmtp --version %s\t<= 3 ms\t%s\n' "${MED[version]}" "${CPU[version]}" "${MED[floor]}" "${CPU[floor]}" \
      "$(awk -v a="${MED[version]}" -v b="${MED[floor]}" 'BEGIN {printf "%.2f", a / b}')" "${MED[msmtp]}" "$(v "${MED[version]}" 3)"
    printf 'start-up: missive send --dry-run\tmedian ms (CPU ms)\t%s (%s)\t%s (%s)\t%s\t-\t<= 3 ms\t%s\n' "${MED[dry-run]}" "${CPU[dry-run]}" "${MED[floor]}" "${CPU[floor]}" \
      "$(awk -v a="${MED[dry-run]}" -v b="${MED[floor]}" 'BEGIN {printf "%.2f", a / b}')" "$(v "${MED[dry-run]}" 3)"
    printf 'memory: peak RSS of one send\tMiB\t%s\t-\t-\t-\t<= 8 MiB\t%s\n' "$RSS" "$(v "$RSS" 8)"
  } >>"$BENCH_SUMMARY"
fi
