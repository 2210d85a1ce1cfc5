"""The words of a study report: metric definitions, the headline table's columns, the
Methods generated from what a study used, its Limitations, validity warnings, and what
each case changes against the baseline.

Plain inputs only (case specs as the dicts of ``study.json``, result rows, material
rows), so this module sits in the results layer and imports nothing above it.
:mod:`biomech.runner.outputs` gathers the inputs; :mod:`biomech.viz.report` lays them
out; :mod:`biomech.demo` prints the warnings in the terminal.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

# the validity limits and their reasoning live in biomech.validity
from ..validity import NUCLEUS_TENSION_LIMIT_MPA  # noqa: F401  (re-exported)
from ..validity import SMALL_ROTATION_LIMIT_DEG as ROTATION_LIMIT_DEG

# ---------------------------------------------------------------------------- validity


def validity_warnings(rows: Sequence[Mapping]) -> list[str]:
    """One sentence per kind of violation of the model's validity in ``rows`` (result
    dicts; the ``max_segment_rotation_deg`` (largest motion-segment rotation; older
    results: ``segment_rotation_deg``) and ``*_disc_pressure_MPa`` columns)."""
    rot: dict[str, list] = {}
    ten: dict[str, list] = {}
    for r in rows:
        if r.get("status", "ok") != "ok":
            continue
        lc, case = str(r.get("load_case", "?")), str(r.get("case", "?"))
        v = _num(r.get("max_segment_rotation_deg", r.get("segment_rotation_deg")))
        if v is not None and abs(v) > ROTATION_LIMIT_DEG:
            rot.setdefault(lc, []).append((case, abs(v)))
        for k, x in r.items():
            if k.endswith("_disc_pressure_MPa") and not k.startswith("adjacent"):
                p = _num(x)
                if p is not None and p < NUCLEUS_TENSION_LIMIT_MPA:
                    ten.setdefault(lc, []).append((case, k[: -len("_disc_pressure_MPa")], p))
    out = []
    if rot:
        vals = [v for lst in rot.values() for _, v in lst]
        out.append(
            f"Motion-segment rotation {min(vals):.1f}-{max(vals):.1f} deg in load case(s) "
            f"{', '.join(rot)} exceeds the {ROTATION_LIMIT_DEG:g} deg limit of this small-strain "
            "linear model: stresses, strains and bone at risk of those load cases are not "
            "valid; compare cases only qualitatively.")
    if ten:
        items = sorted({f"{lc}" for lc in ten})
        discs = sorted({d for lst in ten.values() for _, d, _ in lst})
        low = min(p for lst in ten.values() for _, _, p in lst)
        out.append(
            f"Nucleus in tension (mean pressure down to {low:.2f} MPa) in disc(s) "
            f"{', '.join(discs)} under {', '.join(items)}: a linear solid nucleus cannot "
            "represent a pressurised gel pulled apart; disc pressures of those load cases are "
            "not valid.")
    return out


def _num(v):
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ---------------------------------------------------------------------------- limitations
def limitations(kind: str = "segment", *, voxel_size_mm: float | None = None,
                leak_constants_calibrated: bool = False) -> list[str]:
    """What the model does not represent, true for this version of biomech.

    Keep this list the one place these sentences are written (the report and the
    documentation's validity page use it) and true as the mechanics changes.
    """
    out = [
        "Soft tissues (segment models): annulus fibres, ligaments (ALL, PLL, LF, ISL, SSL, ITL, "
        "capsular) and facet contact are linear tension-only / compression-only springs with "
        "cited small-strain values (no toe region, no pre-strain); benchmarks/segment_validation.py "
        "compares the segment with in vitro data: the ranges of motion at 7.5 N m in all four "
        "directions, the axial stiffness and the facet force in axial rotation agree; under a "
        "follower load extension moves about twice the in vitro range and one facet joint "
        "carries about 4 times the measured force in extension, because the parametric "
        "articular processes are near-sagittal boxes that overlap too little (published joints "
        "face 26-34 deg off the sagittal plane, with 1-2 cm^2 of surface); the disc pressure is "
        "about 30 % below the 1.5 F / A rule, and the adjacent disc pressure rises about 1.5 % "
        "when the treated body is made rigid (published models: +2.4 % for cement stiffening, "
        "+19 % for a rigid pillar).",
        "The nucleus is a near-incompressible linear solid (not a pressurised fluid); the "
        "annulus ground substance is isotropic, its collagen fibres explicit.",
        "Linear elasticity, small strain and small rotation: no large-rotation geometry, no "
        "yield, damage or failure; loads scale linearly; results beyond the validity limits "
        f"(segment rotation > {ROTATION_LIMIT_DEG:g} deg, nucleus in tension) are flagged.",
        "Material values are population values from the literature (Methods), not measured on "
        "one patient; tissues marked *check* in the material table are assumptions.",
    ]
    if kind != "ct":
        out.append("Idealised anatomy: parametric (or mean-shape) vertebrae and discs, not one "
                   "patient's geometry.")
    if voxel_size_mm is not None:
        out.append(
            f"Voxel resolution {voxel_size_mm:g} mm: the 0.38 mm cortex and 0.25 mm bony endplate "
            "are thinner than a voxel and enter as mixed (partial-volume) moduli; surfaces are "
            "stair-stepped, so peak stresses at the surface (and p95 endplate stress) depend on "
            "the voxel size" + (" (2 mm is a quick look; 1 mm resolves the shell better)."
                                if voxel_size_mm >= 2 else ".")
            + " Measured on the default demo, 2 mm against 1 mm: vertebroplasty stiffness 1.70 "
            "against 1.25 x intact, untreated fracture 0.89 against 0.75, kyphosis 17.5 against "
            "14.1 deg, vertebroplasty leak probability 0.27 against 0.02.  The one-voxel cortex "
            "and endplates take 9.1 mL of L2 at 2 mm against 4.7 mL at 1 mm, so 4 mL of cement "
            "fills 26 % against 20 % of the space inside and lies nearer the wall; check a "
            "conclusion at 1 mm before relying on it.")
    if not leak_constants_calibrated:
        out.append("Cement spread and leakage: leak probabilities come from seeded random "
                   "realisations of bone permeability, veins and needle-track gap; the trends "
                   "(viscosity, injection time, volume, breaches) follow bench experiments, but "
                   "the vein sizes and outside permeabilities are assumptions, so probabilities "
                   "compare cases rather than predict a patient's risk.  They also depend on the "
                   "voxel size: a leak counts from 0.005 mL at a site (by default), and the "
                   "cement that leaves the body in a typical osteoporotic case fills about one "
                   "voxel, where a vein or crack crosses the shell (8 uL at 2 mm, 1 uL at 1 mm). "
                   " The default demo's vertebroplasty reads 0.27 at 2 mm against 0.016 at 1 mm, "
                   "the virtual cohort of benchmarks/leakage_validation.py 51 % against 13 % "
                   "(clinical 55 %); compare leak probabilities at one voxel size only "
                   "(benchmarks/leak_resolution.py).")
    out.append("Cement is linear elastic, fully bonded to bone; no curing heat, shrinkage or "
               "bone-cement interface failure.")
    return out


# ---------------------------------------------------------------------------- glossary
#: metric (column name without level prefix) -> definition (with its source).
GLOSSARY = {
    "stiffness_N_per_mm": "Axial stiffness of the treated (focus) vertebra [N/mm]: applied axial "
    "force divided by the change of the mean axial displacement between its superior and "
    "inferior body surfaces; compression load case only.",
    "segment_stiffness_N_per_mm": "Axial stiffness of the whole segment [N/mm]: axial force / "
    "descent of the loading plate; compression only.",
    "segment_rotation_deg": "Rotation of the loading plate [deg] under a moment load case; "
    f"results above {ROTATION_LIMIT_DEG:g} deg are outside the small-strain validity.",
    "segment_rotational_stiffness_Nm_per_deg": "Moment / plate rotation [N m/deg].",
    "disc_pressure_MPa": "Disc pressure [MPa]: mean hydrostatic pressure -tr(sigma)/3 over the "
    "nucleus elements of a disc; negative = nucleus in tension (outside validity). "
    "``adjacent_superior``/``adjacent_inferior``: the disc above / below the treated level.",
    "endplate_stress_MPa_p95": "95th percentile of the axial normal stress (compression "
    "positive, -sigma_zz) over the bony endplate layer [MPa]; ``_mean`` the mean. "
    "``adjacent_superior``: inferior endplate of the vertebra above the treated level; "
    "``adjacent_inferior``: superior endplate of the vertebra below (adjacent-level load).",
    "bone_at_risk": "Fraction of the trabecular volume (cancellous, fracture zone, compacted "
    "bone) of a vertebra whose minimum principal strain is below -0.77 % or maximum "
    "principal strain above 0.70 %, the yield strains of human vertebral trabecular bone "
    "(Morgan & Keaveny, J Biomech 34:569, 2001; Kopperdahl & Keaveny, J Biomech 31:601, 1998).",
    "endplate_bulge_mm": "Largest deflection of a bony endplate into the body [mm], relative to "
    "the best-fit plane of its axial displacement (a rigid tilt is not bulge).",
    "posterior_wall_bulge_mm": "Largest posterior displacement (into the canal) of the "
    "posterior wall relative to the body's mean [mm] (burst risk in metastases).",
    "cement_volume_ml": "Cement inside the vertebral body [mL] (augmentation), leaks excluded.",
    "fill_fraction": "Cement volume / trabecular volume of the treated body [-].",
    "injected_ml": "Cement volume injected [mL] (inside + leaked).",
    "leak_volume_ml": "Cement that left the body in the mean-property fill [mL], total and "
    "by site: spinal canal (posterior wall), disc (through an endplate), venous "
    "(basivertebral foramen), paravertebral (through the side wall), needle track "
    "(backflow along a needle).",
    "leak_probability": "Probability of a CT-detectable cement leak (at least 0.005 mL at a "
    "site) over the seeded random realisations of bone permeability, veins and needle-track "
    "gap [-]; ``_ci_low``/``_ci_high``: its Wilson 95 % interval; ``_<site>``: of a leak at "
    "that site (spinal canal, disc, venous, paravertebral, needle track). Several treated "
    "levels: 1 - prod(1 - p).",
    "expected_leak_volume_ml": "Mean leaked cement volume over the realisations [mL].",
    "peak_injection_pressure_MPa": "Peak injection pressure over the injection [MPa]: "
    "Hagen-Poiseuille in the cannula plus spherical Darcy flow in the bone, at the cement's "
    "viscosity at that time (mean over the realisations; ``_p95`` their 95th percentile).",
    "fill_fraction_sd": "Standard deviation of the fill fraction over the realisations [-].",
    "leak_realisations": "Number of random realisations behind the leak probabilities.",
    "cavity_ml": "Kyphoplasty balloon cavity volume [mL].",
    "height_restored_mm": "Kyphoplasty: anterior height regained [mm].",
    "failure_load_N": "Failure load of a vertebra [N] by Pistoia's criterion on the linear "
    "solution: the load at which 2 % of its bone exceeds 0.7 % effective strain, sqrt(2 U / E) "
    "(Pistoia et al., Bone 30:842, 2002; as ParOSol computes it): applied compression x 0.007 / "
    "the 98th percentile of the effective strain.  Compression load cases only.",
    "factor_of_risk": "Factor of risk of a vertebra [-]: applied load / failure load (Pistoia's "
    "criterion) = 98th percentile of the effective strain / 0.007; above 1 the load breaks "
    "the vertebra by this criterion.  ``adjacent_superior``/``adjacent_inferior``: the "
    "vertebra above / below the treated level.",
    "effective_strain_p98": "98th percentile of the effective strain sqrt(2 U / E) over a "
    "vertebra's bone [-] (Pistoia's criterion).",
    "kyphosis_deg": "Local kyphosis over the treated level [deg]: Cobb angle from the superior "
    "endplate of the vertebra above to the inferior endplate of the vertebra below, measured "
    "on the voxels (endplate lines through the anterior and posterior rims, as on a lateral "
    "radiograph); positive kyphotic.",
    "wedge_angle_deg": "Wedge angle of a vertebral body [deg]: superior minus inferior "
    "endplate tilt, measured on the voxels (positive: the anterior wall is the shorter).",
    "anterior_height_mm": "Anterior, middle and posterior heights of a body [mm] (Ha, Hm, Hp of "
    "quantitative morphometry), measured on the voxels perpendicular to the inferior endplate "
    "in the mid-sagittal strip.",
    "height_loss_fraction": "Largest height loss of a body [-] against its neighbouring "
    "vertebrae: wedge (Ha/Hp), biconcave (Hm/Hp) or crush (Hp) (McCloskey et al. 1993).",
    "genant_grade": "Genant semi-quantitative grade of the measured height loss: 0 (< 20 %), "
    "1 (20-25 %), 2 (25-40 %), 3 (>= 40 %) (Genant et al., J Bone Miner Res 8:1137, 1993).",
    "endplate_tilt_deg": "Sagittal tilt of an endplate line [deg] (positive: falls anteriorly).",
    "upper_body_weight_N": "Standing: weight of the body above the top vertebra [N] "
    "(biomech.posture).",
    "com_offset_mm": "Standing: anterior offset of the upper-body centre of mass from the "
    "loading plate's reference point [mm]; grows with the kyphosis.",
    "erector_force_N": "Standing: erector spinae force balancing the moment of the upper-body "
    "weight [N] (as Rohlmann et al., Eur Spine J 15:1255, 2006).",
    "posture_kyphosis_deg": "Standing: kyphosis of the whole model the posture followed [deg].",
    "posture_compression_N": "Standing: weight plus erector spinae force on the plate [N].",
    "_ratio": "Any column ending in ``_ratio``: value / the baseline case's value in the same "
    "load case (1.00 = no change).",
}


def define(column: str) -> str | None:
    """The definition of a result column (level prefixes such as ``L2_`` or ``L1-L2_``,
    ``adjacent_superior_`` and the ``_ratio`` suffix understood); None if unknown."""
    c = column.split("[")[0]
    ratio = c.endswith("_ratio")
    if ratio:
        c = c[: -len("_ratio")]
    parts = c.split("_", 1)
    cands = [c]
    if len(parts) == 2:
        cands.append(parts[1])
    for pre in ("adjacent_superior_", "adjacent_inferior_"):
        if c.startswith(pre):
            cands.append(c[len(pre):])
    for k in list(cands):
        for w in ("superior_", "inferior_"):
            if k.startswith(w):
                cands.append(k[len(w):])
        if k.endswith("_mean"):
            cands.append(k[: -len("_mean")] + "_p95")
        if k.startswith("leak_volume_ml_"):
            cands.append("leak_volume_ml")
        if k.startswith("leak_probability_"):
            cands.append("leak_probability")
        if k.startswith("peak_injection_pressure_MPa"):
            cands.append("peak_injection_pressure_MPa")
        if k.startswith("endplate_stress"):
            cands.append("endplate_stress_MPa_p95")
    for k in cands:
        if k in GLOSSARY:
            return GLOSSARY[k] + (" Shown as the ratio to the baseline." if ratio else "")
    return None


# ---------------------------------------------------------------------------- headline
#: (column, heading, unit, decimals or None for 3 significant digits) of the compact table.
HEADLINE = (
    ("stiffness_N_per_mm", "vertebral stiffness", "N/mm", None),
    ("failure_load_N", "failure load", "N", None),
    ("kyphosis_deg", "kyphosis", "deg", 1),
    ("adjacent_superior_disc_pressure_MPa", "disc pressure above", "MPa", None),
    ("adjacent_inferior_disc_pressure_MPa", "disc pressure below", "MPa", None),
    ("adjacent_superior_endplate_stress_MPa_p95", "endplate stress above, p95", "MPa", None),
    ("adjacent_inferior_endplate_stress_MPa_p95", "endplate stress below, p95", "MPa", None),
    ("adjacent_superior_factor_of_risk", "factor of risk above", "-", 2),
    ("adjacent_inferior_factor_of_risk", "factor of risk below", "-", 2),
    ("cement_volume_ml", "cement", "mL", 2),
    ("leak_volume_ml", "leak", "mL", 2),
    ("leak_probability", "leak probability", "%", 0),
)
#: Headline columns read from the posture load case (one whose rows carry
#: ``upper_body_weight_N``: the upper-body weight following the kyphosis) when the study
#: has one: the adjacent-level loads of standing, which the deformity changes.
HEADLINE_POSTURE = {"adjacent_superior_disc_pressure_MPa", "adjacent_inferior_disc_pressure_MPa",
                    "adjacent_superior_endplate_stress_MPa_p95",
                    "adjacent_inferior_endplate_stress_MPa_p95",
                    "adjacent_superior_factor_of_risk", "adjacent_inferior_factor_of_risk"}
#: Columns whose ratio to the baseline is shown (cement, leak and kyphosis are absolute).
HEADLINE_RATIOS = {"stiffness_N_per_mm", "failure_load_N",
                   "adjacent_superior_endplate_stress_MPa_p95",
                   "adjacent_inferior_endplate_stress_MPa_p95",
                   "adjacent_superior_disc_pressure_MPa", "adjacent_inferior_disc_pressure_MPa",
                   "adjacent_superior_factor_of_risk", "adjacent_inferior_factor_of_risk"}


def round_sig(v: float, sig: int = 3) -> str:
    """A number for a reader, never in exponent notation for the values a study gives:
    100 and above as a whole number with thousands separated (15145.3 -> '15,145'),
    smaller values to ``sig`` significant digits (0.41784 -> '0.418', 2.013 -> '2.01')."""
    if not math.isfinite(v):
        return "–"
    if v == 0:
        return "0"
    if abs(v) >= 1e9 or abs(v) < 1e-4:
        return f"{v:.{sig - 1}e}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    mag = int(math.floor(math.log10(abs(v))))
    return f"{v:.{max(sig - 1 - mag, 0)}f}"


def format_metric(v, unit: str = "", decimals: int | None = None) -> str:
    f = _num(v)
    if f is None:
        return "–"
    if unit == "%":
        f *= 100.0
    return f"{f:,.{decimals}f}" if decimals is not None else round_sig(f)


# ---------------------------------------------------------------------------- comparisons
def _flat(d, prefix=""):
    out = {}
    if isinstance(d, Mapping):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
    elif isinstance(d, (list, tuple)) and d and all(isinstance(x, Mapping) for x in d):
        for x in d:
            key = x.get("kind") or x.get("name") or "?"
            out.update(_flat({k: v for k, v in x.items() if k not in ("kind",)},
                             f"{prefix}{key}."))
    else:
        out[prefix[:-1]] = d
    return out


def _describe_item(x: Mapping) -> str:
    kind = x.get("kind", x.get("name", "?"))
    rest = ", ".join(f"{k} {v['name'] if isinstance(v, Mapping) and 'name' in v else v}"
                     for k, v in x.items() if k not in ("kind", "name") and not isinstance(v, list))
    return f"{kind} ({rest})" if rest else str(kind)


def baseline_differences(case: Mapping, baseline: Mapping) -> list[str]:
    """What ``case`` changes against ``baseline`` (case specs as in study.json): one
    phrase per added, removed or changed condition / treatment, model setting or load."""
    out = []
    for group in ("conditions", "treatments"):
        a = [_describe_item(x) for x in baseline.get(group) or []]
        b = [_describe_item(x) for x in case.get(group) or []]
        out += [f"adds {x}" for x in b if x not in a]
        out += [f"removes {x}" for x in a if x not in b]
    fa, fb = _flat(baseline.get("model") or {}), _flat(case.get("model") or {})
    for k in sorted(set(fa) | set(fb)):
        if fa.get(k) != fb.get(k):
            out.append(f"model {k}: {fa.get(k)} -> {fb.get(k)}")
    la = [x.get("name") for x in baseline.get("load_cases") or []]
    lb = [x.get("name") for x in case.get("load_cases") or []]
    if la != lb:
        out.append("different load cases")
    return out


def comparison_notes(cases: Sequence[Mapping], baseline: str | None) -> dict[str, str]:
    """{case name: sentence} saying what each case is compared with; a case that
    differs from the baseline in more than one thing says so plainly."""
    specs = {c["name"]: c for c in cases}
    if not baseline or baseline not in specs:
        return {}
    base = specs[baseline]
    out = {}
    for name, c in specs.items():
        if name == baseline:
            out[name] = "the baseline"
            continue
        diff = baseline_differences(c, base)
        if not diff:
            out[name] = f"same inputs as {baseline}"
        elif len(diff) == 1:
            out[name] = f"{baseline}, then {diff[0]}: ratios isolate this one change"
        else:
            out[name] = (f"differs from {baseline} in {len(diff)} ways ({'; '.join(diff)}): "
                         "its ratios mix these effects, read them as a comparison of two "
                         "conditions, not of one change")
    return out


# ---------------------------------------------------------------------------- methods
def _vec(v) -> str:
    return "(" + ", ".join(f"{float(x):g}" for x in v) + ")"


def describe_load_case(lc: Mapping) -> str:
    parts = []
    f = lc.get("force_N") or (0, 0, 0)
    m = lc.get("moment_Nmm") or (0, 0, 0)
    if any(float(x) for x in f):
        parts.append(f"force {_vec(f)} N")
    if any(float(x) for x in m):
        parts.append(f"moment {_vec([float(x) / 1000 for x in m])} N m")
    if float(lc.get("follower_N") or 0.0):
        parts.append(f"follower load {float(lc['follower_N']):g} N")
    post = lc.get("posture")
    if isinstance(post, Mapping):
        frac = post.get("mass_fraction")
        parts.append(
            f"upper-body weight ({'the mass fraction above the top vertebra' if frac is None else f'{float(frac):g}'}"
            f" of {float(post.get('body_mass_kg', 65.0)):g} kg) at its centre of mass "
            f"{float(post.get('com_offset_mm', 20.0)):g} mm anterior and "
            f"{float(post.get('com_height_mm', 180.0)):g} mm above the plate, carried forward by "
            f"the model's kyphosis ({100 * (1 - float(post.get('shift_compensation', 0.0))):g} % of "
            "it uncompensated)"
            + (f", balanced by the erector spinae at {float(post.get('erector_lever_mm', 50.0)):g}"
               " mm (Rohlmann et al. 2006)" if post.get("erector_spinae", True) else ""))
    return f"{lc.get('name', '?')}: " + (", ".join(parts) or "no load")


def methods(cases: Sequence[Mapping], *, materials: Iterable[Sequence] = (),
            density_law: str | None = None, supports: str | None = None) -> list[tuple[str, str]]:
    """[(heading, text)] of the Methods from the case specs (study.json's dicts) and the
    material rows [(name, E_MPa, nu, source), ...] of the registry the study used."""
    if not cases:
        return []
    models = {repr(sorted(_flat(c.get("model") or {}).items())): c.get("model") or {}
              for c in cases}
    out = []
    anat = []
    for m in models.values():
        kind = m.get("kind", "?")
        levels = m.get("levels") or m.get("level")
        txt = f"{kind}"
        if levels:
            txt += " " + ("-".join([levels[0], levels[-1]]) if isinstance(levels, list)
                          and len(levels) > 1 else str(levels if not isinstance(levels, list)
                                                       else levels[0]))
        if kind == "segment":
            txt += (" built parametrically by biomech.meshes (vertebral bodies with cortex, bony "
                    "and cartilage endplates, posterior elements; discs with nucleus and annulus)")
        elif kind == "ct":
            txt += f" from calibrated CT {m.get('image', '')}"
        elif kind in ("surface", "clouthier"):
            txt += " from a surface mesh (Clouthier et al. 2023 mean lumbar shape, MIT)"
        if m.get("voxel_size_mm") is not None:
            txt += f"; voxel size {float(m['voxel_size_mm']):g} mm (one hex8 element per voxel)"
        bone = m.get("bone") or {}
        if bone.get("vbmd_mg_cm3") is not None:
            txt += f"; trabecular vBMD {float(bone['vbmd_mg_cm3']):g} mg/cm3"
        anat.append(txt)
    out.append(("Anatomy and mesh", "; ".join(sorted(set(anat))) + "."))
    conds = sorted({_describe_item(x) for c in cases for x in c.get("conditions") or []})
    if conds:
        out.append(("Conditions", "; ".join(conds) + "."))
    rows = list(materials)
    if rows:
        mats = "; ".join(f"{n} E = {round_sig(float(E))} MPa, nu = {float(nu):g} ({src})"
                         for n, E, nu, src in rows)
        txt = ("Linear isotropic elastic per voxel (biomech.materials.element_properties): "
               + mats + ".")
        if density_law:
            txt += (f" Trabecular modulus from the density-modulus law {density_law} wherever a "
                    "density is known (the table's cancellous value otherwise); shell voxels mix "
                    "the measured cortex / endplate volume fraction (Voigt for the side wall, "
                    "Reuss for the endplate).")
        out.append(("Materials", txt))
    out.append(("Boundary conditions", supports or (
        "The inferior surface of the lowest vertebral body (or inferior PMMA cap) is fixed in x, "
        "y and z; the superior surface of the top body (or superior cap) is tied to a rigid "
        "plate whose reference point (centroid of the tied nodes) carries the load. Axes: x "
        "left-right, y anterior to posterior, z caudal to cranial.")))
    lcs = {}
    for c in cases:
        for lc in c.get("load_cases") or []:
            lcs.setdefault(lc.get("name"), describe_load_case(lc))
    if lcs:
        out.append(("Load cases", "; ".join(lcs.values()) + ". Each load case is a "
                    "superposition of six unit plate loads of one linear solve set-up."))
    methods = {
        "gmg": "geometric multigrid on the voxel grid (matrix-free fine level, Galerkin coarse "
               "levels, Chebyshev smoothing)",
        "amg": "smoothed-aggregation AMG (pyamg hierarchy, biomech's V-cycle)",
        "auto": "the solver chosen by model size (direct, geometric multigrid or AMG)",
        "direct": "a sparse direct solver (SuperLU)",
        "matrix-free": "Jacobi on the matrix-free operator",
        "jacobi": "Jacobi"}
    used = sorted({str((c.get("analysis") or {}).get("solver", "unrecorded")) for c in cases})
    tols = sorted({f"{float((c.get('analysis') or {}).get('rtol', 1e-6)):g}" for c in cases})
    out.append(("Solver", "Small-strain linear elasticity, hex8 voxel elements (B-bar for "
                "near-incompressible tissue); rigid plate condensed; conjugate gradients "
                "preconditioned by " + "; ".join(f"'{u}': {methods.get(u, u)}" for u in used)
                + "; relative residual tolerance " + ", ".join(tols) + "."))
    treats = [x for c in cases for x in c.get("treatments") or []]
    if treats:
        cements = {}
        for t in treats:
            cm = t.get("cement")
            if isinstance(cm, Mapping):
                cements[cm.get("name", "?")] = cm
        kinds = sorted({t.get("kind", "?") for t in treats})
        txt = ("Treatments: " + "; ".join(sorted({_describe_item(t) for t in treats})) + ". ")
        if "vertebroplasty" in kinds:
            txt += ("Vertebroplasty: cement enters at the needle tip(s) and advances through the "
                    "trabecular bone as a pressure-driven front (cheapest path on the voxel "
                    "graph, resistance ~ viscosity / permeability, viscosity rising with time "
                    "after mixing); filled voxels become cement-bone composite (Kinzl et al. "
                    "2012); cement crossing a breach counts as leak by site. ")
        txt += ("Leak probabilities: the injection is repeated over seeded random "
                "realisations of the bone's permeability (log-normal field; between-vertebra "
                "CoV 0.39, Baroud et al. 2004), its veins and endplate cracks and the needle-"
                "track gap; a leak of at least 0.005 mL at a site counts, with a Wilson 95 % "
                "interval. Injection pressure: Hagen-Poiseuille in the cannula plus Darcy flow "
                "in the bone (Baroud & Steffen 2005: ~95 % in the cannula). ")
        if "kyphoplasty" in kinds:
            txt += ("Kyphoplasty: the balloons make a cavity bounded by endplates and cortex, "
                    "compact the displaced bone into a denser shell, may restore height; the "
                    "cavity fills with solid cement. ")
        for n, cm in cements.items():
            txt += (f"Cement {n}: E = {round_sig(float(cm.get('E_MPa', float('nan'))))} MPa, "
                    f"nu = {cm.get('nu', '?')}")
            if cm.get("viscosity_Pa_s"):
                txt += (f", viscosity {cm['viscosity_Pa_s'][0]:g}-{cm['viscosity_Pa_s'][-1]:g} "
                        f"Pa s over {cm['viscosity_time_min'][0]:g}-"
                        f"{cm['viscosity_time_min'][-1]:g} min after mixing")
            txt += ". "
        out.append(("Cement model", txt.strip()))
    return out


__all__ = ["GLOSSARY", "HEADLINE", "NUCLEUS_TENSION_LIMIT_MPA", "ROTATION_LIMIT_DEG",
           "baseline_differences", "comparison_notes", "define", "describe_load_case",
           "format_metric", "limitations", "methods", "round_sig", "validity_warnings"]
