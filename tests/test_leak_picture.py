"""The cement picture marks where leaks leave the body: exit markers (orange, lettered) from
the treatment records written by the leak-risk realisations, with their probabilities in
the legend with the leak probability and its interval; a model without exits draws none (the reference image of
tests/test_viz_pictures.py, a model without records, is unchanged)."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.conditions import Metastasis, apply_condition
from biomech.treatments import vertebroplasty
from biomech.treatments.leak_risk import LeakRiskParameters

from .synthetic_vertebra import make_synthetic_vertebra


@pytest.fixture(scope="module")
def renderer():
    pytest.importorskip("pyvista", reason="pyvista is not installed (pip install 'biomech[viz]')")
    from biomech.viz.offscreen import renderer_status
    ok, reason = renderer_status()
    if not ok:
        pytest.skip(reason)
    return reason


@pytest.fixture(scope="module")
def treated():
    m = apply_condition(make_synthetic_vertebra(3.0),
                        Metastasis("L2", "lytic", "posterior", size_mm=18,
                                   posterior_wall_destroyed=True))
    return vertebroplasty(m, "L2", volume_ml=4.0, tip_depth=0.5,
                          leak_risk=LeakRiskParameters(realisations=32))


def orange_fraction(img) -> float:
    """Pixels within 40 grey levels of the exit colour (drawn unlit)."""
    from biomech.viz.cement_view import EXIT_COLOUR
    from biomech.viz.colours import hex_to_rgb
    c = np.array(hex_to_rgb(EXIT_COLOUR), float)
    c = c * 255.0 if c.max() <= 1.0 else c
    d = np.abs(img.reshape(-1, 3).astype(float) - c).max(axis=1)
    return float((d <= 40).mean())


def test_exits_are_recorded_with_probabilities(treated):
    """Each exit is a place next to the body where leaked cement left it; its probability
    is at most the site's leak probability (an exit is one of the site's ways out)."""
    exits = treated.model.meta["treatments"][-1]["leak_exits"]
    assert exits and exits == sorted(exits, key=lambda e: -e["probability"])
    p_site = treated.leak_risk.p_site
    for e in exits:
        assert 0.0 < e["probability"] <= p_site[e["site"]] + 1e-12
    assert any(e["site"] == "spinal_canal" for e in exits)     # the destroyed wall


def test_picture_marks_exits_and_lists_them(renderer, treated):
    from biomech.viz.cement_view import MIN_EXIT_PROBABILITY, _cement_notes, leak_exits
    from biomech.viz.pictures import picture_cement
    shown = leak_exits(treated.model)
    assert shown and all(e["probability"] >= MIN_EXIT_PROBABILITY for e in shown)
    notes = _cement_notes(treated.model, [])
    assert "leak exits (orange), P:" in notes
    k = treated.leak_risk
    assert f"P(leak) {100 * k.p_any:.0f} % ({100 * k.ci_any[0]:.0f}-{100 * k.ci_any[1]:.0f} %, " \
           f"32 runs)" in notes
    assert any(n.strip().startswith("A ") for n in notes)
    img = picture_cement(treated.model, views=("axial",), window_size=(480, 320))
    assert orange_fraction(img) > 0.002                 # measured 1.1 %
    bare = dict(treated.model.meta)
    bare["treatments"] = [dict(r, leak_exits=[]) for r in bare["treatments"]]
    img0 = picture_cement(treated.model.with_meta(**bare), views=("axial",), window_size=(480, 320))
    assert orange_fraction(img0) < 0.2 * orange_fraction(img)
