"""Metrics of a solved spinal model, defined once (names carry units and are the
same in the API, results.csv and the pictures).  See ../shared/DESIGN.md.

Per vertebra ``{L}`` and disc ``{D}`` (e.g. ``L2``, ``L1-L2``):

* ``{L}_stiffness_N_per_mm``: axial force / change of the mean axial
  displacement between the superior and inferior surfaces of the body
  (compression load cases only, else NaN).
* ``{D}_disc_pressure_MPa``: mean of -tr(sigma)/3 over the nucleus.
* ``{L}_{superior|inferior}_endplate_stress_MPa_mean`` / ``_p95``: mean and 95th
  percentile of the axial normal stress over the bony endplate layer,
  compression positive (-sigma_zz).
* ``{L}_bone_at_risk``: fraction of the trabecular volume (cancellous, fracture
  zone, compacted bone) whose minimum principal strain is below -0.77 % or
  maximum principal strain above 0.70 %: the yield strains of human vertebral
  trabecular bone (Morgan & Keaveny, J Biomech 34:569, 2001; Kopperdahl &
  Keaveny, J Biomech 31:601, 1998).
* ``{L}_{superior|inferior}_endplate_bulge_mm``: largest deflection of the bony
  endplate into the body relative to the best-fit plane of its axial
  displacement (a rigid tilt is not bulge).
* ``{L}_posterior_wall_bulge_mm``: largest posterior (+y, into the canal)
  displacement of the posterior wall relative to the mean of the body.
Segment: ``segment_stiffness_N_per_mm`` (compression / plate descent),
``segment_rotation_deg`` and ``segment_rotational_stiffness_Nm_per_deg`` (moment
cases).  Headline values of the focus (treated) level ``F`` repeat without the
prefix: ``stiffness_N_per_mm``, ``bone_at_risk``, ``endplate_bulge_mm``,
``posterior_wall_bulge_mm``, and for its neighbours
``adjacent_superior_endplate_stress_MPa_mean/_p95`` (inferior endplate of the
vertebra above F), ``adjacent_inferior_endplate_stress_MPa_mean/_p95`` (superior
endplate of the vertebra below F), ``adjacent_superior_disc_pressure_MPa`` and
``adjacent_inferior_disc_pressure_MPa``.
"""
from __future__ import annotations

import numpy as np

from biomech.meshes.labels import Label
from biomech.meshes.landmarks import endplate_mask, posterior_wall_mask

from .errors import BiomechError
from .fem.recovery import principal_values

#: Yield strains of vertebral trabecular bone (Morgan & Keaveny 2001).
YIELD_STRAIN_COMPRESSION = 0.0077
YIELD_STRAIN_TENSION = 0.0070
#: Labels counted as trabecular bone for bone at risk.
BONE_AT_RISK_LABELS = (Label.CANCELLOUS, Label.FRACTURE_ZONE, Label.COMPACTED)


def vertebrae_cranial_first(model) -> list:
    """Names of the vertebrae that have voxels in the grid (end caps and discs left out),
    cranial first (by the mean z [mm] of their voxels).  Compare
    :func:`biomech.conditions.vertebra_levels`: every vertebra name the model declares, in
    ``level_names`` order, with or without voxels."""
    names = [n for n in model.level_names if "-" not in n and not n.startswith("cap")]
    present = [n for n in names if (model.level == model.level_names.index(n)).any()]
    z = {}
    for n in present:
        ijk = np.argwhere(model.level == model.level_names.index(n))
        z[n] = model.centres(ijk)[:, 2].mean()
    return sorted(present, key=lambda n: -z[n])


def disc_levels(model) -> list:
    """Disc names ('L1-L2', ...) present in the model."""
    return [n for n in model.level_names
            if "-" in n and (model.level == model.level_names.index(n)).any()]


def _element_mask(analysis, voxel_mask):
    return voxel_mask[tuple(analysis.mesh.voxel_ijk.T)]


def _safe(fn, *args):
    try:
        return fn(*args)
    except BiomechError:
        return None


