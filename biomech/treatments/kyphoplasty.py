"""Balloon kyphoplasty: cavity, compacted shell, height restoration, cement fill, overfill.

Steps (each a documented rule)
------------------------------
1. **Height restoration** (optional, fractured level only): ``height_restoration`` is the
   fraction of the recorded height loss given back, column by column (the inverse of the
   fracture's geometry change: the body is stretched and what lies above turns back as one
   rigid body about the posterior-superior edge (:mod:`biomech.conditions.alignment`), so
   the kyphosis falls with the height; or the discs give back the endplate depressions for
   a biconcave fracture).
2. **Cavity**: one balloon per needle lies on the trajectory, its distal end at the needle
   tip (anterior third), ``balloon_length_mm`` long (clipped 3 mm short of the posterior
   wall).  The balloons take the ``balloon_volume_ml`` (total) of trabecular voxels nearest
   to their axes; cortex, endplates and blastic bone stop them, so the cavity is bounded by
   endplates and cortex.
3. **Compacted shell**: the bone that was in the cavity is pushed into a shell of
   trabecular voxels around it, ``compacted_thickness_mm`` thick (default 2 mm), whose
   BV/TV rises by (bone volume of the cavity) / (shell volume) -- mass conservation (the
   BV/TV-based approach of Purcell et al., Proc IMechE H 228, 2014).  If that would exceed
   ``compacted_max_bvtv`` (0.6) the shell thickens one voxel at a time.  Its modulus follows
   the density law at the new density; its permeability the porosity law (lower: the shell
   seals the cavity).
4. **Cement**: the cavity fills with bulk cement (label CEMENT) from the balloon axes outward,
   then an interdigitation layer ``interdigitation_mm`` (1 mm) into the shell (cement-bone
   composite, Purcell et al., Int J Spine Surg 2021: interlock with the compacted bone; at
   least one voxel thick, a voxel thicker than the layer taking the layer's share of cement);
   cement beyond that (overfill) follows the vertebroplasty front from the whole cavity
   surface, with its leaks.  The default cement volume fills cavity and layer exactly.
"""
from __future__ import annotations

import copy
import logging

import numpy as np
from scipy import ndimage

from ..cement import get_cement
from ..conditions import vertebra_geometry
from ..conditions.alignment import change_height_aligned, pad_column_records, pad_columns
from ..errors import InputError
from ..materials import TISSUE_MINERAL_DENSITY_G_CM3
from ..meshes.labels import Label
from .flow import FlowParameters, FlowResult, build_domain, inject
from .leak_risk import LeakRiskParameters, cavity_leak_risk
from .leakage import LeakSite, leak_volumes_ml
from .needle import plan_needles, validate_needles
from .vertebroplasty import (TreatmentResult, _points, add_treatment_record, injection_window,
                             level_checks, write_cement)

log = logging.getLogger(__name__)

#: Largest volume one balloon may take [mL] (inflatable bone tamps hold about 3-4 mL;
#: beyond 6 mL the request is treated as a mistake).
MAX_BALLOON_ML = 6.0
BALLOON_TISSUE = (Label.CANCELLOUS, Label.FRACTURE_ZONE, Label.LYTIC, Label.ANGIOMA)


def restore_height(model, level, fraction):
    """Give back ``fraction`` of the recorded height loss of ``level``; (model, restored mm)."""
    if fraction == 0:                       # range [0, 1]: checked by the Kyphoplasty plan
        return model, 0.0
    rec = (model.meta.get("fractures") or {}).get(level)
    if rec is None:
        raise InputError(f"{level} has no recorded compression fracture: height_restoration must "
                         "be 0 (apply OsteoporoticFracture first)")
    lost = np.asarray(rec["loss_voxels"]) - np.asarray(rec["restored_voxels"])
    r = np.rint(fraction * lost).astype(np.int64)
    if not r.any():
        return model, 0.0
    current = (np.radians(rec.get("tilt_above_deg", 0.0)), rec.get("shift_above_mm", 0.0))
    new, motion = change_height_aligned(model, level, -r, rec["mode"], total_vox=lost - r,
                                        current=current, hinge=rec.get("hinge_mm"))
    new = new.with_meta(**pad_column_records(dict(new.meta), motion["pad_lo"], new.shape[:2]))
    r = pad_columns(r, motion["pad_lo"], new.shape[:2])
    rec = new.meta["fractures"][level]
    meta = copy.deepcopy(dict(new.meta))
    fr = dict(meta["fractures"])
    rec2 = dict(fr[level])
    rec2["restored_voxels"] = np.asarray(rec["restored_voxels"]) + r
    if rec["mode"] == "superior":
        rec2["tilt_above_deg"], rec2["shift_above_mm"] = motion["tilt_deg"], motion["shift_mm"]
    fr[level] = rec2
    meta["fractures"] = fr
    return new.with_meta(**meta), float(r.max() * model.h)


