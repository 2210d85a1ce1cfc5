"""Import cost and import errors: ``import biomech`` and ``biomech --help`` load neither
Numba, SciPy's solvers nor PyVista/VTK; the public names load their module on first use;
a source checkout that was never installed says so instead of a circular-import error."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "scipy.sparse.linalg", "pyvista", "vtk", "matplotlib", "dask", "pandas",
         "numpy", "scipy", "biomech.runner", "biomech.fem.mesh")     # none is needed to start


def _python(code: str, *flags: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))
    e.update(env or {})
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True,
                          cwd=cwd, env=e, timeout=120)


def _loaded_after(statement: str) -> list:
    """The HEAVY modules in sys.modules after running ``statement`` in a new process."""
    code = (f"import sys\n{statement}\n"
            f"import json; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("statement", [
    "import biomech",
    "import biomech.errors",
    "from biomech import InputError, BiomechError, __version__",
    "import biomech.cli",
])
def test_import_loads_nothing_heavy(statement):
    assert _loaded_after(statement) == []


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["demo", "--help"],
                                  ["run", "--help"]])
def test_cli_help_loads_nothing_heavy(args):
    statement = ("from biomech.cli import main\n"
                 f"try:\n    main({args!r})\nexcept SystemExit as exc:\n    assert exc.code == 0\n")
    assert _loaded_after(statement) == []


def test_public_names_load_on_first_use():
    code = """
import sys, biomech
assert "biomech.fem.mesh" not in sys.modules
names = set(dir(biomech))
assert set(biomech.__all__) <= names, set(biomech.__all__) - names
from biomech import VoxelMesh, StaticProblem
assert VoxelMesh.__module__ == "biomech.fem.mesh" and "numba" in sys.modules
for name in biomech.__all__:
    getattr(biomech, name)
assert biomech.kernels.__name__ == "biomech.kernels"          # submodules on attribute access
try:
    biomech.no_such_thing
except AttributeError as exc:
    assert "no_such_thing" in str(exc)
else:
    raise AssertionError("no AttributeError")
print("ok")
"""
    proc = _python(code)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_uninstalled_checkout_says_install_it(tmp_path):
    """A copy of biomech/ on sys.path without the install's mapping of kernels/ and
    meshes/ (python -S: no site-packages, so no editable finder and no installed biomech):
    the ImportError names the cause and the fix."""
    shutil.copytree(REPO / "biomech", tmp_path / "biomech",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": "", "PYTHONSAFEPATH": ""}
    for statement in ("import biomech", "import biomech.meshes", "from biomech.errors import InputError"):
        proc = _python(statement, "-S", cwd=tmp_path, env=env)
        assert proc.returncode != 0
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("ImportError: biomech is not installed"), proc.stderr
        assert "pip install -e ." in last and "scripts/setup.sh" in last
        assert "circular import" not in proc.stderr
