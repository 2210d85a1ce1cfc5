"""Percutaneous vertebroplasty: cement injected through one or two needles spreads as a
pressure-driven front through the trabecular bone (:mod:`biomech.treatments.flow`); filled
voxels become cement-bone composite, cement that crosses a breach is a leak
(:mod:`biomech.treatments.leakage`).

Volume accounting: a trabecular voxel takes ``h^3 (1 - BV/TV)`` of cement (the marrow
space), an outside voxel (leak) the full ``h^3``.  The front stops when the injected volume
is reached; the last voxel is partly filled, so ``injected = placed + leaked`` exactly and
the labelled volumes match it to one voxel.

``fill_fraction`` = placed cement volume / vertebral body volume (the clinical measure:
about 15 % restores stiffness, Molloy et al. / Liebschner et al.).
"""
from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from ..cement import Cement, get_cement
from ..conditions import is_intact, vertebra_geometry, vertebra_levels
from ..errors import InputError
from ..meshes.labels import Label
from .flow import FlowParameters, assemble_domain, domain_base, inject
from .injection_pressure import Cannula, pressure_history
from .leak_risk import LeakRiskParameters, assess_leak_risk
from .leak_routes import needle_track
from .leakage import SITE_NAMES, LeakSite, leak_volumes_ml
from .needle import plan_needles, source_voxels, validate_needles

log = logging.getLogger(__name__)

#: Clinical advice: at most three levels per session.
MAX_ADVISED_LEVELS = 3


@dataclass(frozen=True)
class TreatmentResult:
    """Outcome of a cement augmentation.  Volumes in mL, times in min after mixing."""

    model: object
    kind: str
    level: str
    approach: str
    needles: tuple
    cement: Cement
    injection_time_min: float
    flow_rate_ml_per_min: float
    viscosity_start_Pa_s: float
    viscosity_end_Pa_s: float
    injected_ml: float
    placed_ml: float
    leaked_ml_by_site: dict
    fill_fraction: float
    body_volume_ml: float
    cavity_ml: float = 0.0
    compacted_ml: float = 0.0
    height_restored_mm: float = 0.0
    warnings: tuple = field(default_factory=tuple)
    leak_risk: object = None            # LeakRisk of the realisations (None: not assessed)
    peak_injection_pressure_MPa: float = 0.0    # of the mean-property fill
    pressure: object = None             # PressureHistory of the mean-property fill

    @property
    def leaked_ml(self) -> float:
        return float(sum(self.leaked_ml_by_site.values()))

    def summary(self) -> dict:
        """Flat metrics with the project's names (units in the names)."""
        out = {"treatment": self.kind, "level": self.level, "approach": self.approach,
               "cement": self.cement.name, "injection_time_min": self.injection_time_min,
               "viscosity_start_Pa_s": self.viscosity_start_Pa_s,
               "viscosity_end_Pa_s": self.viscosity_end_Pa_s,
               "injected_ml": self.injected_ml, "cement_volume_ml": self.placed_ml,
               "fill_fraction": self.fill_fraction, "leak_volume_ml": self.leaked_ml,
               "cavity_ml": self.cavity_ml, "height_restored_mm": self.height_restored_mm}
        for name, v in self.leaked_ml_by_site.items():
            out[f"leak_volume_ml_{name}"] = v
        out["peak_injection_pressure_MPa"] = self.peak_injection_pressure_MPa
        if self.leak_risk is not None:
            out.update(self.leak_risk.summary())
        return out


def _points(points):
    """A list of points as a tuple of 3-tuples (None stays None)."""
    return None if points is None else tuple(tuple(p) for p in points)


def injection_window(cement: Cement, injection_time_min, volume_ml, flow_rate_ml_per_min):
    """(start, end) [min after mixing]; InputError if the cement sets before the end."""
    t0 = cement.default_injection_time_min if injection_time_min is None else injection_time_min
    t1 = t0 + volume_ml / flow_rate_ml_per_min
    if t1 >= cement.setting_time_min:
        raise InputError(f"injecting {volume_ml:g} mL at {flow_rate_ml_per_min:g} mL/min from "
                         f"{t0:g} min ends at {t1:g} min, after {cement.name!r} sets "
                         f"({cement.setting_time_min:g} min after mixing); inject earlier, faster "
                         "or less")
    return float(t0), float(t1)


def treated_levels(model) -> list:
    return sorted({rec["level"] for rec in (model.meta.get("treatments") or [])
                   if "level" in rec})


