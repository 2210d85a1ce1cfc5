"""Leak routes that are narrower than a voxel: needle tracks and intraosseous veins, as
voxel chains of a tube (or an annular gap) with their own conductance.

A :class:`Channel` is a chain of model-grid voxels with a hydraulic conductance ``G``
(flow per unit pressure gradient times viscosity, [mm^4]) and a cross-section ``A``
[mm^2].  On the voxel grid it adds the permeability ``G / h^2`` to the voxels of the
trabecular compartment it runs through (a tube in parallel with the bone of its voxel),
and it turns the bone it crosses (cortex, pedicle, endplate) into a *gateway*: an outside
voxel of its leak site with permeability ``G / h^2`` that holds ``A h`` of cement.

* Poiseuille tube of radius a: G = pi a^4 / 8, A = pi a^2 (Hagen-Poiseuille).
* Annular gap delta around a needle of outer radius R (delta << R, parallel plates):
  G = pi R delta^3 / 6, A = 2 pi R delta.

Routes (``kind``)
-----------------
* ``needle_track`` -- backflow along the needle: the gap between needle and bone from the
  tip back to the entry; the bone the needle pierced (pedicle, lateral cortex) is its
  gateway (site ``needle_track``).  Needle 11 G: outer radius 1.5 mm (3.05 mm gauge OD).
* ``basivertebral`` -- the basivertebral vein: from the basivertebral foramen (middle of the
  posterior wall) towards the centre of the body (it drains the body's sinusoids into the
  anterior internal vertebral venous plexus; Crock & Yoshizawa, The blood supply of the
  vertebral column and spinal cord, 1977), site ``venous``.
* ``paravertebral`` -- a vein through an anterolateral vascular foramen of the cortex into
  the anterior external plexus and segmental veins, site ``paravertebral`` (the Yeom 2003
  type S leak route).
* ``endplate_crack`` -- a crack through the collapsed endplate of a fractured body into the
  disc (site ``disc``; Yeom 2003 type C through an endplate): a slit, G = w delta^3 / 12,
  A = w delta.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..meshes.labels import LeakSite

#: Outer radius of an 11-gauge vertebroplasty needle [mm] (3.05 mm outer diameter).
NEEDLE_OUTER_RADIUS_MM = 1.525


@dataclass(frozen=True)
class Channel:
    """A sub-voxel leak route: ``ijk`` (n, 3) model-grid voxels from inside the body
    outward, conductance ``conductance_mm4`` [mm^4], cross-section ``area_mm2`` [mm^2],
    ``site`` (LeakSite code of its gateway), ``kind`` (see the module docstring)."""

    ijk: np.ndarray
    conductance_mm4: float
    area_mm2: float
    site: int
    kind: str

    def permeability_mm2(self, h: float) -> float:
        """Permeability [mm^2] of a voxel of edge ``h`` [mm] the channel runs through."""
        return self.conductance_mm4 / (h * h)

    def volume_per_voxel_mm3(self, h: float) -> float:
        return self.area_mm2 * h


def tube(radius_mm: float) -> tuple[float, float]:
    """(G [mm^4], A [mm^2]) of a Poiseuille tube."""
    return math.pi * radius_mm ** 4 / 8.0, math.pi * radius_mm ** 2


def annulus(gap_mm: float, radius_mm: float = NEEDLE_OUTER_RADIUS_MM) -> tuple[float, float]:
    """(G [mm^4], A [mm^2]) of a thin annular gap around a cylinder (parallel plates)."""
    return math.pi * radius_mm * gap_mm ** 3 / 6.0, 2.0 * math.pi * radius_mm * gap_mm


def line_voxels(model, a_mm, b_mm) -> np.ndarray:
    """(n, 3) distinct voxels on the segment a -> b [mm] in order (inside the grid only)."""
    a = np.asarray(a_mm, float)
    b = np.asarray(b_mm, float)
    n = max(2, int(np.ceil(np.linalg.norm(b - a) / (0.25 * model.h))) + 1)
    pts = a + np.linspace(0.0, 1.0, n)[:, None] * (b - a)
    idx = np.floor((pts - np.asarray(model.origin)) / model.h).astype(np.int64)
    ok = ((idx >= 0) & (idx < np.array(model.shape))).all(axis=1)
    idx = idx[ok]
    if idx.size == 0:
        return idx.reshape(0, 3)
    keep = np.ones(len(idx), bool)
    keep[1:] = (np.diff(idx, axis=0) != 0).any(axis=1)
    idx = idx[keep]
    # 6-connect diagonal steps (a face path is what the front can follow)
    out = [idx[0]]
    for p in idx[1:]:
        q = out[-1].copy()
        for ax in range(3):
            if p[ax] != q[ax]:
                q = q.copy()
                q[ax] = p[ax]
                out.append(q)
    return np.array(out, dtype=np.int64)


def needle_track(model, needle, gap_mm: float, overshoot_mm: float = 4.0) -> Channel:
    """Backflow route along ``needle`` (a Needle): tip -> entry and ``overshoot_mm``
    beyond the entry, an annular gap ``gap_mm`` [mm] wide."""
    tip = np.asarray(needle.tip_mm, float)
    entry = np.asarray(needle.entry_mm, float)
    end = entry + overshoot_mm * (entry - tip) / max(np.linalg.norm(entry - tip), 1e-9)
    g, a = annulus(gap_mm)
    return Channel(line_voxels(model, tip, end), g, a, int(LeakSite.NEEDLE_TRACK), "needle_track")


def basivertebral_vein(model, geo, radius_mm: float, depth_fraction: float,
                       offset_mm=(0.0, 0.0)) -> Channel | None:
    """The basivertebral vein: from ``depth_fraction`` of the body depth in front of the
    posterior wall (x, z shifted by ``offset_mm``) to the foramen and 2 mm beyond it;
    None without a foramen in the level's meta."""
    if not geo.foramen:
        return None
    c = np.asarray(geo.foramen["centre_mm"], float)
    inner = np.array([c[0] + offset_mm[0], geo.posterior_y_mm - depth_fraction * geo.depth_mm,
                      c[2] + offset_mm[1]])
    out = np.array([c[0], geo.posterior_y_mm + 2.0, c[2]])
    g, a = tube(radius_mm)
    return Channel(line_voxels(model, inner, out), g, a, int(LeakSite.VENOUS), "basivertebral")


