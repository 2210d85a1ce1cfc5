"""Vertebroplasty: volume balance, needle approaches, leak trends, fields, and clear errors."""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from biomech.cement import CEMENTS
from biomech.conditions import Metastasis, OsteoporoticFracture, apply_condition, vertebra_geometry
from biomech.errors import InputError
from biomech.materials import composite_modulus, element_properties
from biomech.meshes.labels import Label
from biomech.treatments import LeakSite, Vertebroplasty, treat, vertebroplasty
from biomech.treatments.leak_risk import LeakRiskParameters

from .synthetic_vertebra import lytic, model  # noqa: F401  (module fixtures)


@pytest.fixture(scope="module")
def lytic_wall_intact(model):
    return apply_condition(model, Metastasis("L2", "lytic", "posterior", size_mm=18))


#: These tests check the mean-property fill; the realisations have tests/test_leak_risk.py.
NO_RISK = LeakRiskParameters(realisations=0)


def vp(m, **kw):
    kw.setdefault("leak_risk", NO_RISK)
    kw.setdefault("volume_ml", 6.0)
    kw.setdefault("tip_depth", 0.5)
    return vertebroplasty(m, "L2", **kw)


def labelled_cement_ml(res):
    """Cement volume read back from the labels: composite voxels hold h^3 (1 - BV/TV), leaked
    voxels h^3."""
    m = res.model
    h3 = m.h ** 3
    comp = m.labels == Label.COMPOSITE
    leak = m.labels == Label.LEAKED_CEMENT
    return (float((1.0 - m.fields["bvtv"][comp]).sum()) * h3 + float(leak.sum()) * h3) / 1000.0


@pytest.mark.parametrize("which", ["model", "lytic"])
def test_injected_equals_placed_plus_leaked(which, request):
    """injected = placed + leaked to round-off (1e-9 mL), and the labelled voxels hold the
    injected volume to one voxel (the last voxel is partly filled)."""
    m = request.getfixturevalue(which)
    res = vp(m)
    assert res.injected_ml == pytest.approx(6.0, abs=1e-9)
    assert res.placed_ml + res.leaked_ml == pytest.approx(res.injected_ml, abs=1e-9)
    assert abs(labelled_cement_ml(res) - res.injected_ml) <= m.h ** 3 / 1000.0
    if which == "lytic":
        assert res.leaked_ml > 0                                  # the case has leaks
        leak = res.model.labels == Label.LEAKED_CEMENT
        codes = set(np.unique(res.model.fields["cement_leak_site"][leak]).astype(int))
        assert codes <= {int(s) for s in LeakSite if s != LeakSite.BODY} and codes
    assert res.fill_fraction == pytest.approx(res.placed_ml / res.body_volume_ml)


def side_volumes(res):
    """(left, right) cement volume [mL] either side of the body's mid-sagittal plane."""
    g = vertebra_geometry(res.model, "L2")
    cem = np.argwhere(res.model.labels == Label.COMPOSITE)
    x = res.model.centres(cem)[:, 0] - g.centroid_mm[0]
    left = (np.sign(x) == g.left_sign).sum()
    right = (np.sign(x) == -g.left_sign).sum()
    return left, right


def test_unipedicular_fills_one_side_bipedicular_both(model):
    """Unipedicular (left): at least 80 % of the cement on the left; bipedicular: the two
    halves within 10 % of each other (symmetric anatomy; voxel ties break by index)."""
    l1, r1 = side_volumes(vp(model, approach="unipedicular", side="left", volume_ml=4.0, tip_depth=0.3))
    assert l1 / (l1 + r1) > 0.8
    l2, r2 = side_volumes(vp(model, approach="bipedicular", volume_ml=4.0, tip_depth=0.3))
    assert abs(l2 - r2) / (l2 + r2) < 0.1
    lr, rr = side_volumes(vp(model, approach="unipedicular", side="right", volume_ml=4.0, tip_depth=0.3))
    assert rr / (lr + rr) > 0.8


def test_midline_approaches_put_the_tip_on_the_midline(model):
    g = vertebra_geometry(model, "L2")
    for appr in ("parapedicular", "extrapedicular"):
        res = vp(model, approach=appr, volume_ml=3.0, tip_depth=0.3)
        assert abs(res.needles[0].tip_mm[0] - g.centroid_mm[0]) < model.h
        l, r = side_volumes(res)
        assert abs(l - r) / (l + r) < 0.2


def test_higher_viscosity_leaks_less(lytic):
    low = vp(lytic, cement="pmma").leaked_ml
    high = vp(lytic, cement="pmma_high_viscosity").leaked_ml
    later = vp(lytic, cement="pmma", injection_time_min=7.0).leaked_ml
    cpc = vp(lytic, cement="calcium_phosphate").leaked_ml                # thinnest paste
    assert low > 0
    assert high < low and later < low and cpc > low


def test_lower_volume_leaks_less(lytic):
    leaks = [vp(lytic, volume_ml=v).leaked_ml for v in (3.0, 6.0, 8.0)]
    assert leaks[0] < leaks[1] < leaks[2]