def level_checks(model, level, prophylactic) -> list:
    """Prophylactic and number-of-levels checks; returns warning messages."""
    msgs = []
    if prophylactic:
        if not is_intact(model, level):
            raise InputError(f"prophylactic augmentation needs an intact level; {level} has a "
                             "recorded fracture, lesion or treatment")
        verts = vertebra_levels(model)
        i = verts.index(level)
        neighbours = set(verts[max(0, i - 1):i]) | set(verts[i + 1:i + 2])
        affected = set(treated_levels(model)) | set(model.meta.get("fractures") or {}) | \
            {rec.get("level") for rec in (model.meta.get("lesions") or [])}
        if not neighbours & affected:
            msgs.append(f"prophylactic augmentation of {level}: no neighbouring level is fractured, "
                        "diseased or treated")
    levels = set(treated_levels(model)) | {level}
    if len(levels) > MAX_ADVISED_LEVELS:
        msgs.append(f"{len(levels)} levels treated ({sorted(levels)}): clinical practice advises at "
                    f"most {MAX_ADVISED_LEVELS} levels per session")
    for m in msgs:                  # one channel: logging (also kept in TreatmentResult.warnings)
        log.warning(m)
    return msgs


def write_cement(model, fills, cement: Cement, *, cavity=None, cavity_label=Label.CEMENT):
    """Label filled voxels and write the cement fields.

    fills : list of FlowResult-like objects (ijk, site, arrival_ml); cavity : bool mask of
    bulk cement (kyphoplasty).  Inside-body fills become COMPOSITE (bulk cement where the
    cavity is), outside fills LEAKED_CEMENT."""
    labels = np.array(model.labels)
    flds = dict(model.fields)

    def fld(name, default):
        return np.array(flds[name], dtype=np.float64) if name in flds else np.full(model.shape, default)

    E = fld("cement_E_MPa", 0.0)
    nu = fld("cement_nu", 0.0)
    pore = fld("cement_pore_fraction", 0.0)
    arrival = fld("cement_arrival_ml", -1.0)
    site = fld("cement_leak_site", 0.0)
    all_mask = np.zeros(model.shape, bool)
    if cavity is not None:
        labels[cavity] = cavity_label
        all_mask |= cavity
    for f in fills:
        if len(f.ijk) == 0:
            continue
        idx = tuple(np.asarray(f.ijk).T)
        inside = np.asarray(f.site) == LeakSite.BODY
        ins = tuple(a[inside] for a in idx)
        out = tuple(a[~inside] for a in idx)
        keep = labels[ins] == Label.CEMENT
        labels[tuple(a[~keep] for a in ins)] = Label.COMPOSITE
        labels[out] = Label.LEAKED_CEMENT
        site[out] = np.asarray(f.site)[~inside]
        arrival[idx] = np.where(arrival[idx] < 0, f.arrival_ml, arrival[idx])
        all_mask[idx] = True
    E[all_mask] = cement.E_MPa
    nu[all_mask] = cement.nu
    pore[all_mask] = cement.pore_fraction
    flds.update({"cement_E_MPa": E, "cement_nu": nu, "cement_pore_fraction": pore,
                 "cement_arrival_ml": arrival, "cement_leak_site": site})
    return dataclasses.replace(model, labels=labels, fields=flds)


def add_treatment_record(model, record):
    meta = copy.deepcopy(dict(model.meta))
    meta["treatments"] = list(meta.get("treatments") or []) + [record]
    return model.with_meta(**meta)


