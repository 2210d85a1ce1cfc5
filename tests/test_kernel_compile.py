"""Compiling the kernels on several processes from the packaged signature list
(biomech.runner.kernel_compile)."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from numba.core import types

from biomech.errors import InputError
from biomech.runner import kernel_compile as KC
from biomech.runner.executors import warm_cache

REPO = Path(__file__).resolve().parents[1]


def test_every_listed_type_reads_back_to_its_text():
    entries = KC.load_signatures()
    assert len(entries) >= 40
    for _, codes in entries:
        for code in codes:
            assert KC.type_code(KC.parse_type(code)) == code


def test_type_codes_keep_dtype_rank_layout_and_readonly():
    t = KC.parse_type("readonly int64[2d,C]")
    assert t == types.Array(types.int64, 2, "C", readonly=True)
    assert KC.parse_type("float32[3d,C]") == types.Array(types.float32, 3, "C")
    assert KC.parse_type("bool") == types.boolean
    assert KC.parse_type("float64") == types.float64


@pytest.mark.parametrize("bad", ["complex_thing", "float64[2x,C]", "nope[1d,C]", "object",
                                 "float64[2d,Q]", "float64[-1d,C]", "float64[2d,C",
                                 "readonly float64"])
def test_bad_type_code_is_an_input_error(bad):
    with pytest.raises(InputError, match="not understood"):
        KC.parse_type(bad)


def test_unlistable_type_is_an_input_error():
    with pytest.raises(InputError, match="cannot be listed"):
        KC.type_code(types.UniTuple(types.int64, 2))


def test_bad_worker_count_is_an_input_error():
    with pytest.raises(InputError, match=r"--workers.*at least 1, got 0"):
        KC.compile_in_parallel(0, signatures=[])
    with pytest.raises(InputError, match="at least 1, got -2"):
        warm_cache(workers=-2)                     # refused whether the cache is warm or not
    with pytest.raises(InputError, match="got 1.5"):
        warm_cache(workers=1.5)


def test_parallel_compile_fills_an_empty_cache(tmp_path):
    """Two processes compile the three cheapest listed signatures into an empty cache:
    each kernel gets its index file, and a fresh process then loads (not compiles) it."""
    cheap = sorted(json.loads(KC.SIGNATURE_FILE.read_text())["signatures"],
                   key=lambda e: e["seconds"])[:3]
    todo = [(e["kernel"], e["args"]) for e in cheap]
    cache = tmp_path / "cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    script = ("import json, sys; from biomech.runner.kernel_compile import compile_in_parallel; "
              f"print(json.dumps(compile_in_parallel(2, {todo!r})))")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["compiled"] == 3 and report["failed"] == []
    indexed = {f.split("-")[0] for _, _, files in os.walk(cache) for f in files
               if f.endswith(".nbi")}
    assert {k for k, _ in todo} <= indexed
    # a fresh process loads them: no compile event fires
    check = ("from numba.core import event; from biomech.runner.kernel_compile import "
             "_compile_kernel; n = []\n"
             "class L(event.Listener):\n"
             "    def on_start(self, ev): n.append(1)\n"
             "    def on_end(self, ev): pass\n"
             "event.register('numba:compile', L())\n"
             f"for k, c in {todo!r}: _compile_kernel(k, [c])\n"
             "print(len(n))")
    r = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "0"


def test_stale_entries_are_reported_not_fatal():
    """A kernel that is gone, or listed arguments it no longer takes, are reported and
    skipped; the kernel's other signatures still compile."""
    kernel, _, failed = KC._compile_kernel("nowhere.no_kernel", [["float64"]])
    assert failed == ["nowhere.no_kernel(float64): no such kernel"]
    good = next(c for k, c in KC.load_signatures() if k == "elements.hex8_dshape")
    _, _, failed = KC._compile_kernel("elements.hex8_dshape", [["float64"], good])
    assert len(failed) == 1 and failed[0].startswith("elements.hex8_dshape(float64): ")


def test_cache_index_updates_are_exclusive_across_processes(tmp_path):
    """Adding a signature to a kernel's cache index waits for the lock another process
    (here: another open file) holds on that index, so two cannot take one data file."""
    import fcntl
    import threading

    from numba.core import caching

    from biomech.kernels import _numba
    assert _numba.INDEX_UPDATES_LOCKED
    index = caching.IndexDataCacheFile(str(tmp_path), "kernel-1", "stamp")
    with open(index._index_path + ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        writer = threading.Thread(target=index.save, args=("signature", b"machine code"))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive()                      # blocked on the lock
        assert index.load("signature") is None
        fcntl.flock(held, fcntl.LOCK_UN)
    writer.join(10)
    assert not writer.is_alive() and index.load("signature") == b"machine code"


def test_private_kernels_are_called_only_from_kernels():
    """The list holds what Python code calls; a private (underscore) kernel compiles
    inside its callers only, so plain Python must not call one."""
    offenders = []
    for path in sorted((REPO / "kernels").glob("*.py")):
        tree = ast.parse(path.read_text())
        jitted = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)
                  and n.decorator_list and n.name.startswith("_")}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.decorator_list:
                offenders += [f"{path.name}:{node.name} calls {c.func.id}"
                              for c in ast.walk(node) if isinstance(c, ast.Call)
                              and isinstance(c.func, ast.Name) and c.func.id in jitted]
    assert offenders == []
