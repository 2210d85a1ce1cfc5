"""Text on pictures: anchored and turned captions of a fixed font size that shrink to fit
their panel, colour bars with their titles and tick format, and legend panels (colour
squares and lines of text)."""
from __future__ import annotations

import numpy as np

from . import colours as C
from .canvas import CHAR_WIDTH, _panel_pixels

#: Named text anchors (normalized viewport position, horizontal justification).
_ANCHORS = {"upper_left": ((0.02, 0.95), "left"), "upper_edge": ((0.5, 0.95), "center"),
            "lower_left": ((0.02, 0.02), "left"), "lower_edge": ((0.5, 0.02), "center"),
            "upper_right": ((0.98, 0.95), "right"), "lower_right": ((0.98, 0.02), "right")}


def _side_caption(p, text: str, font: int):
    """Text turned 90 degrees, centred in the active (narrow) panel, in two lines
    (broken at the first ", ") at ``font``."""
    text = text.replace(", ", "\n", 1)
    actor = p.add_text(text, position=(0.62, 0.5), viewport=True, orientation=90.0,
                       font_size=font, color=C.TEXT_COLOUR)
    actor.prop.justification_horizontal = "center"
    actor.prop.justification_vertical = "center"
    return actor


def _fit(text: str, font: int, width_px: float, fraction: float = 0.95) -> int:
    """The font size, at most ``font``, at which the longest line of ``text`` fits
    in ``fraction`` of ``width_px``."""
    longest = max(len(line) for line in str(text).splitlines() or [""])
    return int(max(6, min(font, fraction * width_px / (CHAR_WIDTH * max(longest, 1)))))


def _wrap(text: str, font: int, width_px: float, smallest: int = 9) -> str:
    """Break ``text`` at ", " into lines when it would not fit at ``smallest``."""
    if _fit(text, font, width_px) >= smallest or ", " not in text:
        return text
    return text.replace(", ", "\n")


def _text(p, text: str, where: str, font: int):
    """Text of a fixed font size [pt] in the active panel (VTK's corner annotations
    scale with the panel; this does not, so all panels match), wrapped at ", "
    and shrunk to fit."""
    (x, y), just = _ANCHORS[where]
    text = _wrap(text, font, _panel_pixels(p)[0])
    font = _fit(text, font, _panel_pixels(p)[0])
    actor = p.add_text(text, position=(x, y), viewport=True, font_size=font, color=C.TEXT_COLOUR)
    actor.prop.justification_horizontal = just
    actor.prop.justification_vertical = "top" if y > 0.5 else "bottom"
    return actor


def _fmt(lo: float, hi: float) -> str:
    """Tick format with about 3 significant digits over the range."""
    span = max(abs(lo), abs(hi))
    if span == 0 or 1e-3 <= span < 1e4:
        digits = max(0, 2 - int(np.floor(np.log10(span if span else 1.0))))
        return f"%.{min(digits, 6)}f"
    return "%.2e"


