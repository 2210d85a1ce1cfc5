"""Real vertebra geometry: closed surfaces -> labelled voxel models, and the
shipped Clouthier mean lumbar shape (L2-L5).

Rules (documented choices):

* **Axes**: the surface is turned into the biomech axes (x left-right, y
  +posterior, z +cranial) by ``axes`` (a 3x3 rotation, file -> biomech) or
  ``'auto'``: z is taken as cranial and the posterior direction is the one from
  the bone's centroid to the centroid of the vertebral canal (the hole of the
  bone's projection along z).
* **Occupancy**: a voxel is bone when its centre is inside the surface (exact
  parity test, :func:`~biomech.meshes.surface.inside_mask`).
* **Body / posterior split**: with ``body_surface`` the body is what lies inside
  it; otherwise the coronal plane through the anterior-most point of the canal
  (the posterior wall at the midline) splits the bone: anterior = body,
  posterior = POSTERIOR (the pedicle bases behind the posterior wall go to the
  posterior elements).
* **Shell**: body points within ``cortical_thickness`` (side wall) or
  ``endplate_thickness`` (where the nearest triangle's normal is within 45
  degrees of the z axis) of the surface, by exact point-to-triangle distance,
  supersampled; partial volumes as in :mod:`biomech.meshes.partial_volume`.
  Body voxels holding shell volume or touching the outside are CORTICAL or
  ENDPLATE (majority of their shell sub-samples), the rest CANCELLOUS.
* **Discs** (:func:`segment_from_surfaces`): between two vertebral bodies the
  disc fills, column by column along z, the gap between the upper body's lowest
  and the lower body's highest voxel where both bodies exist; nucleus = the
  innermost ``nucleus_area_fraction`` of the disc section (by in-plane distance
  to its outline), cartilage endplate = one layer (>= ``cartilage_thickness``)
  on each bony surface over the central 70 % of the diameter.
"""
from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from biomech.errors import InputError, MeshError

from .labels import Label
from .morphometry import DiscMorphometry, contiguous_levels, disc_name
from .self_intersection import intersecting_triangle_pairs
from .partial_volume import chunk_voxels, conserve_shell_volume, supersampling
from .surface import SurfaceDistance, TriSurface, inside_mask
from .voxel_model import NO_LEVEL, VoxelModel

DATA = Path(__file__).resolve().parent / "data"
CLOUTHIER_FILE = DATA / "clouthier_mean_lumbar.npz"
#: Citation of the Clouthier et al. mean lumbar shape model (data and licence).
CLOUTHIER_CITATION = (
    "Clouthier AL, Wenghofer J, Wai EK, Graham RB. Morphable models of the lumbar spine to vary "
    "geometry based on pathology, demographics, and anatomical measurements. J Biomech "
    "2023;146:111421. doi:10.1016/j.jbiomech.2022.111421 (MIT licence, meshes/data/LICENSE-clouthier)")
#: SSM axes (x anterior, y lateral, z cranial) -> biomech (x lateral, y posterior, z cranial).
CLOUTHIER_AXES = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
ENDPLATE_NORMAL_COS = np.cos(np.radians(45.0))


# ---------------------------------------------------------------------------- orientation
def auto_axes(surface: TriSurface, h: float = 1.0) -> np.ndarray:
    """Rotation (file -> biomech) with z kept cranial and +y towards the canal."""
    lo = surface.vertices.min(axis=0) - 2 * h
    shape = tuple(np.ceil((np.ptp(surface.vertices, axis=0) + 4 * h) / h).astype(int))
    inside = inside_mask(surface, lo, h, shape)
    proj = inside.any(axis=2)
    hole = ndimage.binary_fill_holes(proj) & ~proj
    if hole.sum() < 4:
        raise InputError("cannot orient the vertebra automatically: no vertebral canal found "
                         "(a body-only surface?); pass axes=3x3 rotation (file -> biomech)")
    c_bone = np.argwhere(inside)[:, :2].mean(axis=0)
    c_hole = np.argwhere(hole).mean(axis=0)
    d = c_hole - c_bone
    d /= np.linalg.norm(d)
    y = np.array([d[0], d[1], 0.0])
    z = np.array([0.0, 0.0, 1.0])
    x = np.cross(y, z)
    return np.stack([x, y, z])          # rows: biomech axes in file coordinates


