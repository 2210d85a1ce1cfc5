"""Published reference values for the lumbar segment mechanics of issue 12 (fibres,
ligaments, facet contact, kinematics, disc pressure, facet forces, augmentation).

How the values were found
-------------------------
Literature look-up with the stored-corpus ``search`` tool (pages, code, docs corpora),
starting from /work/shared/VALIDATION.md and /work/shared/MATERIALS.md. The tool returns
excerpts (abstracts, single PMC/BMC table pages), not whole papers, so most primary
tables (Pintar 1992, Panjabi 1994, Yamamoto 1989, Heuer 2007, Dreischarf 2014) could
not be opened. Every entry carries ``status``:

* ``"confirmed"`` -- the number was read in the text or table behind ``url`` (which may
  itself be a FE paper quoting older work; ``source`` then names that page, and
  ``note`` names the primary work it cites);
* ``"secondary"`` -- the number is known only as quoted elsewhere (mostly from
  VALIDATION.md / MATERIALS.md) and was *not* re-read here;
* ``"derived"`` -- computed here from confirmed numbers (e.g. k = E*A/L); the formula is
  in ``note``.

Most reliable (confirmed, directly usable)
------------------------------------------
* FIBRES: layer-wise truss fibre moduli 550 -> 357.5 MPa outer -> inner (Clin Biomech
  2014 table, the Shirazi-Adl-type gradient); lamellae +-30 deg to the circumferential
  direction (Elliott/Laursen/Setton); calibrated regional angles 23-43 deg (Malandrino
  2013).
* LIGAMENTS: bilinear E, transition strain, area, length, failure load per ligament
  (BMC Musculoskelet Disord 2010;11:151, Table 3) and bilinear E incl. CL (J Healthc Eng
  2017, Table 2); k = E*A/L derived from them.
* FACETS: mean facet cartilage thickness 0.57 mm over L1-L5 (Woldtvedt et al.), facet
  cartilage E 23.8-35 MPa (two FE tables); frictionless contact (ArtiSynth model code).
* IDP: Wilke 1999 in vivo L4-L5 values (abstract).
* FACET_FORCES: T12-L2 strain-gauge forces and L1-L5 pressure-film pressures (review
  table, J Biomech Eng 2011 133:071010, PMC3705911 Table 2).
* ADJACENT_AUGMENTATION: Baroud 2003 (+19 % IDP, bulge to 7 %, +17 % disc, +11 %
  segment stiffness) and Rohlmann 2006 (+2.4 % from cement stiffness alone; +60/+20 %
  VP/KP with kyphotic geometry) -- both abstracts.

Not found (left out; do not fill in from memory)
------------------------------------------------
* Pintar et al. 1992 per-ligament stiffness [N/mm] and Chazal 1985 curves: the paper is
  cited by the pages reached (Damm et al. 2019, PMC7203593) but no table was reachable.
* Annulus fibre volume fraction (~16 %, radial gradient) and a ground-substance modulus
  specific to fibre-reinforced models other than Purcell's 1.36 MPa: not seen in a source.
* Initial facet gap of 0.5 mm: only the qualitative result that facet loads rise as the
  initial gap shrinks (Sharma, Langrana, Rodriguez, J Biomech Eng 1998 120:118) and that
  the gap hardly changes ROM (Woldtvedt et al.) -- no number.
* Facet articular area per joint [mm^2]: Otsuka et al. 2010 (Spine 35:924) report that
  it grows caudally (L3/4-L5/S1) but no number was readable.
* Per-level in vitro ROM for L1-L2 / L2-L3 (Panjabi 1994, Yamamoto 1989, Rohlmann 2001,
  Dreischarf 2014 ranges): abstracts only, no numbers. The only single-segment 7.5 N m
  ROM with/without follower load available is the VALIDATION.md entry (PMC3489456,
  level not stated) -- kept here as ``secondary``.
* Polikeit, Nolte & Ferguson 2003 adjacent-pressure effect: not reached. Ex vivo (Eur Spine
  J, PMC2140124, low-modulus vs regular PMMA in cadaveric FSUs, abstract): overall FSU
  stiffness was not significantly changed by augmentation -- a qualitative check only.
* Brinckmann & Grootenboer 1991 / Dreischarf 2013 IDP factor: not re-read (secondary).

Conventions: ROM is one-sided (neutral to peak) unless ``condition`` says otherwise; N,
mm, MPa, degrees, N m. ``spread`` is "± SD", a range "a-b", or "" when none was given.
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Ref:
    value: float
    unit: str
    spread: str
    condition: str
    source: str
    url: str
    status: str  # "confirmed" | "secondary" | "derived"
    note: str = ""


# --- sources (full citations as far as the reached page shows them) -------------------
_CLINBIOMECH2014 = ("FE disc model, Clin Biomech (Bristol) 2014;29(2):155-160, "
                    "doi:10.1016/j.clinbiomech.2013.11.018, Table 1")
_CLINBIOMECH2014_URL = "https://pmc.ncbi.nlm.nih.gov/articles/PMC3943591/table/T1"
_BMRI2013 = ("Development and kinematic verification of a finite element model for the lumbar "
             "spine: application to disc degeneration, BioMed Res Int 2013:705185, Table 1")
_BMRI2013_URL = "http://www.hindawi.com/journals/bmri/2013/705185/tab1/"
_PURCELL = ("Purcell P, Tyndyk M, McEvoy F, Tiernan S, Sweeney D, Morris S. A multiscale FE "
            "analysis of balloon kyphoplasty. Int J Spine Surg 2021;15(2):302, Table 1")
_PURCELL_URL = ("http://ijssurgery.com/highwire/markup/5781/expansion?height=500&iframe=true&"
                "postprocessors=highwire_tables%2Chighwire_reclass%2Chighwire_figures%2C"
                "highwire_math%2Chighwire_inline_linked_media%2Chighwire_embed&width=1000")
_BMCMSD2024 = ("BMC Musculoskelet Disord 2024;25:639, doi:10.1186/s12891-024-07754-x, Table 1")
_BMCMSD2024_URL = "https://pmc.ncbi.nlm.nih.gov/articles/PMC11321056/table/Tab1"
_MALANDRINO = ("Malandrino A, Noailly J, Lacroix D. Regional annulus fibre orientations used as a "
               "tool for the calibration of lumbar intervertebral disc finite element models. "
               "Comput Methods Biomech Biomed Engin 2013;16(9):923-928 (abstract)")
_MALANDRINO_URL = "http://www.recercat.cat/handle/2072/209471"
_ELLIOTT97 = ("Elliott DM, LeRoux MA, Laursen TA, Setton LA. Formulation of a continuum anisotropic "
              "model for the anulus fibrosus in tension. ASME BED vol. 36 (1997) 165-166 (abstract)")
_ELLIOTT97_URL = "http://fds.duke.edu/db/pratt/mems/faculty/setton/publications/59959"
_ELLIOTT_SETTON = ("Elliott DM, Setton LA. Anisotropic and inhomogeneous tensile behavior of the human "
                   "anulus fibrosus: experimental measurement and material model predictions. "
                   "J Biomech Eng (ASME) (abstract)")
_ELLIOTT_SETTON_URL = ("http://globalauthorid.com/WebPortal/ArticleView?"
                       "wd=FCEB93CB11A66CF61D6790A8F9AA99C542EE34B246B433EF")
_BMCMSD2010 = ("BMC Musculoskelet Disord 2010;11:151, doi:10.1186/1471-2474-11-151, Table 3 "
               "'Properties of the ligaments used in this study'")
_BMCMSD2010_URL = "https://pmc.ncbi.nlm.nih.gov/articles/PMC2913991/table/T3"
_JHE2017 = ("The effects of physiological biomechanical loading on intradiscal pressure and annulus "
            "stress in lumbar spine: a finite element analysis. J Healthc Eng 2017:9618940, Table 2")
_JHE2017_URL = "https://pmc.ncbi.nlm.nih.gov/articles/PMC5592017/table/tab2"
_JOSR2021 = ("J Orthop Surg Res 2021, doi:10.1186/s13018-021-02237-4, Table 1 "
             "'The material properties of the finite element model'")
_JOSR2021_URL = "https://josr-online.biomedcentral.com/articles/10.1186/s13018-021-02237-4/tables/1"
_PMC3535260 = ("Sjovold SG et al. Biomechanical evaluation of the Total Facet Arthroplasty System. "
               "Eur Spine J 2012;21(8):1660-1673, Table 2 (via MATERIALS.md)")
_PMC3535260_URL = "https://pmc.ncbi.nlm.nih.gov/articles/PMC3535260"
_WOLDTVEDT = ("Woldtvedt DJ, Womack W, Gadomski BC, Schuldt D, Puttlitz CM. Finite element lumbar "
              "spine facet contact parameter predictions are affected by the cartilage thickness "
              "distribution and initial joint gap size. J Biomech Eng (abstract)")
_WOLDTVEDT_URL = ("https://biosci.alljournals.cn/view_abstract.aspx?aid=1C18EF84DBEECB663598CC6C0266F45E"
                  "&iid=B31275AF3241DB2D&jid=F599538A94BF9FE35E06941D7C260BD3"
                  "&pcid=90BA3D13E7F3BC869AC96FB3DA594E3FE34FBF7B8BC0E591&vid=76B5E24D6EC46B4B"
                  "&yid=9377ED8094509821")
_REMUS = ("Remus R, Lipphaus A, Neumann M, Bender B. Calibration and validation of a novel hybrid "
          "model of the lumbosacral spine in ArtiSynth - the passive structures. PLoS ONE "
          "2021;16(4):e0250456; model code LSSBase.java (facet CollisionBehavior mu = 0.0)")
_REMUS_URL = "https://github.com/RemusR9/artisynth_lumbosacralSpineModel"
_JAUMARD = ("Jaumard NV, Welch WC, Winkelstein BA. Spinal facet joint biomechanics and "
            "mechanotransduction in normal, injury and degenerative conditions. J Biomech Eng "
            "2011;133(7):071010, Table 2 (review; primary studies cited there)")
_JAUMARD_URL = "https://pmc.ncbi.nlm.nih.gov/articles/PMC3705911/table/T2"
_WILKE1999 = ("Wilke HJ, Neef P, Caimi M, Hoogland T, Claes LE. New in vivo measurements of "
              "pressures in the intervertebral disc in daily life. Spine 1999;24(8):755-762 (abstract)")
_WILKE1999_URL = ("https://online.documentine.com/daily-life-in-germany/1/"
                  "spine-volume-24-number-8-pp-755-762-©1999-lippincott.html")
_BAROUD = ("Baroud G, Nemes J, Heini P, Steffen T. Load shift of the intervertebral disc after a "
           "vertebroplasty: a finite-element study. Eur Spine J 2003;12(4):421-426 (abstract)")
_BAROUD_URL = "https://metajournal.com/articles/1730761/load-shift-intervertebral-disc-vertebroplasty-finite-element-study"
_ROHLMANN2006 = ("Rohlmann A et al. Spinal loads after osteoporotic vertebral fractures "
                 "treated by vertebroplasty or kyphoplasty. Eur Spine J 2006;15:1255 (abstract)")
_ROHLMANN2006_URL = "https://link.springer.com/article/10.1007%2Fs00586-005-0018-3"
_ROHLMANN2001 = ("Rohlmann A et al. Influence of a follower load on "
                 "intradiscal pressure and intersegmental rotation of the lumbar spine. Spine "
                 "2001;26(24):E557-561 (abstract)")
_ROHLMANN2001_URL = "http://0-www-ncbi-nlm-nih-gov.brum.beds.ac.uk/pubmed/11740371"
_PATWARDHAN = ("Patwardhan AG, Havey RM, Carandang G, et al. Effect of compressive follower preload on "
               "the flexion-extension response of the human lumbar spine. J Orthop Res "
               "2003;21(3):540-546 (abstract)")
_PATWARDHAN_URL = "https://suppr.wilddata.cn/browses/detail/pubmed/12706029"
_DREISCHARF2014 = ("Dreischarf M, Zander T, Shirazi-Adl A, et al. Comparison of eight published static "
                   "finite element models of the intact lumbar spine: predictive power of models "
                   "improves when combined together. J Biomech 2014;47(8):1757-1766 (abstract)")
_DREISCHARF2014_URL = "http://eprints.qut.edu.au/75896/"
_PMC3489456 = "PMC3489456 Table 1 (one intact lumbar motion segment, n = 10), via VALIDATION.md"
_PMC3489456_URL = "https://pmc.ncbi.nlm.nih.gov/articles/PMC3489456"
_STIFFREVIEW = "PMC4844119 Table 3 (review of disc / motion-segment stiffness, primary refs per row)"
_STIFFREVIEW_URL = "https://pmc.ncbi.nlm.nih.gov/articles/PMC4844119/table/T3"
_VALIDATION_MD = "/work/shared/VALIDATION.md"


def _r(value, unit, spread, condition, source, url, status, note=""):
    return Ref(float(value), unit, spread, condition, source, url, status, note)


# --- annulus fibres -------------------------------------------------------------------
FIBRES: dict[str, Ref] = {
    "fibre_E_layers_1_2_outer": _r(550, "MPa", "", "tension-only truss, 8-layer annulus",
                                   _CLINBIOMECH2014, _CLINBIOMECH2014_URL, "confirmed",
                                   "nu 0.3; Shirazi-Adl-type outer-to-inner gradient"),
    "fibre_E_layers_3_4": _r(495, "MPa", "", "tension-only truss, 8-layer annulus",
                             _CLINBIOMECH2014, _CLINBIOMECH2014_URL, "confirmed"),
    "fibre_E_layers_5_6": _r(421.5, "MPa", "", "tension-only truss, 8-layer annulus",
                             _CLINBIOMECH2014, _CLINBIOMECH2014_URL, "confirmed"),
    "fibre_E_layers_7_8_inner": _r(357.5, "MPa", "", "tension-only truss, 8-layer annulus",
                                   _CLINBIOMECH2014, _CLINBIOMECH2014_URL, "confirmed"),
    "fibre_E_outer_shirazi_adl": _r(500, "MPa", "", "outermost lamellae, Shirazi-Adl 1986 model",
                                    "Shirazi-Adl et al. 1986 (as quoted in issue 12 brief)", "",
                                    "secondary", "inner value quoted as 360 MPa; not re-read"),
    "fibre_E_homogenised_annulus": _r(450, "MPa", "", "'Annulus fibrosus' row, linear FE model",
                                      _JOSR2021, _JOSR2021_URL, "confirmed",
                                      "listed as the annulus modulus, nu 0.3: a fibre value, not a "
                                      "bulk annulus modulus"),
    "fibre_angle_to_circumferential": _r(30, "deg", "", "alternating lamellae, +30 / -30",
                                         _ELLIOTT97, _ELLIOTT97_URL, "confirmed",
                                         "fibres +30/-30 deg to the circumferential axis (= to the "
                                         "transverse plane within the lamella)"),
    "fibre_angle_posterior_outer": _r(28, "deg", "", "calibrated to regional tensile tests",
                                      _MALANDRINO, _MALANDRINO_URL, "confirmed",
                                      "to circumferential axis"),
    "fibre_angle_anterior_outer": _r(23, "deg", "", "calibrated to regional tensile tests",
                                     _MALANDRINO, _MALANDRINO_URL, "confirmed"),
    "fibre_angle_posterior_inner": _r(43, "deg", "", "calibrated to regional tensile tests",
                                      _MALANDRINO, _MALANDRINO_URL, "confirmed"),
    "fibre_angle_anterior_inner": _r(31, "deg", "", "calibrated to regional tensile tests",
                                     _MALANDRINO, _MALANDRINO_URL, "confirmed",
                                     "inner fibres ~30 % more transverse than outer (Cassidy 1989: 38 %)"),
    "ground_substance_E": _r(1.36, "MPa", "", "fibre-reinforced annulus, nu 0.45",
                             _PURCELL, _PURCELL_URL, "confirmed",
                             "fibres given there as a stress-strain curve (fabric elements); table page matches "
                             "the Purcell 2021 set in MATERIALS.md"),
    "ground_substance_E_truss_model": _r(4.2, "MPa", "", "linear isotropic annulus matrix, nu 0.45, with "
                                         "linear tension-only truss fibres 360-550 MPa (5 layers)",
                                         _BMRI2013, _BMRI2013_URL, "confirmed",
                                         "the biomech default: same constitutive form as biomech's annulus"),
    "ground_substance_C10": _r(0.133, "MPa", "", "Mooney-Rivlin C01 0.0333, D 0.6; fibres as springs",
                               _BMCMSD2024, _BMCMSD2024_URL, "confirmed"),
    "ground_substance_neoHooke_C10": _r(0.348, "MPa", "", "neo-Hookean, D1 0.3, with the truss fibres above",
                                        _CLINBIOMECH2014, _CLINBIOMECH2014_URL, "confirmed"),
    "annulus_circ_tensile_E_outer": _r(17.4, "MPa", "± 14.3", "human AF, linear region, circumferential",
                                       _ELLIOTT_SETTON, _ELLIOTT_SETTON_URL, "confirmed",
                                       "tissue (not fibre) modulus: check for the homogenised annulus"),
    "annulus_circ_tensile_E_inner": _r(5.6, "MPa", "± 4.7", "human AF, linear region, circumferential",
                                       _ELLIOTT_SETTON, _ELLIOTT_SETTON_URL, "confirmed"),
    "annulus_axial_tensile_E": _r(0.8, "MPa", "± 0.9", "human AF, axial",
                                  _ELLIOTT_SETTON, _ELLIOTT_SETTON_URL, "confirmed"),
}

# --- ligaments ------------------------------------------------------------------------
_LIG_2010 = {  # E small strain, transition strain %, E large strain, area mm2, length mm, failure N
    "ALL": (7.8, 12, 20, 53, 13, 510),
    "PLL": (10, 11, 50, 16, 11, 384),
    "LF": (15, 6.2, 19.5, 67, 19, 340),
    "ISL": (10, 14, 11.6, 26, 13, 130),
    "SSL": (8, 20, 15, 23, 11, 200),
    "ITL": (10, 18, 59, 1.8, 22, 70),
}
LIGAMENTS: dict[str, Ref] = {}
for _name, (_e1, _eps, _e2, _a, _l, _f) in _LIG_2010.items():
    _tl = " (table: TL)" if _name == "ITL" else ""
    LIGAMENTS[f"{_name}_E_small"] = _r(_e1, "MPa", "", f"strain < {_eps} %{_tl}",
                                       _BMCMSD2010, _BMCMSD2010_URL, "confirmed")
    LIGAMENTS[f"{_name}_E_large"] = _r(_e2, "MPa", "", f"strain > {_eps} %{_tl}",
                                       _BMCMSD2010, _BMCMSD2010_URL, "confirmed")
    LIGAMENTS[f"{_name}_area"] = _r(_a, "mm^2", "", "cross-section", _BMCMSD2010, _BMCMSD2010_URL,
                                    "confirmed")
    LIGAMENTS[f"{_name}_length"] = _r(_l, "mm", "", "reference length", _BMCMSD2010, _BMCMSD2010_URL,
                                      "confirmed")
    LIGAMENTS[f"{_name}_failure_load"] = _r(_f, "N", "", "max. failure load", _BMCMSD2010,
                                            _BMCMSD2010_URL, "confirmed")
    LIGAMENTS[f"{_name}_k_small"] = _r(round(_e1 * _a / _l, 1), "N/mm", "", f"strain < {_eps} %",
                                       _BMCMSD2010, _BMCMSD2010_URL, "derived", "k = E_small*A/L")
    LIGAMENTS[f"{_name}_k_large"] = _r(round(_e2 * _a / _l, 1), "N/mm", "", f"strain > {_eps} %",
                                       _BMCMSD2010, _BMCMSD2010_URL, "derived", "k = E_large*A/L")
LIGAMENTS.update({
    "CL_E_small": _r(7.5, "MPa", "", "strain < 25 %", _JHE2017, _JHE2017_URL, "confirmed",
                     "bilinear truss; the table's other ligaments match BMC MSD 2010 except PLL "
                     "large-strain E = 20 MPa"),
    "CL_E_large": _r(32.9, "MPa", "", "strain > 25 %", _JHE2017, _JHE2017_URL, "confirmed"),
    "PLL_E_large_alt": _r(20, "MPa", "", "strain > 11 %", _JHE2017, _JHE2017_URL, "confirmed",
                          "differs from 50 MPa in BMC MSD 2010"),
    "CL_area_josr": _r(60, "mm^2", "", "linear E 32.9 MPa", _JOSR2021, _JOSR2021_URL, "confirmed"),
    "ALL_area_josr": _r(63.7, "mm^2", "", "linear E 20 MPa", _JOSR2021, _JOSR2021_URL, "confirmed"),
    "PLL_area_josr": _r(20, "mm^2", "", "linear E 20 MPa", _JOSR2021, _JOSR2021_URL, "confirmed"),
    "LF_area_josr": _r(40, "mm^2", "", "linear E 19.5 MPa", _JOSR2021, _JOSR2021_URL, "confirmed"),
    "ISL_area_josr": _r(40, "mm^2", "", "linear E 11.6 MPa", _JOSR2021, _JOSR2021_URL, "confirmed"),
    "SSL_area_josr": _r(30, "mm^2", "", "linear E 15 MPa", _JOSR2021, _JOSR2021_URL, "confirmed"),
    "ITL_area_josr": _r(3.6, "mm^2", "", "linear E 58.7 MPa (table: TL)", _JOSR2021, _JOSR2021_URL,
                        "confirmed"),
    "CL_E_linear_sjovold": _r(20, "MPa", "", "area 40 mm^2", _PMC3535260, _PMC3535260_URL, "secondary",
                              "whole set in MATERIALS.md: ALL 20/38, PLL 70/20, LF 50/60, ITL 50/10, "
                              "ISL 28/35.5, SSL 28/35.5, CL 20/40 (E MPa / A mm^2)"),
})

# --- facets ---------------------------------------------------------------------------
FACETS: dict[str, Ref] = {
    "cartilage_thickness_mean": _r(0.57, "mm", "", "L1-L5, serial sections; thickness grows L1 -> L5",
                                   _WOLDTVEDT, _WOLDTVEDT_URL, "confirmed",
                                   "initial gap and thickness distribution hardly change ROM but "
                                   "change contact force/pressure/area considerably"),
    "cartilage_E_jhe": _r(35, "MPa", "", "articular cartilage, nu 0.4", _JHE2017, _JHE2017_URL,
                          "confirmed"),
    "cartilage_E_bmc": _r(23.8, "MPa", "", "zygapophysial cartilage, nu 0.3", _BMCMSD2024,
                          _BMCMSD2024_URL, "confirmed"),
    "contact_friction": _r(0.0, "-", "", "facet contact frictionless (friction 'not stable')",
                           _REMUS, _REMUS_URL, "confirmed", "read in the model's Java source"),
    "contact_pressure_neutral": _r(4.5, "MPa", "± 1.6", "L1-L2 ... L5-S1, neutral, pressure film",
                                   _JAUMARD, _JAUMARD_URL, "confirmed", "primary ref [137] there"),
}

# --- range of motion ------------------------------------------------------------------
ROM: dict[str, Ref] = {
    "segment_flexion_7.5Nm": _r(3.7, "deg", "± 1.5", "one lumbar segment, 7.5 N m, no preload",
                                _PMC3489456, _PMC3489456_URL, "secondary", "level not stated"),
    "segment_extension_7.5Nm": _r(3.3, "deg", "± 1.5", "one lumbar segment, 7.5 N m, no preload",
                                  _PMC3489456, _PMC3489456_URL, "secondary"),
    "segment_lateral_bending_7.5Nm": _r(3.8, "deg", "± 1.4", "one side, 7.5 N m, no preload",
                                        _PMC3489456, _PMC3489456_URL, "secondary"),
    "segment_axial_rotation_7.5Nm": _r(2.1, "deg", "± 0.9", "one side, 7.5 N m, no preload",
                                       _PMC3489456, _PMC3489456_URL, "secondary"),
    "segment_flexion_7.5Nm_FL": _r(4.4, "deg", "± 2.0", "7.5 N m + follower load", _PMC3489456,
                                   _PMC3489456_URL, "secondary"),
    "segment_extension_7.5Nm_FL": _r(2.4, "deg", "± 0.9", "7.5 N m + follower load", _PMC3489456,
                                     _PMC3489456_URL, "secondary"),
    "segment_lateral_bending_7.5Nm_FL": _r(2.4, "deg", "± 1.2", "one side, 7.5 N m + follower load",
                                           _PMC3489456, _PMC3489456_URL, "secondary"),
    "segment_axial_rotation_7.5Nm_FL": _r(1.2, "deg", "± 0.5", "one side, 7.5 N m + follower load",
                                          _PMC3489456, _PMC3489456_URL, "secondary"),
    "FL_effect_ROM_1200N": _r(-25, "%", "", "flexion-extension ROM, 1200 N follower preload, neutral path",
                              _PATWARDHAN, _PATWARDHAN_URL, "confirmed",
                              "preload >= 400 N affects ROM significantly; flexion stiffness about "
                              "doubles from 0 to 1200 N. Rohlmann 2001 (280 N FL, 7.5 N m, L1-L5): FL "
                              "slightly reduces axial rotation, hardly affects LB and FE"),
    "model_vs_invitro_median_FE_L1L5": _r(2, "deg", "", "L1-L5, pure moments: mean difference of FE-model "
                                          "medians from in vitro medians, flexion-extension",
                                          _DREISCHARF2014, _DREISCHARF2014_URL, "confirmed",
                                          "1 deg lateral bending, 5 deg axial rotation; a tolerance scale"),
}

# --- motion-segment stiffness (validation of the linear response) ----------------------
SEGMENT_STIFFNESS: dict[str, Ref] = {
    "segment_torsional_stiffness": _r(8.40, "N m/deg", "± 1.09", "intact segment (Schmidt et al. row)",
                                      _STIFFREVIEW, _STIFFREVIEW_URL, "confirmed"),
    "segment_flexion_stiffness": _r(3.65, "N m/deg", "1.80-5.50", "intact (Schmidt; Miller rows)",
                                    _STIFFREVIEW, _STIFFREVIEW_URL, "derived", "value = mid-range of the confirmed range"),
    "segment_extension_stiffness": _r(5.1, "N m/deg", "2.60-7.60", "intact (Schmidt; Miller rows)",
                                      _STIFFREVIEW, _STIFFREVIEW_URL, "derived", "value = mid-range of the confirmed range"),
    "segment_axial_compr_stiffness": _r(1.4, "kN/mm", "± 0.48", "intact incl. posterior elements",
                                        _STIFFREVIEW, _STIFFREVIEW_URL, "confirmed",
                                        "disc alone (facets, ligaments removed): 1.73 ± 0.45 kN/mm"),
}

# --- intradiscal pressure ---------------------------------------------------------------
IDP: dict[str, Ref] = {
    "lying_prone": _r(0.10, "MPa", "", "in vivo L4-L5, one volunteer 70 kg", _WILKE1999, _WILKE1999_URL,
                      "confirmed"),
    "lying_lateral": _r(0.12, "MPa", "", "in vivo L4-L5", _WILKE1999, _WILKE1999_URL, "confirmed"),
    "relaxed_standing": _r(0.50, "MPa", "", "in vivo L4-L5", _WILKE1999, _WILKE1999_URL, "confirmed"),
    "standing_flexed": _r(1.1, "MPa", "", "in vivo L4-L5", _WILKE1999, _WILKE1999_URL, "confirmed"),
    "sitting_unsupported": _r(0.46, "MPa", "", "in vivo L4-L5", _WILKE1999, _WILKE1999_URL, "confirmed"),
    "lifting_20kg_round_back": _r(2.3, "MPa", "", "in vivo L4-L5", _WILKE1999, _WILKE1999_URL,
                                  "confirmed"),
    "factor_idp_over_mean_stress": _r(1.5, "-", "", "IDP ~ 1.5 x axial force / disc area",
                                      "Nachemson; Brinckmann & Grootenboer 1991 (via VALIDATION.md)",
                                      _VALIDATION_MD, "secondary",
                                      "one-size factor error up to 44 % (Dreischarf 2013, via VALIDATION.md)"),
}

# --- facet forces ---------------------------------------------------------------------
FACET_FORCES: dict[str, Ref] = {
    "T12L2_flexion": _r(46.1, "N", "± 41.3", "up to 7.5 N m, strain gauges on L2 superior facets",
                        _JAUMARD, _JAUMARD_URL, "confirmed", "primary ref [11] there"),
    "T12L2_extension": _r(51.5, "N", "± 39.0", "up to 7.5 N m", _JAUMARD, _JAUMARD_URL, "confirmed"),
    "T12L2_axial_rotation_ipsi": _r(31.3, "N", "± 33.4", "up to 7.5 N m", _JAUMARD, _JAUMARD_URL,
                                    "confirmed"),
    "T12L2_axial_rotation_contra": _r(70.3, "N", "± 43.2", "up to 7.5 N m", _JAUMARD, _JAUMARD_URL,
                                      "confirmed"),
    "T12L2_lateral_bending_ipsi": _r(32.0, "N", "± 44.4", "up to 7.5 N m", _JAUMARD, _JAUMARD_URL,
                                     "confirmed"),
    "T12L2_lateral_bending_contra": _r(30.6, "N", "± 29.1", "up to 7.5 N m", _JAUMARD, _JAUMARD_URL,
                                       "confirmed"),
    "T12L2_compression_400N": _r(45.5, "N", "± 40.4", "400 N axial compression", _JAUMARD, _JAUMARD_URL,
                                 "confirmed"),
    "T12L2_compression_400N_extension": _r(75.4, "N", "± 39.0", "400 N + extension (moment unspecified)",
                                           _JAUMARD, _JAUMARD_URL, "confirmed"),
    "L2L3_FE_compression_500N": _r(43, "N", "", "L1-L5 FE model, 500 N", _JAUMARD, _JAUMARD_URL,
                                   "confirmed", "a model result (ref [268]), not a measurement"),
    "L2L3_FE_500N_extension_7.5Nm": _r(86, "N", "", "L1-L5 FE model, 500 N + 7.5 N m extension at L1",
                                       _JAUMARD, _JAUMARD_URL, "confirmed", "model result (ref [268])"),
}

# --- adjacent-level effect of augmentation ---------------------------------------------
ADJACENT_AUGMENTATION: dict[str, Ref] = {
    "baroud_IDP_rigid_augmentation": _r(19, "%", "", "L4-L5 FE, quasi-static compression, rigid cement "
                                        "under the endplate", _BAROUD, _BAROUD_URL, "confirmed",
                                        "increase of adjacent IV pressure"),
    "baroud_endplate_bulge_remaining": _r(7, "%", "", "bulge of the augmented endplate vs before",
                                          _BAROUD, _BAROUD_URL, "confirmed"),
    "baroud_disc_stiffening": _r(17, "%", "", "IV joint stiffness increase", _BAROUD, _BAROUD_URL,
                                 "confirmed"),
    "baroud_segment_stiffening": _r(11, "%", "", "whole motion segment stiffness increase", _BAROUD,
                                    _BAROUD_URL, "confirmed"),
    "rohlmann_cement_stiffness_only": _r(2.4, "%", "", "IDP increase from cement stiffening alone, intact "
                                         "or fractured body, no geometry change", _ROHLMANN2006,
                                         _ROHLMANN2006_URL, "confirmed"),
    "rohlmann_VP_no_compensation": _r(60, "%", "", "IDP, VP without height restoration, upper-body shift "
                                      "not compensated", _ROHLMANN2006, _ROHLMANN2006_URL, "confirmed",
                                      "erector spinae force +200 %"),
    "rohlmann_KP_no_compensation": _r(20, "%", "", "IDP, KP with nearly full reduction, not compensated",
                                      _ROHLMANN2006, _ROHLMANN2006_URL, "confirmed",
                                      "erector spinae force +55 %"),
    "rohlmann_VP_compensated": _r(20, "%", "", "IDP, VP, upper-body shift compensated", _ROHLMANN2006,
                                  _ROHLMANN2006_URL, "confirmed"),
    "rohlmann_KP_compensated": _r(7.5, "%", "", "IDP, KP, upper-body shift compensated", _ROHLMANN2006,
                                  _ROHLMANN2006_URL, "confirmed"),
}

GROUPS: dict[str, dict[str, Ref]] = {
    "FIBRES": FIBRES, "LIGAMENTS": LIGAMENTS, "FACETS": FACETS, "ROM": ROM, "IDP": IDP,
    "FACET_FORCES": FACET_FORCES, "ADJACENT_AUGMENTATION": ADJACENT_AUGMENTATION,
    "SEGMENT_STIFFNESS": SEGMENT_STIFFNESS,
}
FIELDS = tuple(f.name for f in fields(Ref))


def table() -> str: return "\n".join(f"[{g}] {k}: {r.value:g} {r.unit} {r.spread} | {r.condition} | {r.status} | {r.source}" for g, d in GROUPS.items() for k, r in d.items())  # noqa: E501,E704
