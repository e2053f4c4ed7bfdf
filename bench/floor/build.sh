#!/usr/bin/env bash
# Builds the floor client (release) and prints the path of its binary.
# Its own Cargo project, outside missive's workspace, with its own target dir.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/bench-floor"
(cd "$HERE" && CARGO_TARGET_DIR="$TARGET" cargo build --release --quiet) >&2
echo "$TARGET/release/missive-bench-floor"
