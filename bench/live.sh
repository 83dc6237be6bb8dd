#!/usr/bin/env bash
# Live layers (release build, 127.0.0.1), for each store — SQLite in a temporary state
# folder, and PostgreSQL + PostGIS in a throw-away cluster with two servers sharing it:
# sustained writes/s and their latency, write → visible-in-a-public-tile latency (on the
# server written to, and with PostgreSQL on the other one), and public tile throughput
# (wrk) with and without a steady write stream. Prints one table.
# Usage: bench/live.sh [SECONDS] [WRITERS] [WRITES_PER_S_DURING_READS] [sqlite|postgres|both]
# CHIZU_BIN measures another build (e.g. an older checkout's) the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
writers=${2:-4}
rate=${3:-20}
stores=${4:-both}
[ "$stores" = both ] && stores="sqlite postgres"
command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
[ -x .tools/bin/node ] && PATH="$PWD/.tools/bin:$PATH"
# Node.js, PostgreSQL and PostGIS where missing.
bash scripts/install-deps.sh
cargo build --release --locked -q
bin=${CHIZU_BIN:-target/release/chizu}
tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  scripts/pg-temp.sh stop "$tmp/pg" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
key=$("$bin" keys add bench --role kiki-kanri --keys "$tmp/keys.toml" 2>/dev/null)

# start NAME STORAGE-ARGS… → sets pub_NAME / int_NAME
start() {
  local name=$1
  shift
  "$bin" serve --root . --public 127.0.0.1:0 --internal 127.0.0.1:0 --audit-log /dev/null \
    --keys "$tmp/keys.toml" "$@" 2>"$tmp/$name.log" &
  pids+=($!)
  for _ in $(seq 1 150); do grep -q "internal view" "$tmp/$name.log" && break; sleep 0.2; done
  printf -v "pub_$name" 'http://%s' "$(grep -o 'public view (公開型GIS) on http://[0-9.:]*' "$tmp/$name.log" | sed 's/.*http:\/\///')"
  printf -v "int_$name" 'http://%s' "$(grep -o 'internal view (統合型GIS) on http://[0-9.:]*' "$tmp/$name.log" | sed 's/.*http:\/\///')"
}
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

cat >"$tmp/reads.lua" <<'LUA'
-- MIX=viewer: what the public map asks for — the composite of the hazard layers, and the
-- live layer from its own source (tiles apart). MIX=composite: one composite that holds
-- the live layer too, so every edit makes the hazard layers be cut again with it.
local paths = {}
local hazards = "kouzui_shinsui,dosha_keikai,dosha_tokubetsu,hinanjo"
local z0 = { {12, 3620, 1623}, {13, 7241, 3247}, {14, 14484, 6496}, {15, 28970, 12993}, {16, 57941, 25988} }
local composite = os.getenv("MIX") == "composite"
for _, t in ipairs(z0) do
  for dx = 0, 2 do for dy = 0, 2 do
    if composite then
      table.insert(paths, string.format("/tiles/%s,saigai_houkoku/%d/%d/%d.mvt", hazards, t[1], t[2] + dx, t[3] + dy))
    else
      table.insert(paths, string.format("/tiles/%s/%d/%d/%d.mvt", hazards, t[1], t[2] + dx, t[3] + dy))
      table.insert(paths, string.format("/tiles/saigai_houkoku/%d/%d/%d.mvt", t[1], t[2] + dx, t[3] + dy))
    end
  end end
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], { ["Accept-Encoding"] = "gzip" })
end
LUA
reqs() { MIX=$1 wrk -t2 -c50 -d"${secs}s" -s "$tmp/reads.lua" "$pub" | awk '/Requests\/sec/ {print $2}'; }
during() { # reads of mix $1 while writes stream in at $rate/s
  node bench/live-writes.mjs rate "$int" "$key" "$((secs + 2))" "$rate" >"$tmp/rate" &
  local wpid=$!
  sleep 1
  reqs "$1"
  wait $wpid
}
lost() { awk -v q="$1" -v b="$2" 'BEGIN { printf "%.1f %%", (q - b) / q * 100 }'; }
clean() { echo "$1" | sed 's/[{}"]//g'; }

rows=()
for store in $stores; do
  if [ "$store" = postgres ]; then
    admin=$(scripts/pg-temp.sh start "$tmp/pg")
    psql -X -q "$admin" -c "CREATE DATABASE live" -c "\\c live" -c "CREATE EXTENSION postgis"
    db=${admin%/postgres}/live
    start a --database "$db"
    start b --database "$db"
  else
    start a --state "$tmp/state"
  fi
  pub=$pub_a
  int=$int_a
  burst=$(node bench/live-writes.mjs burst "$int" "$key" "$secs" "$writers")
  visible=$(node bench/live-writes.mjs visible "$int" "$key" "$pub" 200)
  if [ "$store" = postgres ]; then
    other=$(node bench/live-writes.mjs visible "$int" "$key" "$pub_b" 200)
  else
    other="(one server)"
  fi
  for mix in viewer composite; do MIX=$mix wrk -t1 -c4 -d2s -s "$tmp/reads.lua" "$pub" >/dev/null; done # warm the cache
  quiet_v=$(reqs viewer)
  busy_v=$(during viewer)
  quiet_c=$(reqs composite)
  busy_c=$(during composite)
  rows+=("$store|$(clean "$burst")|$(clean "$visible")|$(clean "$other")|$quiet_v → $busy_v ($(lost "$quiet_v" "$busy_v") lost)|$quiet_c → $busy_c ($(lost "$quiet_c" "$busy_c") lost)")
  stop_all
done

echo
echo "| store | sustained writes, $writers writers, ${secs} s (each durable before 201) | write → visible in a public tile of the same server (PATCH, poll z15) | … of the other server | public tiles/s, the map's requests: no writes → $rate writes/s | one composite holding the live layer: no writes → $rate writes/s |"
echo "|---|---|---|---|---|---|"
for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
