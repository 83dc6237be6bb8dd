#!/usr/bin/env bash
# Side-by-side benchmark on this machine, one run of everything on the same inputs:
#   1. on-the-fly tiles (every tile of the fixed z12–z16 list once, composite of the three
#      layers of the synthetic dense city): chizu vs PostGIS ST_AsMVT (pgbench) vs Martin
#      serving the same PostGIS tables;
#   2. warm serving, wrk with 50 connections over the same list: chizu (tile cache warm) vs
#      Martin serving an MBTiles of the same tiles vs a minimal axum handler returning
#      fixed bytes (the upper bound);
#   3. pyramid export z0–z14 of the synthetic city: chizu export vs ogr2ogr -f MVT, wall
#      time and peak memory from /usr/bin/time -v.
# Each measurement is repeated RUNS times (default 3); the tables give medians.
#
# Needs (installed when missing): Debian's postgresql, postgis, wrk, time; Martin 1.14.0
# (cargo install, ~11 minutes the first time, into .tools/). PostgreSQL runs in a
# temporary cluster on 127.0.0.1, removed at the end with everything else.
#
# Usage: bench/compare.sh [RUNS]     (environment: WARM_SECS, default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${1:-3}
warm_secs=${WARM_SECS:-20}
export PATH="$repo/.tools/bin:$PATH"

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v ogr2ogr >/dev/null || need_apt+=(gdal-bin)
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$pgbin" ] || need_apt+=(postgresql)
# `postgis` alone, without recommends, leaves out the extension itself
# (postgresql-N-postgis-3): name it for the server's major version.
if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
  pgmajor=$(basename "$(dirname "$pgbin")" 2>/dev/null)
  [ -n "$pgbin" ] || pgmajor=15
  need_apt+=(postgis "postgresql-$pgmajor-postgis-3")
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
if ! martin --version 2>/dev/null | grep -q "1.14.0"; then
  echo "building Martin 1.14.0 into .tools/ (about 11 minutes)" >&2
  cargo install martin@1.14.0 --locked --no-default-features \
    --features postgres,mbtiles,pmtiles --root "$repo/.tools" -q
fi

echo "building chizu and the bench helpers (release)" >&2
cargo build --release --locked -q --bin chizu \
  --example bench_city --example bench_client --example bench_fixed_server
bin=$repo/target/release
client=$bin/examples/bench_client

