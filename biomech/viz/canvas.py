"""The plotter a picture is drawn on: an off-screen PyVista plotter with one headlight
per panel, the panel sizes [px] and aspect, font sizes scaled with the window, the column
weights of picture layouts (legend column, caption column), and the final screenshot."""
from __future__ import annotations

import logging

import numpy as np

from . import colours as C

log = logging.getLogger(__name__)

#: Width of one character of VTK's default font, in units of the font size
#: (measured: "cement-bone composite" at font 15 is 362 px wide).
CHAR_WIDTH = 1.2
#: Width of the legend column relative to one picture panel.
LEGEND_SHARE = (0.2, 0.42)


def _pv():
    from .offscreen import import_pyvista, require_renderer
    pv = import_pyvista()
    require_renderer()
    return pv


def _plotter(window_size, **kw):
    """An off-screen plotter lit by one headlight per panel (faces towards the viewer
    keep nearly their true label colour; the others are a little darker)."""
    pv = _pv()
    p = pv.Plotter(off_screen=True, window_size=[int(v) for v in window_size],
                   lighting="none", **kw)
    p.set_background(C.BACKGROUND)
    rows, cols = p.shape
    for i in range(rows):
        for j in range(cols):
            p.subplot(i, j)
            p.add_light(pv.Light(light_type="headlight"), only_active=True)
    p.subplot(0, 0)
    return p


def _panel_pixels(p) -> tuple[float, float]:
    """Width and height [px] of the active panel."""
    vp = p.renderer.GetViewport()
    return (max((vp[2] - vp[0]) * p.window_size[0], 1.0),
            max((vp[3] - vp[1]) * p.window_size[1], 1.0))


def _finish(p, filename) -> np.ndarray:
    try:
        img = p.screenshot(str(filename) if filename is not None else None, return_img=True)
    finally:
        p.close()
    if filename is not None:
        log.info("wrote picture %s", filename)
    return np.asarray(img)


def _font(window_size, base: int) -> int:
    """Font size scaled with the window height (base is for 800 px)."""
    return max(8, int(round(base * min(window_size[1], 1.5 * window_size[0]) / 800)))


def _panel_aspect(window_size, shape, row_weights=None, col_weights=None, col: int = 0) -> float:
    """Width / height of a top-row panel in column ``col``."""
    rows, cols = shape
    rw = row_weights or [1] * rows
    cw = col_weights or [1] * cols
    w = window_size[0] * cw[col] / sum(cw)
    h = window_size[1] * rw[0] / sum(rw)
    return w / h


def _legend_weights(window_size, n_panels: int, lines, font: int) -> list[float]:
    """Column weights: n picture panels of weight 1 and a legend column wide enough
    for the longest legend line at ``font`` (between 20 and 42 % of the window)."""
    w = window_size[0]
    longest = max([len(t) + 3 for t in lines] + [10])
    px = float(np.clip(CHAR_WIDTH * font * longest + 0.03 * w, LEGEND_SHARE[0] * w,
                       LEGEND_SHARE[1] * w))
    return [1.0] * n_panels + [px / ((w - px) / n_panels)]


def caption_column_px(window_size) -> int:
    """Width [px] of the column of turned section captions (two lines of text)."""
    font = _font(window_size, 14)
    return int(round(max(2.0 * 1.3 * font + 10, 0.03 * window_size[0])))


def _caption_weights(window_size, n_panels: int) -> list[float]:
    px = caption_column_px(window_size)
    return [px / ((window_size[0] - px) / n_panels)] + [1.0] * n_panels
