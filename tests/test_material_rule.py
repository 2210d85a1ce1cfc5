"""The one material rule (biomech.materials.element_properties) for every model kind.

Each test here failed on the code before the rule was made one (issue 10):
bony endplates took the cancellous modulus, a CT study ignored its density law and cap
modulus (the CT builder wrote an ``E_MPa`` field nobody read), and a calibrated CT with
slightly negative densities could not run at all.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biomech.errors import MaterialError
from biomech.materials import (MIN_MODULUS_MPA, default_registry, element_properties,
                               modulus_from_qct, shell_modulus)
from biomech.meshes.labels import Label
from biomech.meshes.voxel_model import VoxelModel


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "verse004_ct.py"


def one_voxel(label, **fields):
    return VoxelModel(np.full((1, 1, 1), int(label), np.uint8), 1.0,
                      fields={k: np.full((1, 1, 1), float(v)) for k, v in fields.items()})


# ---------------------------------------------------------------------------- endplates
def test_endplate_voxel_mixes_the_bony_endplate_in_series():
    """A voxel half bony endplate, a tenth side wall: E = f_c E_cort + (1 - f_c) E_rest,
    1 / E_rest = s / E_endplate + (1 - s) / E_core, s = f_e / (1 - f_c) (exact, 1e-12)."""
    reg = default_registry()
    E, nu = element_properties(one_voxel(Label.ENDPLATE, cortical_fraction=0.1,
                                         endplate_fraction=0.5))
    fc, s = 0.1, 0.5 / 0.9
    e_rest = 1.0 / (s / reg["bony_endplate"].E_MPa + (1 - s) / reg["cancellous"].E_MPa)
    assert E[0, 0, 0] == pytest.approx(fc * reg["cortical"].E_MPa + (1 - fc) * e_rest, rel=1e-12)
    assert nu[0, 0, 0] == pytest.approx(0.1 * 0.3 + 0.5 * 0.2 + 0.4 * 0.2, rel=1e-12)
    # a model with one shell fraction per voxel: the fraction is the endplate's share
    E1, _ = element_properties(one_voxel(Label.ENDPLATE, cortical_fraction=0.3))
    assert E1[0, 0, 0] == pytest.approx(float(shell_modulus(0.0, 0.3, 12000.0, 1000.0, 200.0)))
    # no fraction field: the whole voxel is bony endplate
    assert element_properties(one_voxel(Label.ENDPLATE))[0][0, 0, 0] == reg["bony_endplate"].E_MPa


@pytest.fixture(scope="module")
def l2_between_caps():
    from biomech.meshes.vertebra import build_vertebral_body_with_caps
    return build_vertebral_body_with_caps("L2", 2.0, cap_thickness_mm=3.0, cap_margin_mm=1.0)


def test_bony_endplate_modulus_changes_the_stiffness_of_l2(l2_between_caps):
    """The registry's bony endplate modulus reaches the solve: 1 -> 5 GPa stiffens every
    endplate voxel and the L2 body between caps.  The body's axial stiffness moves little
    (measured +0.21 % at 2 mm: a 0.25 mm layer in series with a 25 mm core carries ~0.2 %
    of the compliance), but 200 times the solver tolerance; before the fix it moved 0."""
    from biomech.analysis import SegmentAnalysis
    from biomech.loads import LoadCase
    m = l2_between_caps
    stiff = {}
    for E_ep in (1000.0, 5000.0):
        reg = default_registry().override("bony_endplate", E_MPa=E_ep)
        E, _ = element_properties(m, reg)
        stiff[E_ep] = E[m.labels == Label.ENDPLATE]
        res = SegmentAnalysis(m, registry=reg).run([LoadCase("compression", force_N=(0, 0, -1000))])
        stiff[E_ep, "k"] = res[0].metrics["segment_stiffness_N_per_mm"]
    assert np.all(stiff[5000.0] > stiff[1000.0])
    assert stiff[5000.0, "k"] > (1.0 + 1e-3) * stiff[1000.0, "k"]


# ---------------------------------------------------------------------------- CT studies
def _write_nifti(path, data):
    import nibabel as nib
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), np.eye(4)), str(path))


def synthetic_ct(folder, density_mg_cm3=150.0, negative_voxels=0):
    """A uniform cylinder of bone (radius 5 mm, 12 mm tall) between two PMMA caps
    (4 mm), 1 mm voxels: density image [mg/cm^3] and label image on disk, with the
    Bonelab benchmark's label values (1 trabecular, 2 cortical, 5/6 inferior/superior cap)."""
    pytest.importorskip("nibabel")
    from scipy import ndimage
    shape = (16, 16, 22)
    i, j, k = np.indices(shape)
    r = np.hypot(i - 7.5, j - 7.5)
    lab = np.zeros(shape, np.int16)
    body = (r < 5.0) & (k >= 5) & (k < 17)
    lab[body] = 2
    lab[ndimage.binary_erosion(body)] = 1
    lab[(r < 6.0) & (k >= 1) & (k < 5)] = 5            # inferior cap (z up: small k)
    lab[(r < 6.0) & (k >= 17) & (k < 21)] = 6
    rho = np.where(body, density_mg_cm3, 0.0)
    if negative_voxels:
        inner = np.argwhere(lab == 1)[:negative_voxels]
        rho[tuple(inner.T)] = -7.0                      # marrow-rich voxels of a calibrated QCT
    _write_nifti(folder / "ct.nii.gz", rho)
    _write_nifti(folder / "seg.nii.gz", lab)
    return rho


