#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test chizu: GDAL and PROJ
# (headers, tools), pkg-config, clang (for bindgen where a crate needs it).
# Installs only missing packages; safe to run again.
set -euo pipefail

# chromium + fonts-noto-cjk: the viewer's browser tests (Japanese labels need a CJK font);
# nodejs + npm: the viewer's packages and tests, where the machine has no Node.js yet.
packages=(libgdal-dev gdal-bin libproj-dev proj-bin libsqlite3-dev pkg-config clang libclang-dev build-essential ca-certificates chromium fonts-noto-cjk)
command -v npm >/dev/null || packages+=(nodejs npm)
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

if ! command -v cargo >/dev/null; then
  echo "chizu: no Rust toolchain (cargo) found; install Rust stable (rustup) first" >&2
  exit 1
fi
