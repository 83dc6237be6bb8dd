#!/usr/bin/env bash
# Set-up command 1: install what is missing, build, and serve the sample city (焼津市).
# Public view: http://127.0.0.1:8080   (pass other `chizu serve` flags after the script name)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --locked
exec target/release/chizu serve --root . "$@"
