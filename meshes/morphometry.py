"""Published morphometry of the thoracolumbar vertebrae (T11-L5) and discs, by level.

Every length is in mm, every angle in degrees.  The tables are the *inputs* of
the parametric anatomy (:mod:`biomech.meshes.vertebra`, :mod:`biomech.meshes.disc`);
the tests check that the generated voxel models reproduce them within one voxel.

Sources and how sure we are of each number
------------------------------------------
* Body size (endplate width/depth, anterior/posterior body height), canal,
  spinous and transverse processes: the pattern and magnitudes of Panjabi MM,
  Goel V, Oxland T, et al., "Human lumbar vertebrae: quantitative
  three-dimensional anatomy", Spine 17(3):299-306, 1992 (lumbar) and Panjabi
  MM, Takata K, Goel V, et al., "Thoracic human vertebrae: quantitative
  three-dimensional anatomy", Spine 16(8):888-901, 1991 (T11, T12).  The primary
  tables could not be read from this workplace: these values are rounded
  recollections consistent with those papers and with Zhou SH et al., Eur Spine
  J 9:242-248, 2000, and are flagged ``CHECK`` in :data:`SOURCES` until someone
  confirms them against the primary tables.
* L5 body heights/lengths, pedicle height/width and canal size: Cook WH,
  Baker JF, "Comparative analysis of lumbar spine vertebral morphology between
  Maori and New Zealand Europeans: a CT study", Int J Spine Surg
  15(6):1072-1081, 2021, Table 6 (all-subject means) -- confirmed.
* Pedicle width/height and transverse (medial convergence) angle L1-L4:
  Zindrick MR et al., "Analysis of the morphometric characteristics of the
  thoracic and lumbar pedicles", Spine 12(2):160-166, 1987 (CHECK).
* Cortical shell 0.38 +/- 0.06 mm (micro-CT of 13 vertebrae): Purcell et al.,
  Int J Spine Surg 2021, Table 1 (from ../shared/MATERIALS.md); the shell and
  endplate of lumbar vertebrae over age 45 are about 0.35 mm thick: Silva MJ,
  Wang C, Keaveny TM, Hayes WC, "Direct and computed tomography thickness
  measurements of the human lumbar vertebral shell and endplate", Bone
  15(4):409-414, 1994 -- confirmed (abstract).  Defaults: 0.4 mm shell,
  0.35 mm bony endplate.
* Endplate concavity: mean 1.5 mm for the endplate cranial to a disc (the
  *inferior* endplate of the vertebra above) and 0.7 mm for the caudal one (the
  *superior* endplate of the vertebra below); central endplate ~70 % of the
  endplate diameter: Wang Y, Battie MC, Videman T, "A morphological study of
  lumbar vertebral endplates", Eur Spine J 21(11):2316-2323, 2012 -- confirmed.
* Disc height by level, sex and age: Shao Z, Rompe G, Schiltenwolf M,
  "Radiographic changes in the lumbar intervertebral discs and lumbar
  vertebrae with age", Spine 27(3):263-268, 2002 -- regression constants as
  used by the Lumbar Model Generator (Lavecchia CE et al.) (secondary, CHECK).
* Disc wedge (segmental lordosis) angles: modelling defaults of the right
  magnitude (lumbar lordosis grows caudally); CHECK before quantitative use.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from biomech.errors import InputError

#: Supported vertebral levels, cranial to caudal.
LEVELS = ("T11", "T12", "L1", "L2", "L3", "L4", "L5")

#: Where each group of numbers comes from (printed in model meta).
SOURCES = {
    "body": "Panjabi 1992 Spine 17:299 (lumbar), Panjabi 1991 Spine 16:888 (T11-T12); "
            "L5 from Cook & Baker 2021 Int J Spine Surg 15:1072 Table 6 -- CHECK except L5",
    "pedicle": "Zindrick 1987 Spine 12:160 (T11-L4, CHECK); L5 Cook & Baker 2021",
    "canal": "Panjabi 1992 (CHECK); L5 Cook & Baker 2021",
    "processes": "Panjabi 1992 / 1991 magnitudes (CHECK)",
    "cortex": "0.4 mm: Purcell 2021 (0.38 +/- 0.06 mm), Silva 1994 Bone 15:409 (~0.35 mm)",
    "endplate": "0.35 mm: Silva 1994 Bone 15:409",
    "concavity": "superior 0.7 mm, inferior 1.5 mm: Wang, Battie & Videman 2012 Eur Spine J 21:2316",
    "disc_height": "Shao, Rompe & Schiltenwolf 2002 Spine 27:263 regression (CHECK)",
    "disc_wedge": "modelling defaults (CHECK)",
    "nucleus": "nucleus 40 % of the disc area (30-50 %: White & Panjabi 1990, CHECK)",
    "cartilage_endplate": "0.8 mm over the central 70 % of the endplate (Wang 2012 for the extent; "
                          "thickness 0.6-1 mm, Roberts 1989 Spine 14:166, CHECK)",
}


@dataclass(frozen=True)
class VertebraMorphometry:
    """Dimensions of one vertebra [mm, degrees].

    superior/inferior endplate width (left-right) and depth (antero-posterior,
    mid-sagittal); anterior and posterior body height (at the rims); pedicle
    width (transverse) and height at the isthmus and its transverse angle
    (medial convergence, posterior to anterior); vertebral canal width and
    depth; spinous process length (from the canal) and height; tip-to-tip
    transverse process width; cortical shell and bony endplate thickness;
    endplate concavity depths (superior = caudal to the disc above)."""

    level: str
    superior_width: float
    superior_depth: float
    inferior_width: float
    inferior_depth: float
    anterior_height: float
    posterior_height: float
    pedicle_width: float
    pedicle_height: float
    pedicle_transverse_angle_deg: float
    canal_width: float
    canal_depth: float
    spinous_length: float
    spinous_height: float
    transverse_process_width: float
    cortical_thickness: float = 0.4
    endplate_thickness: float = 0.35
    superior_concavity: float = 0.7
    inferior_concavity: float = 1.5

    @property
    def mean_height(self) -> float:
        """Mean of anterior and posterior body height [mm]."""
        return 0.5 * (self.anterior_height + self.posterior_height)

    def replace(self, **changes) -> "VertebraMorphometry":
        """A copy with some dimensions changed (validated)."""
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> "VertebraMorphometry":
        for f in dataclasses.fields(self):
            if f.name in ("level", "pedicle_transverse_angle_deg"):
                continue
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float)) and v >= 0 and v == v):
                raise InputError(f"{self.level}: {f.name} must be a number >= 0 mm, got {v!r}")
        for name in ("superior_width", "superior_depth", "inferior_width", "inferior_depth",
                     "anterior_height", "posterior_height"):
            v = getattr(self, name)
            if not 5.0 <= v <= 150.0:
                raise InputError(
                    f"{self.level}: {name} = {v} mm is not a vertebral dimension (allowed "
                    "5-150 mm); a unit mistake (m or cm instead of mm)?")
        if not 0.05 <= self.cortical_thickness <= 5.0:
            raise InputError(f"{self.level}: cortical_thickness must lie in [0.05, 5] mm, "
                             f"got {self.cortical_thickness}")
        if not 0.05 <= self.endplate_thickness <= 5.0:
            raise InputError(f"{self.level}: endplate_thickness must lie in [0.05, 5] mm, "
                             f"got {self.endplate_thickness}")
        if self.superior_concavity + self.inferior_concavity >= 0.6 * self.mean_height:
            raise InputError(f"{self.level}: endplate concavities leave no body")
        if not -10.0 <= self.pedicle_transverse_angle_deg <= 60.0:
            raise InputError(f"{self.level}: pedicle_transverse_angle_deg must lie in "
                             f"[-10, 60], got {self.pedicle_transverse_angle_deg}")
        return self


# level: Wu, Du, Wl, Dl, Ha, Hp, PDW, PDH, PDIt, SCW, SCD, SPL, SPH, TPW
_TABLE = {
    "T11": (35.0, 28.5, 37.0, 29.5, 22.5, 23.5, 8.0, 16.5, 2.0, 18.0, 17.0, 30.0, 18.0, 58.0),
    "T12": (37.5, 30.0, 39.5, 31.0, 24.0, 25.0, 8.0, 16.0, 5.0, 19.5, 17.5, 30.0, 20.0, 62.0),
    "L1": (40.0, 31.5, 42.0, 32.5, 25.5, 26.5, 8.7, 15.4, 11.0, 21.5, 18.0, 32.0, 22.0, 72.0),
    "L2": (42.0, 33.0, 44.0, 33.5, 26.5, 27.0, 8.9, 15.0, 12.0, 22.0, 17.5, 33.0, 23.0, 82.0),
    "L3": (44.5, 34.0, 46.5, 34.5, 27.0, 26.5, 10.3, 14.9, 14.0, 23.0, 17.0, 33.0, 24.0, 90.0),
    "L4": (46.5, 35.0, 48.5, 35.0, 27.5, 26.0, 12.9, 14.8, 18.0, 23.5, 17.5, 32.0, 23.0, 88.0),
    # L5 body, pedicle and canal: Cook & Baker 2021 Table 6 (VBSL, VBIL, VBAH, VBPH, PW, PH, VCW, VCL)
    "L5": (48.5, 35.7, 50.0, 35.3, 30.3, 26.3, 16.1, 12.9, 30.0, 28.2, 15.6, 28.0, 20.0, 92.0),
}

#: Disc height regression of Shao et al. 2002: height [cm] = a + b * age [years].
_SHAO_2002 = {   # disc: (a_male, a_female, b_male, b_female)
    "T12-L1": (0.519, 0.433, 0.004903, 0.004903),
    "L1-L2": (0.680, 0.627, 0.006201, 0.004840),
    "L2-L3": (0.832, 0.817, 0.006687, 0.004771),
    "L3-L4": (1.105, 0.985, 0.005455, 0.004982),
    "L4-L5": (1.076, 1.051, 0.006952, 0.005052),
}
_SHAO_2002["T11-T12"] = _SHAO_2002["T12-L1"]     # no data: T12-L1 used (assumption)

#: Disc wedge angle [deg], anterior height > posterior (lordosis); modelling default (CHECK).
_DISC_WEDGE_DEG = {"T11-T12": 0.0, "T12-L1": 2.0, "L1-L2": 4.0, "L2-L3": 6.0,
                   "L3-L4": 8.0, "L4-L5": 10.0}


@dataclass(frozen=True)
class DiscMorphometry:
    """Dimensions of one intervertebral disc.

    height : distance [mm] between the two bony rim planes at mid-depth (the
             endplate concavities add to it at the centre);
    wedge_angle_deg : angle between the rim planes (anterior open = lordosis);
    nucleus_area_fraction : nucleus share of the disc cross-section [-];
    nucleus_posterior_offset : nucleus centre behind the disc centre, as a
             fraction of the half depth [-];
    cartilage_thickness : cartilage endplate layer [mm] on each bony endplate;
    cartilage_extent : normalised radius [-] covered by the cartilage endplate."""

    name: str
    height: float
    wedge_angle_deg: float
    nucleus_area_fraction: float = 0.40
    nucleus_posterior_offset: float = 0.10
    cartilage_thickness: float = 0.8
    cartilage_extent: float = 0.70

    def replace(self, **changes) -> "DiscMorphometry":
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> "DiscMorphometry":
        if not 1.0 <= self.height <= 30.0:
            raise InputError(f"disc {self.name}: height must lie in [1, 30] mm, got {self.height}; "
                             "a unit mistake?")
        if not -20.0 <= self.wedge_angle_deg <= 25.0:
            raise InputError(f"disc {self.name}: wedge_angle_deg must lie in [-20, 25], "
                             f"got {self.wedge_angle_deg}")
        if not 0.0 < self.nucleus_area_fraction < 0.8:
            raise InputError(f"disc {self.name}: nucleus_area_fraction must lie in (0, 0.8), "
                             f"got {self.nucleus_area_fraction}")
        if not 0.0 <= self.nucleus_posterior_offset < 0.5:
            raise InputError(f"disc {self.name}: nucleus_posterior_offset must lie in [0, 0.5)")
        if not 0.0 < self.cartilage_thickness < 0.3 * self.height:
            raise InputError(f"disc {self.name}: cartilage_thickness must lie in (0, 0.3 height) mm,"
                             f" got {self.cartilage_thickness}")
        if not 0.0 < self.cartilage_extent <= 1.0:
            raise InputError(f"disc {self.name}: cartilage_extent must lie in (0, 1]")
        return self


def check_level(level: str) -> str:
    """Return ``level`` if it is a supported vertebra, else raise InputError."""
    if level not in LEVELS:
        raise InputError(f"unknown vertebral level {level!r}; supported: {list(LEVELS)}")
    return level


def vertebra_morphometry(level: str, **overrides) -> VertebraMorphometry:
    """Table dimensions of vertebra ``level`` ('T11' ... 'L5'); keyword
    overrides replace single dimensions (mm / degrees)."""
    check_level(level)
    row = _TABLE[level]
    m = VertebraMorphometry(level, *row)
    return m.replace(**overrides) if overrides else m.validate()


def disc_name(upper: str, lower: str) -> str:
    """'L1', 'L2' -> 'L1-L2' (levels must be adjacent, upper first)."""
    check_level(upper)
    check_level(lower)
    if LEVELS.index(lower) != LEVELS.index(upper) + 1:
        raise InputError(f"no disc between {upper!r} and {lower!r}: levels must be adjacent, "
                         "cranial first (e.g. 'L1', 'L2')")
    return f"{upper}-{lower}"


def disc_morphometry(upper: str, lower: str, *, sex: str = "female", age_years: float = 65.0,
                     **overrides) -> DiscMorphometry:
    """Disc between ``upper`` and ``lower`` (adjacent levels): height from the
    Shao 2002 regression for ``sex`` ('female'|'male') and ``age_years``; wedge
    angle from the default lordosis table; keyword overrides as in
    :class:`DiscMorphometry`."""
    name = disc_name(upper, lower)
    if sex not in ("female", "male"):
        raise InputError(f"sex must be 'female' or 'male', got {sex!r}")
    if not 15.0 <= float(age_years) <= 100.0:
        raise InputError(f"age_years must lie in [15, 100] (adult regression), got {age_years}")
    a_m, a_f, b_m, b_f = _SHAO_2002[name]
    a, b = (a_m, b_m) if sex == "male" else (a_f, b_f)
    d = DiscMorphometry(name, height=10.0 * (a + b * float(age_years)),
                        wedge_angle_deg=_DISC_WEDGE_DEG[name])
    return d.replace(**overrides) if overrides else d.validate()


def contiguous_levels(levels) -> tuple:
    """Validate a run of contiguous levels given cranial to caudal (or caudal to
    cranial); returns them cranial first."""
    levels = [str(v) for v in levels]
    if not levels:
        raise InputError("levels is empty: give at least one vertebra, e.g. ['L1', 'L2', 'L3']")
    for lv in levels:
        check_level(lv)
    idx = [LEVELS.index(v) for v in levels]
    if idx != sorted(idx):
        idx = idx[::-1]
        levels = levels[::-1]
    if idx != list(range(idx[0], idx[0] + len(idx))):
        raise InputError(f"levels must be contiguous (e.g. ['L1', 'L2', 'L3']), got {levels}")
    return tuple(levels)
