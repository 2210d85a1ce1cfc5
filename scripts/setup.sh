#!/usr/bin/env bash
# Install biomech into ./.venv (idempotent).
#
#   bash scripts/setup.sh          biomech with every user extra (".[all]") and, as root on
#                                  Debian, the off-screen rendering libraries (EGL): what
#                                  scripts/demo.sh needs
#   bash scripts/setup.sh --test   the same plus the test tools (PEP 735 group "test":
#                                  pytest, scikit-fem, ruff, ...) and Chromium for the
#                                  report's browser test: what scripts/test.sh needs
#
# Without root, a note says which Debian packages to install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TEST=0
case "${1:-}" in
  --test) TEST=1 ;;
  "") ;;
  *) echo "usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

apt_install() {       # apt_install WHAT PACKAGE...: install as root, else print the command
  local what=$1; shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian packages for $what: $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "[setup] note: $what needs: apt-get install $*" >&2
  fi
}

need_apt=()
for lib in libEGL.so.1 libGL.so.1 libXrender.so.1 libXcursor.so.1; do
  ldconfig -p 2>/dev/null | grep -q "$lib" || need_apt+=("$lib")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  apt_install "off-screen pictures" libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libglvnd0 libxrender1 libxcursor1
fi

# Headless Chromium for the report's browser test (that test skips with a reason without it).
if [ "$TEST" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  apt_install "the report browser test" chromium
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# pip >= 25.1 reads PEP 735 dependency groups (--group); setuptools prints an
# informational "Editable installation" notice for the kernels/ and meshes/ mapping.
.venv/bin/python -m pip install -q --upgrade "pip>=25.1" >/dev/null
extra=()
[ "$TEST" = 1 ] && extra=(--group test)
PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q -e ".[all]" ${extra[@]+"${extra[@]}"}
echo "[setup] biomech installed in $(pwd)/.venv$([ "$TEST" = 1 ] && echo " with the test tools")"
