#!/usr/bin/env bash
# Set-up command 2: install what is missing and run the whole test suite
# (format, lints, unit, integration and property tests on the real sample data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