def _segment_distance(P, a, b):
    """Distance [mm] of points P (..., 3) to the segment a-b."""
    ab = b - a
    L2 = float(ab @ ab)
    if L2 == 0.0:
        return np.sqrt(((P - a) ** 2).sum(-1))
    t = np.clip(((P - a) @ ab) / L2, 0.0, 1.0)
    proj = a + t[..., None] * ab
    return np.sqrt(((P - proj) ** 2).sum(-1))


def balloon_cavity(model, geo, needles, volume_ml, balloon_length_mm):
    """(cavity mask, distance-to-balloon-axis field [mm]) for the balloons on ``needles``."""
    P = model.centres()
    cand = geo.body & np.isin(model.labels, [int(l) for l in BALLOON_TISSUE])
    dist = np.full(model.shape, np.inf)
    for nd in needles:
        u = nd.axis
        tip = np.asarray(nd.tip_mm, float)
        back = balloon_length_mm
        if u[1] < -1e-6:   # the needle points anterior: keep the balloon off the posterior wall
            back = min(back, max(0.0, (geo.posterior_y_mm - 3.0 - tip[1]) / (-u[1])))
        dist = np.minimum(dist, _segment_distance(P, tip - back * u, tip))
    n = int(round(volume_ml * 1000.0 / model.h ** 3))
    n_cand = int(cand.sum())
    if n > 0.8 * n_cand:
        raise InputError(f"balloon_volume_ml={volume_ml:g} exceeds what {geo.level} can hold "
                         f"(at most 80 % of its {n_cand * model.h ** 3 / 1000:.1f} mL of "
                         "trabecular bone)")
    d = np.where(cand, dist, np.inf).ravel()
    order = np.lexsort((np.arange(d.size), d))[:n]
    cavity = np.zeros(model.shape, bool)
    cavity.ravel()[order] = True
    return cavity, dist


def compacted_shell(model, geo, cavity, thickness_mm, max_bvtv):
    """(shell mask, new BV/TV in the shell, final thickness [mm]) by mass conservation."""
    h = model.h
    bv = np.asarray(model.fields["bvtv"]) if "bvtv" in model.fields else np.full(model.shape, 0.10)
    tissue = geo.body & np.isin(model.labels, [int(l) for l in BALLOON_TISSUE + (Label.COMPACTED,)]) \
        & ~cavity
    dcav = ndimage.distance_transform_edt(~cavity, sampling=h)
    bone_mm3 = float(bv[cavity].sum()) * h ** 3
    t = max(thickness_mm, h)
    while True:
        shell = tissue & (dcav <= t + 1e-9)
        n = int(shell.sum())
        if n == 0:
            return shell, bv, t
        inc = bone_mm3 / (n * h ** 3)
        new_bv = np.where(shell, bv + inc, bv)
        if new_bv[shell].max() <= max_bvtv or t > 10.0:
            if t > 10.0:
                log.warning("compacted shell reached 10 mm without staying below BV/TV %.2f", max_bvtv)
            return shell, new_bv, t
        t += h


