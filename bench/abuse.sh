#!/usr/bin/env bash
# Attacks a `chizu serve` of the synthetic city on 127.0.0.1, bounded in count and time,
# and prints one table row per attack: what the server held (peak/final RSS, descriptors)
# and how the internal listener's /health/live answered meanwhile (examples/abuse.rs).
# The server runs with the common 1,024-descriptor limit and a 64 MiB tile cache.
#
# Usage: bench/abuse.sh            (CHIZU_BIN=path/to/chizu to attack another build)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export PATH="$repo/.tools/bin:$PATH"
command -v ogr2ogr >/dev/null || { echo "installing gdal-bin" >&2; apt-get install -y -qq --no-install-recommends gdal-bin >/dev/null; }
echo "building chizu and the helpers (release)" >&2
cargo build --release --locked -q --bin chizu --example bench_city --example abuse
bin=$repo/target/release
chizu=${CHIZU_BIN:-$bin/chizu}
work=$(mktemp -d /tmp/chizu-abuse.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# shellcheck source=bench/city.sh
source "$repo/bench/city.sh"
write_city "$work/city" "$bin" 1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pub=127.0.0.1:$(free_port)
int=127.0.0.1:$(free_port)
(ulimit -n 1024; exec "$chizu" serve --root "$work/city" --public "$pub" --internal "$int" \
  --demo-key --cache-size 64 --audit-log "$work/audit.log" 2>"$work/log") &
pid=$!
for _ in $(seq 1 600); do grep -q "Authorization: Bearer" "$work/log" 2>/dev/null && break; sleep 0.2; done
key=$(grep -o 'Bearer chizu_[0-9a-f]*' "$work/log" | head -1 | cut -d' ' -f2)
[ -n "$key" ] || { cat "$work/log" >&2; exit 1; }
echo "server $("$chizu" --version 2>/dev/null || echo chizu) pid $pid, limit $(grep 'open files' /proc/$pid/limits | awk '{print $4}') descriptors" >&2
timeout 900 "$bin/examples/abuse" "$pid" "$pub" "$int" "$key" "$composite" buildings
kill -0 "$pid" 2>/dev/null && echo "server still running after every attack" >&2 || echo "server DIED" >&2
