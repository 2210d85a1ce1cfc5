"""Parametric vertebra: implicit geometry from published morphometry and its
voxelisation into the labels of the labelled voxel model.

Local frame of a vertebra (mm): origin at the centre of the vertebral body
(mid-height, mid-depth), x left-right (+x patient left), y antero-posterior
(+y posterior), z caudal-cranial (+z cranial) -- the DICOM LPS directions.

Geometry (every rule is a modelling choice documented here):

* **Body**: horizontal sections are superellipses |x/a|^n + |(y-y0)/b|^n <= 1,
  n = 2.4 (between an ellipse and a rounded rectangle), whose half-width a and
  half-depth b go linearly from the inferior to the superior endplate outline
  with a waist at mid-height (8 % in width, 3 % in depth); the posterior wall is
  indented at the midline by 6 % of the depth (kidney shape), so the mid-sagittal
  depth equals the table depth.  The superior/inferior surfaces are the rim
  planes (anterior height Ha, posterior height Hp) lowered/raised in the centre
  by a paraboloidal concavity (the table concavity at the centre, 0 at the rim).
* **Shell**: points of the body within ``cortical_thickness`` of the side wall
  are cortical shell, within ``endplate_thickness`` of the superior/inferior
  surface bony endplate (the nearest surface decides).  Partial volumes:
  :mod:`biomech.meshes.partial_volume`.
* **Basivertebral foramen**: a circular opening of radius 2.5 mm (modelling
  default, CHECK) through the posterior wall at the midline and mid-height
  (at least the one shell voxel nearest its centre on coarse grids);
  its voxels are CANCELLOUS with cortical_fraction 0 and field
  ``basivertebral_foramen`` = 1: cement reaching them leaves the body towards
  the basivertebral veins and the canal.
* **Posterior elements** (label POSTERIOR, homogeneous, no shell): two
  pedicles (elliptic cylinders, table width/height, axis converging medially by
  the table transverse angle, isthmus at 30 % of the canal depth behind the
  posterior wall, centred 1 mm + half a pedicle height below the superior rim),
  the laminae (a 6 mm ring around the posterior half of the canal), the spinous
  process (6 mm thick plate), the transverse processes (elliptic cylinders
  7 x 10 mm to the table tip-to-tip width), superior articular processes (lateral,
  reaching ``facet_reach`` above the superior rim) and inferior articular
  processes (medial, reaching ``facet_reach`` below the inferior rim), so the
  processes of adjacent levels interleave with a gap (the facet joint: its contact
  is a coupling across the gap, :mod:`biomech.meshes.attachments` and
  :mod:`biomech.soft_tissue`).  The vertebral canal (ellipse of table width and depth behind the
  posterior wall) is void.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from biomech.errors import InputError

from .labels import Label
from .morphometry import SOURCES, VertebraMorphometry, vertebra_morphometry
from .partial_volume import chunk_voxels, conserve_shell_volume, subsample_offsets, supersampling
from .vertebra_geometry import (_CORTICAL, _ENDPLATE_INF, _ENDPLATE_SUP, _FORAMEN, _VOID,
                                FORAMEN_RADIUS_MM, Frame, VertebraGeometry, _superellipse)
from .voxel_model import NO_LEVEL, VoxelModel

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- voxelisation
@dataclass
class LevelVoxels:
    """Result of voxelising one structure into a sub-block of a grid.

    lo : (3,) first grid index of the block; labels, cortical_fraction,
    endplate_fraction and foramen are arrays of the block's shape."""

    lo: np.ndarray
    labels: np.ndarray
    cortical_fraction: np.ndarray
    foramen: np.ndarray
    shell_lost_fraction: float = 0.0
    endplate_fraction: np.ndarray | None = None


def grid_block(local_lo, local_hi, frame: Frame, origin, h, shape):
    """Index range (lo, hi) of the grid voxels whose centres may lie in the
    local box [local_lo, local_hi] placed by ``frame``."""
    corners = np.array([[a, b, c] for a in (local_lo[0], local_hi[0])
                        for b in (local_lo[1], local_hi[1]) for c in (local_lo[2], local_hi[2])])
    g = frame.to_global(corners)
    lo = np.floor((g.min(axis=0) - np.asarray(origin)) / h - 0.5).astype(int)
    hi = np.ceil((g.max(axis=0) - np.asarray(origin)) / h + 0.5).astype(int)
    return np.clip(lo, 0, shape), np.clip(hi, 0, shape)


