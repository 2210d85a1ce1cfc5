"""Cement flow in a vertebral body: the resistance field and the front kernel wrapper.

Model (an explicit choice; see ``kernels/cement_flow.py`` for the growth rule)
------------------------------------------------------------------------------
The front invades the voxel with the smallest ``S * D_c + theta``:

* ``D_c`` -- cumulative Darcy resistance from the needle tip (pressure drop per unit flux,
  in millimetres of reference bone): a voxel of permeability k costs ``h * k_ref / k``
  along z and ``anisotropy`` times that along x and y.
* Permeability from porosity (Kozeny-Carman form, scaled to the lumbar reference):
  ``k(phi) = k_ref * [phi^3 / (1 - phi)^2] / [phi_ref^3 / (1 - phi_ref)^2]`` with
  ``phi = 1 - BV/TV``; ``k_ref`` = 4.45e-8 m^2 (SI cores of lumbar vertebrae, Baroud et
  al., J Biomech 2004) at phi_ref = 0.90 (assumption: typical elderly BV/TV 0.10).
  Anisotropy SI / transverse = 2.05 (Nauman, Fong & Keaveny, Ann Biomed Eng 1999; Baroud
  2004 found AP = 0.78 SI).  A ``permeability_mm2`` field overrides the law (SI value).
* Lesions and clefts (factors on k, assumptions): fracture zone x5 (intravertebral cleft:
  cement pools there), angioma x10 (vascular lacunae), blastic x0.05 (sclerotic), lytic
  tissue 3 k_ref (no trabeculae; tumour tissue is displaced, not infiltrated).
* ``S = viscosity(t) / crossover_viscosity`` with t = injection start + injected volume /
  flow rate: the cement thickens during the injection.
* ``theta`` -- the marrow displaced by the cement leaves through the breaches (the
  basivertebral foramen, lesions, clefts); theta is the resistance of the marrow's path
  from the voxel to the nearest breach.  Low-viscosity cement (S ~ 1) therefore fingers
  along the marrow's escape path toward the breaches; high-viscosity cement (S >> 1)
  grows as a compact bolus (the stability argument of Bohner et al. 2003 and Trivedi et
  al., Biomech Model Mechanobiol 2023, where the marrow viscosity separates "high" from
  "low" viscosity cements).  ``crossover_viscosity_Pa_s`` (default 20 Pa s) is the
  cement viscosity at which both terms weigh the same per millimetre: a constant of this
  model, not a literature value.  It was not fitted; checked against independent data it
  gives, with the library cement curves, an expected leak of high- vs low-viscosity PMMA
  at 3.5 min of 0.23 (Habib et al., Int J Spine Surg 4:26, 2010, bench rig: 1.5 / 4.0 g =
  0.375; the injection-time effect is stronger than the rig's: 0.09 against 0.65) and, over the virtual cohort of ``benchmarks/leakage_validation.py``, a
  low-viscosity odds ratio of about 1.6 (Zhan et al. 2017, clinical: 3.32); see
  tests/test_leak_risk.py.
* Breaches: an outside voxel touching the body compartment (the mouth of a cortical or
  endplate defect, filled with haematoma and debris) passes cement like the reference bone
  (``breach_mouth_factor`` 1, assumption); the tissue factors of
  :data:`~biomech.treatments.leakage.OUTSIDE_PERMEABILITY_FACTOR` apply beyond it.
* Sub-voxel routes (needle tracks, veins, endplate cracks) are
  :class:`~biomech.treatments.leak_routes.Channel` objects added per realisation
  (:mod:`biomech.treatments.leak_risk`).
* ``heterogeneity`` adds a seeded uniform random threshold (in mm of reference bone) for
  irregular fronts; default 0 (deterministic, symmetric).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..describe import Described, param
from ..errors import InputError
from ..kernels.cement_flow import cement_front, resistance_distance
from ..meshes.labels import TRABECULAR_LABELS, Label
from ..meshes.neighbours import face_neighbours
from .leakage import OUTSIDE_PERMEABILITY_FACTOR, outside_sites

log = logging.getLogger(__name__)

#: Trabecular compartment the cement can flow through: the one definition is
#: :data:`biomech.meshes.labels.TRABECULAR_LABELS`.
FLOW_LABELS = TRABECULAR_LABELS


@dataclass(frozen=True)
class FlowParameters(Described):
    """Parameters of the cement-front model (see the module docstring)."""

    reference_permeability_mm2: float = param(4.45e-2, unit="mm2", range=(0.0, 10.0), lo_open=True,
                                              doc="SI permeability at the reference porosity "
                                                  "(4.45e-8 m^2, Baroud et al. 2004)")
    reference_porosity: float = param(0.90, range=(0.0, 1.0), lo_open=True, hi_open=True,
                                      doc="porosity of the reference permeability (assumption)")
    anisotropy_si_transverse: float = param(2.05, range=(0.1, 10.0),
                                            doc="SI / transverse permeability (Nauman 1999)")
    crossover_viscosity_Pa_s: float = param(20.0, unit="Pa s", range=(0.0, 1e5), lo_open=True,
                                            doc="calibration constant")
    drain_attraction: float = param(1.0, range=(0.0, 10.0), doc="weight of theta (1: as derived)")
    heterogeneity: float = param(0.0, unit="mm of reference bone", range=(0.0, 50.0),
                                 doc="random threshold amplitude")
    seed: int = param(0, range=(0, 2**32 - 1), doc="seed of the heterogeneity")
    margin_mm: float = param(12.0, unit="mm", range=(0.0, 100.0), doc="crop around the body for "
                                                                     "leaks")
    label_permeability_factor: dict = field(default_factory=lambda: {
        Label.FRACTURE_ZONE: 5.0, Label.ANGIOMA: 10.0, Label.BLASTIC: 0.05})
    lytic_permeability_factor: float = param(3.0, range=(0.0, 1000.0), lo_open=True,
                                             doc="times k_ref (absolute)")
    breach_mouth_factor: float = param(1.0, range=(0.0, 100.0), lo_open=True,
                                       doc="permeability of a breach's mouth / reference "
                                           "(assumption)")
    min_bvtv: float = param(0.02, range=(0.0, 0.5), lo_open=True,
                            doc="porosity cap of the permeability law (BV/TV floor)")


def kozeny_carman_permeability_mm2(bvtv, params: FlowParameters) -> np.ndarray:
    """SI permeability [mm^2] from BV/TV (Kozeny-Carman form scaled to the reference)."""
    phi = 1.0 - np.clip(bvtv, params.min_bvtv, 0.95)
    pr = params.reference_porosity
    kc = phi ** 3 / (1.0 - phi) ** 2
    return params.reference_permeability_mm2 * kc / (pr ** 3 / (1.0 - pr) ** 2)


@dataclass
class FlowDomain:
    """Arrays of one injection problem, cropped to ``box`` (slices into the model grid)."""

    box: tuple
    site: np.ndarray          # int8: -1 impassable, 0 body, > 0 outside site
    capacity: np.ndarray      # [mm^3]
    resist: np.ndarray        # (.., 3) [mm of reference bone]
    threshold: np.ndarray     # [mm of reference bone]
    interior: np.ndarray      # bool, body compartment
    permeability_mm2: np.ndarray   # SI permeability of the interior (0 elsewhere)

    @property
    def pore_volume_mm3(self) -> float:
        return float(self.capacity[self.interior].sum())


@dataclass
class DomainBase:
    """What does not change between random realisations of one injection problem: the
    crop ``box``, labels, compartments, outside sites, BV/TV and the mean permeability."""

    box: tuple
    h: float
    labels: np.ndarray        # uint8 labels in the box
    interior: np.ndarray      # bool, trabecular compartment of the level (+ cavity)
    site: np.ndarray          # int8: -1 impassable, 0 body, > 0 outside site
    out_site: np.ndarray      # int8: site code of every outside voxel (0 elsewhere)
    bvtv: np.ndarray          # [-]
    permeability_mm2: np.ndarray   # mean SI permeability [mm^2] (label factors applied)
    cavity: np.ndarray | None      # bool, bulk cavity (kyphoplasty) or None
    sealed: np.ndarray        # bool, bone that closes channels through it (compacted bone)

    def index(self, ijk_model) -> np.ndarray:
        """(n, 3) model-grid indices -> box indices (rows outside the box dropped)."""
        off = np.array([s.start for s in self.box])
        ijk = np.asarray(ijk_model, dtype=np.int64).reshape(-1, 3) - off
        ok = ((ijk >= 0) & (ijk < np.array(self.labels.shape))).all(axis=1)
        return ijk[ok]


def domain_base(model, geo, params: FlowParameters, *, extra_impassable=None,
                bulk_cavity=None) -> DomainBase:
    """The fixed arrays of the treated level ``geo`` (a VertebraGeometry).

    extra_impassable : bool mask (model grid) of voxels cement may not enter;
    bulk_cavity : bool mask of a kyphoplasty cavity (passable, capacity h^3)."""
    h = model.h
    lo = np.floor((geo.lo_mm - np.asarray(model.origin) - params.margin_mm) / h).astype(int)
    hi = np.ceil((geo.hi_mm - np.asarray(model.origin) + params.margin_mm) / h).astype(int)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, model.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    lab = np.asarray(model.labels[box])
    in_level = model.level[box] == geo.level_index
    interior = in_level & np.isin(lab, [int(l) for l in FLOW_LABELS])
    if bulk_cavity is not None:
        interior |= bulk_cavity[box]
    if extra_impassable is not None:
        interior &= ~extra_impassable[box]
    out_site = outside_sites(model, geo)[box]
    enterable = np.isin(lab, [Label.VOID, Label.NUCLEUS, Label.ANNULUS, Label.CARTILAGE_ENDPLATE])
    site = np.full(lab.shape, -1, np.int8)
    site[enterable] = out_site[enterable]
    if extra_impassable is not None:
        site[extra_impassable[box]] = -1
    site[interior] = 0
    bv = np.asarray(model.fields["bvtv"])[box] if "bvtv" in model.fields else np.full(lab.shape, 0.10)
    k = kozeny_carman_permeability_mm2(bv, params)
    if "permeability_mm2" in model.fields:
        kf = np.asarray(model.fields["permeability_mm2"])[box]
        k = np.where(kf > 0, kf, k)
    for labv, fac in params.label_permeability_factor.items():
        k = np.where(lab == labv, k * fac, k)
    k = np.where(lab == Label.LYTIC, params.lytic_permeability_factor * params.reference_permeability_mm2, k)
    return DomainBase(box, float(h), lab, interior, site, out_site.astype(np.int8), bv,
                      np.where(interior, k, 0.0),
                      None if bulk_cavity is None else np.asarray(bulk_cavity[box]),
                      lab == Label.COMPACTED)


@dataclass
class _Static:
    """Arrays of a DomainBase that do not change between realisations (flat indices)."""

    interior_idx: np.ndarray      # flat indices of the body compartment
    capacity: np.ndarray          # capacity without channels [mm^3]
    outside_idx: dict             # site code -> flat indices of outside voxels (mouths excluded)
    mouth_idx: np.ndarray         # outside voxels touching the body compartment
    drains: np.ndarray            # bool: interior voxels touching an outside voxel


def _static(base: DomainBase) -> _Static:
    st = getattr(base, "_static_cache", None)
    if st is not None:
        return st
    h = base.h
    interior = base.interior
    capacity = np.zeros(base.site.shape)
    capacity[interior] = h ** 3 * (1.0 - np.clip(base.bvtv[interior], 0.0, 1.0))
    if base.cavity is not None:
        capacity[base.cavity] = h ** 3
    outside = base.site > 0
    capacity[outside] = h ** 3
    mouth = outside & face_neighbours(interior)
    out_idx = {int(c): np.flatnonzero((outside & ~mouth & (base.out_site == c)).ravel())
               for c in np.unique(base.out_site[outside])}
    st = _Static(np.flatnonzero(interior.ravel()), capacity, out_idx,
                 np.flatnonzero(mouth.ravel()), interior & face_neighbours(outside))
    base._static_cache = st
    return st


def assemble_domain(base: DomainBase, params: FlowParameters, *, permeability_factor=None,
                    channels=(), outside_factor=None, seed_offset: int = 0) -> FlowDomain:
    """Resistance, capacity and threshold arrays of one realisation.

    permeability_factor : (box shape) multiplier of the interior permeability (a random
    field; None = 1); channels : :class:`~biomech.treatments.leak_routes.Channel` list
    (tubes: added permeability inside the body, gateways through bone they cross; bone
    compacted by a kyphoplasty balloon closes the channels through it: the tamp crushes
    the trabeculae, vessels and cracks around the cavity into a dense shell -- the usual
    explanation of kyphoplasty's lower leak rate, e.g. Zhan 2017);
    outside_factor : {site code: factor} replacing :data:`~biomech.treatments.leakage.OUTSIDE_PERMEABILITY_FACTOR`.

    Outside the body a voxel of site code c resists ``h / factor[c]``; the mouth of a
    breach (an outside voxel touching the body compartment) at most ``h /
    breach_mouth_factor``; a channel's gateway ``h k_ref / (G / h^2)``."""
    h = base.h
    st = _static(base)
    interior = base.interior
    shape = base.site.shape
    kref = params.reference_permeability_mm2
    ii = st.interior_idx
    k = np.zeros(int(np.prod(shape)))
    k[ii] = base.permeability_mm2.ravel()[ii]
    if permeability_factor is not None:
        k[ii] *= np.asarray(permeability_factor).ravel()[ii]
    site = base.site.copy()
    sflat = site.ravel()
    capacity = st.capacity.copy()
    cflat = capacity.ravel()
    gate_k = {}
    sealed = base.sealed.ravel()
    iflat = interior.ravel()
    for ch in channels:
        ijk = base.index(ch.ijk)
        if ijk.size == 0:
            continue
        f = np.ravel_multi_index(tuple(ijk.T), shape)
        k_tube = ch.permeability_mm2(h)
        ins = f[iflat[f] & ~sealed[f]]
        k[ins] += k_tube
        gates = f[(sflat[f] == -1) & ~iflat[f]]
        sflat[gates] = ch.site
        for g in gates.tolist():
            gate_k[g] = max(gate_k.get(g, 0.0), k_tube)
        cflat[gates] = min(h ** 3, ch.volume_per_voxel_mm3(h))
    resist = np.zeros((int(np.prod(shape)), 3))
    rz = h * kref / k[ii]
    resist[ii, 0] = rz * params.anisotropy_si_transverse
    resist[ii, 1] = resist[ii, 0]
    resist[ii, 2] = rz
    if base.cavity is not None:
        resist[np.flatnonzero(base.cavity.ravel())] = 0.0
    factors = OUTSIDE_PERMEABILITY_FACTOR if outside_factor is None else outside_factor
    mouth_r = h / params.breach_mouth_factor
    for code, idx in st.outside_idx.items():
        if code in factors:
            resist[idx] = h / factors[code]
    mi = st.mouth_idx
    if mi.size:
        codes = base.out_site.ravel()[mi]
        r_m = np.array([h / factors[int(c)] if int(c) in factors else 0.0 for c in codes])
        resist[mi] = np.minimum(r_m, mouth_r)[:, None]
    drains = st.drains
    if gate_k:
        gi = np.fromiter(gate_k.keys(), np.int64, len(gate_k))
        resist[gi] = (h * kref / np.fromiter(gate_k.values(), float, len(gate_k)))[:, None]
        drains = drains.copy()
        g3 = np.stack(np.unravel_index(gi, shape), 1)
        for ax in range(3):
            for step in (-1, 1):
                nb = g3.copy()
                nb[:, ax] += step
                nb = nb[(nb[:, ax] >= 0) & (nb[:, ax] < shape[ax])]
                t = tuple(nb.T)
                drains[t] |= interior[t]
    resist = resist.reshape(shape + (3,))

    # theta: resistance of the marrow's path to the nearest breach
    threshold = np.zeros(shape)
    if params.drain_attraction > 0 and drains.any():
        seeds = np.flatnonzero(drains.ravel()).astype(np.int64)
        cost = 0.5 * resist.reshape(-1, 3)[seeds].min(axis=1)
        dist = resistance_distance(interior, resist, seeds, cost)
        finite = np.isfinite(dist)
        fill = dist[finite].max() if finite.any() else 0.0
        threshold = params.drain_attraction * np.where(finite, dist, fill)
        threshold[~interior] = 0.0
    if params.heterogeneity > 0:
        rng = np.random.default_rng(params.seed + seed_offset)
        threshold = threshold + np.where(interior, params.heterogeneity * h * rng.random(shape), 0.0)
    return FlowDomain(base.box, site, capacity, resist, np.ascontiguousarray(threshold),
                      interior, k.reshape(shape))


def build_domain(model, geo, params: FlowParameters, *, extra_impassable=None,
                 bulk_cavity=None, channels=()) -> FlowDomain:
    """Flow arrays of the treated level ``geo`` (a VertebraGeometry) with mean properties:
    :func:`domain_base` then :func:`assemble_domain` (``channels``: needle tracks, veins)."""
    return assemble_domain(domain_base(model, geo, params, extra_impassable=extra_impassable,
                                       bulk_cavity=bulk_cavity), params, channels=channels)


@dataclass
class FlowResult:
    """Voxels filled by one injection (indices into the model grid)."""

    ijk: np.ndarray           # (n, 3) int64, fill order
    site: np.ndarray          # (n,) int8 LeakSite code (0 inside the body)
    volume_mm3: np.ndarray    # (n,) cement volume in each voxel (the last one partial)
    arrival_ml: np.ndarray    # (n,) injected volume when the front arrived [mL]
    injected_mm3: float


def viscosity_knots(cement, t0_min, flow_rate_ml_per_min, volume_mm3, crossover, n=33):
    """(volume [mm^3], S [-]) knots of the viscosity scale during the injection."""
    vols = np.linspace(0.0, volume_mm3, n)
    times = t0_min + vols / 1000.0 / flow_rate_ml_per_min
    return vols, np.asarray(cement.viscosity(times), dtype=np.float64) / crossover


def inject(domain: FlowDomain, sources_ijk, volume_mm3, cement, t0_min, flow_rate_ml_per_min,
           params: FlowParameters, *, prefilled_mm3: float = 0.0) -> FlowResult:
    """Run the front kernel; ``sources_ijk`` (n, 3) in model-grid indices.

    ``prefilled_mm3`` is cement already placed (kyphoplasty cavity) before this front
    starts: it shifts the clock of the viscosity curve."""
    off = np.array([s.start for s in domain.box])
    src = np.ascontiguousarray(np.asarray(sources_ijk, dtype=np.int64).reshape(-1, 3) - off)
    if (src < 0).any() or (src >= np.array(domain.site.shape)).any():
        raise InputError("a cement source lies outside the flow domain of the level")
    vols, scale = viscosity_knots(cement, t0_min + prefilled_mm3 / 1000.0 / flow_rate_ml_per_min,
                                  flow_rate_ml_per_min, volume_mm3,
                                  params.crossover_viscosity_Pa_s)
    order, cum, fsite, _ = cement_front(
        np.ascontiguousarray(domain.site, dtype=np.int8),
        np.ascontiguousarray(domain.capacity, dtype=np.float64),
        np.ascontiguousarray(domain.resist, dtype=np.float64),
        np.ascontiguousarray(domain.threshold, dtype=np.float64), src,
        np.ascontiguousarray(vols, dtype=np.float64), np.ascontiguousarray(scale, dtype=np.float64),
        float(volume_mm3))
    vol = domain.capacity.ravel()[order].copy()
    injected = float(cum[-1]) if cum.size else 0.0
    if injected > volume_mm3 and vol.size:
        vol[-1] -= injected - volume_mm3
        injected = float(volume_mm3)
    shape = domain.site.shape
    ijk = np.stack(np.unravel_index(order, shape), axis=1) + off
    arrival = (prefilled_mm3 + np.concatenate([[0.0], cum[:-1]])) / 1000.0 if cum.size else cum
    return FlowResult(ijk, fsite.astype(np.int8), vol, arrival, injected)
