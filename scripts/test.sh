#!/usr/bin/env bash
# Install (scripts/setup.sh) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$(pwd)/.numba_cache}"
export VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow
exec .venv/bin/python -m pytest -q "$@"
