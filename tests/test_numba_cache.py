"""The Numba cache of biomech.kernels under the two hard cases of a cluster:

(a) several jobs start at once with one fresh shared NUMBA_CACHE_DIR: all
    compile, none crashes on the others' half-written files, results agree, and
    the index files they leave are loadable by a later process (a cache hit);
(b) a read-only installation with no writable home and no NUMBA_CACHE_DIR:
    kernels/_numba.py falls back to a folder in the temporary directory.

Each subprocess compiles one small parallel kernel (voxel_diagonal, ~1-2 s),
not the whole core, to keep the file within its time budget.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: a tiny 2-voxel chain; prints the diagonal and the cache statistics as JSON
KERNEL_SCRIPT = r"""
import json, sys
import numpy as np
import {package} as K
rng = np.random.default_rng(0)
# two stacked voxels: element 0 has nodes 0..7, element 1 nodes 4..11 (local a -> 4 + a)
node_elems = np.full((12, 8), -1, dtype=np.int64)
for a in range(8):
    node_elems[a, a] = 0
    node_elems[4 + a, a] = 1
A = rng.normal(size=(24, 24)); Kl = A @ A.T
B = rng.normal(size=(24, 24)); Km = B @ B.T
diag = np.empty(36)
K.voxel_diagonal(node_elems, np.array([2.0, 3.0]), np.array([0.5, 0.7]), Kl, Km, diag)
stats = K.voxel_diagonal.stats
print(json.dumps({{"diag": diag.tolist(), "cache_dir": K.cache_dir(),
                  "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}}))
"""


def _env(**changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update({k: str(v) for k, v in changes.items()})
    return env


def _result(proc):
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_concurrent_processes_share_a_fresh_cache_dir(tmp_path):
    cache = tmp_path / "numba_cache"
    script = KERNEL_SCRIPT.format(package="biomech.kernels")
    env = _env(NUMBA_CACHE_DIR=cache)
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = [_result(p) for p in procs]
    for r in results:
        assert Path(r["cache_dir"]) == cache
        assert r["hits"] + r["misses"] == 1
        # identical inputs, identical code: bit-identical outputs
        assert r["diag"] == results[0]["diag"]
    assert np.all(np.isfinite(results[0]["diag"]))
    index_files = list(cache.rglob("*.nbi"))
    assert index_files, f"no Numba index files in {cache}"
    assert list(cache.rglob("*.nbc"))
    # a later process loads what the racing ones wrote
    late = _result(subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    assert late["hits"] == 1 and late["misses"] == 0
    assert late["diag"] == results[0]["diag"]


def _make_unwritable(folder: Path, blocked_child: str) -> None:
    """Make ``folder/blocked_child`` impossible to create as a directory, even for
    root (who ignores permission bits): a regular file takes its name.  The
    folder is also made read-only for ordinary users."""
    (folder / blocked_child).write_text("not a directory\n")
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)


def test_read_only_install_falls_back_to_temp_dir(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    package = site / "rokernels"          # a copy of kernels/ under another name
    shutil.copytree(REPO / "kernels", package,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
    home = tmp_path / "home"
    home.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    _make_unwritable(package, "__pycache__")     # no in-tree cache next to the sources
    _make_unwritable(home, ".cache")             # no ~/.cache/numba
    try:
        env = _env(HOME=home, TMPDIR=tmp, PYTHONPATH=site)
        script = KERNEL_SCRIPT.format(package="rokernels")
        r = _result(subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    finally:
        for folder in (package, home):
            folder.chmod(stat.S_IRWXU)
    cache = Path(r["cache_dir"])
    assert cache.parent == tmp and cache.name.startswith("biomech-numba-cache-")
    assert list(cache.rglob("*.nbi")), f"no Numba index files in the fallback {cache}"
    assert not (package / "__pycache__").is_dir()
    assert np.all(np.isfinite(r["diag"]))