# ---------------------------------------------------------------------------- one vertebra
def _fine_block_mean(fine, s):
    nx, ny, nz = (v // s for v in fine.shape)
    return fine.reshape(nx, s, ny, s, nz, s).mean(axis=(1, 3, 5))


def voxelise_vertebra_surface(surface: TriSurface, origin, h: float, shape, *,
                              body_surface: TriSurface | None = None,
                              cortical_thickness: float = 0.4, endplate_thickness: float = 0.35):
    """(labels, cortical_fraction, endplate_fraction, shell_lost, split_y) of one
    vertebra surface (biomech axes) on the grid (origin [mm], h [mm], shape)."""
    origin = np.asarray(origin, float)
    inside = inside_mask(surface, origin, h, shape)
    if not inside.any():
        raise MeshError("the surface encloses no voxel centre at this voxel size")
    if body_surface is not None:
        body = inside & inside_mask(body_surface, origin, h, shape)
        split_y = None
    else:
        proj = inside.any(axis=2)
        hole = ndimage.binary_fill_holes(proj) & ~proj
        if hole.sum() >= 4:
            ij = np.argwhere(hole)
            split_y = origin[1] + (ij[:, 1].min() + 0.5) * h - 0.5 * h
            yc = origin[1] + (np.arange(shape[1]) + 0.5) * h
            body = inside & (yc[None, :, None] < split_y)
        else:
            split_y = None
            body = inside.copy()
    if not body.any():
        raise MeshError("no vertebral-body voxel: check the axes (+y must point posteriorly)")
    # sub-samples of the band voxels: shell fraction and occupancy
    t_max = max(cortical_thickness, endplate_thickness)
    outside_edt = ndimage.distance_transform_edt(~inside) * h
    inside_edt = ndimage.distance_transform_edt(inside) * h
    band = (body | ndimage.binary_dilation(body)) & (np.where(inside, inside_edt, outside_edt)
                                                     <= t_max + 1.8 * h)
    s = supersampling(h)
    idx = np.argwhere(band)
    g = (np.arange(s) + 0.5) / s
    offs = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3) * h
    cort_raw = np.zeros(shape)
    ep_raw = np.zeros(shape)
    occupancy = inside.astype(float)
    dist = SurfaceDistance(surface, k=8)
    # the sub-samples are the centres of the fine grid of spacing h/s
    fshape = tuple(int(v) * s for v in shape)

    def fine_blocks(surf):
        fine = inside_mask(surf, origin, h / s, fshape)
        return fine.reshape(shape[0], s, shape[1], s, shape[2], s).transpose(0, 2, 4, 1, 3, 5)
    ins_all = fine_blocks(surface)
    ins_body_all = fine_blocks(body_surface) if body_surface is not None else None
    bsurf_inside = None
    chunk = chunk_voxels(s)
    for st in range(0, len(idx), chunk):
        sel = idx[st:st + chunk]
        pts = (origin + sel[:, None, :] * h + offs[None]).reshape(-1, 3)
        ii3 = (sel[:, 0], sel[:, 1], sel[:, 2])
        ins = ins_all[ii3].reshape(-1)
        if ins_body_all is not None:
            ins_b = ins & ins_body_all[ii3].reshape(-1)
        elif split_y is not None:
            ins_b = ins & (pts[:, 1] < split_y)
        else:
            ins_b = ins
        d = np.full(len(pts), np.inf)
        nrm_z = np.zeros(len(pts))
        cand = np.flatnonzero(ins_b)
        if cand.size:
            dd, tri = dist(pts[cand], max_distance=t_max)
            d[cand] = dd
            nrm_z[cand] = np.where(np.isfinite(dd), np.abs(dist.normals[tri, 2]), 0.0)
        is_ep = nrm_z >= ENDPLATE_NORMAL_COS
        sh_e = ins_b & is_ep & (d <= endplate_thickness)
        sh_c = ins_b & ~is_ep & (d <= cortical_thickness)
        k = len(offs)
        ii = tuple(sel.T)
        occupancy[ii] = ins.reshape(-1, k).mean(axis=1)
        cort_raw[ii] = sh_c.reshape(-1, k).mean(axis=1)
        ep_raw[ii] = sh_e.reshape(-1, k).mean(axis=1)
    del bsurf_inside
    f_c, _ = conserve_shell_volume(cort_raw, occupancy, body)
    f_e, _ = conserve_shell_volume(ep_raw, occupancy, body)
    tot = f_c + f_e
    over = tot > 1.0
    f_c[over] /= tot[over]
    f_e[over] /= tot[over]
    raw_total = cort_raw.sum() + ep_raw.sum()
    lost = 0.0 if raw_total == 0 else max(0.0, 1.0 - (f_c.sum() + f_e.sum()) / raw_total)
    pad = np.pad(inside, 1, constant_values=False)
    boundary = body & ~(pad[2:, 1:-1, 1:-1] & pad[:-2, 1:-1, 1:-1] & pad[1:-1, 2:, 1:-1]
                        & pad[1:-1, :-2, 1:-1] & pad[1:-1, 1:-1, 2:] & pad[1:-1, 1:-1, :-2])
    shellvox = body & ((f_c + f_e > 0) | boundary)
    labels = np.zeros(shape, np.uint8)
    labels[inside & ~body] = Label.POSTERIOR
    labels[body] = Label.CANCELLOUS
    labels[shellvox & (f_e > f_c)] = Label.ENDPLATE
    labels[shellvox & (f_e <= f_c)] = Label.CORTICAL
    return labels, f_c, f_e, lost, split_y


