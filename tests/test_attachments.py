"""Anatomy of the couplings (biomech.meshes.attachments): ligament attachments,
facet node pairs and annulus fibres on parametric segments at 2-3 mm."""
import numpy as np
import pytest

from biomech.errors import InputError
from biomech.meshes import Label, build_segment, default_segment
from biomech.meshes.attachments import (annulus_fibres, facet_pairs, ligament_attachments,
                                        motion_segments)
from biomech.meshes.attachments_common import node_mask
from biomech.meshes.labels import BODY_LABELS
from biomech.meshes.landmarks import body_centroid

#: Published lumbar facet articular area, about 1-2 cm^2 per facet (Panjabi et al., Spine
#: 1993).  The parametric joints overlap over a few mm only (FACET_REACH_MM = 7 mm against
#: 9-11 mm discs): measured 24-96 mm^2 at 1-3 mm.  The test holds the area within a factor
#: 8 of 100 mm^2 (12.5-800 mm^2) so that a regression to no overlap or to a whole process fails.
FACET_AREA_RANGE_MM2 = (12.5, 800.0)
#: Mean snapped fibre angle within 2 degrees of the 30-degree target.
FIBRE_ANGLE_TOL_DEG = 2.0


@pytest.fixture(scope="module")
def seg2():
    return default_segment(h=2.0)


@pytest.fixture(scope="module")
def nopost():
    return build_segment(["L1", "L2"], 3.0, posterior_elements=False)


def _xyz(model, ijk):
    return np.asarray(model.origin) + np.asarray(ijk) * model.h


def _on(model, ijk, level, labels):
    """Every node is a corner of a voxel of ``level`` with one of ``labels``."""
    vox = np.isin(model.labels, [int(v) for v in labels]) & (model.level == model.level_index(level))
    return bool(node_mask(vox)[tuple(np.asarray(ijk).T)].all())


BONE = set(BODY_LABELS) | {Label.POSTERIOR}


def test_motion_segments(seg2):
    assert motion_segments(seg2) == [("L1-L2", "L1", "L2"), ("L2-L3", "L2", "L3")]


def test_ligaments_anatomy(seg2):
    for seg, up, lo in motion_segments(seg2):
        ligs = ligament_attachments(seg2, up, lo)
        assert ligs.missing == {}
        names = {(p.name, p.side) for p in ligs}
        assert names == {("ALL", "midline"), ("PLL", "midline"), ("LF", "midline"),
                         ("ISL", "midline"), ("SSL", "midline"), ("ITL", "left"), ("ITL", "right"),
                         ("CL", "left"), ("CL", "right")}
        cu, cl = body_centroid(seg2, up), body_centroid(seg2, lo)
        y_body = 0.5 * (cu[1] + cl[1])
        mean_y = {}
        for p in ligs:
            assert p.segment == seg and p.n_pairs >= 1
            assert np.isclose(p.weight.sum(), 1.0)
            labels = BODY_LABELS if p.name in ("ALL", "PLL") else {Label.POSTERIOR}
            assert _on(seg2, p.upper, up, labels) and _on(seg2, p.lower, lo, labels)
            xu, xl = _xyz(seg2, p.upper), _xyz(seg2, p.lower)
            assert np.all(xu[:, 2] > xl[:, 2] - 1e-9), p.name          # upper above lower
            if p.name not in ("CL",):                                    # mostly cranio-caudal
                d = xu - xl
                assert np.all(np.abs(d[:, 2]) >= 0.7 * np.linalg.norm(d, axis=1)), p.name
            mean_y[p.name] = np.r_[xu, xl][:, 1].mean()
            if p.side == "left":
                assert np.all(np.r_[xu, xl][:, 0] > 0)
            if p.side == "right":
                assert np.all(np.r_[xu, xl][:, 0] < 0)
        assert mean_y["ALL"] < y_body < mean_y["PLL"] < mean_y["LF"] < mean_y["ISL"] < mean_y["SSL"]
        assert mean_y["SSL"] == max(mean_y.values())
        assert {p.name: p.n_pairs for p in ligs}["ALL"] >= 3


def test_facets(seg2):
    h = seg2.h
    for _seg, up, lo in motion_segments(seg2):
        facets = facet_pairs(seg2, up, lo)
        assert facets.missing == {} and {p.side for p in facets} == {"left", "right"}
        area = {}
        for p in facets:
            assert p.name == "facet" and p.n_pairs >= 3
            assert _on(seg2, p.upper, up, {Label.POSTERIOR}) and _on(seg2, p.lower, lo, {Label.POSTERIOR})
            xu, xl = _xyz(seg2, p.upper), _xyz(seg2, p.lower)
            sgn = 1.0 if p.side == "left" else -1.0
            assert np.all(sgn * xu[:, 0] > 4.0) and np.all(sgn * xl[:, 0] > 4.0)
            assert np.all(xu[:, 1] > body_centroid(seg2, up)[1] + 10.0)            # posterior
            assert np.allclose(np.linalg.norm(p.normal, axis=1), 1.0)
            d = xl - xu
            assert np.all(np.einsum("ij,ij->i", d, p.normal) > 0)                  # upper -> lower
            assert sgn * p.normal[0, 0] > 0.7                                      # IAP medial to SAP
            assert p.lengths_mm(h).max() <= max(3 * h, 6.0)
            area[p.side] = p.weight.sum()
            assert FACET_AREA_RANGE_MM2[0] <= area[p.side] <= FACET_AREA_RANGE_MM2[1]
        assert np.isclose(area["left"], area["right"])                             # symmetric model


