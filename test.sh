#!/usr/bin/env bash
# The whole test suite, on a machine with only the Rust toolchain (run as root):
# installs Postfix, Dovecot, dnsmasq, swaks and msmtp with apt-get when missing,
# starts them on loopback only (testbed/), runs every test, and stops them.
set -euo pipefail
cd "$(dirname "$0")"

echo "== testbed: install and start real mail servers on 127.0.0.1 / ::1"
bash testbed/install.sh
bash testbed/testbed.sh up
trap 'bash testbed/testbed.sh down >/dev/null 2>&1 || true' EXIT
export MISSIVE_TESTBED="${TESTBED_DIR:-/tmp/smtp-testbed}"

echo "== the protocol crate stays sans-IO: no runtime, sockets, TLS or clock in its tree"
if cargo tree --locked -p missive-smtp -e normal --prefix none \
    | grep -Ei '^(tokio|mio|socket2|rustls|ring|openssl|async-[a-z]+|chrono|time|libc) '; then
  echo "missive-smtp must not depend on the crates above" >&2
  exit 1
fi

echo "== crates/missive/src imports point one way: no module import circle"
python3 .ci/import-graph.py

echo "== cargo test"
log=$(mktemp)
trap 'bash testbed/testbed.sh down >/dev/null 2>&1 || true; rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite (cargo prints one per test binary).
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
echo "tests: $passed passed, $failed failed"
exit "$status"
