"""Cement library, viscosity curves and user formulations from TOML."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomech.cement import (CEMENTS, PMMA, Cement, cements_from_dict, example_cement_file,
                            get_cement, load_cements)
from biomech.errors import InputError


def test_library_has_the_four_formulations_with_sources():
    assert {"pmma", "pmma_low_modulus", "pmma_high_viscosity", "calcium_phosphate"} <= set(CEMENTS)
    assert CEMENTS["pmma_low_modulus"].E_MPa < CEMENTS["pmma"].E_MPa < CEMENTS["calcium_phosphate"].E_MPa
    assert "Ajaxon" in CEMENTS["calcium_phosphate"].source
    for c in CEMENTS.values():
        assert c.source and 0 < c.nu < 0.5
        t = np.linspace(c.viscosity_time_min[0], c.setting_time_min - 1e-6, 50)
        assert np.all(np.diff(c.viscosity(t)) > 0)          # curing: viscosity rises
    hv, lv = CEMENTS["pmma_high_viscosity"], CEMENTS["pmma"]
    assert hv.viscosity(3.0) > 5 * lv.viscosity(3.0)           # "high" vs "low" viscosity


def test_viscosity_interpolates_log_linearly():
    """Tabulated points are reproduced (rtol 1e-12) and the midpoint between two points is
    their geometric mean (log-linear interpolation, rtol 1e-12)."""
    c = PMMA
    t = np.asarray(c.viscosity_time_min)
    np.testing.assert_allclose(c.viscosity(t), c.viscosity_Pa_s, rtol=1e-12)
    mid = 0.5 * (t[2] + t[3])
    assert c.viscosity(mid) == pytest.approx(math.sqrt(c.viscosity_Pa_s[2] * c.viscosity_Pa_s[3]),
                                             rel=1e-12)
    assert c.viscosity(0.5) == pytest.approx(c.viscosity_Pa_s[0], rel=1e-12)  # constant before
    assert c.viscosity(13.0) > c.viscosity_Pa_s[-1]           # extrapolated up to setting
    with pytest.raises(InputError, match="sets at 14"):
        c.viscosity(14.0)
    with pytest.raises(InputError, match=">= 0"):
        c.viscosity(-1.0)


def test_get_cement_errors_list_the_known_names():
    assert get_cement("pmma") is PMMA
    assert get_cement(PMMA) is PMMA
    with pytest.raises(InputError, match="unknown cement 'cola'.*pmma"):
        get_cement("cola")


def test_example_toml_loads_and_validates():
    cs = load_cements(example_cement_file())
    assert set(cs) == {"example_pmma_fast", "example_soft_pmma"}
    fast = cs["example_pmma_fast"]
    assert fast.E_MPa == 2300.0 and fast.working_window_min == (2.5, 8.0)
    assert fast.default_injection_time_min == 2.5
    assert get_cement("example_soft_pmma", cs).E_MPa == 900.0


GOOD = {"E_MPa": 2000.0, "nu": 0.3, "density_g_cm3": 1.4, "setting_time_min": 12.0,
        "viscosity_time_min": [2, 4, 6], "viscosity_Pa_s": [20, 60, 200]}


@pytest.mark.parametrize("change, error, match", [
    ({"E_MPa": -100.0}, InputError, r"E_MPa must lie in \[1, 100000\] MPa, got -100"),
    ({"nu": 0.6}, InputError, r"nu must lie in \(-1, 0.5\), got 0.6"),
    ({"density_g_cm3": 0}, InputError, "density_g_cm3"),
    ({"viscosity_time_min": [2, 2, 6]}, InputError, "strictly increasing"),
    ({"viscosity_Pa_s": [20, 60]}, InputError, "same length"),
    ({"viscosity_Pa_s": [20, -1, 60]}, InputError, r"viscosity_Pa_s.*\(0, inf\) Pa s, got -1"),
    ({"working_window_min": [3, 20]}, InputError, "working_window_min"),
    ({"E_MPa": "stiff"}, InputError, "E_MPa must be a number"),
    ({"colour": "blue"}, InputError, "unknown field"),
])
def test_bad_formulations_name_the_cement_and_field(change, error, match):
    spec = dict(GOOD)
    spec.update(change)
    with pytest.raises(error, match=match) as exc:
        cements_from_dict({"cement": {"mine": spec}}, origin="lab.toml")
    assert "lab.toml" in str(exc.value) and "mine" in str(exc.value)


def test_missing_field_bad_toml_and_missing_file(tmp_path):
    spec = dict(GOOD)
    del spec["setting_time_min"]
    with pytest.raises(InputError, match="missing.*setting_time_min"):
        cements_from_dict({"cement": {"mine": spec}})
    with pytest.raises(InputError, match=r"\[cement.<name>\]"):
        cements_from_dict({"cements": {}})
    p = tmp_path / "bad.toml"
    p.write_text("[cement.x\nE_MPa = 1\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_cements(p)
    with pytest.raises(InputError, match="does not exist"):
        load_cements(tmp_path / "none.toml")


def test_cement_is_validated_on_creation_and_copy():
    with pytest.raises(InputError, match="cement 'pmma': E_MPa must lie in"):
        PMMA.with_changes(E_MPa=0.0)
    c = PMMA.with_changes(E_MPa=2500.0)
    assert isinstance(c, Cement) and c.E_MPa == 2500.0 and PMMA.E_MPa == 1937.0
