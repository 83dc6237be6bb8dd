#!/usr/bin/env bash
# Load test of the public listener (release build): wrk, 256 connections, 60 s, on
# 127.0.0.1, over a mix of tile, hazard and catalog requests. Prints wrk's latency
# distribution, the non-2xx count (only deliberate 503s are acceptable), and the server's
# RSS before and after. Usage: bench/load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
conns=${2:-256}
command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
cargo build --release --locked -q
log=$(mktemp)
target/release/chizu serve --root . --public 127.0.0.1:0 --internal 127.0.0.1:0 --audit-log /dev/null 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log" "$lua"' EXIT
for _ in $(seq 1 100); do grep -q "public view" "$log" && break; sleep 0.2; done
addr=$(grep -o 'public view (公開型GIS) on http://[0-9.:]*' "$log" | sed 's/.*http:\/\///')
rss() { awk '/VmRSS/ {print $2 " kB"}' /proc/$pid/status; }
lua=$(mktemp --suffix=.lua)
cat >"$lua" <<'LUA'
-- A fixed mix over the 焼津 sample: z12–z16 tiles of a composite, hazard reports, catalog.
local paths = {}
local layers = "youto_chiiki,kouzui_shinsui,dosha_keikai,dosha_tokubetsu,hinanjo,kinkyu_yusouro"
local z0 = { {12, 3620, 1623}, {13, 7241, 3247}, {14, 14484, 6496}, {15, 28970, 12993}, {16, 57941, 25988} }
for _, t in ipairs(z0) do
  for dx = 0, 2 do for dy = 0, 2 do
    table.insert(paths, string.format("/tiles/%s/%d/%d/%d.mvt", layers, t[1], t[2] + dx, t[3] + dy))
  end end
end
for i = 0, 19 do
  table.insert(paths, string.format("/hazard?lon=%.5f&lat=%.5f", 138.25 + i * 0.004, 34.80 + i * 0.004))
end
table.insert(paths, "/catalog")
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], { ["Accept-Encoding"] = "gzip" })
end
LUA
echo "server: $addr, RSS at start: $(rss)"
curl -s -o /dev/null "http://$addr/health"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$lua" "http://$addr" | tee /dev/stderr | grep -E "Non-2xx" || echo "Non-2xx or 3xx responses: 0"
echo "RSS after: $(rss)"
curl -s "http://$addr/metrics" | grep -E '^chizu_requests_total|^chizu_requests_shed_total|^chizu_tile_cache_(hits|misses)_total|^chizu_tile_cache_bytes'