def level_metrics(analysis, load_case, u, plate_u, eps, sig) -> dict:
    """All metrics of one load case.  u (n_nodes, 3) [mm]; plate_u (6,) plate
    displacement [mm] and rotation [rad]; eps, sig (n_el, 6) centroid strain [-]
    and stress [MPa]."""
    model = analysis.model
    mesh = analysis.mesh
    out = {}
    axial = load_case.axial_force_N
    moment = np.asarray(load_case.moment_Nmm)
    out["segment_stiffness_N_per_mm"] = (axial / -plate_u[2]) if axial != 0 and plate_u[2] != 0 else np.nan
    if np.any(moment):
        mhat = moment / np.linalg.norm(moment)
        rot = float(plate_u[3:] @ mhat)
        out["segment_rotation_deg"] = np.degrees(rot)
        out["segment_rotational_stiffness_Nm_per_deg"] = (np.linalg.norm(moment) / 1000.0 /
                                                          np.degrees(rot) if rot else np.nan)
    else:
        out["segment_rotation_deg"] = 0.0
        out["segment_rotational_stiffness_Nm_per_deg"] = np.nan
    u_el = u[mesh.cells].mean(axis=1)                       # element-centroid displacement
    principal = principal_values(eps)
    levels = vertebrae_cranial_first(model)
    for lv in levels:
        li = model.level_names.index(lv)
        body, sup, inf = analysis.body_surfaces(lv)
        dz = u[sup, 2].mean() - u[inf, 2].mean()
        out[f"{lv}_stiffness_N_per_mm"] = axial / -dz if axial != 0 and dz != 0 else np.nan
        trab = _element_mask(analysis, np.isin(model.labels, [int(l) for l in BONE_AT_RISK_LABELS])
                             & (model.level == li))
        if trab.any():
            risk = (principal[trab, 0] < -YIELD_STRAIN_COMPRESSION) | (principal[trab, 2] > YIELD_STRAIN_TENSION)
            out[f"{lv}_bone_at_risk"] = float(risk.mean())
        else:
            out[f"{lv}_bone_at_risk"] = np.nan
        for which in ("superior", "inferior"):
            em = _safe(endplate_mask, model, lv, which)
            key = f"{lv}_{which}_endplate"
            if em is None or not _element_mask(analysis, em).any():
                out[f"{key}_stress_MPa_mean"] = out[f"{key}_stress_MPa_p95"] = np.nan
                out[f"{key}_bulge_mm"] = np.nan
                continue
            e = _element_mask(analysis, em)
            szz = -sig[e, 2]
            out[f"{key}_stress_MPa_mean"] = float(szz.mean())
            out[f"{key}_stress_MPa_p95"] = float(np.percentile(szz, 95))
            out[f"{key}_bulge_mm"] = _bulge(mesh, e, u_el, which)
        pw = _safe(posterior_wall_mask, model, lv)
        if pw is not None and _element_mask(analysis, pw).any():
            e = _element_mask(analysis, pw)
            body_e = _element_mask(analysis, body)
            out[f"{lv}_posterior_wall_bulge_mm"] = float((u_el[e, 1] - u_el[body_e, 1].mean()).max())
        else:
            out[f"{lv}_posterior_wall_bulge_mm"] = np.nan
    for d in disc_levels(model):
        nuc = _element_mask(analysis, (model.labels == Label.NUCLEUS)
                            & (model.level == model.level_names.index(d)))
        out[f"{d}_disc_pressure_MPa"] = (float(-sig[nuc, :3].sum(axis=1).mean() / 3.0)
                                         if nuc.any() else np.nan)
    out.update(_headline(out, levels, analysis.focus_level))
    return out


def _bulge(mesh, elements, u_el, which) -> float:
    """Deflection [mm] into the body relative to the best-fit plane of uz."""
    ijk = mesh.voxel_ijk[elements]
    x = ijk[:, 0].astype(float)
    y = ijk[:, 1].astype(float)
    uz = u_el[elements, 2]
    if uz.size < 3:
        return np.nan
    A = np.stack([np.ones_like(x), x, y], axis=1)
    coef, *_ = np.linalg.lstsq(A, uz, rcond=None)
    resid = uz - A @ coef
    inward = -resid if which == "superior" else resid      # superior endplate bulges caudally
    return float(max(inward.max(), 0.0))


def _headline(out, levels, focus) -> dict:
    if focus is None or focus not in levels:
        return {}
    h = {}
    for name in ("stiffness_N_per_mm", "bone_at_risk", "posterior_wall_bulge_mm"):
        h[name] = out[f"{focus}_{name}"]
    bulges = [out[f"{focus}_{w}_endplate_bulge_mm"] for w in ("superior", "inferior")]
    bulges = [b for b in bulges if not np.isnan(b)]
    h["endplate_bulge_mm"] = max(bulges) if bulges else np.nan
    i = levels.index(focus)
    above = levels[i - 1] if i > 0 else None
    below = levels[i + 1] if i + 1 < len(levels) else None
    for stat in ("mean", "p95"):
        h[f"adjacent_superior_endplate_stress_MPa_{stat}"] = (
            out[f"{above}_inferior_endplate_stress_MPa_{stat}"] if above else np.nan)
        h[f"adjacent_inferior_endplate_stress_MPa_{stat}"] = (
            out[f"{below}_superior_endplate_stress_MPa_{stat}"] if below else np.nan)
    h["adjacent_superior_disc_pressure_MPa"] = out.get(f"{above}-{focus}_disc_pressure_MPa", np.nan)
    h["adjacent_inferior_disc_pressure_MPa"] = out.get(f"{focus}-{below}_disc_pressure_MPa", np.nan)
    return h