def kyphoplasty(model, level: str, *, approach: str = "bipedicular", side: str = "left",
                balloon_volume_ml: float = 3.0, cement_volume_ml: float | None = None,
                height_restoration: float = 0.0, cement="pmma",
                injection_time_min: float | None = None, flow_rate_ml_per_min: float = 1.0,
                tip_depth: float = 0.30, tips_mm=None, entries_mm=None,
                balloon_length_mm: float = 12.0, compacted_thickness_mm: float = 2.0,
                compacted_max_bvtv: float = 0.6, interdigitation_mm: float = 1.0,
                flow: FlowParameters | None = None, prophylactic: bool = False,
                leak_risk=None, cannula=None, cement_temperature_C=None,
                cement_library=None) -> TreatmentResult:
    """Balloon kyphoplasty of vertebra ``level`` (see the module docstring for the rules).

    balloon_volume_ml : total inflation volume of all balloons [mL];
    cement_volume_ml : cement injected [mL] (default: fills cavity and interdigitation layer);
    height_restoration : fraction [0, 1] of the recorded height loss given back.
    Other keywords as :func:`~biomech.treatments.vertebroplasty`.
    """
    from .plans import Kyphoplasty                  # every range, declared once
    Kyphoplasty(level, approach=approach, side=side, balloon_volume_ml=balloon_volume_ml,
                cement_volume_ml=cement_volume_ml, height_restoration=height_restoration,
                cement=cement, injection_time_min=injection_time_min,
                flow_rate_ml_per_min=flow_rate_ml_per_min, tip_depth=tip_depth,
                tips_mm=_points(tips_mm), entries_mm=_points(entries_mm),
                balloon_length_mm=balloon_length_mm, compacted_thickness_mm=compacted_thickness_mm,
                compacted_max_bvtv=compacted_max_bvtv, interdigitation_mm=interdigitation_mm,
                flow=flow, prophylactic=prophylactic, leak_risk=leak_risk, cannula=cannula,
                cement_temperature_C=cement_temperature_C)
    if interdigitation_mm > compacted_thickness_mm:
        raise InputError(f"interdigitation_mm must lie in [0, compacted_thickness_mm="
                         f"{compacted_thickness_mm}], got {interdigitation_mm!r}")
    cem = get_cement(cement, cement_library).at_temperature(cement_temperature_C)
    params = flow or FlowParameters()
    vertebra_geometry(model, level)                 # unknown level -> clear error first
    msgs = level_checks(model, level, prophylactic)
    model, restored_mm = restore_height(model, level, height_restoration)
    geo = vertebra_geometry(model, level)
    needles = plan_needles(model, geo, approach, side=side, tip_depth=tip_depth, tips_mm=tips_mm,
                           entries_mm=entries_mm)
    validate_needles(model, geo, needles)
    h = model.h
    cavity, axis_dist = balloon_cavity(model, geo, needles, balloon_volume_ml, balloon_length_mm)
    per_balloon = balloon_volume_ml / len(needles)
    if per_balloon > MAX_BALLOON_ML:
        raise InputError(f"{per_balloon:g} mL per balloon exceeds {MAX_BALLOON_ML:g} mL "
                         "(inflatable bone tamps hold about 3-4 mL)")
    shell, new_bv, t_shell = compacted_shell(model, geo, cavity, compacted_thickness_mm,
                                             compacted_max_bvtv)
    cavity_mm3 = float(cavity.sum()) * h ** 3
    dcav = ndimage.distance_transform_edt(~cavity, sampling=h)
    # the layer is at least one voxel; a voxel thicker than the layer takes its share only
    layer = shell & (dcav <= max(interdigitation_mm, h) + 1e-9) if interdigitation_mm > 0 else \
        np.zeros(model.shape, bool)
    layer_cap = h ** 3 * (1.0 - np.clip(new_bv, 0.0, 1.0)) * min(1.0, interdigitation_mm / h)
    layer_mm3 = float(layer_cap[layer].sum())
    vol_ml = (cavity_mm3 + layer_mm3) / 1000.0 if cement_volume_ml is None else cement_volume_ml
    t0, t1 = injection_window(cem, injection_time_min, vol_ml, flow_rate_ml_per_min)

    # tissue changes: compacted shell, emptied cavity
    labels = np.array(model.labels)
    flds = dict(model.fields)
    labels[shell] = Label.COMPACTED
    bv = np.array(new_bv, dtype=np.float64)
    bv[cavity] = 0.0
    flds["bvtv"] = bv
    if "density_g_cm3" in flds:
        rho = np.array(flds["density_g_cm3"], dtype=np.float64)
        rho[shell] = bv[shell] * TISSUE_MINERAL_DENSITY_G_CM3
        rho[cavity] = 0.0
        flds["density_g_cm3"] = rho
    labels[cavity] = Label.VOID
    work = model.with_labels(labels).with_field("bvtv", bv)
    for k, v in flds.items():
        if k != "bvtv":
            work = work.with_field(k, v)

    # fill order: cavity from the balloon axes outward, then the layer nearest the cavity
    vol = vol_ml * 1000.0
    cav_idx = np.flatnonzero(cavity.ravel())
    cav_idx = cav_idx[np.lexsort((cav_idx, axis_dist.ravel()[cav_idx]))]
    n_cav = min(cav_idx.size, int(np.floor(vol / h ** 3 + 1e-9)))
    filled_cav = cav_idx[:n_cav]
    remaining = vol - n_cav * h ** 3
    partial = []
    if n_cav < cav_idx.size:            # underfilled cavity: the rest stays empty (void)
        if remaining > 1e-9:
            partial = [(cav_idx[n_cav], remaining)]
            remaining = 0.0
        msgs.append(f"cement volume {vol_ml:g} mL underfills the {cavity_mm3 / 1000:.2f} mL cavity; "
                    "the unfilled cavity is left void")
        log.warning(msgs[-1])
    lay_idx = np.flatnonzero(layer.ravel())
    lay_idx = lay_idx[np.lexsort((lay_idx, dcav.ravel()[lay_idx]))]
    lay_vol = layer_cap.ravel()[lay_idx]
    lay_cum = np.cumsum(lay_vol)
    n_lay = int(np.searchsorted(lay_cum, remaining - 1e-9, side="left")) + 1 if remaining > 1e-9 else 0
    n_lay = min(n_lay, lay_idx.size)
    lay_used = lay_vol[:n_lay].copy()
    if n_lay and lay_cum[n_lay - 1] > remaining:
        lay_used[-1] -= lay_cum[n_lay - 1] - remaining
    remaining -= float(lay_used.sum())
    filled_lay = lay_idx[:n_lay]

    bulk = np.zeros(model.shape, bool)
    bulk.ravel()[filled_cav] = True
    for f, _ in partial:
        bulk.ravel()[f] = True
    cav_fill = FlowResult(np.stack(np.unravel_index(np.concatenate([filled_cav, [p[0] for p in partial]]
                                                                   ).astype(np.int64), model.shape), 1),
                          np.zeros(n_cav + len(partial), np.int8),
                          np.concatenate([np.full(n_cav, h ** 3), [p[1] for p in partial]]),
                          (np.arange(n_cav + len(partial)) * h ** 3) / 1000.0,
                          n_cav * h ** 3 + sum(p[1] for p in partial))
    lay_fill = FlowResult(np.stack(np.unravel_index(filled_lay.astype(np.int64), model.shape), 1),
                          np.zeros(n_lay, np.int8), lay_used,
                          (cav_fill.injected_mm3 + np.concatenate([[0.0], np.cumsum(lay_used)[:-1]])
                           ) / 1000.0 if n_lay else np.zeros(0), float(lay_used.sum()))
    fills = [cav_fill, lay_fill]
    over = None
    if remaining > 1e-6:
        if n_cav < cav_idx.size:
            raise InputError("internal: overfill with an unfilled cavity")
        filled_mask = bulk.copy()
        filled_mask.ravel()[filled_lay] = True
        tmp = work.with_labels(np.where(bulk, Label.CEMENT, work.labels).astype(np.uint8))
        domain = build_domain(tmp, geo, params, bulk_cavity=filled_mask)
        box = domain.box
        domain.capacity[filled_mask[box]] = 0.0
        if remaining > domain.pore_volume_mm3:
            raise InputError(f"cement_volume_ml={vol_ml:g} exceeds what {level} can hold")
        over = inject(domain, np.argwhere(filled_mask), remaining, cem, t0, flow_rate_ml_per_min,
                      params, prefilled_mm3=vol - remaining)
        if over.injected_mm3 < remaining * (1 - 1e-9):
            raise InputError(f"only {(vol - remaining + over.injected_mm3) / 1000:.2f} of {vol_ml:g} mL "
                             f"could be placed in {level}")
        keep = ~filled_mask[tuple(over.ijk.T)]
        over = FlowResult(over.ijk[keep], over.site[keep], over.volume_mm3[keep],
                          over.arrival_ml[keep], float(over.volume_mm3[keep].sum()))
        fills.append(over)
    new = write_cement(work, fills, cem, cavity=bulk)
    sites = np.concatenate([f.site for f in fills])
    vols = np.concatenate([f.volume_mm3 for f in fills])
    placed = float(vols[sites == LeakSite.BODY].sum()) / 1000.0
    leaks = leak_volumes_ml(sites, vols)
    body_ml = float(geo.body.sum()) * h ** 3 / 1000.0
    record = {"kind": "kyphoplasty", "level": level, "approach": approach, "cement": cem.name,
              "volume_ml": float(vol_ml), "placed_ml": placed, "leaked_ml_by_site": leaks,
              "balloon_volume_ml": float(balloon_volume_ml), "cavity_ml": cavity_mm3 / 1000.0,
              "compacted_thickness_mm": float(t_shell), "height_restored_mm": restored_mm,
              "injection_time_min": t0, "needles": [(nd.entry_mm, nd.tip_mm) for nd in needles],
              "prophylactic": bool(prophylactic)}
    risk = cavity_leak_risk(work, geo, needles, cem, t0, flow_rate_ml_per_min, cavity, vol,
                            body_ml, params, leak_risk or LeakRiskParameters(), cannula)
    record["leak_exits"] = list(risk.exits) if risk is not None else []
    record["leak_risk"] = risk.summary() if risk is not None else None
    new = add_treatment_record(new, record)
    return TreatmentResult(
        model=new, kind="kyphoplasty", level=level, approach=approach, needles=needles, cement=cem,
        injection_time_min=t0, flow_rate_ml_per_min=float(flow_rate_ml_per_min),
        viscosity_start_Pa_s=float(cem.viscosity(t0)), viscosity_end_Pa_s=float(cem.viscosity(t1)),
        injected_ml=float(vols.sum()) / 1000.0, placed_ml=placed, leaked_ml_by_site=leaks,
        fill_fraction=placed / body_ml, body_volume_ml=body_ml, cavity_ml=cavity_mm3 / 1000.0,
        compacted_ml=float(shell.sum()) * h ** 3 / 1000.0, height_restored_mm=restored_mm,
        warnings=tuple(msgs), leak_risk=risk,
        peak_injection_pressure_MPa=risk.peak_pressure_MPa_mean if risk is not None else 0.0)