#: Peak bytes per grid voxel while a surface is voxelised (fields, fine blocks, labels;
#: 67 B measured for a 400 mm box at 1 mm), rounded up.
SURFACE_BYTES_PER_VOXEL = 72


def _check_one_vertebra(surface: TriSurface) -> None:
    """A vertebra is one closed piece that does not pass through itself: disjoint pieces
    are refused with their volumes, self-intersecting surfaces with the number of
    crossing triangle pairs and where the first one lies (:mod:`.self_intersection`)."""
    parts = surface.components()
    if len(parts) > 1:
        vols = [abs(p.signed_volume()) for p in parts]
        raise InputError(f"{surface.source or 'surface'}: {len(parts)} disjoint pieces (volumes "
                         f"{[round(v, 1) for v in vols[:5]]} mm^3); one vertebra is one closed "
                         "surface: pick one with TriSurface.components()")
    crossing = intersecting_triangle_pairs(surface.vertices, surface.faces)
    if len(crossing):
        where = surface.vertices[surface.faces[crossing[0, 0]]].mean(axis=0)
        raise InputError(f"{surface.source or 'surface'}: the surface passes through itself "
                         f"({len(crossing)} crossing triangle pairs, the first near "
                         f"{np.round(where, 1).tolist()} mm): its inside is not defined; repair "
                         "it (e.g. in MeshLab or with PyMeshFix) before voxelising")