def block_centres(lo, hi, origin, h):
    """(n, 3) global centres of the voxels of block [lo, hi) in C order."""
    ax = [np.asarray(origin)[d] + (np.arange(lo[d], hi[d]) + 0.5) * h for d in range(3)]
    return np.stack(np.meshgrid(*ax, indexing="ij"), axis=-1).reshape(-1, 3)


def voxelise_vertebra(geom: VertebraGeometry, frame: Frame, origin, h: float, shape,
                      *, chunk: int | None = None) -> LevelVoxels:
    """Labels and partial volumes of one vertebra on the grid (origin, h, shape).

    The body is supersampled in a band around its surface
    (:func:`~biomech.meshes.partial_volume.supersampling`); voxels are in the
    model when their centre is inside; the shell volume is conserved
    (:func:`~biomech.meshes.partial_volume.conserve_shell_volume`)."""
    lo_l, hi_l = geom.local_bounds()
    lo, hi = grid_block(lo_l, hi_l, frame, origin, h, shape)
    bshape = tuple(int(v) for v in hi - lo)
    if min(bshape) <= 0:
        raise InputError("the vertebra lies outside the grid")
    centres = frame.to_local(block_centres(lo, hi, origin, h))
    m = geom.m
    # the body is evaluated only inside its own box
    blo, bhi = geom.body_bounds()
    near_body = np.all((centres >= blo) & (centres <= bhi), axis=1)
    nb = np.flatnonzero(near_body)
    cls = np.zeros(len(centres), np.uint8)
    c_nb, d_nb, (dl, dt, db) = geom.classify_body(centres[nb])
    cls[nb] = c_nb
    d_body = np.full(len(centres), np.inf)
    d_body[nb] = d_nb
    endplate_side = np.zeros(len(centres), bool)
    endplate_side[nb] = np.maximum(dt, db) > dl
    band = np.abs(d_body) <= max(m.cortical_thickness, m.endplate_thickness) + 0.87 * h + 0.05
    occupancy = (cls != _VOID).astype(float)
    cort_raw = np.zeros(len(centres))
    ep_raw = np.zeros(len(centres))
    idx = np.flatnonzero(band)
    s = supersampling(h)
    # sub-sample offsets run along the global grid axes; express them in the local frame
    offs_local = (subsample_offsets(s) * h) @ frame.rotation
    if chunk is None:                       # voxels per chunk: same points at any voxel size
        chunk = chunk_voxels(s)
    for start in range(0, len(idx), chunk):
        sel = idx[start:start + chunk]
        pts = (centres[sel][:, None, :] + offs_local[None, :, :]).reshape(-1, 3)
        c, _, _ = geom.classify_body(pts)
        c = c.reshape(len(sel), -1)
        occupancy[sel] = (c != _VOID).mean(axis=1)
        cort_raw[sel] = (c == _CORTICAL).mean(axis=1)
        ep_raw[sel] = ((c == _ENDPLATE_SUP) | (c == _ENDPLATE_INF)).mean(axis=1)
    in_body = (cls != _VOID).reshape(bshape)
    occ3 = occupancy.reshape(bshape)
    f_c, lost_c = conserve_shell_volume(cort_raw.reshape(bshape), occ3, in_body)
    f_e, lost_e = conserve_shell_volume(ep_raw.reshape(bshape), occ3, in_body)
    total = f_c + f_e
    over = total > 1.0
    f_c[over] /= total[over]
    f_e[over] /= total[over]
    shell_total = cort_raw.sum() + ep_raw.sum()
    lost = 0.0 if shell_total == 0 else max(0.0, 1.0 - (f_c.sum() + f_e.sum()) / shell_total)
    cls3 = cls.reshape(bshape)
    labels = np.zeros(bshape, np.uint8)
    labels[in_body] = Label.CANCELLOUS
    # boundary layer of the body: any 6-neighbour outside
    pad = np.pad(in_body, 1, constant_values=False)
    boundary = in_body & ~(pad[2:, 1:-1, 1:-1] & pad[:-2, 1:-1, 1:-1] & pad[1:-1, 2:, 1:-1]
                           & pad[1:-1, :-2, 1:-1] & pad[1:-1, 1:-1, 2:] & pad[1:-1, 1:-1, :-2])
    shell = in_body & ((f_c + f_e > 0) | boundary)
    endplate_side = endplate_side.reshape(bshape)
    is_ep = np.where(f_c + f_e > 0, f_e > f_c, endplate_side)
    labels[shell & is_ep] = Label.ENDPLATE
    labels[shell & ~is_ep] = Label.CORTICAL
    foramen = (cls3 == _FORAMEN) & shell
    if geom.foramen_radius > 0 and not foramen.any():
        # coarse grids: open at least the shell voxel nearest the foramen centre
        cand = np.flatnonzero((shell & ~endplate_side).ravel())
        if cand.size:
            target = np.array([0.0, geom.y_posterior_wall, 0.0])
            best = cand[np.argmin(np.linalg.norm(centres[cand] - target, axis=1))]
            foramen.ravel()[best] = True
    labels[foramen] = Label.CANCELLOUS
    f_c[foramen] = 0.0
    f_e[foramen] = 0.0
    if geom.posterior_elements:
        free = ~in_body
        pts = centres[free.ravel()]
        post = geom.posterior_inside(pts)
        labels[free] = np.where(post, np.uint8(Label.POSTERIOR), np.uint8(Label.VOID))
    return LevelVoxels(lo=lo, labels=labels, cortical_fraction=f_c, endplate_fraction=f_e,
                       foramen=foramen.astype(np.float64), shell_lost_fraction=lost)


