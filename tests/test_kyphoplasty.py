"""Balloon kyphoplasty: cavity, compacted shell, height restoration, fill and overfill."""
from __future__ import annotations

import numpy as np
import pytest

from biomech.conditions import (OsteoporoticFracture, apply_condition,
                                vertebra_geometry)
from biomech.errors import InputError
from biomech.meshes.labels import Label
from biomech.treatments import Kyphoplasty, kyphoplasty, treat, vertebroplasty

from .synthetic_vertebra import lytic, model  # noqa: F401  (module fixtures)


def test_kyphoplasty_leaks_less_than_vertebroplasty_at_equal_volume(lytic):
    """Same lytic vertebra (posterior wall destroyed), same cement, 6 mL each."""
    vp = vertebroplasty(lytic, "L2", volume_ml=6.0, tip_depth=0.5)
    kp = kyphoplasty(lytic, "L2", balloon_volume_ml=3.0, cement_volume_ml=6.0)
    assert vp.leaked_ml > 0
    assert kp.leaked_ml < vp.leaked_ml
    assert kp.placed_ml + kp.leaked_ml == pytest.approx(6.0, abs=1e-9)


def test_cavity_shell_and_default_fill(model):
    """Default cement volume fills cavity + interdigitation exactly: no leak, cavity voxels
    are bulk cement (balloon volume to one voxel), and the compacted shell holds the bone of
    the cavity (mass conservation, rtol 1e-9)."""
    res = kyphoplasty(model, "L2", balloon_volume_ml=3.0)
    m = res.model
    h3 = model.h ** 3
    cav = m.labels == Label.CEMENT
    assert abs(cav.sum() * h3 - 3000.0) <= h3 and res.cavity_ml == pytest.approx(cav.sum() * h3 / 1000)
    assert res.leaked_ml == 0.0
    shell = (m.labels == Label.COMPACTED) | ((m.labels == Label.COMPOSITE) & ~cav)
    bone_before = float(model.fields["bvtv"][cav | shell].sum())
    bone_after = float(m.fields["bvtv"][shell].sum())
    assert bone_after == pytest.approx(bone_before, rel=1e-9)
    assert m.fields["bvtv"][shell].min() > model.fields["bvtv"].max()    # denser than before
    layer = m.labels == Label.COMPOSITE
    assert layer.any()
    expected = cav.sum() * h3 + float((1 - m.fields["bvtv"][layer]).sum()) * h3
    assert res.placed_ml * 1000 == pytest.approx(expected, rel=1e-9)
    g = vertebra_geometry(model, "L2")
    assert not (cav & ~g.body).any()                          # bounded by cortex and endplates
    assert not np.isin(model.labels[cav], [Label.CORTICAL, Label.ENDPLATE]).any()


def test_overfill_follows_the_front_and_underfill_warns(model):
    over = kyphoplasty(model, "L2", balloon_volume_ml=2.0, cement_volume_ml=4.0)
    assert over.placed_ml + over.leaked_ml == pytest.approx(4.0, abs=1e-9)
    assert (over.model.fields["cement_arrival_ml"] > 2.0).any()
    under = kyphoplasty(model, "L2", balloon_volume_ml=3.0, cement_volume_ml=2.0)
    assert any("underfills" in w for w in under.warnings)
    assert under.placed_ml == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize("shape", ["wedge", "biconcave", "crush"])
@pytest.mark.parametrize("fraction", [0.5, 1.0])
def test_height_restoration_changes_geometry_by_the_requested_amount(model, shape, fraction):
    """The column that lost most height gets back ``fraction`` of it (one voxel tolerance)."""
    frac = apply_condition(model, OsteoporoticFracture("L2", 2, shape))
    H0 = vertebra_geometry(model, "L2").body.sum(axis=2)
    H1 = vertebra_geometry(frac, "L2").body.sum(axis=2)
    res = kyphoplasty(frac, "L2", balloon_volume_ml=2.0, height_restoration=fraction)
    H2 = vertebra_geometry(res.model, "L2").body.sum(axis=2)
    lost = H0 - H1
    ij = np.unravel_index(np.argmax(lost), lost.shape)
    assert lost[ij] >= 6
    assert abs((H2[ij] - H1[ij]) - fraction * lost[ij]) <= 1
    assert res.height_restored_mm == pytest.approx(np.rint(fraction * lost.max()) * model.h)


def test_bad_kyphoplasty_requests(model):
    with pytest.raises(InputError, match="no recorded compression fracture"):
        kyphoplasty(model, "L2", height_restoration=0.5)
    with pytest.raises(InputError, match="height_restoration"):
        kyphoplasty(apply_condition(model, OsteoporoticFracture("L2", 1)), "L2", height_restoration=1.5)
    with pytest.raises(InputError, match="exceeds what L2 can hold"):
        kyphoplasty(model, "L2", balloon_volume_ml=3.0, cement_volume_ml=25.0,
                    flow_rate_ml_per_min=5.0)
    with pytest.raises(InputError, match=r"kyphoplasty: balloon_volume_ml must lie in \[0.1, 12\] mL"):
        kyphoplasty(model, "L2", balloon_volume_ml=17.0, approach="bipedicular")
    with pytest.raises(InputError, match="per balloon"):
        kyphoplasty(model, "L2", balloon_volume_ml=7.0, approach="unipedicular")
    with pytest.raises(InputError, match="balloon_volume_ml"):
        kyphoplasty(model, "L2", balloon_volume_ml=0.0)
    with pytest.raises(InputError, match="unknown level"):
        kyphoplasty(model, "S1")


def test_multilevel_plan(model):
    final, results = treat(model, Kyphoplasty("L2", balloon_volume_ml=2.0))
    assert final.meta["treatments"][-1]["kind"] == "kyphoplasty"
    assert results[0].cavity_ml == pytest.approx(2.0, abs=0.001)


def test_on_the_parametric_anatomy_when_available():
    """The same calls on the parametric L2 of biomech.meshes (skipped without it)."""
    vertebra = pytest.importorskip("biomech.meshes.vertebra")
    m = vertebra.build_vertebra("L2", h=1.0)
    m = apply_condition(m, OsteoporoticFracture("L2", 2, "wedge"))
    vp = vertebroplasty(m, "L2", volume_ml=4.0)
    assert vp.placed_ml + vp.leaked_ml == pytest.approx(4.0, abs=1e-9)
    kp = kyphoplasty(m, "L2", balloon_volume_ml=3.0, height_restoration=0.5)
    assert kp.height_restored_mm > 0 and kp.placed_ml > 3.0
