"""Leak routes: conductances against Hagen-Poiseuille / parallel plates computed
independently, voxel chains the front can follow, and where each approach's needle track
leaves the bone."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomech.conditions import vertebra_geometry
from biomech.meshes.labels import Label, LeakSite
from biomech.treatments.leak_routes import (annulus, basivertebral_vein, line_voxels,
                                            needle_track, paravertebral_vein, slit, tube)
from biomech.treatments.needle import plan_needles

from .synthetic_vertebra import make_synthetic_vertebra


@pytest.fixture(scope="module")
def model():
    return make_synthetic_vertebra(2.0)


def test_conductances_match_the_flow_formulas():
    """Flow per unit pressure gradient and viscosity: tube pi a^4 / 8 (Hagen-Poiseuille),
    plates w d^3 / 12; a thin annulus is the plates unrolled (w = 2 pi R) to 1e-12."""
    a = 0.7
    q_hp = math.pi * a ** 4 / 8.0                    # Q = pi a^4 dp / (8 mu L)
    assert tube(a) == pytest.approx((q_hp, math.pi * a * a), rel=1e-12)
    assert slit(0.3, 5.0) == pytest.approx((5.0 * 0.027 / 12.0, 1.5), rel=1e-12)
    g, area = annulus(0.05, 1.5)
    g_plates, a_plates = slit(0.05, 2 * math.pi * 1.5)
    assert g == pytest.approx(g_plates, rel=1e-12) and area == pytest.approx(a_plates, rel=1e-12)


def test_line_voxels_are_face_connected_and_end_at_the_ends(model):
    a, b = np.array([10.3, 12.1, 9.7]), np.array([40.2, 50.9, 30.1])
    v = line_voxels(model, a, b)
    steps = np.abs(np.diff(v, axis=0)).sum(axis=1)
    assert np.all(steps == 1)                                   # one face step at a time
    ijk = lambda p: np.floor((p - np.asarray(model.origin)) / model.h).astype(int)  # noqa: E731
    assert tuple(v[0]) == tuple(ijk(a)) and tuple(v[-1]) == tuple(ijk(b))
    assert len({tuple(x) for x in v}) == len(v)


@pytest.mark.parametrize("approach,bone", [("unipedicular", Label.POSTERIOR),
                                           ("lateral", Label.CORTICAL),
                                           ("extrapedicular", Label.CORTICAL)])
def test_needle_track_leaves_through_the_bone_it_pierced(model, approach, bone):
    """Transpedicular tracks leave through the pedicle, lateral and extrapedicular ones
    through the cortex of the body; the track runs from the tip (in the body) outward."""
    geo = vertebra_geometry(model, "L2")
    nd = plan_needles(model, geo, approach, tip_depth=0.5)[0]
    ch = needle_track(model, nd, 0.05)
    labs = [Label(int(model.labels[tuple(p)])) for p in ch.ijk]
    assert labs[0] == Label.CANCELLOUS and bone in labs and labs[-1] == Label.VOID
    assert ch.site == LeakSite.NEEDLE_TRACK


def test_veins_run_from_inside_the_body_to_their_outside(model):
    geo = vertebra_geometry(model, "L2")
    bv = basivertebral_vein(model, geo, 1.0, 0.5)
    assert bv.site == LeakSite.VENOUS
    assert model.labels[tuple(bv.ijk[0])] == Label.CANCELLOUS
    assert model.labels[tuple(bv.ijk[-1])] == Label.VOID
    pv = paravertebral_vein(model, geo, 0.5, 0.4, float(geo.centroid_mm[2]))
    labs = [Label(int(model.labels[tuple(p)])) for p in pv.ijk]
    assert labs[0] == Label.CANCELLOUS and Label.CORTICAL in labs and labs[-1] == Label.VOID
    assert pv.site == LeakSite.PARAVERTEBRAL