# ---------------------------------------------------------------------------- grid helpers
def grid_for_bounds(lo_global, hi_global, h: float, pad_voxels: int = 1):
    """(origin, shape) of a grid with spacing h [mm] covering [lo, hi] plus padding;
    the origin is a multiple of h (deterministic)."""
    lo = np.floor(np.asarray(lo_global) / h) * h - pad_voxels * h
    hi = np.ceil(np.asarray(hi_global) / h) * h + pad_voxels * h
    shape = tuple(int(round(v)) for v in (hi - lo) / h)
    return lo, shape


def check_voxel_size(h) -> float:
    try:
        h = float(h)
    except (TypeError, ValueError):
        raise InputError(f"voxel size h must be a number in mm, got {h!r}") from None
    if not (math.isfinite(h) and 0.1 <= h <= 5.0):
        raise InputError(f"voxel size h must lie in [0.1, 5] mm for vertebral models, got {h!r}")
    return h


def global_bounds(geom: VertebraGeometry, frame: Frame):
    lo_l, hi_l = geom.local_bounds()
    corners = np.array([[a, b, c] for a in (lo_l[0], hi_l[0]) for b in (lo_l[1], hi_l[1])
                        for c in (lo_l[2], hi_l[2])])
    g = frame.to_global(corners)
    return g.min(axis=0), g.max(axis=0)


def level_meta(geom: VertebraGeometry, frame: Frame) -> dict:
    """Per-level provenance and landmarks in global coordinates [mm]."""
    lm = geom.landmarks()
    out = {"frame": frame.as_dict(),
           "morphometry": {k: v for k, v in geom.m.__dict__.items()},
           "body_centroid_mm": frame.to_global(lm["body_centre"]).tolist(),
           "superior_endplate_centre_mm": frame.to_global(lm["superior_endplate_centre"]).tolist(),
           "inferior_endplate_centre_mm": frame.to_global(lm["inferior_endplate_centre"]).tolist(),
           "superior_endplate_normal": frame.direction_to_global([0, 0, 1.0]).tolist(),
           "body_height_mm": float(geom.rim_height(0.0)),
           "body_depth_mm": float(geom.depth),
           "basivertebral_foramen": {
               "centre_mm": frame.to_global(lm["foramen_centre"]).tolist(),
               "axis": frame.direction_to_global([0, 1.0, 0]).tolist(),
               "radius_mm": geom.foramen_radius}}
    if geom.posterior_elements:
        peds = {}
        for side in ("left", "right"):
            t = geom.pedicle_trajectory(side)
            peds[side] = {"entry_mm": frame.to_global(t["entry_mm"]).tolist(),
                          "isthmus_mm": frame.to_global(t["isthmus_mm"]).tolist(),
                          "target_mm": frame.to_global(t["target_mm"]).tolist(),
                          "direction": frame.direction_to_global(t["direction"]).tolist(),
                          "pedicle_width_mm": t["pedicle_width_mm"],
                          "pedicle_height_mm": t["pedicle_height_mm"],
                          "length_mm": t["length_mm"]}
        out["pedicles"] = peds
    return out


