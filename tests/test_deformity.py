"""Fracture deformity as geometry: heights and angles measured from the voxels come out of
the Genant grade, the levels above the fracture turn rigidly into kyphosis, and a
kyphoplasty height restoration turns them back (biomech.conditions.alignment,
biomech.deformity).  1 mm voxels (the fractures and measurements take well under a
second each): heights are whole voxels per column, so the tolerances below are about
one voxel over the body height (26 mm: 4 %) or depth (33 mm: 2 degrees)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomech.conditions import BoneDensity, OsteoporoticFracture
from biomech.conditions.alignment import levels_above, rot_x
from biomech.deformity import deformity_metrics, genant_grade, vertebra_deformity
from biomech.meshes.segment import default_segment
from biomech.treatments.kyphoplasty import restore_height

H_MM = 1.0


@pytest.fixture(scope="module")
def intact():
    return BoneDensity(vbmd_mg_cm3=70.0).apply(default_segment(H_MM))


@pytest.fixture(scope="module")
def wedge2(intact):
    return OsteoporoticFracture("L2", 2, "wedge").apply(intact)


def test_genant_bands():
    assert [genant_grade(v) for v in (0.1, 0.2, 0.24, 0.25, 0.39, 0.4, 0.6)] == [0, 1, 1, 2, 2, 3, 3]


def test_intact_reads_straight(intact):
    d = deformity_metrics(intact, "L2")
    assert abs(d["kyphosis_deg"]) < 0.5 and abs(d["wedge_angle_deg"]) < 0.5
    assert d["genant_grade"] == 0
    assert d["anterior_height_mm"] == pytest.approx(d["posterior_height_mm"], abs=H_MM / 2)


@pytest.mark.parametrize("grade", [1, 2, 3])
def test_wedge_heights_and_angles_follow_the_grade(intact, grade):
    f = OsteoporoticFracture("L2", grade, "wedge").apply(intact)
    d0 = vertebra_deformity(intact, "L2")
    d = deformity_metrics(f, "L2")
    loss = f.meta["fractures"]["L2"]["height_loss_fraction"]
    # anterior height lost as the grade defines it (one voxel over the height)
    measured = 1.0 - d["anterior_height_mm"] / d0["anterior_height_mm"]
    assert measured == pytest.approx(loss, abs=H_MM / d0["anterior_height_mm"] + 0.02)
    # posterior wall (the hinge) keeps its height within a voxel
    assert d["posterior_height_mm"] == pytest.approx(d0["posterior_height_mm"], abs=H_MM)
    # wedge angle: the anterior loss over the body depth (two voxels over the depth)
    depth = intact.meta["levels"]["L2"]["body_depth_mm"]
    expected = math.degrees(math.atan(loss * d0["anterior_height_mm"] / depth))
    assert d["wedge_angle_deg"] == pytest.approx(expected, abs=math.degrees(2 * H_MM / depth))
    # the segment takes that kyphosis: the levels above turn with the endplate
    assert d["kyphosis_deg"] == pytest.approx(d["wedge_angle_deg"], abs=1.5)
    # the measured grade is the nominal one
    assert d["genant_grade"] == grade


def test_levels_above_turn_rigidly(intact, wedge2):
    tilt = wedge2.meta["fractures"]["L2"]["tilt_above_deg"]
    assert 10.0 < tilt < 20.0
    a0, a1 = vertebra_deformity(intact, "L1"), vertebra_deformity(wedge2, "L1")
    # L1 is tilted forward by the fitted hinge rotation, its shape unchanged
    for k in ("superior_endplate_tilt_deg", "inferior_endplate_tilt_deg"):
        assert a1[k] - a0[k] == pytest.approx(tilt, abs=1.5)
    for k in ("anterior_height_mm", "middle_height_mm", "posterior_height_mm"):
        assert a1[k] == pytest.approx(a0[k], abs=H_MM)
    # the voxels of L1 and the disc above moved, but none were lost (nearest-voxel
    # resampling of a rotation: within 3 %)
    names = [intact.level_names[i] for i in levels_above(intact, "L2")]
    assert names == ["L1", "L1-L2"]
    for n in names:
        i0, i1 = intact.level_names.index(n), wedge2.level_names.index(n)
        c0, c1 = int((intact.level == i0).sum()), int((wedge2.level == i1).sum())
        assert c1 == pytest.approx(c0, rel=0.03)
    # the landmarks of L1 moved with it: the pedicle direction turned by the tilt
    R = rot_x(math.radians(tilt))
    d0 = np.asarray(intact.meta["levels"]["L1"]["pedicles"]["left"]["direction"])
    d1 = np.asarray(wedge2.meta["levels"]["L1"]["pedicles"]["left"]["direction"])
    assert np.allclose(d1, R @ d0, atol=1e-9)
    # the L1 body centroid moved anteriorly (kyphosis), the L3 body did not move
    assert wedge2.meta["levels"]["L1"]["body_centroid_mm"][1] < \
        intact.meta["levels"]["L1"]["body_centroid_mm"][1] - 3.0
    i3 = intact.level_names.index("L3")
    assert int((wedge2.level == i3).sum()) == int((intact.level == i3).sum())


def test_disc_stays_attached(wedge2):
    """Every column of the fractured body meets the disc above without a void gap."""
    from biomech.meshes.labels import Label
    li = wedge2.level_names.index("L2")
    body = (wedge2.level == li) & ~np.isin(wedge2.labels, [Label.POSTERIOR, Label.VOID])
    disc = wedge2.level == wedge2.level_names.index("L1-L2")
    gaps = 0
    inner = body.sum(axis=2) >= 0.8 * body.sum(axis=2).max()
    for i, j in zip(*np.nonzero(inner)):
        k = int(np.flatnonzero(body[i, j])[-1]) + 1
        if k < wedge2.shape[2] and not disc[i, j, k]:
            gaps += 1
    assert gaps <= 0.02 * inner.sum()


def test_crush_and_biconcave_do_not_tilt(intact):
    c = OsteoporoticFracture("L2", 2, "crush").apply(intact)
    b = OsteoporoticFracture("L2", 2, "biconcave").apply(intact)
    d0 = vertebra_deformity(intact, "L2")
    dc, db = deformity_metrics(c, "L2"), deformity_metrics(b, "L2")
    assert abs(dc["kyphosis_deg"]) < 1.0 and abs(db["kyphosis_deg"]) < 1.0
    loss = c.meta["fractures"]["L2"]["height_loss_fraction"]
    assert 1 - dc["posterior_height_mm"] / d0["posterior_height_mm"] == pytest.approx(
        loss, abs=H_MM / d0["posterior_height_mm"] + 0.02)
    assert dc["genant_grade"] == 2
    loss_b = b.meta["fractures"]["L2"]["height_loss_fraction"]
    assert 1 - db["middle_height_mm"] / d0["middle_height_mm"] == pytest.approx(
        loss_b, abs=H_MM / d0["middle_height_mm"] + 0.02)
    assert db["genant_grade"] >= 1


def test_restoration_reduces_the_deformity(wedge2):
    d = deformity_metrics(wedge2, "L2")
    half, _ = restore_height(wedge2, "L2", 0.5)
    full, _ = restore_height(wedge2, "L2", 1.0)
    dh, df = deformity_metrics(half, "L2"), deformity_metrics(full, "L2")
    # half the height back: the kyphosis about halves (columns restore in whole voxels)
    assert 0.25 * d["kyphosis_deg"] < dh["kyphosis_deg"] < 0.6 * d["kyphosis_deg"]
    assert abs(df["kyphosis_deg"]) < 1.0
    assert d["anterior_height_mm"] < dh["anterior_height_mm"] < df["anterior_height_mm"]
    assert df["genant_grade"] == 0
    tilt = half.meta["fractures"]["L2"]
    assert tilt["restored_voxels"].shape == half.shape[:2]
