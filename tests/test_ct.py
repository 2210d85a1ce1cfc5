"""CT input: NIfTI and DICOM reading in LPS, resampling, label maps and
thresholds, calibration (phantom and Ogo internal) and density-modulus laws."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.errors import InputError, MaterialError
from biomech.meshes import ct as C
from biomech.materials import DENSITY_LAWS, element_properties, get_law
from biomech.meshes.calibration import LinearCalibration, read_calibration_file
from biomech.meshes.labels import Label

from .conftest import shared_file


# ---------------------------------------------------------------------------- laws
def test_density_laws_follow_their_formulas():
    """Formula checks at rho = 0.2 g/cm^3 (exact arithmetic, rel 1e-12)."""
    rho = 0.2
    assert DENSITY_LAWS["morgan2003_vertebra"].modulus(rho) == pytest.approx(4730 * rho ** 1.56, rel=1e-12)
    assert DENSITY_LAWS["kopperdahl2002_qct_power"].modulus(rho) == pytest.approx(2980 * rho ** 1.05, rel=1e-12)
    assert DENSITY_LAWS["kopperdahl1998"].modulus(rho) == pytest.approx(-80 + 2100 * rho, rel=1e-12)
    assert DENSITY_LAWS["keller1994_spine"].modulus(rho) == pytest.approx(1890 * rho ** 1.92, rel=1e-12)
    for law in DENSITY_LAWS.values():
        E = law.modulus(np.linspace(0.05, 0.6, 20))
        assert np.all(np.diff(E) > 0), law.name           # stiffer with density
        assert law.modulus(-0.1) == 1e-4                   # floor for air / fat / noise
        assert law.source


def test_density_law_misuse_is_refused():
    law = get_law("morgan2003_vertebra")
    with pytest.raises(MaterialError, match="mg/cm\\^3"):
        law.modulus(150.0)                                 # mg/cm^3 passed as g/cm^3
    with pytest.raises(MaterialError, match="apparent"):
        law.modulus(0.2, density_measure="qct_k2hpo4")
    with pytest.raises(InputError, match="unknown density-modulus law"):
        get_law("hooke")
    with pytest.raises(InputError, match="slope"):
        LinearCalibration(0.0008, 0.0)                     # g/cm^3 per HU
    cal = LinearCalibration(0.8, -5.0)
    assert cal.density_mg_cm3(100.0) == pytest.approx(75.0)


def test_ogo_internal_calibration_file():
    path = shared_file("bonelab-verse004", "calibration_files", "sub-verse004_0000.txt")
    cal = read_calibration_file(path)
    assert cal.effective_energy_keV == pytest.approx(97.0)
    assert cal.k2hpo4_mass_attenuation == pytest.approx(0.205)
    hu = np.array([-956.8, -82.6, 24.6, 39.2, 1226.2])    # air, adipose, muscle, blood, cortical
    rho = cal.density_mg_cm3(hu)
    assert np.all(np.diff(rho) > 0)
    assert rho[0] < 0 < rho[3]
    # cortical bone reference: K2HPO4-equivalent 900-1500 mg/cm^3 (typical cortical QCT values)
    assert 900.0 < rho[-1] < 1500.0
    with pytest.raises(InputError, match="does not exist"):
        read_calibration_file(path.parent / "missing.txt")


# ---------------------------------------------------------------------------- NIfTI
@pytest.fixture(scope="module")
def totalseg():
    ct = C.read_nifti(shared_file("totalseg-ct", "example_ct_sm.nii.gz"))
    seg = C.read_nifti(shared_file("totalseg-ct", "example_seg.nii.gz"), units="label")
    return ct, seg


def test_nifti_label_map_to_model(totalseg):
    ct, seg = totalseg
    lm = C.vertebra_label_map(C.TOTALSEGMENTATOR_VERTEBRAE)
    cal = LinearCalibration(0.8, 0.0, source="assumed, no phantom")
    m = C.model_from_ct(ct, seg, label_map=lm, levels=["L1", "L2"], calibration=cal,
                        law="kopperdahl2002_qct_power")
    assert m.h == pytest.approx(3.0)
    # README voxel counts at the native 3 mm grid (nearest neighbour: exact)
    assert int((m.level == m.level_index("L1")).sum()) == 2139
    assert int((m.level == m.level_index("L2")).sum()) == 1868
    # LPS: L1 lies cranial of L2
    z1 = m.centres(np.argwhere(m.level == m.level_index("L1")))[:, 2].mean()
    z2 = m.centres(np.argwhere(m.level == m.level_index("L2")))[:, 2].mean()
    assert z1 > z2 + 20.0
    # mean HU inside L1 is 196 (README) -> 0.8 * 196 mg/cm^3 (+-1 %: resampling is exact here)
    rho = m.fields["density_g_cm3"][m.level == m.level_index("L1")]
    assert rho.mean() * 1000 == pytest.approx(0.8 * 196, rel=0.01)
    E, _ = element_properties(m)
    bone = m.labels != Label.VOID
    assert np.all(E[bone] > 0)
    # the material rule maps every bone voxel through the model's law (QCT density as is)
    expect = np.where(m.fields["density_g_cm3"] > 0,
                      2980.0 * np.clip(m.fields["density_g_cm3"], 0, None) ** 1.05, 1e-4)
    np.testing.assert_allclose(E[bone], np.maximum(expect, 1e-4)[bone], rtol=1e-12)


def test_ct_bad_input(totalseg):
    ct, seg = totalseg
    lm = C.vertebra_label_map(C.TOTALSEGMENTATOR_VERTEBRAE)
    with pytest.raises(MaterialError, match="calibration"):
        C.model_from_ct(ct, seg, label_map=lm, law="morgan2003_vertebra")
    with pytest.raises(InputError, match="not in the label image"):
        C.model_from_ct(ct, seg, label_map=lm, levels=["L4"])
    with pytest.raises(InputError, match="threshold"):
        C.model_from_ct(ct, threshold=10000.0)
    with pytest.raises(InputError, match="label image .* or a threshold"):
        C.model_from_ct(ct)
    with pytest.raises(InputError, match="does not exist"):
        C.read_nifti("/nonexistent/ct.nii.gz")


def test_resampling_to_a_finer_grid_keeps_volumes(totalseg):
    ct, seg = totalseg
    lm = C.vertebra_label_map({31: "L1"})
    m = C.model_from_ct(ct, seg, h=1.5, label_map=lm)
    vol = (m.labels != Label.VOID).sum() * m.h ** 3
    # nearest-neighbour label resampling to h/2: volume within 3 % of 2139 x 27 mm^3
    assert vol == pytest.approx(2139 * 27.0, rel=0.03)


def test_threshold_model(totalseg):
    ct, _ = totalseg
    m = C.model_from_ct(ct, threshold=250.0, threshold_level="spine")
    assert m.level_names == ("spine",)
    assert (m.labels == Label.CORTICAL).any() and (m.labels == Label.CANCELLOUS).any()


# ---------------------------------------------------------------------------- DICOM
def test_dicom_series_jpeg2000():
    folder = shared_file("totalseg-ct", "example_ct_dicom")
    try:
        import pylibjpeg  # noqa: F401
        import openjpeg  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match="pylibjpeg"):
            C.read_dicom_series(folder)
        return
    img = C.read_dicom_series(folder)
    assert img.values.shape == (512, 512, 20)
    assert np.allclose(img.spacing, [0.9765625, 0.9765625, 2.0])
    assert -1100 < img.values.min() < -900 and img.values.max() > 1000     # HU
    # geometry agrees with the label map written for this series
    seg = C.read_nifti(shared_file("totalseg-ct", "example_seg_dicom.nii.gz"), units="label")
    m = C.model_from_ct(img, seg, h=2.0, label_map=C.vertebra_label_map({32: "T12", 33: "T11"}))
    vol_t12 = (m.level == m.level_index("T12")).sum() * 8.0
    assert vol_t12 == pytest.approx(23576 * 0.9765625 ** 2 * 2.0, rel=0.05)
    grid = C.grid_for_image(img, 2.0)
    shift = np.rint((np.asarray(m.origin) - grid.origin) / 2.0).astype(int)   # model is cropped
    ijk = np.argwhere(m.level == m.level_index("T12")) + shift
    hu = C.resample(img, grid)[tuple(ijk.T)]
    assert hu.mean() > 100.0                                  # bone, not soft tissue: aligned
