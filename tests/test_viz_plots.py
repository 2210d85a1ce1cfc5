"""Plots of the results table and the label colour table (biomech.viz).

Plots are checked through what they draw (bar heights, line data read back from
the matplotlib artists), not through pixels; numbers are compared exactly or to
1e-12 relative (plain float arithmetic, nothing iterative).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from biomech.errors import InputError
from biomech.meshes.labels import Label

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'biomech[viz]')")


def results_table():
    """Two load cases, a baseline (intact), an untreated fracture and two treatments;
    per-disc pressure nested by level, endplate stress nested with mean/p95."""
    rows = []
    for lc, f in (("compression", 1.0), ("flexion", 0.7)):
        for case, k, dp in [("intact", 2400.0, (0.50, 0.55)), ("fractured", 1500.0, (0.52, 0.60)),
                            ("vertebroplasty", 2300.0, (0.56, 0.62)),
                            ("kyphoplasty", 2250.0, (0.58, 0.61))]:
            rows.append({
                "case": case, "load_case": lc, "stiffness_N_per_mm": k * f,
                "disc_pressure_MPa": {"T12-L1": dp[0] * f, "L1-L2": dp[1] * f},
                "endplate_stress_MPa": {"L1 superior": {"mean": 1.2 * dp[0], "p95": 2.6 * dp[0]},
                                        "L1 inferior": {"mean": 1.0 * dp[1], "p95": 2.2 * dp[1]}},
            })
    return rows


def sweep_table():
    rows = []
    for tr, gain in (("vertebroplasty", 0.05), ("kyphoplasty", 0.04)):
        for v in (6.0, 2.0, 4.0, 8.0):                       # unsorted on purpose
            rows.append({"case": f"{tr}-{v:g}", "treatment": tr, "load_case": "compression",
                         "cement_volume_ml": v, "stiffness_N_per_mm_ratio": 0.6 + gain * v,
                         "leak_volume_ml": 0.01 * v ** 2 if tr == "vertebroplasty" else None})
    return rows


# ---------------------------------------------------------------------------- colours
def test_every_label_has_a_distinct_colour_and_name():
    from biomech.viz.colours import LABEL_STYLE, delta_e
    labels = [l for l in Label if l != Label.VOID]
    assert set(LABEL_STYLE) == set(labels)
    names = [LABEL_STYLE[l][1] for l in labels]
    assert len(set(names)) == len(names)
    # CIE76 Delta E: ~2.3 is just noticeable; 15 keeps neighbours apart even under shading
    worst = min(delta_e(LABEL_STYLE[a][0], LABEL_STYLE[b][0]) for a, b in combinations(labels, 2))
    assert worst >= 15.0, worst


def test_cement_colours_stand_out_from_every_tissue():
    from biomech.viz.colours import CEMENT_LABELS, LABEL_STYLE, LEAK_LABELS, delta_e
    cement = set(CEMENT_LABELS) | set(LEAK_LABELS)
    for c in cement:
        for t in set(LABEL_STYLE) - cement:
            # 40 is a clearly different colour at a glance (measured minimum ~45)
            assert delta_e(LABEL_STYLE[c][0], LABEL_STYLE[t][0]) >= 40.0, (c, t)


def test_label_lookup_table():
    from biomech.viz.colours import hex_to_rgb, label_rgb, legend_entries
    lut = label_rgb()
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert tuple(lut[Label.COMPOSITE]) == hex_to_rgb("#8EE05F")
    assert [e[0] for e in legend_entries([0, 9, 2, 2, 16])] == [
        "cancellous bone", "cement-bone composite", "leaked cement"]


# ---------------------------------------------------------------------------- table access
def test_axis_labels_carry_units():
    from biomech.viz.plots import axis_label
    assert axis_label("stiffness_N_per_mm") == "stiffness [N/mm]"
    assert axis_label("cement_volume_ml") == "cement volume [mL]"
    assert axis_label("cement_E_MPa") == "cement E [MPa]"
    assert axis_label("disc_pressure_MPa_ratio") == "disc pressure / baseline [-]"
    assert axis_label("fill_fraction") == "fill fraction [-]"
    assert axis_label("bone_at_risk") == "bone at risk [-]"
    assert axis_label("min_principal_strain") == "min principal strain [-]"


def test_level_values_read_nested_and_flat_layouts():
    from biomech.viz.plots import level_values
    nested = {"disc_pressure_MPa": {"T12-L1": 0.5, "L1-L2": 0.6}}
    flat = {"disc_pressure_MPa_T12-L1": 0.5, "disc_pressure_MPa[L1-L2]": 0.6,
            "disc_pressure_MPa_L1-L2_ratio": 1.2, "disc_pressure_MPa_mean": 9.0}
    assert level_values(nested, "disc_pressure_MPa") == {"T12-L1": 0.5, "L1-L2": 0.6}
    got = level_values(flat, "disc_pressure_MPa")
    assert got == {"T12-L1": 0.5, "L1-L2": 0.6, "mean": 9.0}
    assert level_values(flat, "disc_pressure_MPa", ratio=True) == {"L1-L2": 1.2}
    ep = {"endplate_stress_MPa_p95_L1_superior": 3.0, "endplate_stress_MPa_mean_L1_superior": 1.0}
    assert level_values(ep, "endplate_stress_MPa", statistic="p95") == {"L1_superior": 3.0}


def test_ratios_to_baseline_match_hand_division():
    from biomech.viz.plots import ratios_to_baseline
    rows = results_table()
    r = ratios_to_baseline(rows, "intact", "disc_pressure_MPa")
    assert r[("vertebroplasty", "flexion")]["L1-L2"] == pytest.approx(0.62 / 0.55, rel=1e-12)
    assert r[("intact", "compression")] == {"T12-L1": 1.0, "L1-L2": 1.0}
    p95 = ratios_to_baseline(rows, "intact", "endplate_stress_MPa", statistic="p95")
    assert p95[("kyphoplasty", "compression")]["L1 superior"] == pytest.approx(0.58 / 0.50,
                                                                               rel=1e-12)
    with pytest.raises(InputError, match="baseline case 'healthy'"):
        ratios_to_baseline(rows, "healthy", "disc_pressure_MPa")


# ---------------------------------------------------------------------------- plots
def _bars(ax):
    """The bars of every bar() call on ``ax`` (not the shaded treated-level span)."""
    return [p for c in ax.containers for p in c]


def test_level_ratio_bars_show_the_ratios(tmp_path):
    from biomech.viz.plots import plot_level_ratios
    rows = results_table()
    out = tmp_path / "levels.png"
    fig = plot_level_ratios(rows, "disc_pressure_MPa", baseline="intact", treated_level="L1-L2",
                            filename=out)
    assert out.stat().st_size > 5000
    assert len(fig.axes) == 2                                  # one panel per load case
    ax = fig.axes[0]
    heights = sorted(round(b.get_height(), 12) for b in _bars(ax))
    # 3 cases (baseline left out) x 2 levels, compression
    expected = sorted(round(v, 12) for v in (0.52 / 0.50, 0.60 / 0.55, 0.56 / 0.50, 0.62 / 0.55,
                                             0.58 / 0.50, 0.61 / 0.55))
    assert heights == expected
    assert any(np.allclose(l.get_ydata(), 1.0) for l in ax.get_lines())   # baseline line
    assert [t.get_text() for t in ax.get_xticklabels()] == ["T12-L1", "L1-L2"]


def test_level_ratios_from_ratio_columns_and_errors():
    from biomech.viz.plots import plot_level_ratios
    rows = [{"case": "intact", "load_case": "c"},
            {"case": "vp", "load_case": "c", "disc_pressure_MPa_L1-L2_ratio": 1.25}]
    fig = plot_level_ratios(rows, "disc_pressure_MPa")
    assert [b.get_height() for b in _bars(fig.axes[0])] == [1.25]
    with pytest.raises(InputError, match="no per-level values"):
        plot_level_ratios(rows, "endplate_stress_MPa")


def test_stiffness_restoration_in_percent_of_intact(tmp_path):
    from biomech.viz.plots import plot_stiffness_restoration
    fig = plot_stiffness_restoration(results_table(), baseline="intact", reference="fractured",
                                     load_case="compression", filename=tmp_path / "k.png")
    heights = [b.get_height() for b in _bars(fig.axes[0])]
    assert heights == pytest.approx([100 * 1500 / 2400, 100 * 2300 / 2400, 100 * 2250 / 2400],
                                     rel=1e-12)
    ys = [l.get_ydata()[0] for l in fig.axes[0].get_lines()]
    assert 100.0 in ys and pytest.approx(100 * 1500 / 2400, rel=1e-12) in ys
    with pytest.raises(InputError, match="baseline case 'healthy'"):
        plot_stiffness_restoration(results_table(), baseline="healthy")


def test_sweep_lines_follow_the_swept_parameter(tmp_path):
    from biomech.viz.plots import plot_sweep
    fig = plot_sweep(sweep_table(), "cement_volume_ml",
                     ["stiffness_N_per_mm_ratio", "leak_volume_ml"], group_by="treatment",
                     filename=tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").exists()
    ax0, ax1 = fig.axes[:2]
    lines = {l.get_label(): l for l in ax0.get_lines()}
    vp = lines["vertebroplasty"]
    assert list(vp.get_xdata()) == [2.0, 4.0, 6.0, 8.0]          # sorted by x
    assert list(vp.get_ydata()) == pytest.approx([0.6 + 0.05 * v for v in (2, 4, 6, 8)],
                                                 rel=1e-12)
    assert ax0.get_xlabel() == "cement volume [mL]"
    assert ax0.get_ylabel() == "stiffness / baseline [-]"
    # rows without a leak volume (None) are left out, not drawn as zero
    kp1 = [l for l in ax1.get_lines() if l.get_label() == "kyphoplasty"]
    assert kp1 == []
    with pytest.raises(InputError, match="column 'modulus_MPa'"):
        plot_sweep(sweep_table(), "modulus_MPa", "leak_volume_ml")
