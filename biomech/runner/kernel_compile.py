"""Compiling the kernels into the Numba cache on several cores at once.

Why: a first run (an empty Numba cache) spends about 45 s compiling the kernel
signatures its code paths need, on one core: LLVM compiles one function at a time, and
the warm-up (:func:`.warmup.warmup_kernels`) reaches them one after another.  The list
of those signatures is known in advance (``biomech/data/kernel_signatures.json``), so
worker processes compile disjoint shares of it side by side, one kernel (all its
signatures) per task, largest first; each writes to the shared cache, whose index
updates biomech makes exclusive across processes (``kernels/_numba.py``).  The warm-up
afterwards only loads them.

The list is made by :func:`write_signature_file` (``python -m
biomech.runner.kernel_compile``), which runs the warm-up on an empty cache and records
every signature its Python code calls with its compile time; a test checks that the
warm-up reaches exactly the listed signatures.  A stale entry (a kernel renamed, its
arguments changed) is reported and skipped: the warm-up compiles what is missing.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)

#: The packaged list of kernel signatures.
SIGNATURE_FILE = Path(__file__).resolve().parent.parent / "data" / "kernel_signatures.json"


def type_code(t) -> str:
    """A Numba argument type as text: ``float64``, ``int64``, ``bool`` or
    ``[readonly ]<dtype>[<ndim>d,<layout>]`` for arrays (e.g. ``readonly int64[2d,C]``)."""
    from numba.core import types
    if isinstance(t, types.Array):
        if not t.aligned:
            raise InputError(f"kernel argument type {t}: unaligned arrays are not listed")
        ro = "" if t.mutable else "readonly "
        return f"{ro}{t.dtype}[{t.ndim}d,{t.layout}]"
    if isinstance(t, (types.Boolean, types.Integer, types.Float)):
        return str(t)
    raise InputError(f"kernel argument type {t} ({type(t).__name__}) cannot be listed; "
                     "allowed: arrays, bool, integers, floats")


_TYPE_CODE = re.compile(r"(readonly )?(bool|u?int(?:8|16|32|64)|float(?:32|64))"
                        r"(?:\[([1-9])d,([CFA])\])?")


def parse_type(code: str):
    """The Numba type of :func:`type_code`'s text."""
    from numba import from_dtype
    from numba.core import types
    m = _TYPE_CODE.fullmatch(str(code).strip())
    if m is None or (m.group(1) and not m.group(3)):
        raise InputError(f"kernel signature type {code!r} is not understood: allowed are "
                         "bool, (u)int8-64 and float32/64 scalars and arrays written "
                         "'[readonly ]<dtype>[<ndim>d,<C|F|A>]', e.g. 'readonly int64[2d,C]'")
    readonly, name, ndim, layout = m.groups()
    dtype = from_dtype(np.dtype(name))
    if ndim is None:
        return dtype
    return types.Array(dtype, int(ndim), layout, readonly=bool(readonly))


def _public(name: str) -> bool:
    """Private helpers (``_gather_element``) are compiled inside their callers."""
    return not name.split(".")[-1].startswith("_")


def compiled_signatures() -> dict:
    """{"module.kernel": [[type code, ...], ...]} of every public kernel's signature
    compiled or loaded so far in this process (after :func:`.warmup.warmup_kernels`: the
    warm-up's)."""
    from .warmup import kernel_dispatchers
    return {name: [[type_code(t) for t in sig] for sig in d.signatures]
            for name, d in kernel_dispatchers().items() if d.signatures and _public(name)}


def check_signature_list() -> dict:
    """After :func:`.warmup.warmup_kernels` in this process: {"unlisted": signatures it
    compiled or loaded that the packaged list lacks, "unused": listed ones it did not
    reach}, each as ["kernel(type, ...)", ...] (both empty when the list is current).
    Meaningful after a warm-up that loaded its kernels from a warm cache: one that
    compiles them also compiles the public kernels its kernels call inside, which then
    read as unlisted."""
    listed = {_signature_text(k, c) for k, c in load_signatures()}
    done = {_signature_text(k, c) for k, sigs in compiled_signatures().items() for c in sigs}
    return {"unlisted": sorted(done - listed), "unused": sorted(listed - done)}


def load_signatures() -> list:
    """[(kernel, [type code, ...]), ...] of the packaged list, largest compile time first."""
    entries = json.loads(SIGNATURE_FILE.read_text())["signatures"]
    return [(e["kernel"], list(e["args"])) for e in entries]


#: At most this many compiling processes (each a Python with Numba and LLVM loaded, 0.2
#: GB; with the largest kernel taking ~4 s, more would not finish sooner).
COMPILE_MAX_WORKERS = 8


def check_workers(workers) -> None:
    """Raise InputError unless ``workers`` (compiling processes) is a whole number >= 1."""
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InputError(f"compiling workers (--workers) must be a whole number of at least 1, "
                         f"got {workers!r}")


