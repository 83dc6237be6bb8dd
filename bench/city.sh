# Sourced by the bench scripts. write_city writes the synthetic dense city (examples/bench_city) as a
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
  write_layer "$city" buildings data/city.gpkg polygon buildings
  write_layer "$city" roads data/city.gpkg line roads
  write_layer "$city" floods data/city.gpkg polygon floods
  composite="buildings,roads,floods"
  local i
  for ((i = 2; i < 2 + extra; i++)); do
    write_layer "$city" "buildings$i" data/city.gpkg polygon buildings
    write_layer "$city" "roads$i" data/city.gpkg line roads
    write_layer "$city" "floods$i" data/city.gpkg polygon floods
    composite="$composite,buildings$i,roads$i,floods$i"
  done
}

# One public layer file: write_layer ROOT FILE-ID SOURCE-PATH GEOMETRY [SOURCE-LAYER]
write_layer() {
  {
    cat <<TOML
title = { ja = "$2", en = "$2" }
category = "kihon"
geometry = "$4"
access = { view = "public" }
minzoom = 0
[[source]]
path = "$3"
TOML
    if [ -n "${5:-}" ]; then echo "layer = \"$5\""; fi
  } >"$1/layers/$2.toml"
}