def vertebra_from_surface(surface: TriSurface, h: float = 1.0, *, level: str = "L2",
                          axes="auto", body_surface: TriSurface | None = None,
                          cortical_thickness: float = 0.4, endplate_thickness: float = 0.35,
                          centre: bool = True) -> VoxelModel:
    """A labelled voxel model of one vertebra from its closed surface (mm).

    axes : 'auto', None (already in biomech axes) or a 3x3 rotation whose rows
    are the biomech x, y, z axes in file coordinates; body_surface : optional
    closed surface of the body alone (same file axes).  centre : move the body
    centroid to the origin.  Fields: ``cortical_fraction``, ``endplate_fraction``."""
    t0 = time.perf_counter()
    if not isinstance(surface, TriSurface):
        raise InputError("surface must be a TriSurface (see biomech.meshes.surface.read_surface)")
    _check_one_vertebra(surface)
    h = float(h)
    if not 0.1 <= h <= 5.0:
        raise InputError(f"voxel size h must lie in [0.1, 5] mm, got {h}")
    R = auto_axes(surface, max(h, 1.0)) if isinstance(axes, str) and axes == "auto" else (
        np.eye(3) if axes is None else np.asarray(axes, float))
    if R.shape != (3, 3) or not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise InputError("axes must be a proper 3x3 rotation matrix (rows = biomech axes)")
    surf = surface.transformed(R)
    bsurf = body_surface.transformed(R) if body_surface is not None else None
    lo = np.floor(surf.vertices.min(axis=0) / h) * h - 2 * h
    hi = np.ceil(surf.vertices.max(axis=0) / h) * h + 2 * h
    shape = tuple(int(round(v)) for v in (hi - lo) / h)
    from .ct import check_voxel_budget
    check_voxel_budget(int(np.prod(shape, dtype=np.int64)), SURFACE_BYTES_PER_VOXEL,
                       f"{surface.source or 'surface'} ({np.round(hi - lo, 1).tolist()} mm) at "
                       f"{h:g} mm voxels")
    labels, f, fe, lost, split_y = voxelise_vertebra_surface(
        surf, lo, h, shape, body_surface=bsurf, cortical_thickness=cortical_thickness,
        endplate_thickness=endplate_thickness)
    level_arr = np.where(labels != Label.VOID, 0, NO_LEVEL).astype(np.int8)
    origin = lo
    if centre:
        body = np.isin(labels, [Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE])
        c = origin + (np.argwhere(body).mean(axis=0) + 0.5) * h
        origin = origin - np.round(c / h) * h
    model = VoxelModel(labels, h, tuple(origin), level_arr, (level,),
                       {"cortical_fraction": f, "endplate_fraction": fe},
                       {"builder": "biomech.meshes.real_vertebra.vertebra_from_surface",
                        "source": surface.source, "voxel_size_mm": h, "axes": R.tolist(),
                        "body_split": ("body surface" if body_surface is not None else
                                       f"coronal plane y = {split_y} mm (canal front)"
                                       if split_y is not None else "none"),
                        "cortical_thickness_mm": cortical_thickness,
                        "endplate_thickness_mm": endplate_thickness,
                        "shell_volume_lost_fraction": lost,
                        "surface_volume_mm3": surface.signed_volume()})
    return model.with_meta(build_time_s=time.perf_counter() - t0)


# ---------------------------------------------------------------------------- Clouthier
@functools.lru_cache(maxsize=1)
def _clouthier_surfaces() -> tuple:
    if not CLOUTHIER_FILE.is_file():
        raise InputError(f"the shipped Clouthier geometry {CLOUTHIER_FILE} is missing from the "
                         "installation")
    with np.load(CLOUTHIER_FILE) as d:
        v = d["vertices"].astype(np.float64)
        f = d["faces"].astype(np.int64)
    s = TriSurface(v, f, "clouthier-lumbar-ssm meanMesh").transformed(CLOUTHIER_AXES)
    comps = s.components()
    comps.sort(key=lambda c: -c.vertices[:, 2].mean())
    return tuple(c.repaired() for c in comps)


def clouthier_mean_lumbar() -> dict:
    """{'L2': TriSurface, ..., 'L5': ...}: the Clouthier et al. 2023 mean lumbar
    shape (87 patients), in situ, in biomech axes, mm.  Citation:
    :data:`~biomech.meshes.real_vertebra.CLOUTHIER_CITATION`."""
    return dict(zip(("L2", "L3", "L4", "L5"), _clouthier_surfaces()))


def clouthier_vertebra(level: str = "L2", h: float = 1.0, **kwargs) -> VoxelModel:
    """One vertebra of the shipped Clouthier mean shape as a labelled voxel model."""
    surfs = clouthier_mean_lumbar()
    if level not in surfs:
        raise InputError(f"the Clouthier mean shape has levels {sorted(surfs)}, not {level!r}")
    m = vertebra_from_surface(surfs[level], h, level=level, axes=None, **kwargs)
    return m.with_meta(citation=CLOUTHIER_CITATION)


