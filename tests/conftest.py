"""Shared test fixtures.

Tests that need ../shared/data skip when it is absent, saying where each data set
comes from (source repository, licence) and where to put it.
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
        pytest.skip(f"external test data not found at {SHARED_DATA}: see README.md, 'External "
                    "test data', for each data set's source and licence (or set "
                    "BIOMECH_SHARED_DATA to the folder holding them)")
    return SHARED_DATA


#: Where each external data set under ../shared/data comes from: (source, licence,
#: files).  README.md "External test data" says the same; each data set is a few
#: files copied byte for byte from the public repository at the path given.
EXTERNAL_DATA = {
    "bonelab-verse004": (
        "https://github.com/Bonelab/spineFE-benchmark (data/nii_files, data/calibration_files, "
        "results/; VerSe 2019 sub-verse004 L2)", "data CC BY-SA 2.0"),
    "calculix-tests": (
        "https://github.com/Dhondtguido/CalculiX (test/beam8p, beam10p, beam20p .inp and "
        ".dat.ref, patch_c3d8i)", "GPL-2.0"),
    "febio-testsuite": (
        "https://github.com/febiosoftware/TestSuite (Verify/mi02.feb, ma36, ma73, mi25; "
        "code/*GoldStandards.py)", "no licence stated; verification use only"),
    "remus-lss": (
        "https://github.com/RemusR9/artisynth_lumbosacralSpineModel "
        "(hybrid_LSS_model/.../passiveComponents_PlosOne/geometry: RB/, FE_discs/)",
        "BSD-3-Clause"),
    "totalseg-ct": (
        "https://github.com/wasserth/TotalSegmentator (tests/reference_files/)", "Apache-2.0"),
    "clouthier-lumbar-ssm": (
        "https://github.com/aclouthier/morphable-lumbar-model (SSM/meanMesh_*.csv)", "MIT"),
}


def how_to_get(dataset: str) -> str:
    """One sentence: where to get data set ``dataset`` and where to put it."""
    source, licence = EXTERNAL_DATA.get(dataset, ("see README.md, 'External test data'", "?"))
    return (f"external data set {dataset!r} not found at {SHARED_DATA / dataset}: copy it from "
            f"{source} [{licence}] into that folder, or set BIOMECH_SHARED_DATA to the folder "
            "holding it (README.md, 'External test data')")


def shared_file(*parts) -> Path:
    """A file under ../shared/data, or skip the test saying how to obtain its data set."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(how_to_get(str(parts[0])) + f"; missing file {p}")
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
