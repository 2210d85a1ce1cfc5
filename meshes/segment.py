"""Spinal segments: any run of contiguous parametric vertebrae with their discs,
straight or lordotic, as one labelled voxel model.

>>> model = build_segment(["L1", "L2", "L3"], h=1.0)      # the default study model
>>> model.level_names
('L1', 'L1-L2', 'L2', 'L2-L3', 'L3')

Placement: the vertebrae are stacked caudal to cranial.  The superior rim
centre of a vertebra and the inferior rim centre of the one above are one disc
height apart along the bisector of the two rim planes.  With ``lordosis`` the
bodies keep their table anterior/posterior heights and each disc opens
anteriorly by its table wedge angle (or a given total is shared among the discs
in the proportions of the table); the whole segment is then turned about x so
that the mean tilt of its vertebrae is zero.

Overlaps: a voxel claimed by two vertebrae is given to a body over posterior
elements; where posterior elements of two levels meet (articular processes
under strong lordosis) the voxel becomes VOID, so adjacent levels never fuse
(facet contact acts across the gap: :mod:`biomech.soft_tissue`).  Discs fill only voxels no bone claimed.
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np

from biomech.errors import InputError

from .disc import voxelise_disc
from .labels import Label
from .morphometry import (SOURCES, DiscMorphometry, VertebraMorphometry, contiguous_levels,
                          disc_morphometry, disc_name, vertebra_morphometry)
from .vertebra import (_rules, check_voxel_size,
                       global_bounds, grid_for_bounds, level_meta, voxelise_vertebra)
from .vertebra_geometry import FORAMEN_RADIUS_MM, Frame, VertebraGeometry
from .voxel_model import NO_LEVEL, VoxelModel

log = logging.getLogger(__name__)

#: The default study model of biomech: L1-L3 with the L1-L2 and L2-L3 discs.
DEFAULT_LEVELS = ("L1", "L2", "L3")


def _rot_x(angle):
    return Frame.about_x(angle).rotation


def segment_frames(geoms: list, discs: list) -> list:
    """Frames of the vertebrae (cranial first) for the given geometries and
    discs (cranial first, len(geoms) - 1)."""
    n = len(geoms)
    frames = [None] * n
    alpha = [0.0] * n
    centre = [np.zeros(3)] * n
    # stack from the lowest (caudal) vertebra upward
    for i in range(n - 1, 0, -1):
        lo, up, d = geoms[i], geoms[i - 1], discs[i - 1]
        beta_l = 2.0 * math.atan((lo.Ha - lo.Hp) / (2.0 * lo.depth))
        beta_u = 2.0 * math.atan((up.Ha - up.Hp) / (2.0 * up.depth))
        delta = math.radians(d.wedge_angle_deg)
        phi_l = alpha[i] - 0.5 * beta_l
        alpha[i - 1] = alpha[i] - 0.5 * beta_l - delta - 0.5 * beta_u
        phi_u = alpha[i - 1] + 0.5 * beta_u
        P_l = centre[i] + _rot_x(alpha[i]) @ np.array([0.0, 0.0, 0.5 * lo.rim_height(0.0)])
        P_u = P_l + d.height * (_rot_x(0.5 * (phi_l + phi_u)) @ np.array([0.0, 0.0, 1.0]))
        centre[i - 1] = P_u + _rot_x(alpha[i - 1]) @ np.array([0.0, 0.0, 0.5 * up.rim_height(0.0)])
    mean_alpha = float(np.mean(alpha))
    turn = _rot_x(-mean_alpha)
    for i in range(n):
        frames[i] = Frame(turn @ centre[i], _rot_x(alpha[i] - mean_alpha))
    return frames


def build_segment(levels=DEFAULT_LEVELS, h: float = 1.0, *, lordosis: bool | float = False,
                  posterior_elements: bool = True, morphometry: dict | None = None,
                  discs: dict | None = None, sex: str = "female", age_years: float = 65.0,
                  foramen_radius: float = FORAMEN_RADIUS_MM) -> VoxelModel:
    """A segment of contiguous parametric vertebrae and their discs.

    levels : e.g. ["L1", "L2", "L3"] (contiguous, T11-L5);
    h : voxel size [mm];
    lordosis : False (straight: parallel endplates, bodies of mean height),
               True (table body wedges and disc wedge angles) or a number
               [deg]: total disc lordosis shared among the discs as in the table;
    morphometry : {level: VertebraMorphometry} overrides of the tables;
    discs : {"L1-L2": DiscMorphometry} overrides (else Shao 2002 for ``sex`` and
            ``age_years``).
    Fields: ``cortical_fraction``, ``endplate_fraction`` [-] (shell partial
    volumes), ``basivertebral_foramen`` (0/1).
    meta: per-level landmarks and pedicle trajectories (global mm), the
    morphometry used, voxel counts and volumes per label and per level, build time.
    """
    t0 = time.perf_counter()
    h = check_voxel_size(h)
    levels = contiguous_levels(levels)
    morphometry = dict(morphometry or {})
    discs = dict(discs or {})
    for k in list(morphometry) + list(discs):
        if k not in levels and k not in [f"{a}-{b}" for a, b in zip(levels[:-1], levels[1:])]:
            raise InputError(f"override {k!r} names no level or disc of {list(levels)}")
    wedge = lordosis is True
    geoms = []
    for lv in levels:
        m = morphometry.get(lv) or vertebra_morphometry(lv)
        if not isinstance(m, VertebraMorphometry):
            raise InputError(f"morphometry[{lv!r}] must be a VertebraMorphometry")
        geoms.append(VertebraGeometry(m, wedge=wedge, posterior_elements=posterior_elements,
                                      foramen_radius=foramen_radius))
    disc_list = []
    for up, lo in zip(levels[:-1], levels[1:]):
        name = disc_name(up, lo)
        d = discs.get(name) or disc_morphometry(up, lo, sex=sex, age_years=age_years)
        if not isinstance(d, DiscMorphometry):
            raise InputError(f"discs[{name!r}] must be a DiscMorphometry")
        disc_list.append(d)
    disc_list = _apply_lordosis(disc_list, lordosis)
    frames = segment_frames(geoms, disc_list)

    bounds = [global_bounds(g, f) for g, f in zip(geoms, frames)]
    lo = np.min([b[0] for b in bounds], axis=0)
    hi = np.max([b[1] for b in bounds], axis=0)
    origin, shape = grid_for_bounds(lo, hi, h)
    level_names = []
    for i, lv in enumerate(levels):
        level_names.append(lv)
        if i < len(disc_list):
            level_names.append(disc_list[i].name)
    labels = np.zeros(shape, np.uint8)
    level = np.full(shape, NO_LEVEL, np.int8)
    f = np.zeros(shape)
    fe = np.zeros(shape)
    foramen = np.zeros(shape)
    lost = {}
    n_gap = 0
    for geom, frame, lv in zip(geoms, frames, levels):
        vox = voxelise_vertebra(geom, frame, origin, h, shape)
        li = level_names.index(lv)
        sl = tuple(slice(a, a + n) for a, n in zip(vox.lo, vox.labels.shape))
        old_lab, old_lev = labels[sl], level[sl]
        new = vox.labels
        new_body = (new != Label.VOID) & (new != Label.POSTERIOR)
        new_post = new == Label.POSTERIOR
        old_body = (old_lab != Label.VOID) & (old_lab != Label.POSTERIOR)
        old_post = old_lab == Label.POSTERIOR
        if np.any(new_body & old_body):
            raise InputError(f"the body of {lv} overlaps the body above it: disc too thin or "
                             "wedge too large")
        clash = new_post & old_post
        n_gap += int(clash.sum())
        take = new_body | (new_post & ~old_body & ~old_post)
        old_lab[take] = new[take]
        old_lev[take] = li
        old_lab[clash] = Label.VOID
        old_lev[clash] = NO_LEVEL
        f[sl][take] = vox.cortical_fraction[take]
        fe[sl][take] = vox.endplate_fraction[take]
        foramen[sl][take] = vox.foramen[take]
        lost[lv] = vox.shell_lost_fraction
    for i, d in enumerate(disc_list):
        vox = voxelise_disc(geoms[i], frames[i], geoms[i + 1], frames[i + 1], d, origin, h, shape)
        sl = tuple(slice(a, a + n) for a, n in zip(vox.lo, vox.labels.shape))
        free = (labels[sl] == Label.VOID) & (vox.labels != Label.VOID)
        labels[sl][free] = vox.labels[free]
        level[sl][free] = level_names.index(d.name)
    if n_gap:
        log.info("%d voxels where posterior elements of two levels met were left void", n_gap)
    model = VoxelModel(labels, h, tuple(float(v) for v in origin), level, tuple(level_names),
                       {"cortical_fraction": f, "endplate_fraction": fe,
                        "basivertebral_foramen": foramen},
                       {"builder": "biomech.meshes.segment.build_segment",
                        "voxel_size_mm": h,
                        "lordosis": lordosis,
                        "levels": {lv: level_meta(g, fr) for lv, g, fr in zip(levels, geoms, frames)},
                        "discs": {d.name: {k: v for k, v in d.__dict__.items()} for d in disc_list},
                        "rules": _rules(h), "sources": dict(SOURCES),
                        "shell_volume_lost_fraction": lost,
                        "posterior_overlap_voxels_voided": n_gap})
    return model.with_meta(build_time_s=time.perf_counter() - t0, **voxel_report(model))


def _apply_lordosis(disc_list, lordosis):
    if lordosis is False or lordosis is None:
        return [d.replace(wedge_angle_deg=0.0) for d in disc_list]
    if lordosis is True:
        return disc_list
    try:
        total = float(lordosis)
    except (TypeError, ValueError):
        raise InputError(f"lordosis must be True, False or a total angle in degrees, "
                         f"got {lordosis!r}") from None
    if not -30.0 <= total <= 60.0:
        raise InputError(f"lordosis must lie in [-30, 60] degrees, got {total}")
    if not disc_list:
        return disc_list
    weights = np.array([max(d.wedge_angle_deg, 0.0) for d in disc_list]) + 1e-9
    share = total * weights / weights.sum()
    return [d.replace(wedge_angle_deg=float(a)) for d, a in zip(disc_list, share)]


def voxel_report(model: VoxelModel) -> dict:
    """Voxel counts and volumes [mm^3] per label and per level name."""
    counts = {Label(i).name.lower(): int(c)
              for i, c in enumerate(np.bincount(model.labels.ravel(), minlength=len(Label)))
              if c and i != Label.VOID}
    per_level = {}
    lev = model.level.ravel()
    lab = model.labels.ravel()
    for i, name in enumerate(model.level_names):
        sel = lev == i
        bc = np.bincount(lab[sel], minlength=len(Label))
        per_level[name] = {Label(j).name.lower(): int(c) for j, c in enumerate(bc) if c}
    v = model.voxel_volume_mm3
    return {"voxel_counts": counts,
            "volumes_mm3": {k: c * v for k, c in counts.items()},
            "voxel_counts_per_level": per_level,
            "shell_volume_mm3": float(sum(model.fields[k].sum() for k in
                                          ("cortical_fraction", "endplate_fraction")
                                          if k in model.fields) * v)}


def default_segment(h: float = 1.0, **kwargs) -> VoxelModel:
    """The default study model: a straight parametric L1-L3 segment (discs
    L1-L2, L2-L3) at ``h`` mm (1 mm by default).  Bone quality (osteoporosis)
    is a material choice made by the conditions code, not geometry."""
    return build_segment(DEFAULT_LEVELS, h, **kwargs)
