"""Named tissue materials, density-modulus laws and per-voxel elastic properties.

A :class:`MaterialRegistry` holds one :class:`Material` per tissue (E [MPa], nu [-],
the range in which a value is accepted, and where the default comes from).
``default_registry()`` gives the published defaults; ``registry.override(name,
E_MPa=..., nu=...)`` returns a new registry (registries are immutable), validated.
``registry.table()`` lists every material with its source.

:func:`element_properties` turns a labelled :class:`~biomech.meshes.voxel_model.VoxelModel`
into per-voxel (E [MPa], nu [-]) with the rules below.

Rules (each one an explicit, documented choice)
-----------------------------------------------
* **Trabecular family** (cancellous, fracture zone, angioma, compacted bone): when the model
  carries a QCT-equivalent density field ``density_g_cm3`` (> 0) or a ``bvtv`` field, the
  modulus comes from the density-modulus law (default ``kopperdahl2002_qct_power`` of
  :mod:`biomech.meshes.density`; BV/TV is turned into a QCT-equivalent density with
  ``rho = bvtv * TISSUE_MINERAL_DENSITY_G_CM3``); otherwise the registry default.  Fracture zone and angioma keep their registry ratio to cancellous bone
  (``E_fracture_zone / E_cancellous``), so the damage survives a density-mapped model; a
  ``damage`` field (0..1) replaces that ratio by ``1 - damage`` voxel by voxel.
* **Partial-volume cortex** (cortical shell and bony endplate voxels): the shell is thinner
  than a voxel (0.38 mm at 1 mm voxels), so a shell voxel is a laminate of shell
  (volume fraction ``f = cortical_fraction``) and trabecular bone: Voigt (iso-strain) mixing
  ``E = f E_shell + (1 - f) E_trabecular``, ``nu = f nu_shell + (1 - f) nu_trabecular``.
  Voigt is exact for a laminate loaded in its own plane, which is how the vertebral shell
  carries axial load; it overestimates the through-thickness stiffness.  Without a
  ``cortical_fraction`` field the whole voxel is shell (f = 1).
* **Cement-bone composite** (vertebroplasty fill): the bone inside the composite is
  mechanically "switched off" and the composite modulus is set by the cement and its
  porosity (Kinzl, Boger, Zysset & Pahr, J Biomech 45:2732, 2012: micro-FE of the porous
  cement alone reproduced the measured moduli better than models with bone; R^2 of modulus
  against PV/(TV-BV) 0.91/0.98).  Model: the cement phase is a porous solid whose voids
  are the bone volume and the unfilled pores,
  ``E = interface_factor * E_cement * ((1 - bvtv) * (1 - pore_fraction)) ** exponent``
  with exponent 2 (porous solids, Gibson & Ashby) and pore_fraction 0.10 (assumption: not a
  number from Kinzl 2012, which reports the correlation, not a typical value).
  ``interface_factor`` (default 1.0) can be set to 0.8: frictionless bone-cement contact was
  about 20 % more compliant than a bonded interface in micro-FE (Kinzl et al., J Biomech
  45:1478, 2012).  Per-voxel fields ``cement_E_MPa``, ``cement_nu`` and
  ``cement_pore_fraction`` written by the treatments override the defaults.
* **Bulk cement** (kyphoplasty cavity, leaked cement): ``cement_E_MPa`` / ``cement_nu``
  fields, else the registry ``bulk_cement`` default.
* **E_factor** field (dimensionless, default 1) multiplies the modulus of every voxel and,
  in shell voxels, only the trabecular part; **shell_E_factor** multiplies the shell part
  (the osteoporosis rule and the vBMD condition of :mod:`biomech.conditions` write them).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from .errors import InputError, MaterialError
from .meshes.density import DENSITY_LAWS, get_law
from .meshes.labels import Label

#: Mineral-equivalent density of fully mineralised bone tissue used to convert BV/TV to a
#: QCT-equivalent density [g/cm^3] (rho_QCT ~ BV/TV * TMD).  Assumption: typical micro-CT
#: tissue mineral density ~1.0-1.1 g HA/cm^3; a proxy, not a calibration.
TISSUE_MINERAL_DENSITY_G_CM3 = 1.05

#: Labels whose modulus follows the trabecular density-modulus law.
TRABECULAR_LAW_LABELS = (Label.CANCELLOUS, Label.FRACTURE_ZONE, Label.ANGIOMA, Label.COMPACTED)
#: Labels treated as partial-volume shells.
SHELL_LABELS = (Label.CORTICAL, Label.ENDPLATE)


# ----------------------------------------------------------------------------- materials

@dataclass(frozen=True)
class Material:
    """One tissue: E [MPa], nu [-], accepted ranges, source of the default.

    ``params`` holds model parameters of derived materials (e.g. the composite model)."""

    name: str
    E_MPa: float
    nu: float
    E_range_MPa: tuple
    nu_range: tuple = (0.0, 0.4999)
    source: str = ""
    description: str = ""
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        validate_elastic(self.name, self.E_MPa, self.nu, self.E_range_MPa, self.nu_range)


def validate_elastic(name, E_MPa, nu, E_range=(0.0, math.inf), nu_range=(-1.0, 0.5)):
    """Raise MaterialError unless E > 0 lies in E_range and nu lies in nu_range (and in (-1, 0.5))."""
    try:
        E = float(E_MPa)
        v = float(nu)
    except (TypeError, ValueError):
        raise MaterialError(f"{name}: E_MPa and nu must be numbers, got E_MPa={E_MPa!r}, nu={nu!r}")
    if not math.isfinite(E) or E <= 0.0:
        raise MaterialError(f"{name}: Young's modulus must be a finite number > 0 MPa, got E_MPa={E!r}")
    if not (E_range[0] <= E <= E_range[1]):
        raise MaterialError(f"{name}: E_MPa={E!r} is outside the accepted range "
                            f"{E_range[0]:g}-{E_range[1]:g} MPa")
    if not math.isfinite(v) or not (-1.0 < v < 0.5):
        raise MaterialError(f"{name}: Poisson's ratio must lie in (-1, 0.5), got nu={v!r}")
    if not (nu_range[0] <= v <= nu_range[1]):
        raise MaterialError(f"{name}: nu={v!r} is outside the accepted range "
                            f"{nu_range[0]:g}-{nu_range[1]:g}")


_DEFAULTS = (
    Material("cortical", 12000.0, 0.3, (1000.0, 30000.0),
             source="Purcell et al., Int J Spine Surg 15:302, 2021, Table 1; Eswaran et al., "
                    "CMAME 2007 (shell 0.38 +/- 0.06 mm)",
             description="vertebral cortical shell (healthy)"),
    Material("cancellous", 200.0, 0.2, (0.1, 3000.0),
             source="normal-density trabecular bone, PMC12452785 Table 3 (E 200 MPa); nu 0.2 as "
                    "Purcell 2021; published range 0.1-976 MPa (see MATERIALS.md)",
             description="trabecular bone (homogeneous default; density law when a density or "
                         "BV/TV field exists)"),
    Material("bony_endplate", 1000.0, 0.2, (50.0, 30000.0),
             source="Purcell et al., Int J Spine Surg 2021 (0.25 mm shell)",
             description="bony endplate shell"),
    Material("cartilage_endplate", 20.0, 0.3, (1.0, 200.0), (0.0, 0.4999),
             source="10-25 MPa, nu 0.25-0.4: Purcell 2021; Sci Rep 2025 (s41598-025-03377-x); "
                    "Eur Spine J 2012 (PMC3535260)",
             description="cartilage endplate of the disc"),
    Material("posterior_elements", 3500.0, 0.25, (200.0, 20000.0),
             source="Purcell 2021; J Orthop Surg Res 2020 (s13018-020-01650-5)",
             description="pedicles, lamina, processes, facets"),
    Material("nucleus", 1.0, 0.499, (0.01, 50.0), (0.3, 0.4999),
             source="J Orthop Surg Res 2020; Purcell 2021 (E 1 MPa, nu 0.499; needs B-bar)",
             description="nucleus pulposus (nearly incompressible)"),
    Material("annulus", 4.2, 0.45, (0.1, 100.0), (0.2, 0.4999),
             source="J Orthop Surg Res 2020; Purcell 2021 (ground substance, isotropic)",
             description="annulus fibrosus"),
    Material("bulk_cement", 1937.0, 0.3, (10.0, 40000.0),
             source="PMMA measured to ISO 5833: 1937 +/- 478 MPa, Eur Spine J 2013 "
                    "(PMC3698342); nu 0.3 (0.2-0.4 in FE models)",
             description="bulk cement when no formulation is recorded on the voxel"),
    Material("cement_bone_composite", 1271.0, 0.3, (1.0, 40000.0),
             source="Kinzl et al., J Biomech 45:2732, 2012 (bone switched off; porous cement); "
                    "default = bulk_cement with BV/TV 0.10, pore fraction 0.10, exponent 2",
             description="vertebroplasty cement-bone composite (porous-cement model)",
             params={"pore_fraction": 0.10, "exponent": 2.0, "interface_factor": 1.0}),
    Material("compacted_bone", 400.0, 0.2, (1.0, 5000.0),
             source="rule: balloon-compacted shell keeps the displaced bone (mass conservation, "
                    "the geometry/BV-TV approach of Purcell et al., Proc IMechE H 228, 2014, "
                    "doi 10.1177/0954411913513575); default = twice cancellous",
             description="bone compacted by a kyphoplasty balloon (density law when fields exist)"),
    Material("lytic_tissue", 1.0, 0.45, (0.001, 200.0), (0.0, 0.4999),
             source="assumption: soft tumour tissue, near a hole (micro-FE studies model lytic "
                    "lesions as holes, e.g. Costa et al., J Mech Behav Biomed Mater 2019); *check*",
             description="lytic metastasis tissue"),
    Material("blastic_bone", 700.0, 0.3, (10.0, 20000.0),
             source="assumption: sclerotic bone stiffer than cancellous but weaker than its density "
                    "suggests; *check* against Soltani et al., Front Bioeng Biotechnol 2024",
             description="blastic (sclerotic) metastatic bone"),
    Material("fracture_zone", 80.0, 0.2, (0.01, 3000.0),
             source="damaged cancellous bone, 60 % modulus reduction: within the 19-91 % damage "
                    "range of Kosmopoulos & Keller, Eur Spine J 13:617, 2004",
             description="damaged trabecular bone of a compression fracture",
             params={"damage": 0.6}),
    Material("angioma", 100.0, 0.2, (0.01, 3000.0),
             source="assumption: haemangioma (coarse vertical trabeculae, vascular stroma) at "
                    "half the cancellous modulus; *check*",
             description="vertebral haemangioma"),
    Material("pmma_cap", 1177.0, 0.3, (10.0, 40000.0),
             source="PMMA end-cap cylinders 1177 +/- 3 MPa: Agostinho Hernandez, Gill & Gheduzzi, "
                    "Proc IMechE H 235:245, 2021 (PMC7841704)",
             description="PMMA end caps / platens of a cadaver test"),
)

#: Label -> material name.
LABEL_MATERIAL = MappingProxyType({
    Label.CORTICAL: "cortical",
    Label.CANCELLOUS: "cancellous",
    Label.ENDPLATE: "bony_endplate",
    Label.CARTILAGE_ENDPLATE: "cartilage_endplate",
    Label.POSTERIOR: "posterior_elements",
    Label.NUCLEUS: "nucleus",
    Label.ANNULUS: "annulus",
    Label.CEMENT: "bulk_cement",
    Label.COMPOSITE: "cement_bone_composite",
    Label.COMPACTED: "compacted_bone",
    Label.LYTIC: "lytic_tissue",
    Label.BLASTIC: "blastic_bone",
    Label.PMMA_CAP: "pmma_cap",
    Label.FRACTURE_ZONE: "fracture_zone",
    Label.ANGIOMA: "angioma",
    Label.LEAKED_CEMENT: "bulk_cement",
})


# ----------------------------------------------------------------------------- density laws
# One registry of density-modulus laws: biomech.meshes.density.DENSITY_LAWS (each law states
# the density measure it expects).  The model field ``density_g_cm3`` holds a QCT-equivalent
# (K2HPO4) density; laws on ash or apparent density get it converted with
# rho_ash = 0.0633 + 0.887 rho_QCT and rho_app = rho_ash / 0.6 (ash fraction 0.6; both
# *check*: common QCT-FE conversions, seen in secondary sources only).

#: Default law: E = 2980 rho_QCT^1.05 (Kopperdahl 2002 as implemented by the Bonelab spineFE
#: benchmark, the verse004 reference this project validates against).
DEFAULT_DENSITY_LAW = "kopperdahl2002_qct_power"


def qct_to_measure(rho_qct_g_cm3, measure: str) -> np.ndarray:
    """Convert a QCT-equivalent density [g/cm^3] to the measure a law expects."""
    rho = np.asarray(rho_qct_g_cm3, dtype=np.float64)
    if measure == "qct_k2hpo4":
        return rho
    ash = np.where(rho > 0, 0.0633 + 0.887 * rho, 0.0)
    if measure == "ash":
        return ash
    if measure == "apparent":
        return ash / 0.6
    raise MaterialError(f"no conversion from QCT density to {measure!r} density")


def density_law(name: str):
    """The named law of biomech.meshes.density; MaterialError lists the known names."""
    try:
        return get_law(name)
    except InputError:
        raise MaterialError(f"unknown density-modulus law {name!r}; known: "
                            f"{sorted(DENSITY_LAWS)}") from None


def modulus_from_qct(law_name: str, rho_qct_g_cm3) -> np.ndarray:
    """E [MPa] of trabecular bone at a QCT-equivalent density [g/cm^3] through a named law."""
    law = density_law(law_name)
    return law.modulus(qct_to_measure(rho_qct_g_cm3, law.density_measure))


# ----------------------------------------------------------------------------- registry

class MaterialRegistry(Mapping):
    """Immutable mapping name -> :class:`Material` plus the density-modulus law name."""

    def __init__(self, materials, density_law_name: str = DEFAULT_DENSITY_LAW):
        mats = {}
        for m in materials:
            if not isinstance(m, Material):
                raise MaterialError(f"registry entries must be Material, got {type(m).__name__}")
            mats[m.name] = m
        density_law(density_law_name)
        self._materials = MappingProxyType(mats)
        self.density_law_name = density_law_name

    def __getitem__(self, name):
        try:
            return self._materials[name]
        except KeyError:
            raise MaterialError(f"unknown material {name!r}; the registry has "
                                f"{sorted(self._materials)}") from None

    def __iter__(self):
        return iter(self._materials)

    def __len__(self):
        return len(self._materials)

    def names(self) -> list:
        return list(self._materials)

    def for_label(self, label) -> Material:
        """The material of a voxel label."""
        try:
            return self[LABEL_MATERIAL[Label(int(label))]]
        except (KeyError, ValueError):
            raise MaterialError(f"label {label!r} has no material") from None

    def describe(self, name: str) -> str:
        m = self[name]
        return (f"{m.name}: E = {m.E_MPa:g} MPa (accepted {m.E_range_MPa[0]:g}-{m.E_range_MPa[1]:g}), "
                f"nu = {m.nu:g}; {m.description}. Source: {m.source}")

    def table(self) -> str:
        """One line per material: name, E [MPa], nu, source."""
        lines = [f"{'material':24s} {'E_MPa':>9s} {'nu':>6s}  source"]
        for m in self._materials.values():
            lines.append(f"{m.name:24s} {m.E_MPa:9.4g} {m.nu:6.3g}  {m.source}")
        return "\n".join(lines)

    def override(self, name: str, *, E_MPa=None, nu=None, source: str = "user override",
                 **params) -> "MaterialRegistry":
        """A new registry with material ``name`` changed (validated against its ranges)."""
        m = self[name]
        unknown = set(params) - set(m.params)
        if unknown:
            raise MaterialError(f"{name}: unknown parameter(s) {sorted(unknown)}; "
                                f"{name} has {sorted(m.params) or 'none'}")
        new_params = dict(m.params)
        for k, v in params.items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise MaterialError(f"{name}: parameter {k} must be a finite number >= 0, got {v!r}")
            new_params[k] = float(v)
        new = dataclasses.replace(m, E_MPa=m.E_MPa if E_MPa is None else E_MPa,
                                  nu=m.nu if nu is None else nu, source=source, params=new_params)
        mats = dict(self._materials)
        mats[name] = new
        return MaterialRegistry(mats.values(), self.density_law_name)

    def with_density_law(self, name: str) -> "MaterialRegistry":
        return MaterialRegistry(self._materials.values(), name)


def default_registry() -> MaterialRegistry:
    """The published defaults (see each material's ``source``)."""
    return MaterialRegistry(_DEFAULTS)


# ----------------------------------------------------------------------------- composite

def composite_modulus(E_cement_MPa, bvtv, pore_fraction=0.10, exponent=2.0,
                      interface_factor=1.0) -> np.ndarray:
    """Cement-bone composite modulus [MPa] (porous-cement model, Kinzl et al. 2012).

    ``E = interface_factor * E_cement * ((1 - bvtv) * (1 - pore_fraction)) ** exponent``.
    Arrays broadcast.  The bone is mechanically switched off: it only takes volume.
    """
    Ec = np.asarray(E_cement_MPa, dtype=np.float64)
    solid = (1.0 - np.clip(bvtv, 0.0, 1.0)) * (1.0 - np.clip(pore_fraction, 0.0, 1.0))
    return interface_factor * Ec * np.power(solid, exponent)


# ----------------------------------------------------------------------------- per voxel

def element_properties(model, registry: MaterialRegistry | None = None, *,
                       density_law_name: str | None = None):
    """Per-voxel Young's modulus and Poisson ratio of a labelled voxel model.

    model : VoxelModel; registry : MaterialRegistry (``default_registry()`` when None);
    density_law_name : overrides ``model.meta["density_law"]`` and the registry's law.
    Returns (E_MPa (nx, ny, nz) float64, nu (nx, ny, nz) float64); void voxels get 0.
    Gather element values with ``E[tuple(mesh.voxel_ijk.T)]``.
    Fields used when present: density_g_cm3, bvtv, cortical_fraction, damage, E_factor,
    cement_E_MPa, cement_nu, cement_pore_fraction (see the module docstring).
    """
    reg = registry if registry is not None else default_registry()
    law_name = density_law_name or model.meta.get("density_law") or reg.density_law_name
    density_law(law_name)
    labels = model.labels
    fields = model.fields
    solid = labels != Label.VOID
    for name in ("density_g_cm3", "bvtv", "cortical_fraction", "damage", "E_factor",
                 "shell_E_factor", "cement_E_MPa", "cement_nu", "cement_pore_fraction"):
        if name in fields:
            arr = np.asarray(fields[name])[solid]
            bad = ~np.isfinite(arr) | (arr < 0)
            if bad.any():
                ijk = tuple(int(v) for v in np.argwhere(solid)[np.flatnonzero(bad)[0]])
                raise MaterialError(f"field {name!r} must be finite and >= 0; voxel {ijk} "
                                    f"({Label(int(labels[ijk])).name.lower()}) has {fields[name][ijk]!r}")
    E = np.zeros(labels.shape)
    nu = np.zeros(labels.shape)

    present = np.unique(labels)
    for lab in present:
        if lab == Label.VOID:
            continue
        try:
            m = reg.for_label(lab)
        except MaterialError:
            raise MaterialError(f"voxel label {int(lab)} has no material; known labels "
                                f"{[l.name.lower() for l in LABEL_MATERIAL]}") from None
        sel = labels == lab
        E[sel] = m.E_MPa
        nu[sel] = m.nu

    # trabecular modulus wherever a density is known
    rho = None
    if "density_g_cm3" in fields:
        rho = np.array(fields["density_g_cm3"], dtype=np.float64)
    if "bvtv" in fields:
        from_bvtv = np.asarray(fields["bvtv"]) * TISSUE_MINERAL_DENSITY_G_CM3
        rho = from_bvtv if rho is None else np.where(rho > 0, rho, from_bvtv)
    canc = reg["cancellous"]
    E_trab = np.full(labels.shape, canc.E_MPa)
    if rho is not None:
        E_trab = np.where(rho > 0, modulus_from_qct(law_name, np.maximum(rho, 0.0)), canc.E_MPa)

    for lab in TRABECULAR_LAW_LABELS:
        sel = labels == lab
        if not sel.any():
            continue
        m = reg.for_label(lab)
        if lab in (Label.FRACTURE_ZONE, Label.ANGIOMA):
            ratio = np.full(int(sel.sum()), m.E_MPa / canc.E_MPa)
            if lab == Label.FRACTURE_ZONE and "damage" in fields:
                dmg = np.asarray(fields["damage"])[sel]
                ratio = np.where(dmg > 0, 1.0 - np.clip(dmg, 0.0, 0.999), ratio)
            E[sel] = np.where(rho[sel] > 0, E_trab[sel], canc.E_MPa) * ratio if rho is not None \
                else canc.E_MPa * ratio
        elif rho is not None:
            E[sel] = np.where(rho[sel] > 0, E_trab[sel], m.E_MPa)

    # partial-volume shells (Voigt)
    for lab in SHELL_LABELS:
        sel = labels == lab
        if not sel.any():
            continue
        m = reg.for_label(lab)
        f = np.ones(int(sel.sum()))
        if "cortical_fraction" in fields:
            f = np.clip(np.asarray(fields["cortical_fraction"])[sel], 0.0, 1.0)
        sf = np.asarray(fields["shell_E_factor"])[sel] if "shell_E_factor" in fields else 1.0
        tf = np.asarray(fields["E_factor"])[sel] if "E_factor" in fields else 1.0
        sf = np.where(np.asarray(sf) > 0, sf, 1.0)
        tf = np.where(np.asarray(tf) > 0, tf, 1.0)
        E[sel] = f * m.E_MPa * sf + (1.0 - f) * E_trab[sel] * tf
        nu[sel] = f * m.nu + (1.0 - f) * canc.nu

    # cement
    bulk = reg["bulk_cement"]
    Ec = np.full(labels.shape, bulk.E_MPa)
    nuc = np.full(labels.shape, bulk.nu)
    if "cement_E_MPa" in fields:
        Ec = np.where(fields["cement_E_MPa"] > 0, fields["cement_E_MPa"], Ec)
    if "cement_nu" in fields:
        nuc = np.where(fields["cement_nu"] > 0, fields["cement_nu"], nuc)
    for lab in (Label.CEMENT, Label.LEAKED_CEMENT):
        sel = labels == lab
        E[sel] = Ec[sel]
        nu[sel] = nuc[sel]
    sel = labels == Label.COMPOSITE
    if sel.any():
        comp = reg["cement_bone_composite"]
        p = comp.params
        pore = np.full(int(sel.sum()), p["pore_fraction"])
        if "cement_pore_fraction" in fields:
            pf = np.asarray(fields["cement_pore_fraction"])[sel]
            pore = np.where(pf > 0, pf, pore)
        bv = np.asarray(fields["bvtv"])[sel] if "bvtv" in fields else np.full(int(sel.sum()), 0.10)
        E[sel] = composite_modulus(Ec[sel], bv, pore, p["exponent"], p["interface_factor"])
        nu[sel] = nuc[sel]

    if "E_factor" in fields:                     # shells took their factors above
        fac = np.asarray(fields["E_factor"])
        scale = (labels != Label.VOID) & (fac > 0) & ~np.isin(labels, [int(l) for l in SHELL_LABELS])
        E = np.where(scale, E * fac, E)
    bad = (labels != Label.VOID) & ~(E > 0)
    if bad.any():
        ijk = tuple(int(v) for v in np.argwhere(bad)[0])
        raise MaterialError(f"voxel {ijk} ({Label(int(labels[ijk])).name.lower()}) gets "
                            f"E = {E[ijk]!r} MPa; check the density and E_factor fields")
    return E, nu
