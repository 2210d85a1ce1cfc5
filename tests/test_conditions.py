"""Each condition changes the model the way its definition says (volumes, moduli, geometry)."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.conditions import (Angioma, BoneDensity, BoneFromCT, Metastasis, OsteoporosisRule,
                                OsteoporoticFracture, apply_condition, apply_conditions,
                                cortical_thinning_factor, exposed_trabecular, vbmd_category,
                                vertebra_geometry)
from biomech.errors import InputError
from biomech.materials import (DEFAULT_DENSITY_LAW, TISSUE_MINERAL_DENSITY_G_CM3,
                               default_registry, element_properties, modulus_from_qct)
from biomech.meshes.labels import Label

from .synthetic_vertebra import make_synthetic_vertebra


@pytest.fixture(scope="module")
def model():
    return make_synthetic_vertebra(1.0)


def body_heights(m, level="L2"):
    """(nx, ny) number of body voxels per column [voxels]."""
    return vertebra_geometry(m, level).body.sum(axis=2)


# ----------------------------------------------------------------------------- bone quality

def test_vbmd_categories():
    assert vbmd_category(150) == "normal" and vbmd_category(120.0) == "osteopenia"
    assert vbmd_category(80) == "osteopenia" and vbmd_category(79.9) == "osteoporosis"


def test_bone_density_sets_density_law_and_thins_cortex(model):
    m = apply_condition(model, BoneDensity(70.0))
    trab = m.labels == Label.CANCELLOUS
    np.testing.assert_array_equal(m.fields["density_g_cm3"][trab], 0.070)
    np.testing.assert_allclose(m.fields["bvtv"][trab], 0.070 / TISSUE_MINERAL_DENSITY_G_CM3, rtol=1e-12)
    E, _ = element_properties(m)
    np.testing.assert_allclose(E[trab], modulus_from_qct(DEFAULT_DENSITY_LAW, 0.070), rtol=1e-12)
    shell = m.labels == Label.CORTICAL
    ratio = m.fields["cortical_fraction"][shell] / model.fields["cortical_fraction"][shell]
    np.testing.assert_allclose(ratio, cortical_thinning_factor(70.0), rtol=1e-12)
    assert m.meta["conditions"][-1]["category"] == "osteoporosis"
    # lower vBMD -> softer trabecular bone and cortex (monotone)
    mods = [element_properties(apply_condition(model, BoneDensity(v)))[0] for v in (150, 100, 60)]
    for a, b in zip(mods, mods[1:]):
        assert np.all(a[trab] > b[trab]) and np.all(a[shell] > b[shell])
    with pytest.raises(InputError, match="vbmd_mg_cm3"):
        apply_condition(model, BoneDensity(-3.0))
    with pytest.raises(InputError, match="unknown level"):
        apply_condition(model, BoneDensity(90.0, levels=("L9",)))


def test_osteoporosis_rule_scales_cortex_and_cancellous(model):
    """E_after / E_before = 0.34 in cancellous voxels; shell voxels follow
    f 0.67 E_cort + (1 - f) 0.34 E_trab (rtol 1e-12, exact arithmetic)."""
    E0, _ = element_properties(model)
    m = apply_condition(model, OsteoporosisRule())
    E1, _ = element_properties(m)
    canc = model.labels == Label.CANCELLOUS
    np.testing.assert_allclose(E1[canc] / E0[canc], 0.34, rtol=1e-12)
    shell = model.labels == Label.CORTICAL
    f = model.fields["cortical_fraction"][shell]
    e_t = modulus_from_qct(DEFAULT_DENSITY_LAW,
                           model.fields["bvtv"][shell] * TISSUE_MINERAL_DENSITY_G_CM3)
    np.testing.assert_allclose(E1[shell], f * 12000.0 * 0.67 + (1 - f) * e_t * 0.34, rtol=1e-12)
    post = model.labels == Label.POSTERIOR
    np.testing.assert_array_equal(E1[post], E0[post])


def test_bone_from_ct_uses_the_calibration(model):
    hu = np.full(model.shape, 100.0)
    m = apply_condition(model, BoneFromCT(0.8, 5.0, hu=hu))
    trab = model.labels == Label.CANCELLOUS
    np.testing.assert_allclose(m.fields["density_g_cm3"][trab], (0.8 * 100 + 5) / 1000, rtol=1e-12)
    with pytest.raises(InputError, match="shape"):
        apply_condition(model, BoneFromCT(0.8, hu=np.zeros((2, 2, 2))))


# ----------------------------------------------------------------------------- fractures

def test_wedge_fracture_loses_anterior_height_in_the_genant_band(model):
    """Grade 2 wedge (32.5 %): the anterior mid-sagittal column loses 32.5 % of the body
    height (one voxel tolerance: voxelisation), the posterior one nothing (one voxel)."""
    geo = vertebra_geometry(model, "L2")
    H0 = body_heights(model)
    m = apply_condition(model, OsteoporoticFracture("L2", grade=2, shape="wedge"))
    H1 = body_heights(m)
    i = int(geo.centroid_mm[0] / model.h)
    js = np.flatnonzero(H0[i] > 0)
    ja, jp = js[1], js[-2]                                     # inside the shell
    assert abs((H0[i, ja] - H1[i, ja]) - 0.325 * geo.height_mm / model.h) <= 1.0
    assert H0[i, jp] - H1[i, jp] <= 1
    genant = 1.0 - H1[i, ja] / H1[i, jp]
    assert 0.25 - 1 / 24 <= genant <= 0.40 + 1 / 24            # grade-2 band, one voxel of 24
    zone = m.labels == Label.FRACTURE_ZONE
    assert zone.any() and m.meta["fractures"]["L2"]["shape"] == "wedge"
    # damaged zone: 60 % modulus reduction at the same density (registry)
    E, _ = element_properties(m)
    canc = m.labels == Label.CANCELLOUS
    assert E[zone].max() == pytest.approx(0.4 * E[canc].max(), rel=1e-12)
    # the shell stays closed: no new opening besides the foramen
    li = m.level_names.index("L2")
    assert exposed_trabecular(m.labels, m.level, li).sum() <= \
        exposed_trabecular(model.labels, model.level, li).sum()


def test_crush_moves_everything_above_down(model):
    g = vertebra_geometry(model, "L2")
    m = apply_condition(model, OsteoporoticFracture("L2", grade=3, shape="crush", damage=0.8))
    H0, H1 = body_heights(model), body_heights(m)
    inside = H0 > 2
    lost = (H0 - H1)[inside]
    d = round(0.45 * g.height_mm / model.h)
    assert np.all(np.abs(lost - d) <= 1)                       # uniform loss, one voxel
    up = model.level_names.index("L1-L2")
    z0 = np.argwhere(model.level == up)[:, 2]
    z1 = np.argwhere(m.level == up)[:, 2]
    assert z0.size == z1.size and z0.max() - z1.max() == d      # the disc above came down
    E, _ = element_properties(m)
    zone = m.labels == Label.FRACTURE_ZONE
    e_t = modulus_from_qct(DEFAULT_DENSITY_LAW, m.fields["bvtv"][zone] * TISSUE_MINERAL_DENSITY_G_CM3)
    np.testing.assert_allclose(E[zone], 0.2 * e_t, rtol=1e-12)                 # damage 0.8


def test_biconcave_centre_collapses_and_discs_fill_it(model):
    g = vertebra_geometry(model, "L2")
    m = apply_condition(model, OsteoporoticFracture("L2", grade=2, shape="biconcave"))
    H0, H1 = body_heights(model), body_heights(m)
    ic, jc = int(g.centroid_mm[0] / model.h), int(g.centroid_mm[1] / model.h)
    assert abs((H0[ic, jc] - H1[ic, jc]) - 0.325 * g.height_mm / model.h) <= 1.0
    rim = (H0 > 0) & (H1 > 0)
    assert (H0 - H1)[rim].min() == 0                          # periphery keeps its height
    for disc in ("L1-L2", "L2-L3"):
        li = model.level_names.index(disc)
        assert (m.level == li).sum() > (model.level == li).sum()   # the discs fill the dents
    up = model.level_names.index("L1-L2")
    assert np.argwhere(m.level == up)[:, 2].max() == np.argwhere(model.level == up)[:, 2].max()


def test_fracture_cortical_breach_opens_the_anterior_wall(model):
    m = apply_condition(model, OsteoporoticFracture("L2", 2, "wedge", cortical_breach=True))
    li = m.level_names.index("L2")
    exposed = exposed_trabecular(m.labels, m.level, li)
    g = vertebra_geometry(m, "L2")
    y = m.centres()[..., 1]
    assert (exposed & (y < g.centroid_mm[1])).any()           # anterior breach exists
    assert m.meta["fractures"]["L2"]["cortical_breach_mm3"] > 0


@pytest.mark.parametrize("kwargs, match", [
    (dict(grade=4), r"fracture: grade must lie in \[1, 3\], got 4"),
    (dict(grade=2, height_loss=0.5), r"\[0.25, 0.4\]"),
    (dict(grade=1, shape="banana"), "shape"),
    (dict(grade=1, damage=1.5), "damage"),
])
def test_fracture_bad_requests(model, kwargs, match):
    with pytest.raises(InputError, match=match):
        apply_condition(model, OsteoporoticFracture("L2", **kwargs))


def test_second_fracture_and_unknown_level_are_refused(model):
    m = apply_condition(model, OsteoporoticFracture("L2", 1))
    with pytest.raises(InputError, match="already"):
        apply_condition(m, OsteoporoticFracture("L2", 1))
    with pytest.raises(InputError, match="unknown level 'L7'"):
        apply_condition(model, OsteoporoticFracture("L7", 1))


# ----------------------------------------------------------------------------- lesions

def test_lytic_metastasis_by_percent_of_body(model):
    m = apply_condition(model, Metastasis("L2", "lytic", "central", size_percent=20.0))
    rec = m.meta["lesions"][-1]
    assert rec["percent_of_body"] == pytest.approx(20.0, abs=1.0)   # voxel rounding of a sphere
    lyt = m.labels == Label.LYTIC
    assert lyt.sum() * model.h ** 3 == rec["volume_mm3"]
    assert np.all(m.fields["bvtv"][lyt] == 0.0)
    assert (m.labels == Label.CORTICAL).sum() == (model.labels == Label.CORTICAL).sum()  # cortex intact
    E, _ = element_properties(m)
    assert np.all(E[lyt] == default_registry()["lytic_tissue"].E_MPa)


def test_posterior_wall_destruction_opens_the_canal(model):
    li = model.level_names.index("L2")
    before = exposed_trabecular(model.labels, model.level, li).sum()       # the foramen
    intact = apply_condition(model, Metastasis("L2", "lytic", "posterior", size_mm=18))
    broken = apply_condition(model, Metastasis("L2", "lytic", "posterior", size_mm=18,
                                               posterior_wall_destroyed=True))
    assert exposed_trabecular(intact.labels, intact.level, li).sum() <= before
    assert exposed_trabecular(broken.labels, broken.level, li).sum() > before
    assert broken.meta["lesions"][-1]["destroyed_cortex_mm3"] > 0
    with pytest.raises(InputError, match="does not reach the posterior wall"):
        apply_condition(model, Metastasis("L2", "lytic", "anterior", size_mm=8,
                                          posterior_wall_destroyed=True))


def test_endplate_destruction(model):
    m = apply_condition(model, Metastasis("L2", "lytic", "central", size_mm=24,
                                          endplate_destroyed="superior"))
    li = m.level_names.index("L2")
    exposed = exposed_trabecular(m.labels, m.level, li)
    z = m.centres()[..., 2]
    assert (exposed & (z > 25)).any()                          # open towards the disc above


def test_blastic_mixed_and_pedicle_lesions(model):
    b = apply_condition(model, Metastasis("L2", "blastic", "anterior", size_mm=12))
    bl = b.labels == Label.BLASTIC
    assert bl.any() and np.all(b.fields["bvtv"][bl] == 0.4)
    mx = apply_condition(model, Metastasis("L2", "mixed", "central", size_mm=16))
    n_l, n_b = (mx.labels == Label.LYTIC).sum(), (mx.labels == Label.BLASTIC).sum()
    assert n_l > 0 and n_b > 0 and abs(n_l / (n_l + n_b) - 0.5) < 0.1   # core half by volume
    p = apply_condition(model, Metastasis("L2", "lytic", "pedicle_left", size_mm=8))
    g = vertebra_geometry(model, "L2")
    lyt = np.argwhere(p.labels == Label.LYTIC)
    assert (model.labels[tuple(lyt.T)] == Label.POSTERIOR).any()
    x = p.centres(lyt)[:, 0]
    assert np.all(np.sign(x - g.centroid_mm[0]) == g.left_sign)      # on the left side


@pytest.mark.parametrize("kwargs, match", [
    (dict(kind="benign", size_mm=10), "lesion must be one of"),
    (dict(size_mm=10, size_percent=5), "exactly one"),
    (dict(), "exactly one"),
    (dict(location="upside", size_mm=10), "location"),
    (dict(size_percent=150), "size_percent"),
    (dict(size_mm=10, endplate_destroyed="top"), "endplate_destroyed"),
])
def test_metastasis_bad_requests(model, kwargs, match):
    with pytest.raises(InputError, match=match):
        apply_condition(model, Metastasis("L2", **kwargs))


def test_angioma_halves_the_modulus(model):
    m = apply_conditions(model, BoneDensity(100.0), Angioma("L2", size_mm=14))
    E, _ = element_properties(m)
    ang = m.labels == Label.ANGIOMA
    canc = m.labels == Label.CANCELLOUS
    assert ang.any()
    np.testing.assert_allclose(E[ang], 0.5 * E[canc].max(), rtol=1e-12)
    assert m.meta["lesions"][-1]["kind"] == "angioma"