# ---------------------------------------------------------------------------- builders
def _single_level_arrays(geom, frame, origin, h, shape):
    """Voxelise one vertebra into full-grid arrays: labels (uint8),
    cortical_fraction, endplate_fraction, basivertebral_foramen, and the
    fraction of shell volume lost outside the model."""
    vox = voxelise_vertebra(geom, frame, origin, h, shape)
    labels = np.zeros(shape, np.uint8)
    f = np.zeros(shape)
    fe = np.zeros(shape)
    foramen = np.zeros(shape)
    sl = tuple(slice(a, a + n) for a, n in zip(vox.lo, vox.labels.shape))
    labels[sl] = vox.labels
    f[sl] = vox.cortical_fraction
    fe[sl] = vox.endplate_fraction
    foramen[sl] = vox.foramen
    return labels, f, fe, foramen, vox.shell_lost_fraction


def build_vertebra(level: str = "L2", h: float = 1.0, *, morphometry: VertebraMorphometry | None = None,
                   posterior_elements: bool = True, foramen_radius: float = FORAMEN_RADIUS_MM,
                   wedge: bool = False) -> VoxelModel:
    """One parametric vertebra as a labelled voxel model.

    level : 'T11' ... 'L5' (table dimensions) unless ``morphometry`` is given;
    h : voxel size [mm].  Fields: ``cortical_fraction``, ``endplate_fraction`` [-],
    ``basivertebral_foramen`` (1 in the opening).  meta['levels'][level] holds
    the morphometry used, landmarks and pedicle trajectories (global, mm)."""
    t0 = time.perf_counter()
    h = check_voxel_size(h)
    m = morphometry if morphometry is not None else vertebra_morphometry(level)
    geom = VertebraGeometry(m, wedge=wedge, posterior_elements=posterior_elements,
                            foramen_radius=foramen_radius)
    frame = Frame()
    lo, hi = global_bounds(geom, frame)
    origin, shape = grid_for_bounds(lo, hi, h)
    labels, f, fe, foramen, shell_lost = _single_level_arrays(geom, frame, origin, h, shape)
    level_arr = np.where(labels != Label.VOID, 0, NO_LEVEL).astype(np.int8)
    model = VoxelModel(labels, h, tuple(origin), level_arr, (m.level,),
                       {"cortical_fraction": f, "endplate_fraction": fe,
                        "basivertebral_foramen": foramen},
                       {"builder": "biomech.meshes.vertebra.build_vertebra",
                        "voxel_size_mm": h,
                        "levels": {m.level: level_meta(geom, frame)},
                        "rules": _rules(h),
                        "sources": dict(SOURCES),
                        "shell_volume_lost_fraction": shell_lost})
    return model.with_meta(build_time_s=time.perf_counter() - t0)


def _rules(h) -> dict:
    return {"occupancy": "voxel in the model when its centre is inside the structure",
            "cortical_fraction": "supersampled volume fraction of the side-wall cortical shell, "
                                 f"conserved into model voxels ({supersampling(h)}^3 samples per "
                                 "band voxel)",
            "endplate_fraction": "the same for the bony endplates",
            "modulus": "E = f_c E_cortical + f_e E_endplate + (1 - f_c - f_e) E_core (Voigt)",
            "shell_label": "body voxels holding shell volume or on the body boundary: ENDPLATE where "
                           "endplate volume exceeds side-wall volume, else CORTICAL",
            "foramen": "basivertebral foramen voxels: CANCELLOUS, cortical_fraction 0, "
                       "field basivertebral_foramen = 1",
            "axes": "x left-right (+left), y antero-posterior (+posterior), z +cranial (DICOM LPS)"}