def segment_from_surfaces(surfaces: dict, h: float = 1.0, *, disc: DiscMorphometry | None = None,
                          cortical_thickness: float = 0.4, endplate_thickness: float = 0.35,
                          citation: str = "") -> VoxelModel:
    """A segment from in-situ vertebra surfaces {level: TriSurface} (biomech
    axes, mm), discs added between adjacent bodies (module rules)."""
    levels = contiguous_levels(list(surfaces))
    h = float(h)
    allv = np.concatenate([surfaces[lv].vertices for lv in levels])
    lo = np.floor(allv.min(axis=0) / h) * h - 2 * h
    hi = np.ceil(allv.max(axis=0) / h) * h + 2 * h
    shape = tuple(int(round(v)) for v in (hi - lo) / h)
    names = []
    for i, lv in enumerate(levels):
        names.append(lv)
        if i + 1 < len(levels):
            names.append(disc_name(lv, levels[i + 1]))
    labels = np.zeros(shape, np.uint8)
    level = np.full(shape, NO_LEVEL, np.int8)
    f = np.zeros(shape)
    fe = np.zeros(shape)
    for lv in levels:
        lab, fr, fre, _, _ = voxelise_vertebra_surface(surfaces[lv], lo, h, shape,
                                                        cortical_thickness=cortical_thickness,
                                                        endplate_thickness=endplate_thickness)
        take = (lab != Label.VOID) & (labels == Label.VOID)
        labels[take] = lab[take]
        level[take] = names.index(lv)
        f[take] = fr[take]
        fe[take] = fre[take]
    d = disc or DiscMorphometry("disc", height=10.0, wedge_angle_deg=0.0)
    for up, dn in zip(levels[:-1], levels[1:]):
        _fill_disc(labels, level, names.index(up), names.index(dn), names.index(disc_name(up, dn)),
                   d, h)
    model = VoxelModel(labels, h, tuple(lo), level, tuple(names),
                       {"cortical_fraction": f, "endplate_fraction": fe},
                       {"builder": "biomech.meshes.real_vertebra.segment_from_surfaces",
                        "voxel_size_mm": h, "citation": citation,
                        "disc_rule": "column fill between bodies; nucleus by in-plane distance "
                                     f"quantile {d.nucleus_area_fraction}; cartilage endplate "
                                     f">= {d.cartilage_thickness} mm over the central 70 %"})
    return model


def _fill_disc(labels, level, i_up, i_dn, i_disc, d: DiscMorphometry, h):
    body = np.isin(labels, [Label.CORTICAL, Label.CANCELLOUS, Label.ENDPLATE])
    up = body & (level == i_up)
    dn = body & (level == i_dn)
    nz = labels.shape[2]
    k = np.arange(nz)[None, None, :]
    z_up = np.where(up, k, nz).min(axis=2)          # lowest voxel of the upper body
    z_dn = np.where(dn, k, -1).max(axis=2)          # highest voxel of the lower body
    cols = (z_up < nz) & (z_dn >= 0) & (z_up > z_dn + 1)
    if not cols.any():
        raise InputError(f"no disc space between levels {i_up} and {i_dn}: the bodies do not "
                         "overlap in projection or touch")
    section = ndimage.binary_opening(cols, iterations=1) if cols.sum() > 50 else cols
    edt = ndimage.distance_transform_edt(section)
    r = edt[section]
    q_n = np.quantile(r, 1.0 - d.nucleus_area_fraction)
    q_c = np.quantile(r, 1.0 - d.cartilage_extent ** 2)
    n_cep = max(1, int(round(d.cartilage_thickness / h)))
    for i, j in np.argwhere(section):
        a, b = z_dn[i, j] + 1, z_up[i, j]
        seg = slice(a, b)
        free = labels[i, j, seg] == Label.VOID
        lab = np.where(edt[i, j] >= q_n, Label.NUCLEUS, Label.ANNULUS).astype(np.uint8)
        col = np.full(b - a, lab, np.uint8)
        if edt[i, j] >= q_c and b - a > 2 * n_cep:
            col[:n_cep] = Label.CARTILAGE_ENDPLATE
            col[-n_cep:] = Label.CARTILAGE_ENDPLATE
        labels[i, j, seg] = np.where(free, col, labels[i, j, seg])
        level[i, j, seg] = np.where(free, i_disc, level[i, j, seg])


def clouthier_segment(levels=("L2", "L3"), h: float = 1.0, **kwargs) -> VoxelModel:
    """A segment of the shipped Clouthier mean shape (levels among L2-L5) with
    discs filled between the bodies (:func:`segment_from_surfaces`)."""
    surfs = clouthier_mean_lumbar()
    levels = contiguous_levels(levels)
    missing = [lv for lv in levels if lv not in surfs]
    if missing:
        raise InputError(f"the Clouthier mean shape has levels L2-L5, not {missing}")
    return segment_from_surfaces({lv: surfs[lv] for lv in levels}, h,
                                 citation=CLOUTHIER_CITATION, **kwargs)
