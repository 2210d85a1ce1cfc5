"""Compiling the kernels into the Numba cache on several cores at once.

Why: a first run (an empty Numba cache) spends about 42 s compiling the 54 kernel
signatures its code paths need, on one core: LLVM compiles one function at a time, and
the warm-up (:func:`.warmup.warmup_kernels`) reaches them one after another.  The list
of those signatures is known in advance (``biomech/data/kernel_signatures.json``), so
worker processes compile disjoint shares of it side by side, largest first; each
writes its kernels to the shared cache, which Numba makes safe for many processes
(write to a temporary name, then rename).  The warm-up afterwards only loads them.

The list is made by :func:`write_signature_file` (``python -m
biomech.runner.kernel_compile``), which runs the warm-up on an empty cache and records
every compiled signature with its compile time; a test checks that the warm-up compiles
exactly the listed signatures, so the list cannot go stale unnoticed.  A signature
missing from it would only be compiled later, when first called.
"""
from __future__ import annotations

import json
import logging
import os
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


def parse_type(code: str):
    """The Numba type of :func:`type_code`'s text."""
    from numba import from_dtype
    from numba.core import types
    text = code.strip()
    readonly = text.startswith("readonly ")
    if readonly:
        text = text[len("readonly "):]
    try:
        if "[" not in text:
            return from_dtype(np.dtype(text))
        name, rest = text.split("[", 1)
        dims, layout = rest.rstrip("]").split(",")
        return types.Array(from_dtype(np.dtype(name)), int(dims.rstrip("d")), layout,
                           readonly=readonly)
    except (TypeError, ValueError) as exc:
        raise InputError(f"kernel signature type {code!r} is not understood "
                         "(e.g. 'float64', 'readonly int64[2d,C]')") from exc


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
    reach}, each as ["kernel(type, ...)", ...] (both empty when the list is current)."""
    listed = {_signature_text(k, c) for k, c in load_signatures()}
    done = {_signature_text(k, c) for k, sigs in compiled_signatures().items() for c in sigs}
    return {"unlisted": sorted(done - listed), "unused": sorted(listed - done)}


def load_signatures() -> list:
    """[(kernel, [type code, ...]), ...] of the packaged list, largest compile time first."""
    entries = json.loads(SIGNATURE_FILE.read_text())["signatures"]
    return [(e["kernel"], list(e["args"])) for e in entries]


def _compile_one(kernel: str, codes: list) -> tuple:
    """Worker task: compile (or load from the cache) one signature -> (kernel, seconds)."""
    from .warmup import kernel_dispatchers
    t0 = time.perf_counter()
    dispatcher = kernel_dispatchers().get(kernel)
    if dispatcher is None:
        return kernel, -1.0                  # renamed or removed: the warm-up compiles it
    dispatcher.compile(tuple(parse_type(c) for c in codes))
    return kernel, time.perf_counter() - t0


def compile_in_parallel(workers: int, signatures: list | None = None) -> dict:
    """Compile the listed signatures (default: the packaged list) on ``workers`` spawned
    processes sharing this process's Numba cache, largest first.  Returns
    {"seconds": wall time, "compiled": number done, "unknown": kernels not found}."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from .executors import worker_environment, _environment
    todo = load_signatures() if signatures is None else list(signatures)
    if int(workers) < 1:
        raise InputError(f"compiling workers must be at least 1, got {workers}")
    t0 = time.perf_counter()
    unknown = []
    with _environment(**worker_environment(1)):
        with ProcessPoolExecutor(max_workers=int(workers),
                                 mp_context=mp.get_context("spawn")) as pool:
            for kernel, seconds in pool.map(_compile_one, *zip(*todo)) if todo else ():
                if seconds < 0:
                    unknown.append(kernel)
    dt = time.perf_counter() - t0
    log.info("%d kernel signatures compiled or loaded on %d processes in %.1f s",
             len(todo), workers, dt)
    return {"seconds": dt, "compiled": len(todo) - len(unknown), "unknown": unknown}


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
