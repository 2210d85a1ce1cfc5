"""Shared test fixtures.

Tests that need ../shared/data skip with a stated reason when it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BIOMECH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data():
    """Path of ../shared/data (external test problems); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"external test data not found at {SHARED_DATA} "
                    "(set BIOMECH_SHARED_DATA to the shared/data folder)")
    return SHARED_DATA


def shared_file(*parts) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"external test file {p} is not available")
    return p


@pytest.fixture(scope="module")
def verse004_example():
    """examples/verse004_ct.py as a module, reading ../shared/data/bonelab-verse004."""
    import importlib.util
    shared_file("bonelab-verse004", "nii_files", "sub-verse004_0000_vertebra_21_im.nii.gz")
    path = REPO / "examples" / "verse004_ct.py"
    spec = importlib.util.spec_from_file_location("verse004_ct", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.FOLDER = shared_file("bonelab-verse004")
    return mod