def body_surface_point(model, geo, angle_rad: float, z_mm: float) -> np.ndarray:
    """Point [mm] where the ray from the body's centre (at height z) in the axial direction
    ``angle_rad`` (0: anterior, + towards the patient's left) leaves the body mask."""
    d = np.array([math.sin(angle_rad) * geo.left_sign, -math.cos(angle_rad), 0.0])
    p0 = np.array([geo.centroid_mm[0], geo.centroid_mm[1], z_mm])
    o = np.asarray(model.origin, float)
    rmax = float(np.linalg.norm(geo.hi_mm - geo.lo_mm))
    r = np.arange(0.0, rmax, 0.25 * model.h)
    ijk = np.floor((p0 + r[:, None] * d - o) / model.h).astype(int)
    ok = ((ijk >= 0) & (ijk < np.array(model.shape))).all(axis=1)
    inside = np.zeros(len(r), bool)
    inside[ok] = geo.body[tuple(ijk[ok].T)]
    last_in = float(r[np.flatnonzero(inside)[-1]]) if inside.any() else 0.0
    return p0 + last_in * d


def paravertebral_vein(model, geo, radius_mm: float, angle_rad: float, z_mm: float,
                       length_mm: float = 8.0) -> Channel:
    """A vein through an anterolateral vascular foramen: ``length_mm`` inside the body
    at ``angle_rad`` (0 anterior) and height ``z_mm``, 2 mm beyond the cortex."""
    s = body_surface_point(model, geo, angle_rad, z_mm)
    c = np.array([geo.centroid_mm[0], geo.centroid_mm[1], z_mm])
    u = (s - c) / max(np.linalg.norm(s - c), 1e-9)
    g, a = tube(radius_mm)
    return Channel(line_voxels(model, s - length_mm * u, s + 2.0 * u), g, a,
                   int(LeakSite.PARAVERTEBRAL), "paravertebral")


def slit(aperture_mm: float, length_mm: float) -> tuple[float, float]:
    """(G [mm^4], A [mm^2]) of a crack: parallel plates ``aperture_mm`` apart,
    ``length_mm`` wide (G = w delta^3 / 12)."""
    return length_mm * aperture_mm ** 3 / 12.0, length_mm * aperture_mm


def endplate_crack(model, geo, x_mm: float, y_mm: float, superior: bool, aperture_mm: float,
                   length_mm: float = 5.0) -> Channel | None:
    """A crack through the bony endplate of a fractured body into the disc at (x, y) [mm]:
    from 3 voxels inside the body through the endplate to 2 voxels into the disc (site
    ``disc``); None where the column (x, y) misses the body."""
    h = model.h
    ij = np.floor((np.array([x_mm, y_mm]) - np.asarray(model.origin[:2])) / h).astype(int)
    if (ij < 0).any() or (ij >= np.array(model.shape[:2])).any():
        return None
    ks = np.flatnonzero(geo.body[ij[0], ij[1]])
    if ks.size < 4:
        return None
    if superior:
        kk = np.arange(ks[-1] - 3, ks[-1] + 3)
    else:
        kk = np.arange(ks[0] + 3, ks[0] - 3, -1)
    kk = kk[(kk >= 0) & (kk < model.shape[2])]
    ijk = np.stack([np.full(kk.size, ij[0]), np.full(kk.size, ij[1]), kk], axis=1).astype(np.int64)
    g, a = slit(aperture_mm, length_mm)
    return Channel(ijk, g, a, int(LeakSite.DISC), "endplate_crack")
