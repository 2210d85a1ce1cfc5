"""Leak risk: statistics against independent references (SciPy's Wilson interval, the
analytic Hagen-Poiseuille and Darcy formulas), the random field's moments, and the trends of
bench experiments and clinical series on a 3 mm synthetic vertebra (64 seeded realisations;
every compared pair uses the same seed, i.e. the same bone, so a difference is the effect of
the changed input, not sampling noise; the trend tests also pass with seeds 1-3)."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from biomech.conditions import Metastasis, apply_condition
from biomech.errors import InputError
from biomech.treatments import vertebroplasty
from biomech.treatments.injection_pressure import (Cannula, bone_pressure_MPa,
                                                   cannula_pressure_MPa)
from biomech.treatments.leak_risk import (LeakRiskParameters, gaussian_field, kc_slope,
                                          wilson_interval)
from biomech.treatments.flow import FlowParameters

from .synthetic_vertebra import make_synthetic_vertebra

R64 = LeakRiskParameters(realisations=64)


@pytest.fixture(scope="module")
def coarse():
    return make_synthetic_vertebra(3.0)


def risk(m, **kw):
    kw.setdefault("volume_ml", 4.0)
    kw.setdefault("tip_depth", 0.3)
    kw.setdefault("leak_risk", R64)
    return vertebroplasty(m, "L2", **kw).leak_risk


@pytest.mark.parametrize("k,n", [(0, 20), (3, 20), (17, 64), (64, 64), (50, 100)])
def test_wilson_interval_is_the_score_interval(k, n):
    """The interval equals the closed-form Wilson score interval (1e-12); n = 0 gives (0, 1)."""
    z = 1.959963984540054                       # normal quantile of 0.975
    p = k / n
    den = 1.0 + z * z / n
    c = (p + z * z / (2 * n)) / den
    w = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo, hi = wilson_interval(k, n, 0.95)
    assert lo == pytest.approx(max(0.0, c - w), abs=1e-12)
    assert hi == pytest.approx(min(1.0, c + w), abs=1e-12)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_random_field_has_unit_variance_and_the_stated_correlation():
    """Covariance exp(-r^2/l^2): at lag l the correlation is e^-1 = 0.37 (tolerance 0.08
    over 8 fields of 48^3 voxels); mean 0 and variance 1 within 0.05 / 0.1."""
    rng = np.random.default_rng(1)
    h, ell = 1.0, 4.0
    fs = [gaussian_field(rng, (48, 48, 48), h, ell) for _ in range(8)]
    v = np.stack(fs)
    assert abs(v.mean()) < 0.05 and abs(v.var() - 1.0) < 0.1
    lag = int(ell / h)
    c = float((v[:, :-lag] * v[:, lag:]).mean() / v.var())
    assert c == pytest.approx(math.exp(-1.0), abs=0.08)


def test_kozeny_carman_slope_is_about_minus_two_in_osteoporotic_bone():
    """d ln k / d ln BV/TV at BV/TV 0.1, against a central finite difference of the law."""
    from biomech.treatments.flow import kozeny_carman_permeability_mm2
    p = FlowParameters()
    b, e = 0.1, 1e-5
    fd = (math.log(kozeny_carman_permeability_mm2(np.array(b * (1 + e)), p))
          - math.log(kozeny_carman_permeability_mm2(np.array(b * (1 - e)), p))) / (2 * e)
    assert kc_slope(b, p) == pytest.approx(float(fd), rel=1e-6)
    assert -2.5 < kc_slope(b, p) < -2.0


def test_injection_pressure_formulas_and_the_cannula_share():
    """Hagen-Poiseuille and spherical Darcy against hand-computed SI values (1e-12), and
    Baroud & Steffen (Eur Spine J 14:474, 2005): about 95 % of the injection pressure is
    spent in the cannula -- here >= 90 % for PMMA at 100 Pa s, 4 mL/min, in bone of the
    Baroud 2004 permeability (4.45e-8 m^2) holding 3 mL."""
    c = Cannula(inner_diameter_mm=2.2, length_mm=125.0)
    q = 4000.0 / 60.0                                       # mm^3/s
    si = 8 * 100.0 * 0.125 * (q * 1e-9) / (math.pi * 1.1e-3 ** 4) / 1e6
    assert float(cannula_pressure_MPa(100.0, q, c)) == pytest.approx(si, rel=1e-12)
    R = (3 * 3000.0 / (4 * math.pi)) ** (1 / 3)
    si_b = 100.0 * q * 1e-9 / (4 * math.pi * 4.45e-8) * (1 / 1.525e-3 - 1 / (R * 1e-3)) / 1e6
    assert float(bone_pressure_MPa(100.0, q, 4.45e-2, 3000.0)) == pytest.approx(si_b, rel=1e-12)
    share = si / (si + si_b)
    assert share >= 0.90
    # doubling the diameter divides the cannula pressure by 16 (Hagen-Poiseuille, r^4)
    c2 = Cannula(inner_diameter_mm=4.4, length_mm=125.0)
    assert float(cannula_pressure_MPa(100.0, q, c) / cannula_pressure_MPa(100.0, q, c2)) == \
        pytest.approx(16.0, rel=1e-12)


def test_seeded_reproducible_and_optional(coarse):
    a = risk(coarse)
    b = risk(coarse)
    assert a.p_any == b.p_any and np.array_equal(a.leaked_ml, b.leaked_ml)
    c = risk(coarse, leak_risk=LeakRiskParameters(realisations=64, seed=7))
    assert not np.array_equal(a.leaked_ml, c.leaked_ml)
    assert vertebroplasty(coarse, "L2", volume_ml=4.0,
                          leak_risk=LeakRiskParameters(realisations=0)).leak_risk is None
    assert a.ci_any[0] <= a.p_any <= a.ci_any[1]
    assert set(a.p_site) == {"spinal_canal", "disc", "venous", "paravertebral", "needle_track"}


def test_habib_2010_viscosity_and_injection_time(coarse):
    """Habib, Serhan, Marchek & Baroud (Int J Spine Surg 4:26, 2010), bench rig: leaked mass
    low-viscosity PMMA 4.0 g at 3.5 min vs 2.6 g at 9.5 min (ratio 0.65); high-viscosity
    1.5 g at 3.5 min (0.375 of low viscosity) and 0.92 g at 6.5 min (0.61 of 3.5 min).
    The rig's leak path is not a vertebra's, so absolute masses are not compared; the ratios
    of expected leaked volume (same cement density) must run the same way and lie within
    a factor 3 of the measured ratio for the viscosity effect, within a factor 10 for the
    injection-time effects (the model's library PMMA curve thickens faster than the rig's
    cement: the late ratio is smaller than measured)."""
    lv35 = risk(coarse, injection_time_min=3.5, volume_ml=3.0)
    lv95 = risk(coarse, injection_time_min=9.5, volume_ml=3.0)
    hv35 = risk(coarse, injection_time_min=3.5, volume_ml=3.0, cement="pmma_high_viscosity")
    hv65 = risk(coarse, injection_time_min=6.5, volume_ml=3.0, cement="pmma_high_viscosity")
    r_visc = hv35.expected_leak_ml / lv35.expected_leak_ml
    assert 0.375 / 3 < r_visc < min(1.0, 0.375 * 3)
    r_lv = lv95.expected_leak_ml / lv35.expected_leak_ml
    assert 0.065 < r_lv < 1.0
    r_hv = hv65.expected_leak_ml / hv35.expected_leak_ml
    assert 0.061 < r_hv < 1.0
    assert lv95.p_any <= lv35.p_any and hv35.p_any <= lv35.p_any


def test_volume_flow_rate_and_needle_position(coarse):
    """More cement leaks more often (injected volume: a clinical risk factor, Zhan et al.,
    World Neurosurg 101:633, 2017); a faster injection gives the cement less time to thicken,
    so it leaks more and the syringe pressure is lower at the end; a tip near the posterior
    wall (basivertebral foramen) raises the venous leak probability."""
    p = [risk(coarse, volume_ml=v).p_any for v in (2.0, 4.0, 6.0)]
    assert p[0] < p[1] < p[2]
    slow, fast = risk(coarse, flow_rate_ml_per_min=0.5), risk(coarse, flow_rate_ml_per_min=3.0)
    assert fast.expected_leak_ml > slow.expected_leak_ml
    assert fast.peak_pressure_MPa_mean < slow.peak_pressure_MPa_mean
    front, back = risk(coarse, tip_depth=0.3), risk(coarse, tip_depth=0.7)
    assert back.p_site["venous"] > front.p_site["venous"] + 0.2


def test_posterior_wall_breach_opens_the_canal_route(coarse):
    """Metastatic series: posterior-wall destruction is the risk factor for canal leaks
    (World J Surg Oncol 2022: canal 15.9 % of metastatic VP levels).  Intact wall: no canal
    leak in any realisation; destroyed wall, tip near the lesion: canal leaks in at least
    15.9 % of realisations (the clinical rate over all metastatic levels, most of which
    have an intact wall), and more leaks overall."""
    intact = apply_condition(coarse, Metastasis("L2", "lytic", "posterior", size_mm=18))
    broken = apply_condition(coarse, Metastasis("L2", "lytic", "posterior", size_mm=18,
                                                posterior_wall_destroyed=True))
    a, b = risk(intact, tip_depth=0.5), risk(broken, tip_depth=0.5)
    assert a.p_site["spinal_canal"] == 0.0
    assert b.p_site["spinal_canal"] >= 0.159
    assert b.p_any > a.p_any


def test_wider_needle_gap_opens_the_track_route(coarse):
    tight = risk(coarse, leak_risk=LeakRiskParameters(realisations=64, needle_gap_mm=0.02))
    loose = risk(coarse, leak_risk=LeakRiskParameters(realisations=64, needle_gap_mm=0.4))
    assert tight.p_site["needle_track"] == 0.0 < loose.p_site["needle_track"]


def test_one_hundred_realisations_take_seconds(coarse):
    """Issue requirement: 100 realisations of a case add at most a few seconds (limit 4 s on
    the shared 2-core machine; ~0.3 s measured at 3 mm)."""
    risk(coarse, leak_risk=LeakRiskParameters(realisations=2))            # compile / load
    t = time.perf_counter()
    risk(coarse, leak_risk=LeakRiskParameters(realisations=100))
    assert time.perf_counter() - t < 4.0


def test_lateral_approach_enters_through_the_lateral_wall_of_lumbar_levels(coarse):
    res = vertebroplasty(coarse, "L2", approach="lateral", side="left", volume_ml=3.0,
                         leak_risk=LeakRiskParameters(realisations=4))
    nd = res.needles[0]
    assert nd.approach == "lateral"
    assert nd.entry_mm[1] == pytest.approx(nd.tip_mm[1]) and nd.entry_mm[2] == pytest.approx(nd.tip_mm[2])
    assert nd.entry_mm[0] < 12.0 - 20.0             # body spans x 12..52 mm: entry outside it
    thoracic = make_synthetic_vertebra(3.0, level="T12")
    with pytest.raises(InputError, match="lateral approach is for lumbar levels"):
        vertebroplasty(thoracic, "T12", approach="lateral", volume_ml=3.0)


def test_results_rows_carry_the_leak_columns(coarse):
    """results.csv columns from treatment_metrics: untreated zeros; one VP: its probability
    and interval; two levels combine as independent (1 - prod(1 - p))."""
    from biomech.runner.rows import treatment_metrics
    none = treatment_metrics([])
    assert none["leak_probability"] == 0.0 and none["leak_probability_needle_track"] == 0.0
    assert none["peak_injection_pressure_MPa"] == 0.0
    res = vertebroplasty(coarse, "L2", volume_ml=4.0, leak_risk=R64)
    row = treatment_metrics([res])
    k = res.leak_risk
    assert row["leak_probability"] == k.p_any
    assert (row["leak_probability_ci_low"], row["leak_probability_ci_high"]) == k.ci_any
    assert row["leak_probability_paravertebral"] == k.p_site["paravertebral"]
    assert row["expected_leak_volume_ml"] == pytest.approx(k.expected_leak_ml)
    assert row["peak_injection_pressure_MPa"] == pytest.approx(k.peak_pressure_MPa_mean)
    off = vertebroplasty(coarse, "L2", volume_ml=4.0, leak_risk=LeakRiskParameters(realisations=0))
    row0 = treatment_metrics([off])
    assert row0["leak_probability"] is None and row0["expected_leak_volume_ml"] is None
    assert row0["peak_injection_pressure_MPa"] == pytest.approx(off.peak_injection_pressure_MPa)
    two = treatment_metrics([res, res])
    assert two["leak_probability"] == pytest.approx(1 - (1 - k.p_any) ** 2)
    assert two["leak_probability_ci_low"] is None


def test_breach_place_sets_the_site_and_crack_size_the_disc_risk(coarse):
    """Where the breach is decides where cement goes (Yeom et al., J Bone Joint Surg Br
    85:83, 2003: leak types by route): a lesion that destroyed the superior endplate leaks
    into the disc, one that destroyed the posterior wall into the canal; in a fractured body
    wider endplate cracks (aperture 0.2 -> 1.0 mm, conductance ~ aperture^3) raise the disc
    leak probability."""
    from biomech.conditions import OsteoporoticFracture
    ep = apply_condition(coarse, Metastasis("L2", "lytic", "central", size_mm=18,
                                            endplate_destroyed="superior"))
    k = risk(ep, tip_depth=0.5)
    assert k.p_site["disc"] > 0.3 and k.p_site["spinal_canal"] == 0.0
    fr = apply_condition(coarse, OsteoporoticFracture("L2", 2, "biconcave"))
    thin = risk(fr, leak_risk=LeakRiskParameters(realisations=64, endplate_crack_aperture_mm=0.2))
    wide = risk(fr, leak_risk=LeakRiskParameters(realisations=64, endplate_crack_aperture_mm=1.0))
    assert wide.p_site["disc"] > thin.p_site["disc"] + 0.1


def test_injection_pressure_is_an_output_rising_as_the_cement_thickens(coarse):
    res = vertebroplasty(coarse, "L2", volume_ml=4.0, injection_time_min=4.0,
                         leak_risk=LeakRiskParameters(realisations=0))
    p = res.pressure
    assert p.time_min[0] == pytest.approx(4.0) and p.time_min[-1] == pytest.approx(8.0)
    assert np.all(np.diff(p.total_MPa) >= 0)
    assert res.peak_injection_pressure_MPa == pytest.approx(p.total_MPa[-1])
    assert res.summary()["peak_injection_pressure_MPa"] == res.peak_injection_pressure_MPa


def test_study_plans_set_the_realisations_and_reject_bad_keys(coarse):
    from biomech.treatments import treatment_from_dict
    plan = treatment_from_dict({"kind": "vertebroplasty", "level": "L2", "volume_ml": 3.0,
                                "leak_risk": {"realisations": 5, "seed": 3},
                                "cannula": {"inner_diameter_mm": 2.5}})
    res = plan.apply(coarse)
    assert res.leak_risk.realisations == 5 and len(res.leak_risk.leaked_ml) == 5
    with pytest.raises(InputError, match="realisations must lie in"):
        treatment_from_dict({"kind": "vertebroplasty", "level": "L2",
                             "leak_risk": {"realisations": -1}})
    with pytest.raises(InputError, match="unknown key 'realisatons'"):
        treatment_from_dict({"kind": "kyphoplasty", "level": "L2",
                             "leak_risk": {"realisatons": 5}})


def test_cohort_benchmark_runs_and_reports_its_sources():
    """benchmarks/leakage_validation.py on a 2-subject, 2-realisation cohort (3 mm): every
    clinical quantity has a model value, probabilities lie in [0, 1], and the Markdown
    table names the sources."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "leakage_validation.py"
    spec = importlib.util.spec_from_file_location("leakage_validation", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.cohort(2, 2, h=3.0)
    mt = res["metrics"]
    for k in mod.CLINICAL:
        assert k in mt
    for k in ("vp_any", "kp_any", "metastatic_vp_any", "metastatic_vp_canal"):
        assert 0.0 <= mt[k] <= 1.0
    text = mod.markdown(res)
    assert "Zhan 2017" in text and "World J Surg Oncol 2022" in text


def test_leak_resolution_benchmark_runs_and_its_table_is_consistent(capsys):
    """benchmarks/leak_resolution.py (the known voxel-size dependence of the leak
    probabilities) at 3 and 4 mm with 4 realisations: a detected leak implies cement
    outside the body, the mean outside volume lies below the largest, the voxel column
    is h³, and the Markdown table has one row per voxel size."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "leak_resolution.py"
    spec = importlib.util.spec_from_file_location("leak_resolution", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.main(["--h", "4", "3", "--realisations", "4"])
    assert [r["h_mm"] for r in rows] == [4.0, 3.0]
    for r in rows:
        assert 0.0 <= r["p_detected"] <= r["p_outside"] <= 1.0
        assert 0.0 <= r["mean_outside_uL"] <= r["max_outside_uL"]
        assert r["voxel_uL"] == pytest.approx(r["h_mm"] ** 3) and r["detection_uL"] == 5.0
    table = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| ")]
    assert [ln.split(" | ")[0] for ln in table[1:]] == ["| 4", "| 3"]


def test_temperature_rescales_the_cement_clock_and_a_warmer_cement_leaks_less(coarse):
    """Koh et al. (J Orthop Surg Res 10:178, 2015): setting time 534 s at 20 degC storage, 381 s
    at 28 degC -- the cure rate 0.042 /degC reproduces the ratio (to 1 %, it was derived from
    it); every time of the formulation scales alike, so the viscosity at a scaled time is the
    same.  Injected at the same time after mixing (3 min), a cement at 30 degC is thicker
    than one at 18 degC and thickens faster: it leaks less often (0.34-0.45 against 0.56-0.58
    over seeds 0-2) and needs more pressure.  (Started at the same viscosity -- the default,
    the scaled window's start -- the difference is small, 0.02-0.08.)"""
    from biomech.cement import get_cement
    c = get_cement("pmma")
    warm = c.at_temperature(c.reference_temperature_C + 8.0)
    assert warm.setting_time_min / c.setting_time_min == pytest.approx(381.0 / 534.0, rel=0.01)
    f = c.setting_time_min / warm.setting_time_min
    assert warm.viscosity(5.0 / f) == pytest.approx(c.viscosity(5.0), rel=1e-12)
    assert c.at_temperature(None) is c
    with pytest.raises(InputError, match="temperature_C must lie in"):
        c.at_temperature(80.0)
    cold = risk(coarse, cement_temperature_C=18.0, injection_time_min=3.0)
    hot = risk(coarse, cement_temperature_C=30.0, injection_time_min=3.0)
    assert hot.p_any < cold.p_any - 0.1
    assert hot.expected_leak_ml < 0.5 * cold.expected_leak_ml
    assert hot.peak_pressure_MPa_mean > cold.peak_pressure_MPa_mean