def ct_case(folder, **model):
    from biomech.study import study_from_dict
    spec = {"kind": "ct", "image": "ct.nii.gz", "labels": "seg.nii.gz", "units": "density_mg_cm3",
            "label_map": "bonelab", "ct_level": "L2", "voxel_size_mm": 1.0}
    spec.update(model)
    study = study_from_dict({"model": spec, "analysis": {"rtol": 1e-8},
                             "load_cases": [{"name": "compression", "force_N": [0, 0, -1000]}],
                             "cases": [{"name": "ct"}]}, base_dir=folder)
    return study.case("ct")


def solve(spec):
    from biomech.runner import solve_case
    solved = solve_case(spec, fields=False)
    return solved, solved.results[0].metrics["segment_stiffness_N_per_mm"]


def test_ct_study_density_law_and_cap_modulus_give_the_stiffness_each_predicts(tmp_path):
    """Uniform density: with the caps scaled by the same factor as the bone, the whole
    modulus field scales by E_B / E_A, so the stiffness must scale by exactly that ratio
    (solver tolerance 1e-8; asserted to 1e-5).  Every bone voxel (shell included) gets
    the law at the measured density; the caps get the study's cap modulus."""
    synthetic_ct(tmp_path)
    rho = 0.150
    laws = ("kopperdahl2002_qct_power", "morgan2003_vertebra")
    E_bone = {law: float(modulus_from_qct(law, rho)) for law in laws}
    cap = {laws[0]: 2500.0, laws[1]: 2500.0 * E_bone[laws[1]] / E_bone[laws[0]]}
    k = {}
    for law in laws:
        solved, k[law] = solve(ct_case(tmp_path, law=law, cap_modulus_MPa=cap[law]))
        an = solved.analysis
        bone = np.isin(an.labels, [Label.CORTICAL, Label.CANCELLOUS])
        assert bone.sum() > 500 and (an.labels == Label.CORTICAL).any()
        np.testing.assert_allclose(an.E[bone], E_bone[law], rtol=1e-5)    # resampled float32
        np.testing.assert_allclose(an.E[an.labels == Label.PMMA_CAP], cap[law], rtol=1e-12)
        assert np.all(an.nu == 0.3)
    assert E_bone[laws[1]] / E_bone[laws[0]] > 1.5                     # the laws differ a lot
    assert k[laws[1]] / k[laws[0]] == pytest.approx(E_bone[laws[1]] / E_bone[laws[0]], rel=1e-5)
    # the cap modulus alone changes the stiffness too
    _, k_soft_caps = solve(ct_case(tmp_path, law=laws[0], cap_modulus_MPa=100.0))
    assert k_soft_caps < 0.9 * k[laws[0]]


