"""One place for the Numba options of every kernel (STUMPY habit).

* ``cache=True``: compiled machine code is written to the Numba cache.  Numba
  writes cache files to a temporary name and renames them, so many processes
  sharing one cache directory is safe; the first writer wins and the others load.
* ``fastmath=False``: IEEE semantics.  No test has shown fastmath harmless for
  the assembly round-off checks (1e-10 against scikit-fem), so it stays off.
* The cache directory is chosen here, once, whatever the entry point (``biomech``
  command, ``scripts/*.sh``, ``import biomech``, a worker process), in this order:

  1. ``NUMBA_CACHE_DIR`` when set (CI, cluster jobs: a shared folder, then
     ``biomech warmup`` once);
  2. running from a checkout (``pip install -e .``: ``pyproject.toml`` and
     ``biomech/`` beside ``kernels/``): the checkout's ``.numba_cache`` (ignored by
     git; the same folder the scripts in ``scripts/`` use);
  3. an installed package: the per-user cache ``$XDG_CACHE_HOME/biomech/numba``
     (default ``~/.cache/biomech/numba``);
  4. neither writable (a read-only node with no home): a per-user folder in the
     temporary directory, instead of letting ``cache=True`` fail at import.

  The choice is exported as ``NUMBA_CACHE_DIR`` so that worker processes started
  from this one use the same folder.  Numba's own default (``__pycache__`` beside
  the sources) is never used: a first run would otherwise compile twice.
"""
from __future__ import annotations

import os
import tempfile

import numba

JIT = dict(cache=True, fastmath=False, nogil=True)
PJIT = dict(JIT, parallel=True)
#: helpers of the element loops (one element's product or scatter): inlined at Numba's
#: IR level, so that splitting a kernel into them costs nothing (called, they made the
#: L1-L3 case 15 % slower)
INLINE = dict(JIT, inline="always")


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.path.isdir(path) and os.access(path, os.W_OK)


def _candidates() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    out = []
    if os.path.isfile(os.path.join(root, "pyproject.toml")) and \
            os.path.isdir(os.path.join(root, "biomech")):
        out.append(os.path.join(root, ".numba_cache"))
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    out.append(os.path.join(xdg, "biomech", "numba"))
    user = os.environ.get("USER") or (str(os.getuid()) if hasattr(os, "getuid") else "user")
    out.append(os.path.join(tempfile.gettempdir(), f"biomech-numba-cache-{user}"))
    return out


def _choose_cache_dir() -> str:
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if not chosen:
        cands = _candidates()
        chosen = next((c for c in cands if _writable(c)), cands[-1])
        os.environ["NUMBA_CACHE_DIR"] = chosen
    numba.config.CACHE_DIR = chosen
    return chosen


_choose_cache_dir()


def cache_dir() -> str:
    """Where compiled kernels are cached (for ``biomech info``)."""
    return str(numba.config.CACHE_DIR)
