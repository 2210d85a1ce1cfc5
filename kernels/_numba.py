"""One place for the Numba options of every kernel (STUMPY habit).

* ``cache=True``: compiled machine code is written to the Numba cache.  Numba
  writes cache files to a temporary name and renames them, so many processes
  sharing one cache directory is safe; the first writer wins and the others load.
* ``fastmath=False``: IEEE semantics.  No test has shown fastmath harmless for
  the assembly round-off checks (1e-10 against scikit-fem), so it stays off.
* The cache directory: ``NUMBA_CACHE_DIR`` when set (CI, cluster jobs,
  ``biomech warmup``).  When it is not set and neither the installed package
  folder nor ``~/.cache`` is writable (a read-only site-packages on a cluster
  node), a per-user folder in the temporary directory is used instead of
  letting ``cache=True`` fail at import.
"""
from __future__ import annotations

import os
import tempfile

import numba

JIT = dict(cache=True, fastmath=False, nogil=True)
PJIT = dict(JIT, parallel=True)


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


def _choose_cache_dir() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    if _writable(os.path.join(here, "__pycache__")):
        return
    if _writable(os.path.join(os.path.expanduser("~"), ".cache", "numba")):
        return
    user = os.environ.get("USER") or str(os.getuid()) if hasattr(os, "getuid") else "user"
    fallback = os.path.join(tempfile.gettempdir(), f"biomech-numba-cache-{user}")
    os.makedirs(fallback, exist_ok=True)
    numba.config.CACHE_DIR = fallback


_choose_cache_dir()


def cache_dir() -> str:
    """Where compiled kernels are cached (for ``biomech info``)."""
    d = numba.config.CACHE_DIR
    if d:
        return str(d)
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
