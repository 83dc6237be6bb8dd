#!/usr/bin/env bash
# Live layers (release build, SQLite state in a temporary folder, 127.0.0.1): sustained
# writes/s and their latency, write → visible-in-a-public-tile latency, and public tile
# throughput (wrk) with and without a steady write stream. Prints one table.
# Usage: bench/live.sh [SECONDS] [WRITERS] [WRITES_PER_S_DURING_READS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
writers=${2:-4}
rate=${3:-20}
command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
[ -x .tools/bin/node ] && PATH="$PWD/.tools/bin:$PATH"
command -v node >/dev/null || bash scripts/install-deps.sh
cargo build --release --locked -q
tmp=$(mktemp -d)
key=$(target/release/chizu keys add bench --role kiki-kanri --keys "$tmp/keys.toml" 2>/dev/null)
target/release/chizu serve --root . --public 127.0.0.1:0 --internal 127.0.0.1:0 --audit-log /dev/null \
  --keys "$tmp/keys.toml" --state "$tmp/state" 2>"$tmp/log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 150); do grep -q "internal view" "$tmp/log" && break; sleep 0.2; done
pub=http://$(grep -o 'public view (公開型GIS) on http://[0-9.:]*' "$tmp/log" | sed 's/.*http:\/\///')
int=http://$(grep -o 'internal view (統合型GIS) on http://[0-9.:]*' "$tmp/log" | sed 's/.*http:\/\///')

burst=$(node bench/live-writes.mjs burst "$int" "$key" "$secs" "$writers")
visible=$(node bench/live-writes.mjs visible "$int" "$key" "$pub" 200)

# Reads: the public map's composite (hazards + the live layer) at z12–z16 over the city.
cat >"$tmp/reads.lua" <<'LUA'
local paths = {}
local layers = "kouzui_shinsui,dosha_keikai,dosha_tokubetsu,hinanjo,saigai_houkoku"
local z0 = { {12, 3620, 1623}, {13, 7241, 3247}, {14, 14484, 6496}, {15, 28970, 12993}, {16, 57941, 25988} }
for _, t in ipairs(z0) do
  for dx = 0, 2 do for dy = 0, 2 do
    table.insert(paths, string.format("/tiles/%s/%d/%d/%d.mvt", layers, t[1], t[2] + dx, t[3] + dy))
  end end
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], { ["Accept-Encoding"] = "gzip" })
end
LUA
reqs() { wrk -t2 -c50 -d"${secs}s" -s "$tmp/reads.lua" "$pub" | awk '/Requests\/sec/ {print $2}'; }
wrk -t1 -c4 -d2s -s "$tmp/reads.lua" "$pub" >/dev/null # warm the cache
quiet=$(reqs)
node bench/live-writes.mjs rate "$int" "$key" "$((secs + 2))" "$rate" >"$tmp/rate" &
wpid=$!
sleep 1
busy=$(reqs)
wait $wpid
steady=$(cat "$tmp/rate")

echo
echo "| measure | result |"
echo "|---|---|"
echo "| sustained writes, $writers writers, ${secs} s (POST, each durable before 201) | $(echo "$burst" | sed 's/[{}"]//g') |"
echo "| write → visible in a public tile (PATCH, then poll the z15 tile) | $(echo "$visible" | sed 's/[{}"]//g') |"
echo "| public tiles/s, wrk 50 conns, no writes | $quiet |"
echo "| public tiles/s, wrk 50 conns, with $rate writes/s | $busy ($(echo "$steady" | sed 's/[{}"]//g')) |"
awk -v q="$quiet" -v b="$busy" 'BEGIN { printf "| reads lost during writes | %.1f %% |\n", (q - b) / q * 100 }'