work=$(mktemp -d /tmp/chizu-compare.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$work/pg/postmaster.pid" ]; then
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

# ---------------------------------------------------------------- the inputs
# shellcheck source=bench/city.sh
source "$repo/bench/city.sh"
city=$work/city
write_city "$city" "$bin"

# ---------------------------------------------------------------- PostGIS
echo "starting PostgreSQL + PostGIS in a temporary cluster" >&2
pgport=$(free_port)
install -d -o postgres "$work/pg" "$work/pgsock"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-p $pgport -k $work/pgsock -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c jit=off" start >/dev/null
psql_city() { psql -X -q -h 127.0.0.1 -p "$pgport" -U postgres -d city -v ON_ERROR_STOP=1 "$@"; }
createdb -h 127.0.0.1 -p "$pgport" -U postgres city
psql_city -c "CREATE EXTENSION postgis"
ogr2ogr -f PostgreSQL "PG:host=127.0.0.1 port=$pgport user=postgres dbname=city" \
  "$city/data/city.gpkg" -lco GEOMETRY_NAME=geom -lco FID=fid -lco SPATIAL_INDEX=GIST
# The tile function as one would write it for ST_AsMVT: the three layers, buffer 64 of
# 4096, clipped, the same attributes chizu serves.
psql_city <<'SQL'
ANALYZE;
CREATE TABLE tiles (i serial PRIMARY KEY, z int, x int, y int);
CREATE SEQUENCE next_tile;
CREATE FUNCTION mvt(z int, x int, y int) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
  WITH e AS (SELECT ST_TileEnvelope(z, x, y) AS env, (20037508.342789244 * 2 / 2 ^ z) / 4096 * 64 AS buf),
  b AS (SELECT ST_AsMVTGeom(t.geom, e.env, 4096, 64, true) AS geom, t.height, t.use
        FROM buildings t, e WHERE t.geom && ST_Expand(e.env, e.buf)),
  r AS (SELECT ST_AsMVTGeom(t.geom, e.env, 4096, 64, true) AS geom, t.class
        FROM roads t, e WHERE t.geom && ST_Expand(e.env, e.buf)),
  f AS (SELECT ST_AsMVTGeom(t.geom, e.env, 4096, 64, true) AS geom, t.depth_rank
        FROM floods t, e WHERE t.geom && ST_Expand(e.env, e.buf))
  SELECT coalesce((SELECT ST_AsMVT(b, 'buildings', 4096, 'geom') FROM b WHERE b.geom IS NOT NULL), '')
      || coalesce((SELECT ST_AsMVT(r, 'roads', 4096, 'geom') FROM r WHERE r.geom IS NOT NULL), '')
      || coalesce((SELECT ST_AsMVT(f, 'floods', 4096, 'geom') FROM f WHERE f.geom IS NOT NULL), '')
$$;
CREATE FUNCTION next_mvt() RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE t tiles;
BEGIN
  SELECT * INTO t FROM tiles WHERE i = (nextval('next_tile') - 1) % (SELECT count(*) FROM tiles) + 1;
  RETURN mvt(t.z, t.x, t.y);
END $$;
SQL
awk -F/ '{print $1 "\t" $2 "\t" $3}' "$list" | psql_city -c "\copy tiles (z, x, y) FROM STDIN"
ntiles=$(wc -l <"$list")
# What ST_AsMVT makes of the list, to compare with what chizu serves (a sanity check that
# both cut the same data into tiles of about the same size).
postgis_sanity=$(psql_city -At -F' ' -c "SELECT count(*) FILTER (WHERE length(m) > 0), sum(length(m)) FROM (SELECT mvt(z, x, y) AS m FROM tiles) t")
echo "SELECT next_mvt();" >"$work/next.sql"

# ---------------------------------------------------------------- servers
chizu_port=$(free_port)
"$bin/chizu" serve --root "$city" --public "127.0.0.1:$chizu_port" --internal 127.0.0.1:0 \
  --audit-log /dev/null 2>"$work/chizu.log" &
pids+=($!)
martin_pg_port=$(free_port)
martin --listen-addresses "127.0.0.1:$martin_pg_port" -W 2 --cache-size 0 \
  "postgres://postgres@127.0.0.1:$pgport/city" >"$work/martin-pg.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$chizu_port/health"
wait_http "http://127.0.0.1:$martin_pg_port/health"

# ---------------------------------------------------------------- 1. on the fly
echo "on-the-fly runs ($runs each)" >&2
declare -A otf
for r in $(seq 1 "$runs"); do
  # chizu: a fresh server per run, so every tile is a cache miss (pre-cutting off: it
  # would put the list's z12–z13 tiles in the cache before the client asks).
  kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
  "$bin/chizu" serve --root "$city" --public "127.0.0.1:$chizu_port" --internal 127.0.0.1:0 \
    --no-precut --audit-log /dev/null 2>"$work/chizu.log" &
  pids[0]=$!
  wait_http "http://127.0.0.1:$chizu_port/health"
  # Both asked for gzip, as every browser and MapLibre does.
  otf[chizu]+="$("$client" "127.0.0.1:$chizu_port" "/tiles/$composite/{z}/{x}/{y}.mvt" "$list" 2 "Accept-Encoding: gzip")"$'\n'
  otf[martin]+="$("$client" "127.0.0.1:$martin_pg_port" "/$composite/{z}/{x}/{y}" "$list" 2 "Accept-Encoding: gzip")"$'\n'
  psql_city -c "SELECT setval('next_tile', 1, false)" >/dev/null
  rm -rf "$work/pgb"; install -d -o postgres "$work/pgb"
  out=$(cd "$work/pgb" && runuser -u postgres -- pgbench -n -h 127.0.0.1 -p "$pgport" -U postgres \
    -c 2 -j 2 -t $((ntiles / 2)) -f ../next.sql -l --log-prefix=pgb city 2>&1)
  tps=$(echo "$out" | awk '/^tps/ {print $3; exit}')
  lat=$(cat "$work"/pgb/pgb* | awk '{print $3 / 1000}' | sort -g)
  n=$(echo "$lat" | wc -l)
  p50=$(echo "$lat" | awk -v k=$(( (n + 1) / 2 )) 'NR==k')
  p99=$(echo "$lat" | awk -v k=$(( (n * 99 + 99) / 100 )) 'NR==k')
  max=$(echo "$lat" | tail -1)
  otf[postgis]+="{\"tiles\":$n,\"tiles_per_s\":$tps,\"p50_ms\":$p50,\"p99_ms\":$p99,\"max_ms\":$max}"$'\n'
done

# ---------------------------------------------------------------- 2. warm
echo "writing the MBTiles Martin serves (chizu export z12–z16, same tiles)" >&2
"$bin/chizu" export "$work/city.mbtiles" --root "$city" --minzoom 12 --maxzoom 16 >/dev/null 2>&1
martin_mb_port=$(free_port)
martin --listen-addresses "127.0.0.1:$martin_mb_port" -W 2 "$work/city.mbtiles" >"$work/martin-mb.log" 2>&1 &
pids+=($!)
fixed_port=$(free_port)
# The fixed body: a typical (median-sized) gzip tile of the list, as chizu serves it.
mid=$(sed -n "$((ntiles / 2))p" "$list")
curl -s -H "Accept-Encoding: gzip" "http://127.0.0.1:$chizu_port/tiles/$composite/$mid.mvt" >"$work/fixed.gz"
"$bin/examples/bench_fixed_server" "127.0.0.1:$fixed_port" "$work/fixed.gz" 2>/dev/null &
pids+=($!)
wait_http "http://127.0.0.1:$martin_mb_port/health"
wait_http "http://127.0.0.1:$fixed_port/"
lua=$work/list.lua
{
  echo "local paths = {}"
  while IFS=/ read -r z x y; do echo "table.insert(paths, \"PREFIX/$z/$x/$y\")"; done <"$list"
  cat <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1] .. SUFFIX, { ["Accept-Encoding"] = "gzip" })