def test_intact_cortex_leaks_less_and_only_a_breach_leaks_into_the_canal(lytic, lytic_wall_intact):
    broken = vp(lytic)
    intact = vp(lytic_wall_intact)
    assert intact.leaked_ml < broken.leaked_ml
    assert broken.leaked_ml_by_site["spinal_canal"] > 0
    assert intact.leaked_ml_by_site["spinal_canal"] == 0.0


def test_fields_and_composite_modulus(model):
    res = vp(model, volume_ml=3.0, cement="pmma_low_modulus")
    m = res.model
    comp = m.labels == Label.COMPOSITE
    c = CEMENTS["pmma_low_modulus"]
    assert np.all(m.fields["cement_E_MPa"][comp] == c.E_MPa)
    assert np.all(m.fields["cement_arrival_ml"][comp] >= 0)
    assert np.all(m.fields["cement_arrival_ml"][~comp & (m.labels != Label.LEAKED_CEMENT)] == -1)
    E, _ = element_properties(m)
    np.testing.assert_allclose(E[comp], composite_modulus(c.E_MPa, m.fields["bvtv"][comp],
                                                          c.pore_fraction), rtol=1e-12)
    rec = m.meta["treatments"][-1]
    assert rec["kind"] == "vertebroplasty" and rec["cement"] == "pmma_low_modulus"
    assert res.summary()["cement_volume_ml"] == res.placed_ml
    assert model.meta.get("treatments") is None                      # input model untouched


@pytest.mark.parametrize("kwargs, match", [
    (dict(volume_ml=25.0), "exceeds what L2 can hold"),
    (dict(volume_ml=100.0), r"vertebroplasty: volume_ml must lie in \[0.1, 30\] mL, got 100"),
    (dict(volume_ml=-1.0), r"volume_ml must lie in \[0.1, 30\] mL, got -1"),
    (dict(cement="superglue"), "unknown cement 'superglue'"),
    (dict(tips_mm=[(32.0, 60.0, 20.0)], approach="unipedicular"), "not in the trabecular bone"),
    (dict(tips_mm=[(32.0, 22.0, 31.5)], approach="unipedicular"), "endplate"),
    (dict(approach="transoral"), "approach must be one of"),
    (dict(injection_time_min=12.0), "sets"),
    (dict(tip_depth=1.5), "tip_depth"),
])
def test_bad_requests_give_clear_errors(model, kwargs, match):
    kwargs.setdefault("volume_ml", 3.0)
    with pytest.raises(InputError, match=match):
        vertebroplasty(model, "L2", **kwargs)


def test_unknown_level_and_needle_through_the_canal(model):
    with pytest.raises(InputError, match="unknown level 'L9'"):
        vertebroplasty(model, "L9")
    with pytest.raises(InputError, match="spinal canal"):
        vertebroplasty(model, "L2", approach="unipedicular", volume_ml=2.0,
                       tips_mm=[(32.0, 22.0, 20.0)], entries_mm=[(32.0, 60.0, 20.0)])


def test_more_than_three_levels_warns_and_prophylaxis_needs_an_intact_level(model, caplog):
    """Clinical advice reaches the user once, through logging (no warnings.warn twin)."""
    def advice(records):
        return [r.getMessage() for r in records if r.levelno == logging.WARNING
                and r.name == "biomech.treatments.vertebroplasty"]

    prior = model.with_meta(treatments=[{"kind": "vertebroplasty", "level": lv} for lv in ("T12", "L1", "L3")])
    caplog.set_level(logging.WARNING, logger="biomech")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                             # logged, not warned
        res = vertebroplasty(prior, "L2", volume_ml=2.0)
    (msg,) = advice(caplog.records)
    assert "at most 3 levels" in msg
    assert any("at most 3" in w for w in res.warnings)
    caplog.clear()
    vertebroplasty(model, "L2", volume_ml=2.0)                     # one level: no warning
    assert advice(caplog.records) == []
    fractured = apply_condition(model, OsteoporoticFracture("L2", 1))
    with pytest.raises(InputError, match="prophylactic"):
        vertebroplasty(fractured, "L2", volume_ml=2.0, prophylactic=True)
    vertebroplasty(model, "L2", volume_ml=2.0, prophylactic=True)
    (msg,) = advice(caplog.records)
    assert "no neighbouring level" in msg


def test_treat_applies_plans_in_order(model):
    final, results = treat(model, Vertebroplasty("L2", volume_ml=2.0, approach="unipedicular"))
    assert results[0].model is final and results[0].approach == "unipedicular"


def test_heterogeneity_is_seeded_and_parameters_are_validated(model):
    """A random pore-entry threshold makes irregular fronts, reproducible by seed."""
    from biomech.treatments import FlowParameters
    a = vp(model, volume_ml=3.0, flow=FlowParameters(heterogeneity=3.0, seed=1)).model.labels
    b = vp(model, volume_ml=3.0, flow=FlowParameters(heterogeneity=3.0, seed=1)).model.labels
    c = vp(model, volume_ml=3.0, flow=FlowParameters(heterogeneity=3.0, seed=2)).model.labels
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    with pytest.raises(InputError, match="crossover_viscosity_Pa_s"):
        FlowParameters(crossover_viscosity_Pa_s=0.0)
