"""The one label colour table used by every picture, legend and report.

Design of the palette:

* bone in warm neutrals (cortex ivory, cancellous tan, posterior elements greige),
  the bony endplate gold so the adjacent endplates stand out;
* disc in blues (nucleus dark, annulus pale, cartilage endplate teal);
* cement in greens -- bulk cement vivid green, the cement-bone composite of a
  vertebroplasty light green -- a hue no tissue uses, so cement is obvious;
* leaked cement vivid magenta (the loudest colour on the page);
* lesions and damage in their own hues: lytic red, blastic purple, fracture
  orange, haemangioma pink, compacted shell of a kyphoplasty dark brown.

Every pair differs by CIE76 Delta E >= 15 and each cement colour differs from every
tissue colour by Delta E >= 40 (tested in tests/test_viz_plots.py).
Colours are sRGB hex strings; :func:`label_rgb` gives the (256, 3) uint8 lookup table.
"""
from __future__ import annotations

from types import MappingProxyType

import numpy as np

from biomech.meshes.labels import Label

#: label -> (sRGB hex colour, name shown in legends)
LABEL_STYLE = MappingProxyType({
    Label.CORTICAL: ("#EFE6CF", "cortex"),
    Label.CANCELLOUS: ("#CDA36B", "cancellous bone"),
    Label.ENDPLATE: ("#E3B505", "bony endplate"),
    Label.CARTILAGE_ENDPLATE: ("#7FC8B8", "cartilage endplate"),
    Label.POSTERIOR: ("#B3A994", "posterior elements"),
    Label.NUCLEUS: ("#2F6DB5", "nucleus pulposus"),
    Label.ANNULUS: ("#A6C8E8", "annulus fibrosus"),
    Label.CEMENT: ("#00A651", "cement"),
    Label.COMPOSITE: ("#8EE05F", "cement-bone composite"),
    Label.COMPACTED: ("#8C510A", "compacted bone shell"),
    Label.LYTIC: ("#D7301F", "lytic lesion"),
    Label.BLASTIC: ("#6A51A3", "blastic lesion"),
    Label.PMMA_CAP: ("#8F8F8F", "PMMA end cap"),
    Label.FRACTURE_ZONE: ("#F28E2B", "fracture zone"),
    Label.ANGIOMA: ("#E78AC3", "haemangioma"),
    Label.LEAKED_CEMENT: ("#FF00FF", "leaked cement"),
})

#: Labels drawn as cement (augmentation) in cement pictures.
CEMENT_LABELS = (Label.CEMENT, Label.COMPOSITE)
#: Labels drawn as leak.
LEAK_LABELS = (Label.LEAKED_CEMENT,)
#: Colour of a label number that the table does not know (future labels).
UNKNOWN_COLOUR = "#404040"
#: Picture background and text colours.
BACKGROUND = "white"
TEXT_COLOUR = "black"
#: Colour of the see-through bone around the cement in cement pictures.
GHOST_BONE = "#B8AE98"
#: Colour of the outline of the cement drawn over field sections.
SECTION_OUTLINE_COLOUR = "#FFFFFF"


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """'#RRGGBB' -> (r, g, b) in 0..255."""
    c = colour.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"colour must be '#RRGGBB', got {colour!r}")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


def label_colour(label: int) -> str:
    """Hex colour of a label number."""
    try:
        return LABEL_STYLE[Label(int(label))][0]
    except (KeyError, ValueError):
        return UNKNOWN_COLOUR


def label_display_name(label: int) -> str:
    """Legend name of a label number ('cortex', 'leaked cement', ...)."""
    try:
        return LABEL_STYLE[Label(int(label))][1]
    except (KeyError, ValueError):
        return f"label {int(label)}"


def label_rgb() -> np.ndarray:
    """(256, 3) uint8 lookup table: row ``label`` is that label's sRGB colour."""
    lut = np.tile(np.array(hex_to_rgb(UNKNOWN_COLOUR), np.uint8), (256, 1))
    lut[0] = (255, 255, 255)
    for lab, (colour, _) in LABEL_STYLE.items():
        lut[int(lab)] = hex_to_rgb(colour)
    return lut


def legend_entries(labels) -> list[list[str]]:
    """[[name, colour], ...] for the label numbers present, in Label order."""
    present = sorted({int(v) for v in np.asarray(list(labels)).ravel()} - {0})
    return [[label_display_name(v), label_colour(v)] for v in present]


def srgb_to_lab(rgb) -> np.ndarray:
    """CIE L*a*b* (D65) of sRGB colours (..., 3) in 0..255."""
    c = np.asarray(rgb, float) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e(colour_a: str, colour_b: str) -> float:
    """CIE76 colour difference between two hex colours (about 2.3 is just noticeable)."""
    a, b = srgb_to_lab([hex_to_rgb(colour_a), hex_to_rgb(colour_b)])
    return float(np.linalg.norm(a - b))


#: Per-field picture style: title with units, colour map, how the colour range is set.
#: ``range``: "zero-p99" = [0, 99th percentile] (voxel corners give isolated peaks
#: that would wash out the picture; values above show in the top colour),
#: "p1-zero" = [1st percentile, 0] for compressive quantities, "zero-max" = [0, max].
FIELD_STYLE = MappingProxyType({
    "displacement_mm": ("displacement magnitude [mm]", "viridis", "zero-max"),
    "von_mises_MPa": ("von Mises stress [MPa]", "inferno", "zero-p99"),
    "min_principal_strain": ("minimum principal strain [-]", "magma", "p1-zero"),
    "strain_energy_density_MPa": ("strain energy density [MPa = mJ/mm3]", "plasma", "zero-p99"),
    "stress_zz_MPa": ("axial stress sigma_zz [MPa]", "RdBu", "symmetric-p99"),
    "E_MPa": ("Young's modulus [MPa]", "cividis", "zero-max"),
})
#: Shorter colour-bar titles for narrow panels.
SHORT_FIELD_TITLES = MappingProxyType({
    "displacement_mm": "displacement [mm]",
    "von_mises_MPa": "von Mises [MPa]",
    "min_principal_strain": "min. princ. strain [-]",
    "strain_energy_density_MPa": "SED [MPa]",
    "stress_zz_MPa": "sigma_zz [MPa]",
    "E_MPa": "E [MPa]",
})

#: Colours of values beyond a field picture's colour range (clipped): outside every
#: colour map used here, drawn on the section and as a swatch at the colour bar's end.
ABOVE_RANGE_COLOUR = "#ff33cc"       # magenta: above the range
BELOW_RANGE_COLOUR = "#33e0ff"       # cyan: below the range
#: Labels outlined in white on field sections: the cement and a lytic lesion.
OUTLINE_LABELS = (Label.CEMENT, Label.COMPOSITE, Label.LYTIC)
