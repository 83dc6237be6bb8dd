#!/usr/bin/env bash
# Set-up command 2: install what is missing and run the whole test suite
# (format, lints, unit, integration and property tests on the real sample data, style
# validation, and browser tests of the viewer).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH" # Node.js, where scripts/install-deps.sh put one there
scripts/install-deps.sh
scripts/install-web.sh
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# The PostgreSQL/PostGIS tests (live layers shared by several servers) get a throw-away
# cluster on 127.0.0.1, stopped and removed on exit.
pgdir=$(mktemp -d /tmp/chizu-pg.XXXXXX)
chmod 755 "$pgdir"
trap 'scripts/pg-temp.sh stop "$pgdir/c"; rm -rf "$pgdir"' EXIT
CHIZU_TEST_DATABASE=$(scripts/pg-temp.sh start "$pgdir/c")
export CHIZU_TEST_DATABASE
cargo test --locked --all-targets
# The viewer: end-to-end tests in headless Chromium against a live `chizu serve` (the
# debug binary cargo just built), with the generated styles checked by the style spec's
# own validator.
CHIZU_BIN=target/debug/chizu node --test tests/browser/*.test.mjs
