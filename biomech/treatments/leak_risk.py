"""Leak as a probability: random realisations of the bone's permeability, its veins and the
needle-track gap, each run through the cement front; per case the probability of any leak
and of a leak at each site with a Wilson confidence interval, the expected leaked volume,
the spread of the fill and the peak injection pressure.

What varies between realisations (each a documented input of :class:`LeakRiskParameters`)
------------------------------------------------------------------------------------------
* **Permeability within the body**: a log-normal random field, mean 1, on the mean
  permeability of :mod:`biomech.treatments.flow`; Gaussian-filtered white noise with
  correlation length ``correlation_length_mm`` (covariance exp(-r^2 / l^2)).  Its CoV follows
  from the regional variation of BV/TV inside a lumbar body (``bvtv_cov_within``) through
  the slope of the Kozeny-Carman law at the body's BV/TV (d ln k / d ln BV/TV ~ -2 in
  osteoporotic bone).  Regional BV/TV CoV 0.25: an assumption of the order of the regional
  differences measured in lumbar bodies (Hulme, Boyd & Ferguson, Bone 41:946, 2007: up to
  ~30 % between regions) (*check*); correlation length 5 mm: the size of those regions
  (assumption).
* **Permeability between vertebrae**: one log-normal factor per realisation, CoV 0.39 --
  SI permeability of lumbar cores 4.45 +/- 1.72 e-8 m^2 over 20 vertebrae (Baroud et al.,
  J Biomech 37:189, 2004).
* **Veins** (:mod:`biomech.treatments.leak_routes`): the basivertebral vein (radius
  log-normal, median 1.0 mm, CoV 0.3; reaching 35-60 % of the depth into the body) and a
  Poisson number (mean 2) of anterolateral veins through vascular foramina (radius median
  0.5 mm, CoV 0.3) -- vessel sizes are assumptions of the order of the anatomy (Crock &
  Yoshizawa 1977) (*check*).  Venous drainage outside the body (the conductance of the
  plexus a leak enters): log-normal factor, CoV 0.5 (assumption), on the venous and
  paravertebral outside permeabilities.
* **Endplate cracks** of a fractured level (``meta["fractures"][level]``, its ``mode``
  says which endplate collapsed): a Poisson number (mean 1 per collapsed endplate) of
  cracks at random places of the middle 70 % of the body, aperture log-normal (median
  0.5 mm, CoV 0.3), 5 mm wide (assumptions: endplate fractures are part of most osteoporotic
  compression fractures; the aperture and width are of the order seen on CT) (*check*).
* **Needle-track gap**: log-normal, median 0.05 mm, CoV 0.5 (assumption: a cannula pushed
  through bone leaves a gap of the order of the trabecular debris, tens of micrometres).

What does not vary: the anatomy, lesions and breaches of the model, the cement and the plan.
A leak is *detected* when its volume at a site is at least ``detection_ml`` (0.005 mL: a
2 mm blob of cement, about what CT shows; assumption) -- at voxels coarser than 1.7 mm one
leaked voxel is a detected leak.

Performance: one realisation = one random field (scipy.ndimage.gaussian_filter), one
marrow-distance Dijkstra and one front (Numba); milliseconds at 2-3 mm voxels.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage

from ..describe import Described, param
from ..meshes.labels import LEAK_SITE_NAMES, LeakSite
from ..meshes.neighbours import face_neighbours
from .flow import DomainBase, FlowParameters, assemble_domain, inject
from .injection_pressure import Cannula, PressureHistory, pressure_history
from .leak_routes import basivertebral_vein, endplate_crack, needle_track, paravertebral_vein
from .leakage import OUTSIDE_PERMEABILITY_FACTOR

log = logging.getLogger(__name__)

#: Sites reported with a probability (every leak-site name, from the one table).
SITES = tuple(LEAK_SITE_NAMES.values())


@dataclass(frozen=True)
class LeakRiskParameters(Described):
    """Variability sampled by the leak-risk realisations (see the module docstring)."""

    realisations: int = param(64, range=(0, 100000),
                              doc="number of random realisations per case (0: none)")
    seed: int = param(0, range=(0, 2**32 - 1), doc="seed of the realisations")
    bvtv_cov_within: float = param(0.25, range=(0.0, 2.0),
                                   doc="regional CoV of BV/TV inside a body (assumption)")
    permeability_cov_between: float = param(0.39, range=(0.0, 3.0),
                                            doc="CoV of permeability between vertebrae "
                                                "(Baroud 2004)")
    correlation_length_mm: float = param(5.0, unit="mm", range=(0.0, 100.0),
                                         doc="correlation length of the permeability field")
    basivertebral_radius_mm: float = param(1.0, unit="mm", range=(0.0, 5.0),
                                           doc="median radius of the basivertebral vein")
    paravertebral_veins_mean: float = param(2.0, range=(0.0, 20.0),
                                            doc="mean number of anterolateral veins")
    paravertebral_radius_mm: float = param(0.5, unit="mm", range=(0.0, 5.0),
                                           doc="median radius of an anterolateral vein")
    vein_radius_cov: float = param(0.3, range=(0.0, 3.0), doc="CoV of vein radii")
    venous_drainage_cov: float = param(0.5, range=(0.0, 3.0),
                                       doc="CoV of the outside venous conductance")
    endplate_cracks_mean: float = param(1.0, range=(0.0, 20.0),
                                        doc="mean number of cracks per collapsed endplate of "
                                            "a fractured level (assumption)")
    endplate_crack_aperture_mm: float = param(0.5, unit="mm", range=(0.0, 5.0),
                                              doc="median crack aperture (assumption)")
    needle_gap_mm: float = param(0.05, unit="mm", range=(0.0, 1.0),
                                 doc="median gap between needle and bone")
    needle_gap_cov: float = param(0.5, range=(0.0, 3.0), doc="CoV of the needle gap")
    detection_ml: float = param(0.005, unit="mL", range=(0.0, 10.0),
                                doc="smallest leak counted (CT-visible)")
    confidence: float = param(0.95, range=(0.5, 0.999), doc="level of the intervals")


def lognormal(rng, median_or_mean: float, cov: float, size=None, *, mean_one=False):
    """Log-normal samples with coefficient of variation ``cov``; ``mean_one``: the mean is
    ``median_or_mean``, else the median."""
    s = math.sqrt(math.log1p(cov * cov))
    z = rng.standard_normal(size)
    shift = -0.5 * s * s if mean_one else 0.0
    return median_or_mean * np.exp(s * z + shift)


def gaussian_field(rng, shape, h: float, correlation_length_mm: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with covariance exp(-r^2 / l^2)
    (white noise filtered with a Gaussian of sigma l / (2 h) voxels; variance normalised
    by the filter's sum of squares)."""
    z = rng.standard_normal(shape)
    sig = correlation_length_mm / (2.0 * h)
    if sig < 0.3:
        return z
    g = ndimage.gaussian_filter(z, sig, mode="wrap", truncate=3.0)
    return g / math.sqrt(_kernel_square_sum(round(sig, 9)))