def _scalar_bar(p, title, actor, font, *, fmt="%.3g", n_labels=7, title_font=None,
                clipped=(None, None)):
    """A horizontal colour bar in the active (strip) renderer, title above it
    (at ``title_font``, default: ``font`` shrunk to fit).  ``clipped`` = (lowest value
    below the range, highest above it) from :func:`biomech.viz.sections.clipping`: each
    that is not None adds its colour swatch at that end of the bar and a note below."""
    lo, hi = actor.mapper.scalar_range
    below, above = clipped
    has_note = below is not None or above is not None
    # with a clipping note the bar moves up and the note takes the strip's lower third
    bar_y, bar_h, title_y = (0.36, 0.26, 0.76) if has_note else (0.06, 0.4, 0.56)
    width_px = 0.7 * _panel_pixels(p)[0]
    chars = max(len(fmt % lo), len(fmt % hi))
    label_font = max(8, int(font * 1.15))
    # scalar-bar tick labels are narrower than other text: ~0.6 font px per character
    n_labels = int(np.clip(width_px / (1.6 * chars * 0.6 * label_font), 2, n_labels))
    bar = p.add_scalar_bar(title=f"{title} #{id(actor)}", mapper=actor.mapper, vertical=False,
                           n_labels=n_labels, fmt=fmt, color=C.TEXT_COLOUR,
                           title_font_size=font, label_font_size=label_font,
                           position_x=0.15, position_y=bar_y, width=0.7, height=bar_h,
                           unconstrained_font_size=True)
    bar.SetTitle("")
    bar.SetTextPositionToPrecedeScalarBar()
    bar.SetDrawAboveRangeSwatch(False)          # a swatch only where the range clips
    bar.SetDrawBelowRangeSwatch(False)
    notes = []
    if above is not None:
        bar.SetDrawAboveRangeSwatch(True)
        bar.SetAboveRangeAnnotation(">")
        notes.append(f"magenta > {(fmt % hi).strip()}: up to {(fmt % above).strip()}")
    if below is not None:
        bar.SetDrawBelowRangeSwatch(True)
        bar.SetBelowRangeAnnotation("<")
        notes.insert(0, f"cyan < {(fmt % lo).strip()}: down to {(fmt % below).strip()}")
    if notes:
        note = "; ".join(notes)
        if CHAR_WIDTH * 0.8 * font * len(note) > 0.9 * _panel_pixels(p)[0]:     # narrow: lines
            note = "\n".join(n.replace(": ", "\n") for n in notes)
        lines = note.count("\n") + 1
        fit_height = int(0.2 * _panel_pixels(p)[1] / (1.4 * lines))     # below the tick labels
        size = min(int(font * 0.8), _fit(note, font, 0.9 * _panel_pixels(p)[0]), fit_height)
        t = p.add_text(note, position=(0.5, 0.0), viewport=True, color=C.TEXT_COLOUR,
                       font_size=max(5, size))
        t.prop.justification_horizontal = "center"
    if title_font is None:
        # with a clipped end the '<' / '>' marks sit at the bar's ends, level with the
        # title: keep the title within the bar's middle
        room = 0.6 if has_note else 1.0
        title_font = _fit(title, font, room * _panel_pixels(p)[0])
    text = p.add_text(title, position=(0.5, title_y), viewport=True, font_size=title_font,
                      color=C.TEXT_COLOUR)
    text.prop.justification_horizontal = "center"
    return bar


def _legend_panel(p, entries, font, *, heading=None, notes=()):
    """A legend filling the active renderer: a colour square and black text per
    entry ([name, colour]), an optional heading, then free text lines."""
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
    from vtkmodules.vtkRenderingCore import vtkActor2D, vtkCoordinate, vtkPolyDataMapper2D

    vw, vh = _panel_pixels(p)
    longest = max([len(e[0]) + 3 for e in entries] + [len(t) for t in notes]
                  + [len(heading or "")])
    font = int(max(7, min(font, 0.92 * vw / (CHAR_WIDTH * longest))))
    n_rows = len(entries) + len(notes) + (1.3 if heading else 0) + 0.5
    row = min(2.0 * font / vh, 0.92 / max(n_rows, 1))
    x0, y = 0.05, 0.97
    if heading:
        y -= row
        p.add_text(heading, position=(x0, y), viewport=True, font_size=font, color=C.TEXT_COLOUR)
        y -= 0.3 * row
    side = 0.62 * row * vh
    for name, colour in entries:
        y -= row
        pts = vtkPoints()
        for dx, dy in ((0, 0), (side, 0), (side, side), (0, side)):
            pts.InsertNextPoint(x0 + dx / vw, y + dy / vh, 0.0)
        cells = vtkCellArray()
        cells.InsertNextCell(4, [0, 1, 2, 3])
        poly = vtkPolyData()
        poly.SetPoints(pts)
        poly.SetPolys(cells)
        coord = vtkCoordinate()
        coord.SetCoordinateSystemToNormalizedViewport()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(poly)
        mapper.SetTransformCoordinate(coord)
        square = vtkActor2D()
        square.SetMapper(mapper)
        square.GetProperty().SetColor(*(np.array(C.hex_to_rgb(colour)) / 255.0))
        p.renderer.AddViewProp(square)
        p.add_text(name, position=(x0 + side / vw + 0.03, y), viewport=True, font_size=font,
                   color=C.TEXT_COLOUR)
    if notes:
        y -= 0.4 * row
    for line in notes:
        y -= row
        p.add_text(line, position=(x0, y), viewport=True, font_size=font, color=C.TEXT_COLOUR)
