#!/usr/bin/env bash
# Install (scripts/setup.sh --test: biomech, the test tools, Chromium), check the code
# with ruff (configured in pyproject.toml), then run the whole test suite.
# Extra arguments go to pytest.  A ruff finding fails the command before pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$(pwd)/.numba_cache}"
export VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow
echo "[test] ruff check ."
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
