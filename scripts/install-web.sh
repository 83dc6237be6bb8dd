#!/usr/bin/env bash
# Installs the viewer's front-end packages from npm (pinned in package-lock.json) and copies
# MapLibre GL JS into web/vendor/, where chizu serves it. Nothing is loaded from a CDN.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  echo "chizu: installing Node.js and npm" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
dest=web/vendor/maplibre-gl
mkdir -p "$dest"
for f in maplibre-gl.mjs maplibre-gl-shared.mjs maplibre-gl-worker.mjs maplibre-gl.css; do
  cp node_modules/maplibre-gl/dist/$f "$dest/"
done
cp node_modules/maplibre-gl/LICENSE.txt "$dest/LICENSE.txt" 2>/dev/null || cp node_modules/maplibre-gl/LICENSE* "$dest/" 2>/dev/null || true
