# Sourced by the bench scripts: writes the synthetic dense city (examples/bench_city) as a
# chizu root — one GeoPackage with buildings, roads and floods, one layer file each, and
# `extra` more layer files over the same tables (for composites of many layers).
# Usage: write_city DIR BIN_DIR [EXTRA]   → sets $list (z12–z16 tiles) and $composite.
write_city() {
  local city=$1 bin=$2 extra=${3:-0}
  echo "writing the synthetic city" >&2
  mkdir -p "$city/layers" "$city/data"
  "$bin/examples/bench_city" "$city/csv" 2>/dev/null
  list=$city/csv/tiles.txt
  local l
  for l in buildings roads floods; do
    local update=(); [ -f "$city/data/city.gpkg" ] && update=(-update)
    ogr2ogr -f GPKG "$city/data/city.gpkg" "$city/csv/$l.csv" -nln "$l" "${update[@]}" -a_srs EPSG:3857 \
      -oo GEOM_POSSIBLE_NAMES=wkt -oo KEEP_GEOM_COLUMNS=NO -oo AUTODETECT_TYPE=YES
  done
  write_layer() { # file-id table geometry
    cat >"$city/layers/$1.toml" <<TOML
title = { ja = "$1", en = "$1" }
category = "kihon"
geometry = "$3"
access = { view = "public" }
minzoom = 0
[[source]]
path = "data/city.gpkg"
layer = "$2"
TOML
  }
  write_layer buildings buildings polygon
  write_layer roads roads line
  write_layer floods floods polygon
  composite="buildings,roads,floods"
  local i
  for ((i = 2; i < 2 + extra; i++)); do
    write_layer "buildings$i" buildings polygon
    write_layer "roads$i" roads line
    write_layer "floods$i" floods polygon
    composite="$composite,buildings$i,roads$i,floods$i"
  done
}
