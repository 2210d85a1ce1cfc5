#!/usr/bin/env bash
# Install biomech and everything it needs into ./.venv (idempotent).
# Debian packages for off-screen rendering (EGL) are installed when missing and
# this runs as root; otherwise a note says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

need_apt=()
for lib in libEGL.so.1 libGL.so.1 libXrender.so.1 libXcursor.so.1; do
  ldconfig -p 2>/dev/null | grep -q "$lib" || need_apt+=("$lib")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  pkgs="libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libglvnd0 libxrender1 libxcursor1"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian packages for off-screen rendering: $pkgs"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "[setup] note: off-screen pictures need: apt-get install $pkgs" >&2
  fi
fi

# Headless Chromium for the report's browser test (tests skip with a reason without it).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian chromium for the report test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "[setup] note: the report browser test needs: apt-get install chromium" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[all]"
echo "[setup] biomech installed in $(pwd)/.venv"
