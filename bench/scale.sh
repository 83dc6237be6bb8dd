#!/usr/bin/env bash
# Scale on one machine (release build, 127.0.0.1): the synthetic city as three GeoJSON
# layers in lon/lat (buildings, roads, floods) at 1×, 4× and 16× its size at the same
# density (132 k, 528 k, 2.11 M features). For each: time from `chizu serve` starting to
# `/health` answering 200, the server's peak and settled memory, fresh composite tiles/s
# over HTTP with gzip (the tile cache off, every tile of the same 1,006-tile z12–z16 mix,
# 2 connections; the median of 3 runs), and `chizu export` z0–z14: time and peak memory. Prints one table.
# Usage: bench/scale.sh [SCALES…]   (default: 1 4 16)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
scales=("$@")
[ ${#scales[@]} -eq 0 ] && scales=(1 4 16)
# GDAL, python3 (and the rest chizu builds with) where missing; curl for /health.
bash scripts/install-deps.sh
command -v curl >/dev/null || { echo "installing curl" >&2; apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null; }
echo "building chizu and the bench helpers (release)" >&2
cargo build --release --locked -q --bin chizu --example bench_city --example bench_client
bin=$repo/target/release
work=$(mktemp -d /tmp/chizu-scale.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=bench/city.sh
source "$repo/bench/city.sh"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mb() { echo $(( $1 / 1024 )); }

rows=()
for k in "${scales[@]}"; do
  root=$work/city$k
  mkdir -p "$root/layers" "$root/data"
  "$bin/examples/bench_city" "$root/data" --scale "$k" --geojson 2>"$work/gen.log"
  n=$(awk '{s += $2} END {print s}' < <(grep -o ': [0-9]* features' "$work/gen.log"))
  bytes=$(du -cb "$root"/data/*.geojson | tail -1 | cut -f1)
  for l in buildings:polygon roads:line floods:polygon; do
    write_layer "$root" "${l%%:*}" "data/${l%%:*}.geojson" "${l##*:}"
  done
  # Serve until /health is 200.
  port=$(free_port)
  start=$(date +%s.%N)
  "$bin/chizu" serve --root "$root" --public "127.0.0.1:$port" --internal 127.0.0.1:0 \
    --audit-log /dev/null --cache-size 0 2>"$work/serve.log" &
  pid=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ]; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.05
  done
  ready=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
  peak=$(status_kb "$pid" VmHWM)
  sleep 2
  settled=$(status_kb "$pid" VmRSS)
  # Three runs without a tile cache (every tile cut afresh each time); the median run.
  otf=$(for _ in 1 2 3; do
    "$bin/examples/bench_client" "127.0.0.1:$port" "/tiles/buildings,roads,floods/{z}/{x}/{y}.mvt" \
      "$root/data/tiles.txt" 2 "Accept-Encoding: gzip"
  done | python3 -c 'import json,sys; r=sorted((json.loads(l) for l in sys.stdin), key=lambda r: r["tiles_per_s"]); print(json.dumps(r[len(r)//2]))')
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  # Export z0–z14: wall time and peak memory (of the child, from getrusage).
  exp=$(python3 - "$bin/chizu" "$root" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run([sys.argv[1], "export", "--root", sys.argv[2], "--maxzoom", "14",
                sys.argv[2] + "/out.pmtiles"], check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
print(f"{time.monotonic() - t:.1f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}")
PY
)
  rows+=("| ${k}× | $n | $(( bytes / 1000000 )) MB | $(printf %.1f "$ready") s | $(mb "$peak") MB | $(mb "$settled") MB | $(printf %.0f "$(field "$otf" tiles_per_s)") | $(field "$otf" p99_ms) ms | ${exp% *} s | ${exp#* } MB |")
  rm -rf "$root"
done

echo
echo "| city | features | GeoJSON | ready (/health 200) | peak RSS | settled RSS | fresh tiles/s | p99 | export z0–z14 | export peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