def vertebroplasty(model, level: str, *, approach: str = "bipedicular", side: str = "left",
                   volume_ml: float = 4.0, cement="pmma", injection_time_min: float | None = None,
                   flow_rate_ml_per_min: float = 1.0, tip_depth: float = 0.30, tips_mm=None,
                   entries_mm=None, flow: FlowParameters | None = None, prophylactic: bool = False,
                   leak_risk: LeakRiskParameters | None = None, cannula: Cannula | None = None,
                   cement_temperature_C: float | None = None,
                   cement_library=None) -> TreatmentResult:
    """Inject ``volume_ml`` of ``cement`` into vertebra ``level`` and return the treated model.

    approach : "bipedicular" | "unipedicular" | "parapedicular" | "extrapedicular" | "lateral" (lumbar),
    ``side`` for the one-needle approaches; tips at ``tip_depth`` of the body depth behind the
    anterior wall unless ``tips_mm`` (and ``entries_mm``) are given.  ``injection_time_min``
    [min after mixing] defaults to the start of the cement's working window;
    ``flow_rate_ml_per_min`` sets how fast the clock runs during the injection (bipedicular:
    total of both needles, injected simultaneously).  See :mod:`biomech.treatments.flow` for
    the front model and ``flow`` for its parameters.

    The labelled model is the fill with mean properties (plus the needle tracks at their
    median gap); ``leak_risk`` (:class:`~biomech.treatments.leak_risk.LeakRiskParameters`,
    default 64 seeded realisations; ``realisations=0`` skips them) samples the bone's
    variability for the leak probabilities; ``cannula`` sets the injection-pressure model;
    ``cement_temperature_C`` [degC] rescales the cement's clock
    (:meth:`~biomech.cement.Cement.at_temperature`; default: its reference temperature).
    """
    from .plans import Vertebroplasty               # every range, declared once
    Vertebroplasty(level, approach=approach, side=side, volume_ml=volume_ml, cement=cement,
                   injection_time_min=injection_time_min, flow_rate_ml_per_min=flow_rate_ml_per_min,
                   tip_depth=tip_depth, tips_mm=_points(tips_mm), entries_mm=_points(entries_mm),
                   flow=flow, prophylactic=prophylactic, leak_risk=leak_risk, cannula=cannula,
                   cement_temperature_C=cement_temperature_C)
    cem = get_cement(cement, cement_library).at_temperature(cement_temperature_C)
    params = flow or FlowParameters()
    risk = leak_risk or LeakRiskParameters()
    geo = vertebra_geometry(model, level)
    needles = plan_needles(model, geo, approach, side=side, tip_depth=tip_depth, tips_mm=tips_mm,
                           entries_mm=entries_mm)
    validate_needles(model, geo, needles)
    base = domain_base(model, geo, params)
    tracks = [needle_track(model, nd, risk.needle_gap_mm) for nd in needles] \
        if risk.needle_gap_mm > 0 else []
    domain = assemble_domain(base, params, channels=tracks)
    vol = volume_ml * 1000.0
    if vol > domain.pore_volume_mm3:
        raise InputError(f"volume_ml={volume_ml:g} exceeds what {level} can hold: its trabecular "
                         f"pore volume is {domain.pore_volume_mm3 / 1000.0:.2f} mL")
    t0, t1 = injection_window(cem, injection_time_min, volume_ml, flow_rate_ml_per_min)
    msgs = level_checks(model, level, prophylactic)
    sources = source_voxels(model, needles)
    res = inject(domain, sources, vol, cem, t0, flow_rate_ml_per_min, params)
    if res.injected_mm3 < vol * (1 - 1e-9):
        raise InputError(f"only {res.injected_mm3 / 1000:.2f} of {volume_ml:g} mL could be placed in "
                         f"{level}: the reachable bone is full")
    new = write_cement(model, [res], cem)
    placed = float(res.volume_mm3[res.site == LeakSite.BODY].sum()) / 1000.0
    leaks = leak_volumes_ml(res.site, res.volume_mm3)
    body_ml = float(geo.body.sum()) * model.h ** 3 / 1000.0
    off = np.array([sl.start for sl in domain.box])
    press = pressure_history(cem, t0, flow_rate_ml_per_min, len(needles), res.volume_mm3,
                             np.full(len(res.ijk), model.h ** 3),
                             domain.permeability_mm2[tuple((res.ijk - off).T)], cannula)
    risk_res = assess_leak_risk(base, model, geo, needles, cem, t0, flow_rate_ml_per_min, vol,
                                sources, body_ml, params, risk, cannula=cannula)
    record = {"kind": "vertebroplasty", "level": level, "approach": approach, "cement": cem.name,
              "volume_ml": float(volume_ml), "placed_ml": placed, "leaked_ml_by_site": leaks,
              "injection_time_min": t0, "flow_rate_ml_per_min": float(flow_rate_ml_per_min),
              "needles": [(nd.entry_mm, nd.tip_mm) for nd in needles],
              "prophylactic": bool(prophylactic),
              "leak_exits": list(risk_res.exits) if risk_res is not None else [],
              "leak_risk": risk_res.summary() if risk_res is not None else None}
    new = add_treatment_record(new, record)
    log.info("vertebroplasty %s: %.2f mL placed, %.2f mL leaked", level, placed, sum(leaks.values()))
    return TreatmentResult(
        model=new, kind="vertebroplasty", level=level, approach=approach, needles=needles,
        cement=cem, injection_time_min=t0, flow_rate_ml_per_min=float(flow_rate_ml_per_min),
        viscosity_start_Pa_s=float(cem.viscosity(t0)), viscosity_end_Pa_s=float(cem.viscosity(t1)),
        injected_ml=res.injected_mm3 / 1000.0, placed_ml=placed, leaked_ml_by_site=leaks,
        fill_fraction=placed / body_ml, body_volume_ml=body_ml, warnings=tuple(msgs),
        leak_risk=risk_res, peak_injection_pressure_MPa=press.peak_MPa, pressure=press)


__all__ = ["vertebroplasty", "TreatmentResult", "SITE_NAMES", "MAX_ADVISED_LEVELS"]