end
LUA
} >"$lua.in"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wrk_run() { # name url-prefix suffix port server-pid
  sed -e "s#PREFIX#$2#" -e "s#SUFFIX#\"$3\"#" "$lua.in" >"$lua"
  local c0 c1
  c0=$(cpu_ticks "$5")
  wrk -t2 -c50 -d"${warm_secs}s" --latency -s "$lua" "http://127.0.0.1:$4" >"$work/wrk.out"
  c1=$(cpu_ticks "$5")
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
  bad=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
  n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  # The server's own CPU time per request (user + system): steadier than req/s on a
  # machine whose neighbours come and go.
  cpu_us=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  echo "{\"req_per_s\":$rps,\"p99\":\"$p99\",\"non_2xx\":${bad:-0},\"cpu_us\":$cpu_us}"
}
declare -A warm
# Fill the caches first: every tile once through each server (chizu's plain bytes too).
"$client" "127.0.0.1:$chizu_port" "/tiles/$composite/{z}/{x}/{y}.mvt" "$list" 2 "Accept-Encoding: gzip" >/dev/null
chizu_sanity=$("$client" "127.0.0.1:$chizu_port" "/tiles/$composite/{z}/{x}/{y}.mvt" "$list" 2)
"$client" "127.0.0.1:$martin_mb_port" "/city/{z}/{x}/{y}" "$list" 2 "Accept-Encoding: gzip" >/dev/null
echo "warm runs ($runs each, ${warm_secs} s, 50 connections)" >&2
for r in $(seq 1 "$runs"); do
  warm[chizu]+="$(wrk_run chizu "/tiles/$composite" ".mvt" "$chizu_port" "${pids[0]}")"$'\n'
  warm[martin]+="$(wrk_run martin "/city" "" "$martin_mb_port" "${pids[2]}")"$'\n'
  warm[fixed]+="$(wrk_run fixed "/fixed" "" "$fixed_port" "${pids[3]}")"$'\n'
done

# ---------------------------------------------------------------- 3. export
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
pids=()
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null
echo "export runs z0–z14 ($runs each)" >&2
declare -A exp
timed() { # name command…
  local name=$1; shift
  /usr/bin/time -v "$@" >"$work/time.out" 2>&1
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.out")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.out")
  exp[$name]+="{\"secs\":$wall,\"peak_rss_kb\":$rss}"$'\n'
}
for r in $(seq 1 "$runs"); do
  rm -f "$work/chizu.mbtiles" "$work/ogr.mbtiles"
  timed chizu "$bin/chizu" export "$work/chizu.mbtiles" --root "$city" --minzoom 0 --maxzoom 14
  timed ogr2ogr ogr2ogr -f MVT "$work/ogr.mbtiles" "$city/data/city.gpkg" -dsco MINZOOM=0 -dsco MAXZOOM=14
