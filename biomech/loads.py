"""Load cases of a spinal segment or a single vertebral body.

A load case is a force [N] and a moment [N mm] applied through a rigid plate
on the superior endplate of the top vertebra (or the superior PMMA cap), with
the inferior endplate of the lowest vertebra (or the inferior cap) fixed.
Linear elasticity: every load case is a combination of four unit solves
(axial force, moments about x, y, z) that share one solver set-up.

Sign conventions (axes: x left->right, y anterior->posterior, z caudal->cranial):
compression is -z force; flexion (bending forward) is +x moment (the top tilts
anteriorly, towards -y); extension -x; lateral bending to the right is -y moment
(the top tilts towards +x); axial rotation to the left is +z moment.

Defaults: 500 N compression and 7.5 N m pure moments, the in vitro protocol of spinal
testing (pure moments without preload: Wilke, Wenger & Claes, Eur Spine J 7:148, 1998;
7.5 N m as in Heuer et al. 2007 and the in vitro data of benchmarks/segment_validation.py;
Li & Lewis 2010; BMC MSD 2022, s12891-022-05522-3; see ../shared/MATERIALS.md), so every
default load case can be compared with a published range of motion.  A follower load
(``follower_N``) adds the compressive preload of standing (about 500 N, Wilke 1999); a
``posture`` (:class:`~biomech.posture.UpperBodyLoad`) adds the upper-body weight at its
centre of mass, which follows the model's kyphosis, resolved when the model is solved.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .describe import Described, param
from .errors import InputError
from .posture import UpperBodyLoad
from .validation import CASE_NAME, ListOf, Num, Str, Table

DEFAULT_AXIAL_N = 500.0
DEFAULT_MOMENT_NMM = 7500.0     # 7.5 N m
#: Largest force component [N] and moment component [N mm] accepted: 100 kN and 10 kN m,
#: far above any physiological spinal load (a few kN, ~10-30 N m), so only nonsense is refused.
MAX_FORCE_N = 1e5
MAX_MOMENT_NMM = 1e7
#: Names of the standard load cases (:func:`standard_load_case`).
STANDARD_LOAD_CASES = ("compression", "flexion", "extension", "lateral_bending_left",
                       "lateral_bending_right", "axial_rotation_left", "axial_rotation_right")


@dataclass(frozen=True)
class LoadCase(Described):
    """A load case: force [N] and moment [N mm] on the superior plate."""

    KIND: ClassVar[str] = "load_case"
    name: str = param(spec=Str(pattern=CASE_NAME, what="letters, digits, _.+-"),
                      doc="load case name (used in column and field names)")
    force_N: tuple = param((0.0, 0.0, 0.0), unit="N", item="vec3", range=(-MAX_FORCE_N, MAX_FORCE_N),
                           doc="force on the superior plate")
    moment_Nmm: tuple = param((0.0, 0.0, 0.0), unit="N mm", item="vec3",
                              range=(-MAX_MOMENT_NMM, MAX_MOMENT_NMM),
                              doc="moment about the plate's reference point")
    follower_N: float = param(0.0, unit="N", range=(0.0, MAX_FORCE_N),
                              doc="compressive follower load: a pair of forces across every "
                                  "motion segment along the line of the body centres, as in "
                                  "vitro rigs apply it (Patwardhan et al., Spine 24:1003, 1999)")
    posture: UpperBodyLoad | None = param(None, doc="upper-body weight at its centre of mass, "
                                                    "following the model's kyphosis "
                                                    "(biomech.posture), added to the plate load")

    def __post_init__(self):
        f = np.asarray(self.force_N, float).reshape(-1)
        m = np.asarray(self.moment_Nmm, float).reshape(-1)
        if f.shape != (3,) or m.shape != (3,):
            raise InputError(f"load case {self.name!r}: force_N and moment_Nmm must be 3 "
                             f"numbers, got {self.force_N!r}, {self.moment_Nmm!r}")
        object.__setattr__(self, "force_N", tuple(float(v) for v in f))
        object.__setattr__(self, "moment_Nmm", tuple(float(v) for v in m))
        if isinstance(self.posture, dict):
            object.__setattr__(self, "posture", UpperBodyLoad.from_dict(self.posture))
        try:
            self.validate()
        except InputError as exc:
            raise InputError(f"load case {self.name!r}: {exc}") from None
        if not (f.any() or m.any() or self.follower_N > 0 or self.posture is not None):
            raise InputError(f"load case {self.name!r} has no load")

    @property
    def vector(self) -> np.ndarray:
        """(6,) [Fx, Fy, Fz, Mx, My, Mz] in N and N mm."""
        return np.concatenate([self.force_N, self.moment_Nmm])

    @property
    def axial_force_N(self) -> float:
        """Compressive axial force [N] on the plate (positive in compression; the follower
        load is not counted: it passes through the segment without loading the plate)."""
        return -self.force_N[2]


def standard_load_case(name: str, magnitude: float | None = None, *,
                       follower_N: float = 0.0) -> LoadCase:
    """One of :data:`STANDARD_LOAD_CASES`: 'compression' (magnitude [N]) or a pure moment
    (magnitude [N mm]); default magnitudes 500 N and 7.5 N m."""
    m = DEFAULT_MOMENT_NMM if magnitude is None else float(magnitude)
    table = {
        "compression": ((0, 0, -(DEFAULT_AXIAL_N if magnitude is None else float(magnitude))), (0, 0, 0)),
        "flexion": ((0, 0, 0), (m, 0, 0)),
        "extension": ((0, 0, 0), (-m, 0, 0)),
        "lateral_bending_right": ((0, 0, 0), (0, -m, 0)),
        "lateral_bending_left": ((0, 0, 0), (0, m, 0)),
        "axial_rotation_left": ((0, 0, 0), (0, 0, m)),
        "axial_rotation_right": ((0, 0, 0), (0, 0, -m)),
    }
    assert set(table) == set(STANDARD_LOAD_CASES)
    if name not in table:
        raise InputError(f"unknown load case {name!r}; choose one of {sorted(table)} or give "
                         "force_N / moment_Nmm")
    f, mo = table[name]
    return LoadCase(name, f, mo, follower_N)


#: The default load cases of a study: compression, flexion, extension, lateral
#: bending and axial rotation.
DEFAULT_LOAD_CASES = tuple(standard_load_case(n) for n in (
    "compression", "flexion", "extension", "lateral_bending_right", "axial_rotation_left"))


def combine(name: str, *cases: LoadCase) -> LoadCase:
    """The sum of load cases (e.g. compression + flexion; follower loads add)."""
    v = sum(c.vector for c in cases)
    return LoadCase(name, tuple(v[:3]), tuple(v[3:]), sum(c.follower_N for c in cases))


def load_case_study_table() -> Table:
    """The study-file table of a load case: the :class:`LoadCase` fields, or a standard
    load case by name with a magnitude, or the sum of earlier load cases."""
    from .describe import study_table
    return study_table(LoadCase, extra={
        "standard": Str(STANDARD_LOAD_CASES),
        "magnitude_N": Num(0.0, MAX_FORCE_N, lo_open=True, unit="N"),
        "magnitude_Nmm": Num(0.0, MAX_MOMENT_NMM, lo_open=True, unit="N mm"),
        "combine": ListOf(Str(), 2)})
