"""Soft tissues a voxel grid cannot carry: annulus fibres, ligaments, facet cartilage.

One described dataclass (:class:`SoftTissueParameters`) holds every value, its unit, its
accepted range and its source; the builder (:mod:`biomech.soft_tissue`) turns them into
two-node springs on the anatomy of :mod:`biomech.meshes.attachments`.

Choices (each stated where it is used):

* **Annulus fibres**: tension-only, criss-cross at +-30 deg to the transverse plane
  (Elliott et al. 1997; Malandrino et al. 2013 calibrated 23-43 deg by region), modulus
  456 MPa, the mean of the four layers 550 / 495 / 421.5 / 357.5 MPa of the truss model in
  Clin Biomech 29:155, 2014, Table 1 (a Shirazi-Adl-type outer-to-inner gradient, here
  uniform), volume fraction 16 % of the annulus (Shirazi-Adl, Ahmed & Shrivastava, Spine
  11:914, 1986; *check*: quoted by later models, not re-read).  With explicit fibres the
  annulus voxels carry the ground substance only: 4.2 MPa, nu 0.45, the value of the
  published model whose constitutive form is ours -- a linear isotropic matrix with linear
  tension-only truss fibres of 360-550 MPa (BioMed Res Int 2013:705185, Table 1, a lumbar
  model verified against in vitro kinematics; the Shirazi-Adl lineage).  Models with other
  fibre forms use softer matrices: 1.36 MPa with fabric fibres on a nonlinear curve
  (Purcell et al., Int J Spine Surg 15:302, 2021, Table 1), neo-Hookean C10 0.348 MPa,
  D1 0.3 (E about 2.0 MPa at small strain) with the truss fibres above (Clin Biomech
  29:155, 2014, Table 1).  The matrix dominates the disc's bending stiffness:
  ``benchmarks/segment_validation.py --sensitivity`` shows the ranges of motion for all three.
* **Ligaments**: tension-only, linear with the small-strain modulus and cross-section of
  BMC Musculoskelet Disord 11:151, 2010, Table 3 (ALL 7.8 MPa / 53 mm^2, PLL 10 / 16,
  LF 15 / 67, ISL 10 / 26, SSL 8 / 23, ITL 10 / 1.8) and the capsular ligament of J Healthc
  Eng 2017:9618940, Table 2 (7.5 MPa) with 60 mm^2 (J Orthop Surg Res 2021, Table 1); the
  stiffness of a ligament is E A / L with L its length in the model, shared by its node
  pairs.  The toe region and the stiffer large-strain branch are not modelled: in the small
  rotations of the linear model the ligaments stay at small strain.
* **Facet joints**: frictionless (Remus et al., PLoS ONE 16:e0250456, 2021) unilateral
  contact through the articular cartilage: two layers of 0.57 mm (Woldtvedt et al., J
  Biomech Eng, mean over L1-L5) of modulus 23.8 MPa (BMC Musculoskelet Disord 25:639, 2024,
  Table 1) in series, so a pair of tributary area A is a spring E A / (2 t); contact starts
  after a clearance of 0.5 mm along the joint normal.  The clearance is a modelling choice
  (Woldtvedt et al. found it barely changes the range of motion but strongly changes the
  contact force); the voxel gap between the articular processes stands for cartilage and
  joint space.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..describe import Described, param

#: Ligament (small-strain modulus [MPa], cross-section [mm^2]) by name; sources above.
LIGAMENT_PROPERTIES = {
    "ALL": (7.8, 53.0), "PLL": (10.0, 16.0), "LF": (15.0, 67.0), "ISL": (10.0, 26.0),
    "SSL": (8.0, 23.0), "ITL": (10.0, 1.8), "CL": (7.5, 60.0),
}
LIGAMENT_SOURCES = {
    "ALL": "BMC Musculoskelet Disord 11:151, 2010, Table 3",
    "PLL": "BMC Musculoskelet Disord 11:151, 2010, Table 3",
    "LF": "BMC Musculoskelet Disord 11:151, 2010, Table 3",
    "ISL": "BMC Musculoskelet Disord 11:151, 2010, Table 3",
    "SSL": "BMC Musculoskelet Disord 11:151, 2010, Table 3",
    "ITL": "BMC Musculoskelet Disord 11:151, 2010, Table 3",
    "CL": "J Healthc Eng 2017:9618940, Table 2 (E); J Orthop Surg Res 2021, Table 1 (area)",
}


@dataclass(frozen=True)
class SoftTissueParameters(Described):
    """Soft tissues of a spinal segment: fibres, ligaments, facet contact."""

    KIND: ClassVar[str] = "soft_tissue"
    fibres: bool = param(True, doc="annulus fibres as tension-only springs")
    ligaments: bool = param(True, doc="ligaments as tension-only springs")
    facets: bool = param(True, doc="facet contact as compression-only springs")
    fibre_modulus_MPa: float = param(456.0, unit="MPa", range=(1.0, 5000.0),
                                     doc="collagen fibre modulus in tension")
    fibre_volume_fraction: float = param(0.16, range=(0.0, 0.6), lo_open=True,
                                         doc="fibre volume fraction of the annulus")
    fibre_angle_deg: float = param(30.0, unit="deg", range=(10.0, 60.0),
                                   doc="fibre angle to the transverse plane")
    ground_substance_E_MPa: float = param(4.2, unit="MPa", range=(0.1, 100.0),
                                          doc="annulus modulus without its fibres")
    ground_substance_nu: float = param(0.45, range=(0.0, 0.4999), doc="annulus Poisson ratio")
    ligament_scale: float = param(1.0, range=(0.0, 100.0),
                                  doc="factor on every ligament stiffness (sensitivity studies)")
    cartilage_modulus_MPa: float = param(23.8, unit="MPa", range=(0.1, 1000.0),
                                         doc="facet cartilage modulus")
    cartilage_thickness_mm: float = param(0.57, unit="mm", range=(0.05, 5.0),
                                          doc="facet cartilage layer thickness (each side)")
    facet_clearance_mm: float = param(0.5, unit="mm", range=(0.0, 5.0),
                                      doc="joint clearance before contact")
    ligament_properties: dict = field(default_factory=lambda: dict(LIGAMENT_PROPERTIES),
                                      metadata={"describe": {"study": False}})

    def ligament_EA_N(self, name: str) -> float:
        """E A [N] of ligament ``name`` (times ``ligament_scale``)."""
        E, A = self.ligament_properties[name]
        return self.ligament_scale * E * A