def build_vertebral_body_with_caps(level: str = "L2", h: float = 1.0, *,
                                   cap_thickness_mm: float = 6.0, cap_margin_mm: float = 3.0,
                                   posterior_elements: bool = False,
                                   morphometry: VertebraMorphometry | None = None,
                                   foramen_radius: float = FORAMEN_RADIUS_MM) -> VoxelModel:
    """A single vertebra between two PMMA end caps, as loaded in cadaver tests.

    Each cap (label PMMA_CAP, levels 'cap_inferior' / 'cap_superior') fills the
    endplate concavity and extends ``cap_thickness_mm`` beyond the highest /
    lowest rim point, over the endplate outline grown by ``cap_margin_mm``; its
    outer face is a plane parallel to the local xy plane (plano-parallel
    platens).  meta['caps'] gives the z of the outer faces [mm]."""
    if not 0.5 <= cap_thickness_mm <= 50.0:
        raise InputError(f"cap_thickness_mm must lie in [0.5, 50], got {cap_thickness_mm}")
    if not 0.0 <= cap_margin_mm <= 20.0:
        raise InputError(f"cap_margin_mm must lie in [0, 20], got {cap_margin_mm}")
    t0 = time.perf_counter()
    h = check_voxel_size(h)
    m = morphometry if morphometry is not None else vertebra_morphometry(level)
    geom = VertebraGeometry(m, posterior_elements=posterior_elements, foramen_radius=foramen_radius)
    frame = Frame()
    lo, hi = global_bounds(geom, frame)
    z_rim_top = 0.5 * max(geom.Ha, geom.Hp)
    z_top = z_rim_top + cap_thickness_mm
    z_bot = -z_rim_top - cap_thickness_mm
    lo = np.minimum(lo, [-(max(m.superior_width, m.inferior_width) / 2 + cap_margin_mm), lo[1], z_bot])
    hi = np.maximum(hi, [max(m.superior_width, m.inferior_width) / 2 + cap_margin_mm, hi[1], z_top])
    # the caps' outer faces must fall on voxel faces: choose the grid so
    z_top = math.floor(z_top / h) * h
    z_bot = math.ceil(z_bot / h) * h
    origin, shape = grid_for_bounds(lo, hi, h)
    labels, f, fe, foramen, shell_lost = _single_level_arrays(geom, frame, origin, h, shape)
    level_arr = np.where(labels != Label.VOID, 0, NO_LEVEL).astype(np.int8)
    c = block_centres(np.zeros(3, int), np.array(shape), origin, h)
    x, y, z = c[:, 0], c[:, 1], c[:, 2]
    a, b, y0 = geom.outline(np.sign(z) * 0.5 * geom.height)
    g, _ = geom._indent(x, a + cap_margin_mm)
    ye = np.where(y > y0, y + g, y)
    Fm, _, _ = _superellipse(x / (a + cap_margin_mm), (ye - y0) / (b + cap_margin_mm), geom.n)
    inside_outline = Fm <= 1.0
    Fs, _ = geom.section_radius(x, y, np.full_like(z, 0.5 * geom.height))
    Fi, _ = geom.section_radius(x, y, np.full_like(z, -0.5 * geom.height))
    sup = inside_outline & (z > geom.superior_z(x, y, Fs)) & (z < z_top)
    inf = inside_outline & (z < geom.inferior_z(x, y, Fi)) & (z > z_bot)
    free = (labels.ravel() == Label.VOID)
    lab = labels.ravel().copy()
    lev = level_arr.ravel().copy()
    lab[free & sup] = Label.PMMA_CAP
    lev[free & sup] = 2
    lab[free & inf] = Label.PMMA_CAP
    lev[free & inf] = 1
    model = VoxelModel(lab.reshape(shape), h, tuple(origin), lev.reshape(shape),
                       (m.level, "cap_inferior", "cap_superior"),
                       {"cortical_fraction": f, "endplate_fraction": fe,
                        "basivertebral_foramen": foramen},
                       {"builder": "biomech.meshes.vertebra.build_vertebral_body_with_caps",
                        "voxel_size_mm": h,
                        "levels": {m.level: level_meta(geom, frame)},
                        "caps": {"superior_face_z_mm": z_top, "inferior_face_z_mm": z_bot,
                                 "thickness_mm": cap_thickness_mm, "margin_mm": cap_margin_mm},
                        "rules": _rules(h), "sources": dict(SOURCES),
                        "shell_volume_lost_fraction": shell_lost})
    return model.with_meta(build_time_s=time.perf_counter() - t0)