def test_ct_study_refuses_a_cap_modulus_outside_the_pmma_range(tmp_path):
    """A cap of 5 MPa (or 1e-300 MPa) is not PMMA: the rule names the material and range."""
    from biomech.runner.models import build_geometry, registry_for
    synthetic_ct(tmp_path)
    model_spec = dict(ct_case(tmp_path).model, cap_modulus_MPa=5.0)   # past the study check
    with pytest.raises(MaterialError, match="pmma_cap.*outside the accepted range 10-40000 MPa"):
        element_properties(build_geometry(model_spec), registry_for(model_spec))


def test_ct_study_with_slightly_negative_densities_runs(tmp_path):
    """Calibrated QCT has near-zero and negative densities in marrow-rich voxels; they map
    to the law's floor (1e-4 MPa, as the Bonelab pipeline) and the case solves."""
    synthetic_ct(tmp_path, negative_voxels=12)
    solved, k = solve(ct_case(tmp_path))
    an = solved.analysis
    floor = an.E == MIN_MODULUS_MPA
    assert 1 <= floor.sum() <= 12
    assert np.isfinite(k) and k > 0
    with pytest.raises(MaterialError, match="density_g_cm3.*>= -1"):
        element_properties(one_voxel(Label.CANCELLOUS, density_g_cm3=-2.0))


# ---------------------------------------------------------------------------- verse004
@pytest.fixture(scope="module")
def verse004(verse004_example):
    return verse004_example


def test_verse004_ct_study_runs_through_the_same_rule_as_the_example(verse004):
    """The calibrated verse004 L2 as a CT study (bonelab label map, density units) solves
    at 2 mm, and its element moduli equal the validation example's voxel by voxel."""
    folder = verse004.FOLDER / "nii_files"
    spec = ct_case(folder, image="sub-verse004_0000_vertebra_21_im.nii.gz",
                   labels="sub-verse004_0000_vertebra_21_seg.nii.gz", label_map="bonelab",
                   ct_level="L2", voxel_size_mm=2.0, law="kopperdahl2002_qct_power",
                   cap_modulus_MPa=2500.0)
    solved, k = solve(spec)
    assert np.isfinite(k) and k > 0
    example_model = verse004.build_model(2.0)
    E, nu = element_properties(example_model)
    an = solved.analysis
    ijk = tuple(an.mesh.voxel_ijk.T)
    assert example_model.shape == solved.model.shape
    np.testing.assert_array_equal(an.E, E[ijk])
    np.testing.assert_array_equal(an.nu, nu[ijk])


def test_ct_study_cap_modulus_is_checked_at_validation_and_label_map_tables_work(tmp_path):
    """A dry run refuses a cap modulus outside the registry's PMMA range (the schema reads
    the range from the registry), and the documented label_map table form is accepted."""
    from biomech.study import StudyFileError
    synthetic_ct(tmp_path)
    with pytest.raises(StudyFileError, match=r"cap_modulus_MPa: must lie in \[10, 40000\] MPa"):
        ct_case(tmp_path, cap_modulus_MPa=1e-300)
    spec = ct_case(tmp_path, label_map={"1": ["cancellous", "L2"], "2": ["cortical", "L2"],
                                        "5": ["pmma_cap", "cap_inferior"],
                                        "6": ["pmma_cap", "cap_superior"]})
    _, k_table = solve(spec)
    _, k_bonelab = solve(ct_case(tmp_path))
    assert k_table == pytest.approx(k_bonelab, rel=1e-9)
