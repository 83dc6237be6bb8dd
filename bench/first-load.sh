#!/usr/bin/env bash
# The public map's first load on an emulated phone over Fast 3G (bench/first-load.mjs),
# against a release `chizu serve` of the sample city on 127.0.0.1. Installs what is missing
# (the test set-up's apt and npm packages). Usage: bench/first-load.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"
scripts/install-deps.sh
scripts/install-web.sh
cargo build --release --locked -q --bin chizu
work=$(mktemp -d /tmp/chizu-first-load.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# CHIZU_BIN and CHIZU_ROOT measure another build (e.g. an older checkout) the same way.
"${CHIZU_BIN:-target/release/chizu}" serve --root "${CHIZU_ROOT:-.}" --public 127.0.0.1:0 --internal 127.0.0.1:0 2>"$work/log" &
pid=$!
for _ in $(seq 1 300); do grep -q "public view" "$work/log" 2>/dev/null && break; sleep 0.2; done
url=$(grep -o 'public view[^h]*http://[0-9.:]*' "$work/log" | grep -o 'http://.*')
node bench/first-load.mjs "$url/" "${1:-3}"
