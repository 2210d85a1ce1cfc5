"""A small synthetic lumbar vertebra as a labelled VoxelModel, for fast tests.

Geometry (mm; x left->right with the patient's left at small x, y anterior->posterior,
z caudal->cranial): an elliptic-cylinder body 40 (x) x 30 (y) x 24 (z) mm with a flat
posterior wall, a one-voxel cortical shell (``cortical_fraction`` = 0.38 mm / h) and bony
endplates (0.25 mm / h), a basivertebral foramen (a 4 mm opening through the middle of the
posterior wall), two pedicles converging 12 degrees, a lamina arch around the spinal canal,
a spinous process, and a 5 mm disc above ("L1-L2") and below ("L2-L3") with cartilage
endplates, nucleus and annulus.  BV/TV 0.10 in the body.

``model.meta["levels"][level]`` carries the keys of the parametric anatomy
(``biomech.meshes.vertebra.level_meta``) that the conditions and treatments read::

    "pedicles": {"left"|"right": {"entry_mm": (x, y, z), "direction": unit (x, y, z) from the
                 entry into the body, "pedicle_width_mm", "pedicle_height_mm"}},
    "basivertebral_foramen": {"centre_mm": (x, y, z), "axis", "radius_mm"},
    "canal": {"centre_mm": (x, y), "half_axes_mm": (ax, ay)}     # optional

As in the parametric anatomy, the foramen voxels are CANCELLOUS with cortical_fraction 0
and the field ``basivertebral_foramen`` = 1.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomech.meshes.labels import Label
from biomech.meshes.voxel_model import VoxelModel


def make_synthetic_vertebra(h: float = 1.0, *, level: str = "L2", bvtv: float = 0.10,
                            foramen: bool = True) -> VoxelModel:
    """Synthetic vertebra with discs above and below (see the module docstring)."""
    ext = np.array([64.0, 70.0, 40.0])
    shape = tuple(int(round(e / h)) for e in ext)
    c = (np.arange(shape[0]) + 0.5) * h, (np.arange(shape[1]) + 0.5) * h, (np.arange(shape[2]) + 0.5) * h
    X, Y, Z = np.meshgrid(*c, indexing="ij")
    xc, yc = 32.0, 22.0                          # body centre (x, y) [mm]
    ax, ay = 20.0, 15.0
    y_post = 34.0                                # flat posterior wall
    z0, z1 = 8.0, 32.0                           # body: inferior / superior surfaces
    labels = np.zeros(shape, np.uint8)
    lev = np.full(shape, -1, np.int8)
    names = ("L1-L2", level, "L2-L3")
    i_up, i_v, i_lo = 0, 1, 2

    foot = (((X - xc) / ax) ** 2 + ((Y - yc) / ay) ** 2 <= 1.0) & (Y <= y_post)
    body = foot & (Z >= z0) & (Z <= z1)
    # cortex: footprint voxels with a face neighbour outside the footprint (in-plane)
    f2 = foot[:, :, 0]
    inner2 = f2.copy()
    inner2[1:, :] &= f2[:-1, :]
    inner2[:-1, :] &= f2[1:, :]
    inner2[:, 1:] &= f2[:, :-1]
    inner2[:, :-1] &= f2[:, 1:]
    rim2 = f2 & ~inner2
    rim = np.broadcast_to(rim2[:, :, None], shape)
    kz = np.arange(shape[2])
    kb = int(np.flatnonzero(body.any(axis=(0, 1)))[0])
    kt = int(np.flatnonzero(body.any(axis=(0, 1)))[-1])
    labels[body] = Label.CANCELLOUS
    end_layer = body & ((kz == kb) | (kz == kt))[None, None, :]
    labels[end_layer] = Label.ENDPLATE
    labels[body & rim] = Label.CORTICAL
    lev[body] = i_v
    cort_frac = np.zeros(shape)
    cort_frac[labels == Label.CORTICAL] = min(1.0, 0.38 / h)
    cort_frac[labels == Label.ENDPLATE] = min(1.0, 0.25 / h)

    # discs (5 mm) above and below
    for zlo, zhi, idx in ((z1, z1 + 5.0, i_up), (z0 - 5.0, z0, i_lo)):
        dz = foot & (Z > zlo) & (Z < zhi) if idx == i_up else foot & (Z >= zlo) & (Z < zhi)
        ks = np.flatnonzero(dz.any(axis=(0, 1)))
        labels[dz] = Label.ANNULUS
        nuc = dz & (((X - xc) / (0.55 * ax)) ** 2 + ((Y - yc) / (0.55 * ay)) ** 2 <= 1.0)
        labels[nuc] = Label.NUCLEUS
        k_adj = ks[0] if idx == i_up else ks[-1]
        labels[dz & (kz == k_adj)[None, None, :]] = Label.CARTILAGE_ENDPLATE
        lev[dz] = idx

    # canal, pedicles, lamina, spinous process (posterior elements of the vertebra)
    cx, cy, cax, cay = xc, 43.0, 8.0, 9.0
    canal = ((X - cx) / cax) ** 2 + ((Y - cy) / cay) ** 2 <= 1.0
    zmid = 20.0
    theta = math.radians(12.0)
    r_ped = 4.0
    ped_meta = {}
    post = np.zeros(shape, bool)
    for side, sgn in (("left", -1.0), ("right", 1.0)):
        entry = np.array([xc + sgn * 15.0, 54.0, zmid])
        axis = np.array([-sgn * math.sin(theta), -math.cos(theta), 0.0])
        rel = np.stack([X - entry[0], Y - entry[1], Z - entry[2]], axis=-1)
        t = rel @ axis
        d2 = (rel ** 2).sum(-1) - t ** 2
        cyl = (d2 <= r_ped ** 2) & (Y > y_post - 1.0) & (Y <= entry[1] + 1.0)
        post |= cyl
        ped_meta[side] = {"entry_mm": tuple(float(v) for v in entry),
                          "direction": tuple(float(v) for v in axis),
                          "pedicle_width_mm": 2 * r_ped, "pedicle_height_mm": 2 * r_ped}
    ring = (((X - cx) / (cax + 4.0)) ** 2 + ((Y - cy) / (cay + 4.0)) ** 2 <= 1.0) & ~canal & (Y >= cy)
    post |= ring & (np.abs(Z - zmid) <= 6.0)
    post |= (np.abs(X - cx) <= 2.0) & (Y >= cy + cay) & (Y <= 66.0) & (np.abs(Z - zmid) <= 6.0)
    post &= ~canal & (labels == Label.VOID)
    labels[post] = Label.POSTERIOR
    lev[post] = i_v

    foramen_meta = None
    fo_field = np.zeros(shape)
    if foramen:
        fc = np.array([xc, y_post - 0.5, zmid])
        hole = (labels == Label.CORTICAL) & (np.abs(X - fc[0]) <= 2.0) & (np.abs(Z - fc[2]) <= 2.0) \
            & (Y > yc)
        labels[hole] = Label.CANCELLOUS
        cort_frac[hole] = 0.0
        fo_field[hole] = 1.0
        foramen_meta = {"centre_mm": tuple(float(v) for v in fc), "axis": (0.0, 1.0, 0.0),
                        "radius_mm": 2.0}

    bv = np.where(np.isin(labels, [Label.CANCELLOUS, Label.CORTICAL, Label.ENDPLATE]), bvtv, 0.0)
    meta = {
        "source": "tests/synthetic_vertebra.py",
        "axes": "x left->right (patient left at small x), y anterior->posterior, z caudal->cranial",
        "levels": {level: {
            "pedicles": ped_meta,
            "basivertebral_foramen": foramen_meta,
            "canal": {"centre_mm": (cx, cy), "half_axes_mm": (cax, cay)},
        }},
    }
    return VoxelModel(labels=labels, h=h, origin=(0.0, 0.0, 0.0), level=lev, level_names=names,
                      fields={"bvtv": bv, "cortical_fraction": cort_frac,
                              "basivertebral_foramen": fo_field}, meta=meta)


@pytest.fixture(scope="module")
def model():
    """The synthetic L2 at 1 mm (a module fixture: import it into a test module)."""
    return make_synthetic_vertebra(1.0)


@pytest.fixture(scope="module")
def lytic(model):
    """Posterior lytic lesion (18 mm) that destroyed the posterior wall."""
    from biomech.conditions import Metastasis, apply_condition
    return apply_condition(model, Metastasis("L2", "lytic", "posterior", size_mm=18,
                                             posterior_wall_destroyed=True))
