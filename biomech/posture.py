"""Loading that follows posture: the weight of the upper body applied at its centre of
mass, which moves anteriorly as the segment's kyphosis grows, optionally balanced by the
erector spinae (as Rohlmann, Zander & Bergmann, Eur Spine J 15:1255, 2006, modelled the
spine after vertebroplasty and kyphoplasty).

    lc = LoadCase("standing", posture=UpperBodyLoad(body_mass_kg=65), follower_N=0)
    analysis.run([lc])            # resolved against the model's measured kyphosis

Rules (documented choices; every default is a cited value or a stated assumption)

* Weight ``W = mass_fraction * body_mass_kg * g`` [N], the mass above the top vertebra of
  the model.  Default fractions by that vertebra (:data:`MASS_FRACTION_ABOVE`): head, neck
  and arms about 16 % of body mass (de Leva, J Biomech 29:1223, 1996, female table: head
  6.7 %, arms 2 x 4.5 %) plus the trunk above the level, whose slices weigh 1.1 % (T1) to
  2.6 % (L5) of body mass per vertebral level (Pearsall et al., Ann Biomed Eng 24:198,
  1996): about 37 % above L1, rising 2 % per level.  This sum is our estimate, not a
  published table: configurable.
* Centre of mass, upright intact spine: ``com_offset_mm`` = 20 mm anterior of the plate's
  reference point (Pearsall 1996: the whole-trunk centre of mass lies about 2.0 cm anterior
  to the L1/L2 vertebral centroids) and ``com_height_mm`` = 180 mm above it (assumption:
  the upper-trunk centre of mass lies at about T7/T8, Pearsall 1996, five to six thoracic
  levels of about 27 mm above L1; head and arms raise it little).
* Posture: the centre of mass is carried by the top vertebra, so when the segment's
  kyphosis ``alpha`` (the superior endplate tilt of the top vertebra minus the inferior
  endplate tilt of the lowest, measured by :mod:`biomech.deformity`; 0 for the straight
  intact segment) tilts it forward, its anterior offset becomes ``e = e0 cos(a) + Lc
  sin(a)`` with ``a = (1 - shift_compensation) * alpha``.  ``shift_compensation`` 0 is
  Rohlmann's "no compensation of the upper body shift"; 1 a patient who brings the centre
  of mass back over the spine (hips, other levels).
* Erector spinae (``erector_spinae`` True): a vertical force ``F_m = W e / r_m`` at
  ``erector_lever_mm`` = 50 mm posterior of the reference point balances the moment of the
  weight (moment arm of the back extensors about the disc centre, about 5 cm: Kummer,
  Mechanical aspects of the lumbar spine, the plane model of lifting; McGill & Norman,
  Spine 12:777, 1987, report 5-6 cm at L4/L5); the plate then carries the pure compression
  ``W + F_m``.  Without it the plate carries ``W`` and the flexion moment ``W e``.
* The result is a plate force (0, 0, -(W [+ F_m])) [N] and moment (W e [- F_m r_m], 0, 0)
  [N mm] about the plate's reference point (+x flexion, :mod:`biomech.loads`), added to the
  load case's own force, moment and follower load.

Metrics (per load case with a posture; names carry units): ``upper_body_weight_N``,
``com_offset_mm`` (e), ``posture_kyphosis_deg`` (alpha), ``erector_force_N`` (F_m; 0
without the muscle), ``posture_compression_N`` (W + F_m).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

from .describe import Described, param
from .errors import InputError

G_M_S2 = 9.81
#: Fraction of body mass above the top vertebra of the model (see the module docstring:
#: our sum of de Leva 1996 and Pearsall 1996, an estimate).
MASS_FRACTION_ABOVE = {"T11": 0.33, "T12": 0.35, "L1": 0.37, "L2": 0.39, "L3": 0.41,
                       "L4": 0.43, "L5": 0.45}


@dataclass(frozen=True)
class UpperBodyLoad(Described):
    """Weight of the upper body at its centre of mass, following the posture."""

    KIND: ClassVar[str] = "upper_body"
    body_mass_kg: float = param(65.0, unit="kg", range=(20.0, 250.0),
                                doc="body mass (65 kg: an assumption for an elderly woman)")
    mass_fraction: float | None = param(None, range=(0.05, 0.9),
                                        doc="fraction of body mass above the top vertebra "
                                            "(default by level, MASS_FRACTION_ABOVE)")
    com_offset_mm: float = param(20.0, unit="mm", range=(-100.0, 200.0),
                                 doc="anterior offset of the centre of mass, upright intact "
                                     "spine (Pearsall 1996)")
    com_height_mm: float = param(180.0, unit="mm", range=(0.0, 600.0),
                                 doc="height of the centre of mass above the plate "
                                     "(assumption: about T7/T8)")
    shift_compensation: float = param(0.0, range=(0.0, 1.0),
                                      doc="fraction of the kyphotic shift of the centre of mass "
                                          "that posture compensates (0: none, as Rohlmann 2006)")
    erector_spinae: bool = param(True, doc="the erector spinae balance the moment of the weight")
    erector_lever_mm: float = param(50.0, unit="mm", range=(10.0, 150.0),
                                    doc="moment arm of the erector spinae (about 5 cm)")

    def weight_N(self, top_level: str | None) -> float:
        """Weight [N] above vertebra ``top_level``."""
        frac = self.mass_fraction
        if frac is None:
            if top_level not in MASS_FRACTION_ABOVE:
                raise InputError(f"no default mass fraction above {top_level!r} (known: "
                                 f"{sorted(MASS_FRACTION_ABOVE)}); give mass_fraction")
            frac = MASS_FRACTION_ABOVE[top_level]
        return frac * self.body_mass_kg * G_M_S2

    def forces(self, top_level: str | None, kyphosis_deg: float) -> dict:
        """The plate load of this posture for a segment kyphosis [deg]: {"force_N",
        "moment_Nmm", and the metrics of the module docstring}."""
        W = self.weight_N(top_level)
        a = math.radians((1.0 - self.shift_compensation) * kyphosis_deg)
        e = self.com_offset_mm * math.cos(a) + self.com_height_mm * math.sin(a)
        Fm = max(0.0, W * e / self.erector_lever_mm) if self.erector_spinae else 0.0
        Mx = W * e - Fm * self.erector_lever_mm
        return {"force_N": (0.0, 0.0, -(W + Fm)), "moment_Nmm": (Mx, 0.0, 0.0),
                "upper_body_weight_N": W, "com_offset_mm": e,
                "posture_kyphosis_deg": float(kyphosis_deg), "erector_force_N": Fm,
                "posture_compression_N": W + Fm}


def segment_kyphosis_deg(model) -> float:
    """Kyphosis of the whole model [deg]: superior endplate tilt of the top vertebra minus
    the inferior endplate tilt of the lowest (:mod:`biomech.deformity`); 0 with one
    vertebra."""
    from .deformity import endplate_tilts
    from .metrics import vertebrae_cranial_first
    levels = vertebrae_cranial_first(model)
    if len(levels) < 2:
        return 0.0
    return endplate_tilts(model, levels[0])["superior"] - endplate_tilts(model, levels[-1])["inferior"]


def resolve_posture(analysis, load_case) -> tuple:
    """(load case with the posture's plate load added and ``posture`` cleared, metrics
    dict); a load case without a posture comes back as it is with no metrics."""
    post = getattr(load_case, "posture", None)
    if post is None:
        return load_case, {}
    from .metrics import vertebrae_cranial_first
    model = analysis.model
    levels = vertebrae_cranial_first(model)
    f = post.forces(levels[0] if levels else None, segment_kyphosis_deg(model))
    force = tuple(a + b for a, b in zip(load_case.force_N, f["force_N"]))
    moment = tuple(a + b for a, b in zip(load_case.moment_Nmm, f["moment_Nmm"]))
    out = dataclasses.replace(load_case, force_N=force, moment_Nmm=moment, posture=None)
    return out, {k: v for k, v in f.items() if k not in ("force_N", "moment_Nmm")}
