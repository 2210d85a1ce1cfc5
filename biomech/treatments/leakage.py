"""Cement leak sites: where cement that leaves the vertebral body goes, and how it is counted.

Leak rules
----------
* Cement flows only through the trabecular compartment of the treated level (cancellous
  bone, fracture zone, lytic tissue, angioma, compacted and blastic bone).  Intact cortex,
  bony endplate and posterior elements are impermeable to cement.
* A *breach* is any place where that compartment touches a voxel outside the body that
  cement can enter: void (soft tissue, canal, veins) or disc tissue.  In an intact
  vertebra the only breach is the basivertebral foramen; conditions add others (a lytic
  lesion that destroyed the posterior wall or an endplate, a fracture cleft reaching the
  cortex).
* Cement that crosses a breach is a leak, never augmentation.  Its site is decided by the
  first outside voxel it enters and is kept along its path (cement that leaves through the
  basivertebral foramen stays a venous leak when it spreads into the canal):

  ========================  =====================================================
  site                      first outside voxel
  ========================  =====================================================
  ``venous``                void at the basivertebral foramen (meta radius + 1.5 h,
                            or next to the ``basivertebral_foramen`` field)
                            (Yeom type B: the basivertebral vein)
  ``spinal_canal``          void in the spinal canal or the anterior epidural space
                            (posterior-wall breach)
  ``disc``                  nucleus, annulus or cartilage endplate (endplate breach)
  ``paravertebral``         any other void (anterior / lateral cortical defects;
                            segmental veins and soft tissue, Yeom types S and C)
  ========================  =====================================================

* Outside, cement spreads with a site-dependent permeability relative to the reference
  trabecular bone: venous 2 (the basivertebral vein and the plexus it drains into),
  spinal canal 0.2 (epidural fat and venous plexus), paravertebral 0.1 (soft tissue,
  segmental veins), disc 0.04 (cement tears into disc tissue through an endplate defect).
  These are assumptions of the front model, not measured values (no measurement of cement
  spreading in these tissues was found): a leak channel is narrow, so per voxel of path it
  resists more than a broad front in bone does.  They set how far a leak spreads once out,
  not whether it happens: the mouth of a breach passes cement like the reference bone
  (``FlowParameters.breach_mouth_factor``), and sub-voxel routes (veins, cracks, needle
  tracks) carry their own conductance (:mod:`biomech.treatments.leak_routes`).
* ``needle_track`` -- cement that flowed back along a needle and out through its entry hole
  (pedicle or lateral cortex); see :func:`biomech.treatments.leak_routes.needle_track`.
* Leaked voxels are labelled LEAKED_CEMENT with the field ``cement_leak_site`` (the codes
  of :class:`~biomech.meshes.labels.LeakSite`); their volume is the full voxel.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..meshes.labels import LEAK_SITE_NAMES, Label, LeakSite
from ..meshes.neighbours import face_neighbours


#: Site code -> name used in results (``leaked_ml_by_site``) and CSV columns: the one table
#: of leak sites, :data:`biomech.meshes.labels.LEAK_SITE_NAMES` (the codes are a model field,
#: so the table sits with the labels, where the pictures read it too).
SITE_NAMES = LEAK_SITE_NAMES

#: Permeability of outside tissue relative to the reference trabecular bone (assumption).
OUTSIDE_PERMEABILITY_FACTOR = {LeakSite.SPINAL_CANAL: 0.2, LeakSite.DISC: 0.04,
                               LeakSite.VENOUS: 2.0, LeakSite.PARAVERTEBRAL: 0.1}

#: Labels outside the body that cement can enter.
OUTSIDE_ENTERABLE = (Label.VOID, Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE)


def canal_mask(model, geo) -> np.ndarray:
    """Void voxels of the spinal canal next to vertebra ``geo`` (all z).

    With ``meta canal`` (centre_mm (x, y), half_axes_mm (ax, ay)): the ellipse plus the
    anterior epidural strip between the posterior wall and the canal centre, |x - cx| <= ax.
    Without it: a box behind the posterior wall (0.52 x body width wide, 0.5 x body depth
    deep) plus, per z-slice, void regions behind the wall enclosed by bone in the slice."""
    void = model.labels == Label.VOID
    P = model.centres()
    h = model.h
    if geo.canal:
        cx, cy = geo.canal["centre_mm"][:2]
        ax, ay = geo.canal["half_axes_mm"][:2]
        X, Y = P[..., 0], P[..., 1]
        ell = ((X - cx) / ax) ** 2 + ((Y - cy) / ay) ** 2 <= 1.0
        strip = (Y >= geo.posterior_y_mm - h) & (Y <= cy) & (np.abs(X - cx) <= ax)
        return void & (ell | strip)
    # fallback: a box behind the posterior wall (lumbar canal ~ 0.52 x body width wide and
    # ~0.5 x body depth deep, e.g. 23 x 17 mm behind a 44 x 34 mm L2 body; assumption) ...
    X, Y = P[..., 0], P[..., 1]
    out = void & (Y >= geo.posterior_y_mm - h) & (Y <= geo.posterior_y_mm + 0.5 * geo.depth_mm) \
        & (np.abs(X - geo.centroid_mm[0]) <= 0.26 * geo.width_mm)
    # ... plus, per z-slice, void enclosed by bone behind the wall (the arch around the canal)
    behind = P[..., 1] >= geo.posterior_y_mm - h
    for k in range(model.shape[2]):
        lab, n = ndimage.label(void[:, :, k])
        if n == 0:
            continue
        border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
        enclosed = np.isin(lab, border, invert=True) & (lab > 0)
        out[:, :, k] |= enclosed & behind[:, :, k]
    return out


def foramen_mask(model, geo) -> np.ndarray:
    """Void voxels at the basivertebral foramen: within meta ``centre_mm`` / ``radius_mm``
    + 1.5 h, or face neighbours of voxels of this level marked by the field
    ``basivertebral_foramen`` (> 0.5)."""
    void = model.labels == Label.VOID
    out = np.zeros(model.shape, bool)
    if geo.foramen:
        c = np.asarray(geo.foramen["centre_mm"], float)
        r = float(geo.foramen["radius_mm"]) + 1.5 * model.h
        d2 = ((model.centres() - c) ** 2).sum(-1)
        out |= void & (d2 <= r * r)
    if "basivertebral_foramen" in model.fields:
        fo = (np.asarray(model.fields["basivertebral_foramen"]) > 0.5) & (model.level == geo.level_index)
        if fo.any():
            out |= void & face_neighbours(fo)
    return out


def outside_sites(model, geo) -> np.ndarray:
    """(nx, ny, nz) int8: the leak site of each enterable outside voxel, 0 elsewhere."""
    site = np.zeros(model.shape, np.int8)
    lab = model.labels
    disc = np.isin(lab, [Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE])
    void = lab == Label.VOID
    site[void] = LeakSite.PARAVERTEBRAL
    site[canal_mask(model, geo)] = LeakSite.SPINAL_CANAL
    site[foramen_mask(model, geo)] = LeakSite.VENOUS
    site[disc] = LeakSite.DISC
    return site


def leak_volumes_ml(sites: np.ndarray, volumes_mm3: np.ndarray) -> dict:
    """{site name: leaked volume [mL]} for every site (0.0 where none)."""
    out = {}
    for code, name in SITE_NAMES.items():
        out[name] = float(volumes_mm3[sites == code].sum()) / 1000.0
    return out
