"""Morphometry tables and their validation (no voxels built here)."""
from __future__ import annotations

import pytest

from biomech.errors import InputError
from biomech.meshes import morphometry as M


def test_every_level_has_a_valid_table():
    for lv in M.LEVELS:
        m = M.vertebra_morphometry(lv)
        assert m.level == lv
        # bodies grow caudally in width (Panjabi 1992: widths increase T11 -> L5)
    widths = [M.vertebra_morphometry(lv).superior_width for lv in M.LEVELS]
    assert widths == sorted(widths)


def test_l5_numbers_are_cook_and_baker_2021():
    """Int J Spine Surg 15:1072, Table 6 (all subjects): VBSL 35.7, VBAH 30.3,
    VBPH 26.3, PW 16.1, PH 12.9, VCW 28.2, VCL 15.6 mm (exact copy: tol 0)."""
    m = M.vertebra_morphometry("L5")
    assert (m.superior_depth, m.anterior_height, m.posterior_height) == (35.7, 30.3, 26.3)
    assert (m.pedicle_width, m.pedicle_height, m.canal_width, m.canal_depth) == (16.1, 12.9, 28.2, 15.6)


def test_concavity_defaults_follow_wang_2012():
    """Wang, Battie & Videman 2012: 1.5 mm cranial to the disc (= inferior
    endplate of a vertebra), 0.7 mm caudal (= superior endplate)."""
    m = M.vertebra_morphometry("L2")
    assert m.inferior_concavity == 1.5 and m.superior_concavity == 0.7


def test_unknown_level_and_non_contiguous_runs_are_refused():
    with pytest.raises(InputError, match="unknown vertebral level 'L6'"):
        M.vertebra_morphometry("L6")
    with pytest.raises(InputError, match="contiguous"):
        M.contiguous_levels(["L1", "L3"])
    with pytest.raises(InputError, match="empty"):
        M.contiguous_levels([])
    assert M.contiguous_levels(["L3", "L2", "L1"]) == ("L1", "L2", "L3")
    with pytest.raises(InputError, match="adjacent"):
        M.disc_name("L1", "L3")


def test_unit_mistakes_in_overrides_are_refused():
    with pytest.raises(InputError, match="unit mistake"):
        M.vertebra_morphometry("L2", superior_width=0.042)        # metres
    with pytest.raises(InputError, match="unit mistake"):
        M.vertebra_morphometry("L2", anterior_height=26500.0)     # micrometres
    with pytest.raises(InputError, match="cortical_thickness"):
        M.vertebra_morphometry("L2", cortical_thickness=0.0004)


def test_disc_height_is_the_shao_2002_regression():
    """Height [cm] = a + b age (Shao 2002, female L1-L2: a 0.627, b 0.00484);
    exact arithmetic, tolerance 1e-12 mm."""
    d = M.disc_morphometry("L1", "L2", sex="female", age_years=65)
    assert d.height == pytest.approx(10 * (0.627 + 0.004840 * 65), abs=1e-12)
    older = M.disc_morphometry("L1", "L2", sex="female", age_years=80)
    assert older.height > d.height                  # the regression rises with age
    with pytest.raises(InputError, match="sex"):
        M.disc_morphometry("L1", "L2", sex="x")
    with pytest.raises(InputError, match="height"):
        M.disc_morphometry("L1", "L2", height=0.01)
