"""Material registry, density-modulus laws and the per-voxel rules of element_properties."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.errors import MaterialError
from biomech.materials import (DEFAULT_DENSITY_LAW, LABEL_MATERIAL, TISSUE_MINERAL_DENSITY_G_CM3,
                               composite_modulus, default_registry, get_law,
                               element_properties, modulus_from_qct, qct_to_measure)
from biomech.materials import DENSITY_LAWS
from biomech.meshes.labels import Label
from biomech.meshes.voxel_model import VoxelModel


def one_voxel_model(label, **fields):
    labels = np.full((1, 1, 1), int(label), np.uint8)
    return VoxelModel(labels, 1.0, fields={k: np.full((1, 1, 1), v) for k, v in fields.items()})


def test_registry_covers_every_label_with_units_ranges_and_sources():
    reg = default_registry()
    for lab in Label:
        if lab == Label.VOID:
            continue
        m = reg.for_label(lab)
        assert m.source, f"{m.name} has no source"
        assert m.E_range_MPa[0] <= m.E_MPa <= m.E_range_MPa[1]
    assert set(LABEL_MATERIAL.values()) <= set(reg.names())
    table = reg.table()
    for name in reg.names():
        assert name in table
    assert "Purcell" in reg.describe("cortical") and "Kinzl" in reg.describe("cement_bone_composite")


def test_override_returns_new_registry_and_validates():
    reg = default_registry()
    new = reg.override("cancellous", E_MPa=150.0, source="my lab")
    assert new["cancellous"].E_MPa == 150.0 and new["cancellous"].source == "my lab"
    assert reg["cancellous"].E_MPa == 200.0                        # immutable original
    with pytest.raises(MaterialError, match="E_MPa=-5"):
        reg.override("cortical", E_MPa=-5.0)
    with pytest.raises(MaterialError, match="outside the accepted range"):
        reg.override("cortical", E_MPa=1e6)
    with pytest.raises(MaterialError, match="Poisson"):
        reg.override("annulus", nu=0.5)
    with pytest.raises(MaterialError, match="unknown material 'bone'"):
        reg.override("bone", E_MPa=10.0)
    with pytest.raises(MaterialError, match="unknown parameter"):
        reg.override("cement_bone_composite", porosity=0.2)
    comp = reg.override("cement_bone_composite", pore_fraction=0.2)
    assert comp["cement_bone_composite"].params["pore_fraction"] == 0.2


def test_density_laws_take_qct_density_through_the_documented_conversion():
    """QCT laws get rho_QCT as is; ash and apparent laws get rho_ash = 0.0633 + 0.887 rho_QCT,
    rho_app = rho_ash / 0.6 (definitions, rtol 1e-14)."""
    rho = np.array([0.05, 0.1, 0.2])
    np.testing.assert_allclose(modulus_from_qct("kopperdahl2002_qct_linear", rho),
                               -34.7 + 3230.0 * rho, rtol=1e-14)
    rho_app = (0.0633 + 0.887 * rho) / 0.6
    np.testing.assert_allclose(modulus_from_qct("morgan2003_vertebra", rho),
                               4730.0 * rho_app ** 1.56, rtol=1e-14)
    np.testing.assert_allclose(qct_to_measure(rho, "ash"), 0.0633 + 0.887 * rho, rtol=1e-14)
    for name in DENSITY_LAWS:
        assert np.all(np.diff(modulus_from_qct(name, rho)) > 0)     # stiffer with density
    assert default_registry().density_law_name == DEFAULT_DENSITY_LAW
    with pytest.raises(MaterialError, match="unknown density-modulus law"):
        get_law("nope")


def test_partial_volume_shell_is_voigt_mixing():
    """Shell voxel with cortical fraction f: E = f E_cort + (1 - f) E_trab (E_trab from the
    law at BV/TV * TMD); exact arithmetic, tolerance 1e-12 relative."""
    reg = default_registry()
    f, bv = 0.38, 0.12
    E, nu = element_properties(one_voxel_model(Label.CORTICAL, cortical_fraction=f, bvtv=bv))
    e_trab = modulus_from_qct(DEFAULT_DENSITY_LAW, bv * TISSUE_MINERAL_DENSITY_G_CM3)
    assert E[0, 0, 0] == pytest.approx(f * 12000.0 + (1 - f) * e_trab, rel=1e-12)
    assert nu[0, 0, 0] == pytest.approx(f * 0.3 + (1 - f) * 0.2, rel=1e-12)
    E1, _ = element_properties(one_voxel_model(Label.CORTICAL))      # no field: full shell
    assert E1[0, 0, 0] == reg["cortical"].E_MPa


def test_composite_model_switches_bone_off():
    """Kinzl 2012 porous-cement model: E = E_c ((1 - bvtv)(1 - p))^2, independent of the bone
    modulus (the bone only takes volume)."""
    m = one_voxel_model(Label.COMPOSITE, cement_E_MPa=2000.0, cement_nu=0.3, bvtv=0.1,
                        cement_pore_fraction=0.1)
    E, nu = element_properties(m)
    assert E[0, 0, 0] == pytest.approx(2000.0 * (0.9 * 0.9) ** 2, rel=1e-12)
    assert nu[0, 0, 0] == 0.3
    stiff_bone = one_voxel_model(Label.COMPOSITE, cement_E_MPa=2000.0, bvtv=0.1,
                                 cement_pore_fraction=0.1, density_g_cm3=0.5)
    assert element_properties(stiff_bone)[0][0, 0, 0] == pytest.approx(E[0, 0, 0], rel=1e-12)
    assert composite_modulus(2000.0, 0.1, 0.1, interface_factor=0.8) == pytest.approx(0.8 * E[0, 0, 0])
    reg = default_registry()
    assert reg["cement_bone_composite"].E_MPa == pytest.approx(
        float(composite_modulus(reg["bulk_cement"].E_MPa, 0.10, 0.10)), rel=1e-3)


def test_fracture_zone_keeps_damage_ratio_under_density_mapping():
    rho = 0.1
    base = element_properties(one_voxel_model(Label.CANCELLOUS, density_g_cm3=rho))[0][0, 0, 0]
    fz = element_properties(one_voxel_model(Label.FRACTURE_ZONE, density_g_cm3=rho))[0][0, 0, 0]
    assert fz / base == pytest.approx(0.4, rel=1e-12)                 # registry: damage 0.6
    dm = element_properties(one_voxel_model(Label.FRACTURE_ZONE, density_g_cm3=rho,
                                            damage=0.9))[0][0, 0, 0]
    assert dm / base == pytest.approx(0.1, rel=1e-12)


def test_registry_override_reaches_element_properties_and_void_is_zero():
    labels = np.array([[[0, int(Label.POSTERIOR), int(Label.LYTIC)]]], np.uint8)
    m = VoxelModel(labels, 1.0)
    reg = default_registry().override("posterior_elements", E_MPa=2000.0)
    E, nu = element_properties(m, reg)
    assert E[0, 0, 0] == 0.0 and nu[0, 0, 0] == 0.0
    assert E[0, 0, 1] == 2000.0
    assert E[0, 0, 2] == reg["lytic_tissue"].E_MPa


def test_bad_factor_field_is_reported():
    m = one_voxel_model(Label.CANCELLOUS, density_g_cm3=np.nan)
    with pytest.raises(MaterialError, match="density_g_cm3.*cancellous"):
        element_properties(m)