def _compile_kernel(kernel: str, signatures: list) -> tuple:
    """Worker task: compile (or load from the cache) the signatures [[type code, ...],
    ...] of one kernel in turn -> (kernel, seconds, ["what failed: why", ...])."""
    from .warmup import kernel_dispatchers
    t0 = time.perf_counter()
    dispatcher = kernel_dispatchers().get(kernel)
    if dispatcher is None:
        return kernel, time.perf_counter() - t0, [
            f"{_signature_text(kernel, codes)}: no such kernel" for codes in signatures]
    failed = []
    for codes in signatures:
        try:
            dispatcher.compile(tuple(parse_type(c) for c in codes))
        except Exception as exc:          # noqa: BLE001 (a stale entry: reported, skipped)
            failed.append(f"{_signature_text(kernel, codes)}: {type(exc).__name__}: {exc}")
    return kernel, time.perf_counter() - t0, failed


def compile_in_parallel(workers: int, signatures: list | None = None) -> dict:
    """Compile the listed signatures (default: the packaged list; [(kernel, [type code,
    ...]), ...]) on up to ``workers`` spawned processes (at most COMPILE_MAX_WORKERS)
    sharing this process's Numba cache, one kernel per task, largest first.  Returns
    {"seconds": wall time, "compiled": signatures done, "failed": ["what: why", ...]}
    (failures are logged, not raised: the warm-up compiles what is missing)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from .executors import worker_environment, _environment
    check_workers(workers)
    todo = load_signatures() if signatures is None else list(signatures)
    groups = {}                          # kernel -> its signatures, in the list's order
    for kernel, codes in todo:
        groups.setdefault(kernel, []).append(list(codes))
    n = max(1, min(int(workers), len(groups), COMPILE_MAX_WORKERS))
    t0 = time.perf_counter()
    failed = []
    if groups:
        with _environment(**worker_environment(1)):
            with ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn")) as pool:
                for _, _, errors in pool.map(_compile_kernel, groups, groups.values()):
                    failed += errors
    dt = time.perf_counter() - t0
    for f in failed:
        log.warning("kernel signature list: %s (python -m biomech.runner.kernel_compile "
                    "rewrites the list)", f)
    log.info("%d kernel signatures compiled or loaded on %d processes in %.1f s",
             len(todo) - len(failed), n, dt)
    return {"seconds": dt, "compiled": len(todo) - len(failed), "failed": failed}


def _signature_text(kernel: str, codes) -> str:
    return f"{kernel}({', '.join(codes)})"


def _timed_warmup() -> dict:
    """Run the warm-up in this process (on an empty cache) with a compile-time listener
    -> {"kernel(type, ...)": seconds} of every compile, nested ones included."""
    from numba.core import event
    from .warmup import kernel_dispatchers, warmup_kernels
    started, seconds = [], {}

    class Timer(event.Listener):
        def on_start(self, ev):
            started.append(time.perf_counter())

        def on_end(self, ev):
            key = (id(ev.data["dispatcher"]), str(ev.data["args"]))
            seconds[key] = max(seconds.get(key, 0.0), time.perf_counter() - started.pop())

    event.register("numba:compile", Timer())
    warmup_kernels()
    return {_signature_text(name, [type_code(t) for t in sig]): seconds.get((id(d), str(tuple(sig))), 0.0)
            for name, d in kernel_dispatchers().items() for sig in d.signatures}


def write_signature_file(path: str) -> list:
    """Write the list to path: the signatures a warm-up loads from a warm cache (those
    its Python code calls; the others compile inside them), with their compile times
    on this machine from a first warm-up on an empty temporary cache (seconds: the
    order only), each warm-up in a fresh process."""
    import subprocess
    import sys
    import tempfile
    runs = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for code in ("_timed_warmup()",
                     "(warmup_kernels(), compiled_signatures())[1]"):
            script = ("import json; from biomech.runner.kernel_compile import _timed_warmup, compiled_signatures; "
                      "from biomech.runner.warmup import warmup_kernels; "
                      f"print(json.dumps({code}))")
            r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                               text=True, check=True)
            runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    seconds, called = runs
    entries = [{"kernel": k, "args": codes,
                "seconds": round(seconds.get(_signature_text(k, codes), 0.0), 2)}
               for k, sigs in called.items() for codes in sigs]
    entries.sort(key=lambda e: -e["seconds"])
    doc = {"about": "Numba signatures of the kernels biomech.runner.warmup_kernels calls "
                    "from Python, largest compile time first (seconds: one core of the "
                    "machine that wrote it); made by python -m biomech.runner.kernel_compile",
           "signatures": entries}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return entries


if __name__ == "__main__":              # regenerate the packaged list
    logging.basicConfig(level=logging.INFO)
    log.info("%d signatures written to %s", len(write_signature_file(str(SIGNATURE_FILE))),
             SIGNATURE_FILE)
