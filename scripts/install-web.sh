#!/usr/bin/env bash
# Installs the viewer's front-end packages from npm (pinned in package-lock.json) and copies
# MapLibre GL JS into web/vendor/, where chizu serves it. Nothing is loaded from a CDN.
# Node.js and npm come from scripts/install-deps.sh (run it first).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"
npm ci --no-audit --no-fund --loglevel=error
dest=web/vendor/maplibre-gl
mkdir -p "$dest"
# Copied only when changed: web/ is built into the binary, and a fresh mtime would make
# cargo rebuild it.
for f in maplibre-gl.mjs maplibre-gl-shared.mjs maplibre-gl-worker.mjs maplibre-gl.css; do
  cmp -s "node_modules/maplibre-gl/dist/$f" "$dest/$f" || cp "node_modules/maplibre-gl/dist/$f" "$dest/"
done
cp node_modules/maplibre-gl/LICENSE.txt "$dest/LICENSE.txt" 2>/dev/null || cp node_modules/maplibre-gl/LICENSE* "$dest/" 2>/dev/null || true
