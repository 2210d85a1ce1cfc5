#!/usr/bin/env bash
# Install (scripts/setup.sh: biomech and its extras; no test tools, no Chromium) and run
# the built-in vertebroplasty-vs-kyphoplasty demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$(pwd)/.numba_cache}"
export VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow
exec .venv/bin/biomech demo --out "${1:-results}"
