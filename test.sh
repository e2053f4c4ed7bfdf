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

echo "== cargo test"
cargo test --workspace --locked