@lru_cache(maxsize=32)
def _kernel_square_sum(sig: float) -> float:
    """Sum of squares of the 3-D Gaussian filter of ``gaussian_field`` (its noise variance)."""
    r = int(3 * sig + 1)
    d = np.zeros((2 * r + 1,) * 3)
    d[r, r, r] = 1.0
    ker = ndimage.gaussian_filter(d, sig, mode="constant", truncate=3.0)
    return float((ker ** 2).sum())


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k / n (SciPy's ``binomtest``;
    (0, 1) when n = 0: no realisation, no information)."""
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import binomtest
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def kc_slope(bvtv: float, params: FlowParameters) -> float:
    """d ln k / d ln BV/TV of the Kozeny-Carman law at ``bvtv`` [-] (negative)."""
    b = float(np.clip(bvtv, params.min_bvtv, 0.95))
    phi = 1.0 - b
    # ln k = 3 ln phi - 2 ln(1 - phi); d/d ln b = b * d/db, d phi / db = -1
    return b * (-3.0 / phi - 2.0 / b)


@dataclass
class LeakRisk:
    """Leak statistics of one treatment over ``realisations`` random realisations.

    Probabilities [-] with (low, high) Wilson intervals at ``confidence``; volumes [mL];
    pressures [MPa]."""

    realisations: int
    confidence: float
    p_any: float
    ci_any: tuple
    p_site: dict
    ci_site: dict
    expected_leak_ml: float
    expected_leak_ml_site: dict
    fill_fraction_mean: float
    fill_fraction_sd: float
    peak_pressure_MPa_mean: float
    peak_pressure_MPa_p95: float
    leaked_ml: np.ndarray = field(repr=False)       # (n,) per realisation
    pressure: PressureHistory | None = field(default=None, repr=False)   # first realisation
    exits: list = field(default_factory=list)       # where leaks leave the body, see leak_exits

    def summary(self) -> dict:
        """Flat metrics (names carry their units)."""
        out = {"leak_probability": self.p_any, "leak_probability_ci_low": self.ci_any[0],
               "leak_probability_ci_high": self.ci_any[1],
               "expected_leak_volume_ml": self.expected_leak_ml,
               "peak_injection_pressure_MPa": self.peak_pressure_MPa_mean,
               "peak_injection_pressure_MPa_p95": self.peak_pressure_MPa_p95,
               "fill_fraction_sd": self.fill_fraction_sd,
               "leak_realisations": self.realisations}
        for s in SITES:
            out[f"leak_probability_{s}"] = self.p_site[s]
        return out


def realisation_inputs(rng, base: DomainBase, model, geo, needles, flow: FlowParameters,
                       risk: LeakRiskParameters):
    """(permeability factor field, channels, outside factors) of one realisation."""
    bv = float(np.median(base.bvtv[base.interior])) if base.interior.any() else 0.1
    cov_k = abs(kc_slope(bv, flow)) * risk.bvtv_cov_within
    s_in = math.sqrt(math.log1p(cov_k * cov_k))
    # the field matters in the body compartment only: drawn on its bounding box
    nz = np.nonzero(base.interior)
    sub = tuple(slice(int(a.min()), int(a.max()) + 1) for a in nz) if nz[0].size else \
        tuple(slice(0, n) for n in base.labels.shape)
    field_ = np.ones(base.labels.shape)
    field_[sub] = np.exp(s_in * gaussian_field(rng, field_[sub].shape, base.h,
                                               risk.correlation_length_mm) - 0.5 * s_in * s_in)
    field_ *= float(lognormal(rng, 1.0, risk.permeability_cov_between, mean_one=True))
    channels = [needle_track(model, nd, float(lognormal(rng, risk.needle_gap_mm, risk.needle_gap_cov)))
                for nd in needles] if risk.needle_gap_mm > 0 else []
    if risk.basivertebral_radius_mm > 0:
        bv_ch = basivertebral_vein(
            model, geo, float(lognormal(rng, risk.basivertebral_radius_mm, risk.vein_radius_cov)),
            float(rng.uniform(0.35, 0.6)),
            (float(rng.normal(0.0, 0.1 * geo.width_mm)), float(rng.normal(0.0, 0.1 * geo.height_mm))))
        if bv_ch is not None:
            channels.append(bv_ch)
    n_pv = int(rng.poisson(risk.paravertebral_veins_mean)) if risk.paravertebral_radius_mm > 0 else 0
    for _ in range(n_pv):
        ang = float(rng.uniform(-math.radians(75.0), math.radians(75.0)))
        z = float(rng.uniform(geo.lo_mm[2] + 0.3 * geo.height_mm, geo.hi_mm[2] - 0.3 * geo.height_mm))
        channels.append(paravertebral_vein(
            model, geo, float(lognormal(rng, risk.paravertebral_radius_mm, risk.vein_radius_cov)),
            ang, z))
    frac = (model.meta.get("fractures") or {}).get(geo.level)
    if frac is not None and risk.endplate_crack_aperture_mm > 0:
        mode = str(frac.get("mode", "superior"))
        plates = {"superior": (True,), "inferior": (False,)}.get(mode, (True, False))
        for sup in plates:
            for _ in range(int(rng.poisson(risk.endplate_cracks_mean))):
                x = geo.centroid_mm[0] + float(rng.uniform(-0.35, 0.35)) * geo.width_mm
                y = geo.centroid_mm[1] + float(rng.uniform(-0.35, 0.35)) * geo.depth_mm
                ch = endplate_crack(model, geo, x, y, sup, float(lognormal(
                    rng, risk.endplate_crack_aperture_mm, risk.vein_radius_cov)))
                if ch is not None:
                    channels.append(ch)
    drain = float(lognormal(rng, 1.0, risk.venous_drainage_cov, mean_one=True))
    outside = dict(OUTSIDE_PERMEABILITY_FACTOR)
    for code in (LeakSite.VENOUS, LeakSite.PARAVERTEBRAL):
        outside[code] = outside[code] * drain
    return field_, channels, outside


def assess_leak_risk(base: DomainBase, model, geo, needles, cement, t0_min: float,
                     flow_rate_ml_per_min: float, volume_mm3: float, sources_ijk,
                     body_volume_ml: float, flow: FlowParameters, risk: LeakRiskParameters,
                     *, prefilled_mm3: float = 0.0, zero_capacity=None, placed_offset_ml=0.0,
                     cannula: Cannula | None = None) -> LeakRisk | None:
    """Run ``risk.realisations`` realisations of one injection (None when 0).

    sources_ijk (n, 3) model-grid voxels where cement enters; ``zero_capacity`` (box
    shape) bool voxels already full (a kyphoplasty cavity); ``placed_offset_ml`` cement
    placed before the front (cavity) that counts in the fill fraction."""
    n = int(risk.realisations)
    if n <= 0:
        return None
    rng = np.random.default_rng(risk.seed)
    leaked = np.zeros((n, len(SITES)))
    fills = np.zeros(n)
    peaks = np.zeros(n)
    first_pressure = None
    h3 = base.h ** 3
    exit_sets = []                                   # per realisation: {(site, flat index)}
    near_body = face_neighbours(base.interior)
    for r in range(n):
        kf, channels, outside = realisation_inputs(rng, base, model, geo, needles, flow, risk)
        dom = assemble_domain(base, flow, permeability_factor=kf, channels=channels,
                              outside_factor=outside, seed_offset=r)
        if zero_capacity is not None:
            dom.capacity[zero_capacity] = 0.0
        res = inject(dom, sources_ijk, volume_mm3, cement, t0_min, flow_rate_ml_per_min, flow,
                     prefilled_mm3=prefilled_mm3)
        for j, s in enumerate(LEAK_SITE_NAMES):
            leaked[r, j] = float(res.volume_mm3[res.site == s].sum()) / 1000.0
        placed = float(res.volume_mm3[res.site == LeakSite.BODY].sum()) / 1000.0 + placed_offset_ml
        fills[r] = placed / body_volume_ml
        off = np.array([s.start for s in base.box])
        loc = tuple((res.ijk - off).T)
        out = (res.site > 0) & near_body[loc]
        flat = np.ravel_multi_index(tuple(a[out] for a in loc), base.labels.shape)
        exit_sets.append(set(zip(res.site[out].tolist(), flat.tolist()))
                         if leaked[r].sum() >= risk.detection_ml else set())
        kk = dom.permeability_mm2[loc]
        ph = pressure_history(cement, t0_min + prefilled_mm3 / 1000.0 / flow_rate_ml_per_min,
                              flow_rate_ml_per_min, len(needles), res.volume_mm3,
                              np.full(len(kk), h3), kk,
                              cannula)
        peaks[r] = ph.peak_MPa
        if first_pressure is None:
            first_pressure = ph
    det = leaked >= max(risk.detection_ml, 1e-12)
    any_ = det.any(axis=1)
    k_any = int(any_.sum())
    p_site = {s: float(det[:, j].mean()) for j, s in enumerate(SITES)}
    ci_site = {s: wilson_interval(int(det[:, j].sum()), n, risk.confidence) for j, s in enumerate(SITES)}
    tot = leaked.sum(axis=1)
    return LeakRisk(n, risk.confidence, k_any / n, wilson_interval(k_any, n, risk.confidence),
                    p_site, ci_site, float(tot.mean()),
                    {s: float(leaked[:, j].mean()) for j, s in enumerate(SITES)},
                    float(fills.mean()), float(fills.std(ddof=1)) if n > 1 else 0.0,
                    float(peaks.mean()), float(np.quantile(peaks, 0.95)), tot, first_pressure,
                    leak_exits(exit_sets, base, model))


#: Exits reported per treatment (most probable first).
MAX_EXITS = 8


def leak_exits(exit_sets, base: DomainBase, model) -> list:
    """Where leaks leave the body: the outside voxels next to the body that leaked cement
    entered, grouped per site into 26-connected clusters over all realisations.  Returns
    [{"site": name, "centre_mm": (x, y, z), "probability": fraction of the realisations
    with a detected leak leaving through the cluster}], most probable first (at most
    MAX_EXITS)."""
    n = len(exit_sets)
    if n == 0:
        return []
    shape = base.labels.shape
    off = np.array([s.start for s in base.box])
    out = []
    for code, name in LEAK_SITE_NAMES.items():
        count = np.zeros(int(np.prod(shape)), np.int64)
        for es in exit_sets:
            idx = [f for c, f in es if c == code]
            if idx:
                count[np.asarray(idx)] += 1
        if not count.any():
            continue
        lab, nc = ndimage.label(count.reshape(shape) > 0, structure=np.ones((3, 3, 3), bool))
        lab = lab.ravel()
        hits = np.zeros(nc + 1, np.int64)
        for es in exit_sets:
            cl = {int(lab[f]) for c, f in es if c == code}
            for c_ in cl:
                hits[c_] += 1
        for c_ in range(1, nc + 1):
            vox = np.flatnonzero(lab == c_)
            w = count[vox].astype(float)
            ijk = np.stack(np.unravel_index(vox, shape), 1) + off
            centre = np.asarray(model.origin) + ((ijk + 0.5) * model.h * w[:, None]).sum(0) / w.sum()
            out.append({"site": name, "centre_mm": tuple(float(v) for v in centre),
                        "probability": float(hits[c_]) / n})
    out.sort(key=lambda e: -e["probability"])
    return out[:MAX_EXITS]


def combine(risks) -> dict:
    """Case-level metrics of several treated levels (independent): P(any) = 1 - prod(1 - p),
    expected volumes add, the peak pressure is the largest."""
    risks = [r for r in risks if r is not None]
    if not risks:
        return {}
    out = {"leak_probability": 1.0 - float(np.prod([1.0 - r.p_any for r in risks])),
           "expected_leak_volume_ml": float(sum(r.expected_leak_ml for r in risks)),
           "peak_injection_pressure_MPa": float(max(r.peak_pressure_MPa_mean for r in risks))}
    for s in SITES:
        out[f"leak_probability_{s}"] = 1.0 - float(np.prod([1.0 - r.p_site[s] for r in risks]))
    return out


def cavity_leak_risk(model, geo, needles, cement, t0_min: float, flow_rate_ml_per_min: float,
                     cavity, volume_mm3: float, body_volume_ml: float, flow: FlowParameters,
                     risk: LeakRiskParameters, cannula: Cannula | None = None) -> LeakRisk | None:
    """Leak risk of a balloon kyphoplasty: the cavity (bool mask, model grid) fills first at
    no leak risk (the balloon made it: bulk cement, no bone to push through), then the rest
    of ``volume_mm3`` spreads as a front from the whole cavity into the compacted shell and
    the bone around it, realisation by realisation (the interdigitation layer and any
    overfill).  ``model``: the treated model with the cavity emptied (VOID)."""
    from ..meshes.labels import Label
    from .flow import domain_base
    h3 = model.h ** 3
    cav_mm3 = float(cavity.sum()) * h3
    rest = max(0.0, volume_mm3 - cav_mm3)
    tmp = model.with_labels(np.where(cavity, Label.CEMENT, model.labels).astype(np.uint8))
    base = domain_base(tmp, geo, flow, bulk_cavity=cavity)
    return assess_leak_risk(base, tmp, geo, needles, cement, t0_min, flow_rate_ml_per_min, rest,
                            np.argwhere(cavity), body_volume_ml, flow, risk,
                            prefilled_mm3=min(cav_mm3, volume_mm3),
                            zero_capacity=cavity[base.box], placed_offset_ml=min(cav_mm3, volume_mm3) / 1000.0,
                            cannula=cannula)
