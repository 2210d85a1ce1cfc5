"""Metrics of each motion segment (two vertebrae and their disc): kinematics and the
forces of the soft tissues.  Names carry units and are the same in the API and CSV.

Per motion segment ``{S}`` (e.g. ``L1-L2``: upper over lower vertebra):

* ``{S}_rotation_x_deg``, ``_y_deg``, ``_z_deg``: rotation of the upper vertebral body
  relative to the lower one about the global axes [deg], from a least-squares rigid-body
  fit to the displacements of each body's nodes (small rotations).  Signs follow the load
  conventions of :mod:`biomech.loads`: +x flexion, -x extension, -y right lateral bending,
  +y left, +z left axial rotation.
* ``{S}_axial_stiffness_N_per_mm``: axial force / approach of the two body centroids
  [N/mm] (compression load cases without moments, else NaN).
* ``{S}_rotation_deg``: the same rotation about the axis of the applied moment (the range
  of motion that in vitro tests report); NaN without a moment.
* ``{S}_facet_force_left_N`` / ``_right_N``: compressive force [N] of each facet joint
  (sum of the active contact springs; 0 when the joint is open).
* ``{S}_ligament_force_{NAME}_N``: tension [N] of each ligament (ALL, PLL, LF, ISL, SSL,
  ITL, CL; left and right summed).
* ``{S}_fibre_strain_max``: largest tensile strain [-] of the annulus fibres.
Segment-wide: ``max_segment_rotation_deg`` (largest |{S}_rotation_deg|) and
``small_strain_valid`` (1 when every motion segment rotates less than
:data:`~biomech.validity.SMALL_ROTATION_LIMIT_DEG`, else 0: beyond it a small-strain linear model is
outside its validity).
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

from .validity import SMALL_ROTATION_LIMIT_DEG  # noqa: E402  (defined once there)


def rigid_fit(points: np.ndarray, u: np.ndarray):
    """(translation (3,) [mm] of the centroid, rotation (3,) [rad]) of the rigid motion
    u ~ t + theta x (x - c) that fits u (n, 3) at points (n, 3) in least squares."""
    c = points.mean(axis=0)
    r = points - c
    n = points.shape[0]
    A = np.zeros((3 * n, 6))
    A[0::3, 0] = A[1::3, 1] = A[2::3, 2] = 1.0
    # theta x r = (ty rz - tz ry, tz rx - tx rz, tx ry - ty rx)
    A[0::3, 4], A[0::3, 5] = r[:, 2], -r[:, 1]
    A[1::3, 3], A[1::3, 5] = -r[:, 2], r[:, 0]
    A[2::3, 3], A[2::3, 4] = r[:, 1], -r[:, 0]
    sol, *_ = np.linalg.lstsq(A, u.reshape(-1), rcond=None)
    return sol[:3], sol[3:]


def motion_segment_metrics(analysis, load_case, u: np.ndarray, solution=None) -> dict:
    """Metrics of every motion segment for displacement u (n_nodes, 3) [mm];
    ``solution`` (a :class:`~biomech.fem.problem.Solution`) gives the spring forces."""
    from .metrics import vertebrae_cranial_first
    levels = vertebrae_cranial_first(analysis.model)
    points = analysis.mesh.points
    theta, shift = {}, {}
    for lv in levels:
        nodes = analysis.body_nodes(lv)
        shift[lv], theta[lv] = rigid_fit(points[nodes], u[nodes])
    axial = load_case.axial_force_N
    moment = np.asarray(load_case.moment_Nmm, float)
    axis = moment / np.linalg.norm(moment) if np.any(moment) else None
    out = {}
    worst = 0.0
    for upper, lower in zip(levels[:-1], levels[1:]):
        seg = f"{upper}-{lower}"
        rel = np.degrees(theta[upper] - theta[lower])
        for k, name in enumerate("xyz"):
            out[f"{seg}_rotation_{name}_deg"] = float(rel[k])
        dz = float(shift[upper][2] - shift[lower][2])      # approach of the body centroids
        out[f"{seg}_axial_stiffness_N_per_mm"] = (axial / -dz if axial and not np.any(moment)
                                                  and dz < 0 else np.nan)
        if axis is not None:
            out[f"{seg}_rotation_deg"] = float(rel @ axis)
            worst = max(worst, abs(out[f"{seg}_rotation_deg"]))
        else:
            out[f"{seg}_rotation_deg"] = np.nan
        worst = max(worst, float(np.linalg.norm(rel)))
    if len(levels) > 1:
        out["max_segment_rotation_deg"] = worst
        out["small_strain_valid"] = float(worst <= SMALL_ROTATION_LIMIT_DEG)
        if worst > SMALL_ROTATION_LIMIT_DEG:
            log.warning("load case %r: a motion segment rotates %.1f deg, beyond the %.0f deg "
                        "of small-strain validity", load_case.name, worst, SMALL_ROTATION_LIMIT_DEG)
    tissue = getattr(analysis, "soft_tissue", None)
    if tissue is not None and solution is not None:
        out.update(tissue.metrics(solution))
    return out