done
count() { python3 -c "
import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM tiles').fetchone()[0])" "$1"; }
largest_raw() { python3 -c "
import sqlite3,sys,zlib
m=0
for (b,) in sqlite3.connect(sys.argv[1]).execute('SELECT tile_data FROM tiles'):
    m=max(m,len(zlib.decompress(b,47)) if b[:2]==b'\x1f\x8b' else len(b))
print(m)" "$1"; }

# ---------------------------------------------------------------- report
med() { # json-lines key
  echo "$1" | sed '/^$/d' | while read -r j; do field "$j" "$2"; done | median
}
echo
echo "Machine: $(nproc) vCPU $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(. /etc/os-release; echo "$PRETTY_NAME")"
echo "Versions: $("$bin/chizu" --version 2>/dev/null || echo chizu), $(martin --version), $(psql --version | awk '{print "PostgreSQL " $3}'), PostGIS $(psql_city -At -c 'SELECT postgis_lib_version()' 2>/dev/null || dpkg-query -W -f='${Version}' postgresql-*-postgis-3 | head -1), $(ogrinfo --version | cut -d, -f1), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}')"
echo "Runs: $runs; tiles: $ntiles (every z12–z16 tile over the synthetic city), composite of buildings, roads, floods"
echo "Same data, similar tiles: ST_AsMVT non-empty tiles and bytes $postgis_sanity; chizu $(field "$chizu_sanity" status_200) non-empty, $(field "$chizu_sanity" bytes) bytes (uncompressed)"
echo
echo "On the fly (each tile once, 2 concurrent clients):"
echo
echo "| server | tiles/s | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|"
declare -A name=([chizu]="chizu" [postgis]="PostGIS ST_AsMVT (pgbench)" [martin]="Martin 1.14 on PostGIS")
for s in chizu postgis martin; do
  echo "| ${name[$s]} | $(med "${otf[$s]}" tiles_per_s) | $(med "${otf[$s]}" p50_ms) | $(med "${otf[$s]}" p99_ms) | $(med "${otf[$s]}" max_ms) |"
done
echo
echo "Warm (wrk -t2 -c50 -d${warm_secs}s, Accept-Encoding: gzip, cycling the list):"
echo
echo "| server | req/s | server CPU µs/request | p99 | non-2xx |"
echo "|---|---|---|---|---|"
name=([chizu]="chizu (tile cache warm)" [martin]="Martin 1.14 from MBTiles" [fixed]="minimal axum handler, fixed bytes (bound)")
for s in chizu martin fixed; do
  p99s=$(echo "${warm[$s]}" | sed '/^$/d' | while read -r j; do field "$j" p99; done | paste -sd/ -)
  echo "| ${name[$s]} | $(med "${warm[$s]}" req_per_s) | $(med "${warm[$s]}" cpu_us) | $p99s | $(med "${warm[$s]}" non_2xx) |"
done
echo
echo "Export z0–z14 to MBTiles:"
echo
echo "| tool | wall s | peak RSS MB | tiles | largest tile (bytes, uncompressed) |"
echo "|---|---|---|---|---|"
name=([chizu]="chizu export" [ogr2ogr]="ogr2ogr -f MVT")
for s in chizu ogr2ogr; do
  f=$work/$s.mbtiles; [ "$s" = ogr2ogr ] && f=$work/ogr.mbtiles
  echo "| ${name[$s]} | $(med "${exp[$s]}" secs) | $(( $(med "${exp[$s]}" peak_rss_kb | cut -d. -f1) / 1024 )) | $(count "$f") | $(largest_raw "$f") |"
done
echo
echo "Raw runs:"
for s in chizu postgis martin; do echo "on-the-fly $s:"; echo "${otf[$s]}" | sed '/^$/d;s/^/  /'; done
for s in chizu martin fixed; do echo "warm $s:"; echo "${warm[$s]}" | sed '/^$/d;s/^/  /'; done
for s in chizu ogr2ogr; do echo "export $s:"; echo "${exp[$s]}" | sed '/^$/d;s/^/  /'; done
