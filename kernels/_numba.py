"""One place for the Numba options of every kernel (STUMPY habit).

* ``cache=True``: compiled machine code is written to the Numba cache.  Numba
  writes each cache file to a temporary name and renames it, but adding a signature
  to a kernel's index is a read-modify-write (load the index, take the first free
  data-file number, save both): two processes adding two signatures of one kernel at
  once could both take number 1, leaving the index pointing one signature at the
  other's machine code.  :func:`_lock_index_updates` therefore serialises those
  updates across processes with a lock file beside the index (POSIX ``flock``), so
  many processes sharing one cache directory is safe (workers, the parallel compile
  of :mod:`biomech.runner.kernel_compile`).
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


def _lock_index_updates() -> bool:
    """Make Numba's cache index updates (``IndexDataCacheFile.save`` and ``flush``)
    exclusive across processes: an ``flock`` on ``<index>.lock`` around each.  Returns
    False where that is not possible (no ``fcntl``, or a Numba without these methods:
    then updates stay as Numba makes them)."""
    try:
        import fcntl
        from numba.core import caching
        cls = caching.IndexDataCacheFile
        save, flush = cls.save, cls.flush
    except (ImportError, AttributeError):
        return False
    if getattr(save, "_biomech_locked", False):
        return True

    def locked(method):
        def wrapper(self, *args):
            path = getattr(self, "_index_path", None)
            if path is None:
                return method(self, *args)
            try:
                lock = open(path + ".lock", "a")
            except OSError:                # a read-only cache: Numba does not write there
                return method(self, *args)
            with lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                except OSError:            # a file system without locks (some NFS mounts)
                    return method(self, *args)
                try:
                    return method(self, *args)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        wrapper._biomech_locked = True
        wrapper.__doc__ = method.__doc__
        return wrapper

    cls.save, cls.flush = locked(save), locked(flush)
    return True


INDEX_UPDATES_LOCKED = _lock_index_updates()


def cache_dir() -> str:
    """Where compiled kernels are cached (for ``biomech info``)."""
    return str(numba.config.CACHE_DIR)
