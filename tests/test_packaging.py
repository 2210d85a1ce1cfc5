"""Packaging: the wheel ships the compiled core and the anatomy package from their
own top-level folders (kernels/ -> biomech.kernels, meshes/ -> biomech.meshes),
the editable install maps them the same way, and kernels/ stays free of biomech
imports (it must be usable, and cacheable by Numba, on its own)."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "biomech", "kernels", "meshes")
# sub-packages added to the copy only: discovery must pick them up with no config edit
PROBES = ("biomech/_probe_pkg/__init__.py", "biomech/_probe_pkg/inner/__init__.py",
          "kernels/_probe_pkg/__init__.py", "meshes/_probe_pkg/__init__.py")


def _py_files(root: Path) -> set[str]:
    """Every .py file under ``root`` (recursively), as a posix path relative to it."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*.py")
            if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(wheel, source copy): a wheel built from a clean copy of the sources (the
    checkout is not touched: no build/ or egg-info appear in it).  Takes ~3 s."""
    if importlib.util.find_spec("wheel") is None:
        pytest.skip("the 'wheel' package is needed for a --no-build-isolation build "
                    "(setuptools < 70.1 has no bdist_wheel of its own): pip install wheel")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    for name in SOURCES:
        s = REPO / name
        if s.is_dir():
            shutil.copytree(s, src / name, ignore=ignore)
        else:
            shutil.copy2(s, src / name)
    for probe in PROBES:
        (src / probe).parent.mkdir(parents=True, exist_ok=True)
        (src / probe).write_text('"""A sub-package no configuration names."""\n')
    out = tmp / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
         "-w", str(out), "-q"], cwd=src, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # no setuptools warning blocks (deprecated license table, package would be ignored, ...)
    assert "Warning" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    (whl,) = out.glob("biomech-*.whl")
    return whl, src


@pytest.fixture(scope="module")
def wheel(built) -> Path:
    return built[0]


def test_wheel_contains_kernels_meshes_and_every_subpackage(built):
    """Every .py of the copied sources is in the wheel: kernels/*.py as
    biomech/kernels/*.py, meshes/*.py as biomech/meshes/*.py, and every biomech
    subpackage, found by setup.py's discovery (PROBES: folders no configuration names)."""
    wheel, src = built
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in (("kernels", "biomech/kernels"), ("meshes", "biomech/meshes"),
                            ("biomech", "biomech")):
        expected = {f"{package}/{f}" for f in _py_files(src / folder)}
        assert f"{package}/__init__.py" in expected
        missing = expected - names
        assert not missing, f"wheel lacks {sorted(missing)}"
    assert "biomech/kernels/_numba.py" in names
    for probe in PROBES:                        # found by setup.py, not listed anywhere
        package = probe.replace("kernels/", "biomech/kernels/").replace("meshes/", "biomech/meshes/")
        assert package in names, f"new sub-package {probe} not discovered"
    data = {"biomech/data": src / "biomech" / "data", "biomech/meshes/data": src / "meshes" / "data"}
    for package, folder in data.items():        # package data ships, without warnings
        files = {f"{package}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*")
                 if p.is_file()}
        assert files and files <= names, f"wheel lacks {sorted(files - names)}"
    assert not [n for n in names if n.endswith((".nbi", ".nbc", ".pyc"))], \
        "Numba or bytecode caches must not be shipped"


def test_installed_wheel_imports_from_its_own_folder(wheel, tmp_path):
    """Unpacked (= installed, it is pure Python) on PYTHONPATH, the wheel's own
    biomech.kernels and biomech.meshes are imported, not the checkout's."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = dict(os.environ, PYTHONPATH=str(site), NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONDONTWRITEBYTECODE="1")
    code = ("import biomech, biomech.kernels, biomech.meshes; "
            "print(biomech.kernels.__file__); print(biomech.meshes.__file__)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    kernels_file, meshes_file = proc.stdout.split()
    assert Path(kernels_file) == site / "biomech" / "kernels" / "__init__.py"
    assert Path(meshes_file) == site / "biomech" / "meshes" / "__init__.py"


def test_editable_install_maps_the_top_level_folders():
    import biomech
    import biomech.kernels
    import biomech.meshes
    assert Path(biomech.kernels.__file__).resolve() == REPO / "kernels" / "__init__.py"
    assert Path(biomech.meshes.__file__).resolve() == REPO / "meshes" / "__init__.py"
    assert Path(biomech.__file__).resolve() == REPO / "biomech" / "__init__.py"


IMPORTS_BIOMECH = re.compile(r"^\s*(import\s+biomech\b|from\s+biomech\b|from\s+\.\.)", re.M)


def test_kernels_never_import_biomech():
    """kernels/*.py import only numpy, numba, the standard library and each other
    (relative imports within kernels/), never biomech and never '..'."""
    offenders = {p.name: IMPORTS_BIOMECH.findall(p.read_text())
                 for p in sorted((REPO / "kernels").glob("*.py"))}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"kernels/ modules importing biomech: {offenders}"
    assert IMPORTS_BIOMECH.search("from biomech.errors import X")        # the check can fail
    assert IMPORTS_BIOMECH.search("    import biomech\n")
    assert not IMPORTS_BIOMECH.search("from .elements import hex8_stiffness")
