"""Named tissue materials: the registry of (E [MPa], nu [-]) per tissue, with the accepted
ranges and the published source of each default.

A :class:`MaterialRegistry` holds one :class:`Material` per tissue and the name of the
density-modulus law (:mod:`biomech.materials.density_laws`).  ``default_registry()`` gives
the published defaults; ``registry.override(name, E_MPa=..., nu=...)`` returns a new,
validated registry (registries are immutable); ``registry.table()`` lists every material
with its source.  How the registry and a model's fields become per-voxel (E, nu) is
:func:`biomech.materials.properties.element_properties`, the only place that does it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from ..errors import MaterialError
from ..meshes.labels import Label
from .density_laws import DEFAULT_DENSITY_LAW, get_law

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


# ----------------------------------------------------------------------------- registry

class MaterialRegistry(Mapping):
    """Immutable mapping name -> :class:`Material` plus the density-modulus law name."""

    def __init__(self, materials, density_law_name: str = DEFAULT_DENSITY_LAW):
        mats = {}
        for m in materials:
            if not isinstance(m, Material):
                raise MaterialError(f"registry entries must be Material, got {type(m).__name__}")
            mats[m.name] = m
        get_law(density_law_name)
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

    def with_overrides(self, overrides, source: str = "user override") -> "MaterialRegistry":
        """A new registry with ``{material: {"E_MPa": .., "nu": .., param: ..}}`` applied
        (each entry through :meth:`override`, so validated against the material's ranges)."""
        reg = self
        for name, changes in (overrides or {}).items():
            if not isinstance(changes, Mapping):
                raise MaterialError(f"material override {name!r} must be a table of "
                                    f"E_MPa / nu / parameters, got {changes!r}")
            reg = reg.override(name, source=source, **dict(changes))
        return reg

    def with_density_law(self, name: str) -> "MaterialRegistry":
        return MaterialRegistry(self._materials.values(), name)


def default_registry() -> MaterialRegistry:
    """The published defaults (see each material's ``source``)."""
    return MaterialRegistry(_DEFAULTS)
