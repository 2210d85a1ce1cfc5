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