def test_fibres(seg2):
    for disc in ("L1-L2", ("L2", "L3")):
        fs = annulus_fibres(seg2, disc)
        name = disc if isinstance(disc, str) else "-".join(disc)
        assert fs.disc == name and fs.n > 100
        assert _on(seg2, fs.a, name, {Label.ANNULUS}) and _on(seg2, fs.b, name, {Label.ANNULUS})
        assert abs(fs.angle_deg.mean() - 30.0) <= FIBRE_ANGLE_TOL_DEG
        assert np.percentile(fs.angle_deg, 10) > 20.0 and np.percentile(fs.angle_deg, 90) < 40.0
        n_pos, n_neg = (fs.family == 1).sum(), (fs.family == -1).sum()
        assert abs(n_pos - n_neg) <= 0.05 * fs.n
        v_ann = (seg2.mask(Label.ANNULUS, level=name)).sum() * seg2.h ** 3
        for fam in (1, -1):
            assert np.isclose(fs.volume_mm3[fs.family == fam].sum(), v_ann)
        # circumferential: the fibre direction has little radial component
        mid = 0.5 * (_xyz(seg2, fs.a) + _xyz(seg2, fs.b)) - fs.centre_mm
        mid -= np.outer(mid @ fs.axis, fs.axis)
        d = (fs.b - fs.a).astype(float)
        radial = np.abs(np.einsum("ij,ij->i", d, mid)) / (np.linalg.norm(d, axis=1)
                                                          * np.linalg.norm(mid, axis=1))
        assert np.median(radial) < 0.35
        # the two families cross: signed axial component opposite along the circumferential direction
        t = np.cross(fs.axis, mid)
        s = np.sign(np.einsum("ij,ij->i", d, t) * (d @ fs.axis))
        assert np.mean(s[fs.family == 1] > 0) > 0.9 and np.mean(s[fs.family == -1] < 0) > 0.9
        key = np.sort(np.stack([np.ravel_multi_index(tuple(x.T), np.array(seg2.shape) + 1)
                                for x in (fs.a, fs.b)], axis=1), axis=1)
        for fam in (1, -1):
            k = key[fs.family == fam]
            assert len(np.unique(k, axis=0)) == len(k)                               # no duplicates
    with pytest.raises(InputError, match="unknown disc"):
        annulus_fibres(seg2, "L1-L3")


def test_no_posterior_elements(nopost):
    ligs = ligament_attachments(nopost, "L1", "L2")
    assert {p.name for p in ligs} == {"ALL", "PLL"}
    assert set(ligs.missing) == {"LF", "ISL", "SSL", "ITL left", "ITL right", "CL left", "CL right"}
    assert all("L1" in why and "posterior" in why for why in ligs.missing.values())
    for p in ligs:
        assert _on(nopost, p.upper, "L1", BODY_LABELS) and _on(nopost, p.lower, "L2", BODY_LABELS)
    facets = facet_pairs(nopost, "L1", "L2")
    assert len(facets) == 0 and set(facets.missing) == {"facet left", "facet right"}
    with pytest.raises(InputError, match="posterior elements"):
        facet_pairs(nopost, "L1", "L2", strict=True)
    assert annulus_fibres(nopost, "L1-L2").n > 0


def test_bad_levels(seg2):
    with pytest.raises(InputError, match="adjacent"):
        ligament_attachments(seg2, "L1", "L3")
    with pytest.raises(InputError, match="adjacent"):
        facet_pairs(seg2, "L2", "L1")
    with pytest.raises(InputError, match="unknown level"):
        ligament_attachments(seg2, "L4", "L5")


def test_lordotic_segment():
    model = build_segment(["L1", "L2", "L3"], 3.0, lordosis=True)
    for seg, up, lo in motion_segments(model):
        ligs = ligament_attachments(model, up, lo)
        for name in ("ALL", "PLL", "LF", "ISL", "SSL"):
            (p,) = ligs.by_name(name)
            labels = BODY_LABELS if name in ("ALL", "PLL") else {Label.POSTERIOR}
            assert _on(model, p.upper, up, labels) and _on(model, p.lower, lo, labels)
        for p in facet_pairs(model, up, lo):
            assert _on(model, p.upper, up, {Label.POSTERIOR}) and _on(model, p.lower, lo, {Label.POSTERIOR})
            assert np.all(p.weight > 0)
        fs = annulus_fibres(model, seg)
        assert abs(fs.angle_deg.mean() - 30.0) <= FIBRE_ANGLE_TOL_DEG
        assert fs.axis[2] > 0.95
