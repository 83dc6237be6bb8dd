#!/usr/bin/env bash
# Set-up command 1: install what is missing, build, and serve the sample city (焼津市).
# Public view: http://127.0.0.1:8080; internal view: http://127.0.0.1:8081 with the demo
# admin key printed at start (this run only). Other `chizu serve` flags may follow.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH" # Node.js, where scripts/install-deps.sh put one there
scripts/install-deps.sh
scripts/install-web.sh
cargo build --release --locked
exec target/release/chizu serve --root . --demo-key "$@"
