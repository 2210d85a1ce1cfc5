"""Parametric intervertebral disc between two parametric vertebrae.

The disc is the space between the inferior body surface of the vertebra above
and the superior body surface of the vertebra below (so it fills the endplate
concavities and follows any wedge), inside an outline that blends linearly, with
the normalised height, from the lower vertebra's superior endplate outline to
the upper vertebra's inferior one.  Regions (rules, see
:class:`~biomech.meshes.morphometry.DiscMorphometry` for the numbers):

* nucleus: the outline scaled by sqrt(nucleus_area_fraction), its centre moved
  posteriorly by nucleus_posterior_offset of the half depth;
* cartilage endplates: disc voxels whose centre lies within
  max(cartilage_thickness, h) of either bony surface and inside cartilage_extent of the normalised radius (the
  central endplate; the ring apophysis outside it meets the annulus directly);
  at least one voxel layer at any h;
* annulus: the rest.

Voxels are tagged by their centre; the bony surfaces are the same functions the
vertebrae use, so disc and bone voxels meet without gaps or overlaps.
"""
from __future__ import annotations

import numpy as np

from biomech.errors import InputError

from .labels import Label
from .morphometry import DiscMorphometry
from .vertebra import (LevelVoxels, block_centres,
                       grid_block)
from .vertebra_geometry import Frame, VertebraGeometry, _superellipse


def disc_local_bounds(upper: VertebraGeometry, upper_frame: Frame,
                      lower: VertebraGeometry, lower_frame: Frame):
    """Global box [mm] holding the disc between the two bodies."""
    pts = []
    for geom, frame, zsign in ((upper, upper_frame, -1.0), (lower, lower_frame, 1.0)):
        lo, hi = geom.body_bounds()
        z_far = zsign * (0.5 * max(geom.Ha, geom.Hp)) - zsign * (geom.m.superior_concavity
                                                               + geom.m.inferior_concavity + 1.0)
        for x in (lo[0], hi[0]):
            for y in (lo[1], hi[1]):
                for z in (z_far, zsign * hi[2]):
                    pts.append(frame.to_global([x, y, z]))
    pts = np.array(pts)
    return pts.min(axis=0), pts.max(axis=0)


def voxelise_disc(upper: VertebraGeometry, upper_frame: Frame, lower: VertebraGeometry,
                  lower_frame: Frame, disc: DiscMorphometry, origin, h: float, shape) -> LevelVoxels:
    """Labels (NUCLEUS, ANNULUS, CARTILAGE_ENDPLATE, VOID) of the disc on a
    block of the grid (origin [mm], h [mm], shape)."""
    disc.validate()
    glo, ghi = disc_local_bounds(upper, upper_frame, lower, lower_frame)
    ident = Frame()
    lo, hi = grid_block(glo, ghi, ident, origin, h, shape)
    bshape = tuple(int(v) for v in hi - lo)
    if min(bshape) <= 0:
        raise InputError(f"disc {disc.name} lies outside the grid")
    c = block_centres(lo, hi, origin, h)
    pu = upper_frame.to_local(c)
    pl = lower_frame.to_local(c)
    d_up = upper.inferior_z(pu[:, 0], pu[:, 1]) - pu[:, 2]       # > 0 below the upper body
    d_lo = pl[:, 2] - lower.superior_z(pl[:, 0], pl[:, 1])       # > 0 above the lower body
    gap = (d_up > 0) & (d_lo > 0)
    idx = np.flatnonzero(gap)
    labels = np.zeros(len(c), np.uint8)
    if idx.size == 0:
        raise InputError(f"disc {disc.name}: the vertebrae leave no space between them "
                         f"(height {disc.height} mm)")
    du, dl = d_up[idx], d_lo[idx]
    t = dl / (du + dl)                                          # 0 at the lower, 1 at the upper body
    au, bu, y0u = upper.outline(-0.5 * upper.height)
    al, bl, y0l = lower.outline(0.5 * lower.height)
    a = (1 - t) * al + t * au
    b = (1 - t) * bl + t * bu
    y0 = (1 - t) * y0l + t * y0u
    x = (1 - t) * pl[idx, 0] + t * pu[idx, 0]
    y = (1 - t) * pl[idx, 1] + t * pu[idx, 1]
    n = upper.n
    ind = (1 - t) * lower.indent + t * upper.indent
    w = 0.7 * a
    r = np.clip(x / w, -1.0, 1.0)
    g = ind * np.clip(1.0 - r * r, 0.0, None) ** 2
    ye = np.where(y > y0, y + g, y)
    F, _, _ = _superellipse(x / a, (ye - y0) / b, n)
    inside = F <= 1.0
    k = np.sqrt(disc.nucleus_area_fraction)
    yn = y0 + disc.nucleus_posterior_offset * b
    Fn, _, _ = _superellipse(x / (a * k), (y - yn) / (b * k), n)
    lab = np.where(inside, np.uint8(Label.ANNULUS), np.uint8(Label.VOID))
    lab[inside & (Fn <= 1.0)] = Label.NUCLEUS
    t_cep = max(disc.cartilage_thickness, h)
    cep = inside & (F <= disc.cartilage_extent) & ((du < t_cep) | (dl < t_cep))
    lab[cep] = Label.CARTILAGE_ENDPLATE
    labels[idx] = lab
    z = np.zeros(bshape)
    return LevelVoxels(lo=lo, labels=labels.reshape(bshape), cortical_fraction=z, foramen=z.copy())
