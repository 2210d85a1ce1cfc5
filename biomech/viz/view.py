"""``biomech view RESULT``: an interactive window where a display exists, a clear
message (and an off-screen picture on request) where none does.

RESULT is a VTU/VTI/VTK file written by :mod:`biomech.viz.export`, a folder
holding exactly one such file (a case folder), or a study folder (or its
``cases.pvd``): every case of the collection, side by side, named.  Without ``field`` the labels are
shown in their colours; with it, that field with a colour bar (names carry units).

The CLI module calls :func:`main` with the arguments after ``view``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from biomech.errors import BiomechError, InputError

from . import colours as C
from .offscreen import OFFSCREEN_WINDOW, VTK_WINDOW_VARIABLE

log = logging.getLogger(__name__)

RESULT_SUFFIXES = (".vtu", ".vti", ".vtk")
#: The collection a study folder holds (biomech.runner.outputs writes it).
STUDY_COLLECTION = "cases.pvd"


class NoDisplayError(BiomechError, RuntimeError):
    """No display to open a window on (the message says what to do instead)."""


def display_available() -> tuple[bool, str]:
    """(True, what) where a window can open; (False, why) otherwise."""
    if sys.platform in ("win32", "darwin"):
        return True, f"{sys.platform} desktop"
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        if os.environ.get(var):
            return True, f"{var}={os.environ[var]}"
    return False, "neither DISPLAY nor WAYLAND_DISPLAY is set"


def no_display_message(path, why: str) -> str:
    return (
        f"cannot open a window to view {path}: {why} (a machine without a display, "
        "e.g. a cluster node or an ssh session without X forwarding).\n"
        "Instead:\n"
        f"  * write a picture off screen: biomech view {path} --screenshot view.png\n"
        f"  * copy the file to a computer with a display and open it in ParaView "
        f"(File > Open; colour by 'label' or a field such as 'von_mises_MPa') or run "
        f"'biomech view' there\n"
        "  * forward X: ssh -X (or -Y) to this machine, then run the command again\n"
        "  * open the study's report.html in a browser: it holds the pictures")


def resolve_result(path) -> Path:
    """The result file named by ``path`` (a file, a folder with exactly one, or a
    study folder with its ``cases.pvd``)."""
    p = Path(path)
    if p.is_dir():
        if (p / STUDY_COLLECTION).is_file():
            return p / STUDY_COLLECTION
        found = sorted(f for f in p.iterdir() if f.suffix.lower() in RESULT_SUFFIXES)
        vtu = [f for f in found if f.suffix.lower() == ".vtu"]
        if len(vtu) == 1:
            return vtu[0]
        if len(found) == 1:
            return found[0]
        if not found:
            raise InputError(f"no result file ({', '.join(RESULT_SUFFIXES)}) and no "
                             f"{STUDY_COLLECTION} in folder {p}")
        raise InputError(f"folder {p} holds several result files; name one: "
                         f"{[f.name for f in found]}")
    if not p.exists():
        raise InputError(f"result file {p} does not exist")
    if p.suffix.lower() not in RESULT_SUFFIXES + (".pvd",):
        raise InputError(f"cannot view {p.name!r}: expected one of {RESULT_SUFFIXES + ('.pvd',)} "
                         "or a study folder")
    return p


def read_collection(path) -> list[tuple[str, Path]]:
    """[(case name, file)] of a ParaView collection written by
    :func:`biomech.viz.export.write_pvd` (paths relative to its folder)."""
    import xml.etree.ElementTree as ET
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{path} is not a ParaView collection: {exc}") from exc
    out = []
    for i, ds in enumerate(root.iter("DataSet")):
        f = path.parent / ds.get("file", "")
        if not f.is_file():
            raise InputError(f"{path.name}: case {ds.get('name') or i} file {f} does not exist")
        out.append((ds.get("name") or f.stem, f))
    if not out:
        raise InputError(f"{path} lists no data sets")
    return out


def _read(pv, result: Path):
    """A dataset, or for a collection a list of (name, dataset) laid out along x."""
    if result.suffix.lower() != ".pvd":
        return pv.read(str(result))
    items, x = [], 0.0
    for name, f in read_collection(result):
        d = pv.read(str(f))
        b = d.bounds
        d = d.translate((x - b[0], 0.0, 0.0), inplace=False)
        x += (b[1] - b[0]) * 1.15
        items.append((name, d))
    return items


def _scene(p, data, field: str | None) -> None:
    """Draw a loaded dataset on plotter ``p``: labels in colour or one field; a list
    of (case name, dataset) side by side, each named, one colour range."""
    import numpy as np
    if isinstance(data, list):
        clim = None
        if field is not None:
            vals = [np.asarray(d[field]) for _, d in data if field in d.array_names]
            if vals:
                clim = (min(float(v.min()) for v in vals), max(float(v.max()) for v in vals))
        for i, (name, d) in enumerate(data):
            _scene_one(p, d, field, clim=clim, legend=(field is not None and i == 0))
            b = d.bounds
            p.add_point_labels([((b[0] + b[1]) / 2, (b[2] + b[3]) / 2, b[5] + 4.0)], [name],
                               font_size=14, text_color=C.TEXT_COLOUR, shape=None,
                               show_points=False, always_visible=True)
        if field is None:                  # one legend: every label of every case
            labels = np.unique(np.concatenate([np.asarray(d.cell_data["label"])
                                               for _, d in data if "label" in d.cell_data]))
            entries = C.legend_entries(labels[labels > 0])
            p.add_legend(labels=entries, bcolor="#303030", face="rectangle", loc="lower right",
                         size=(0.2, 0.03 * len(entries) + 0.02))
        p.add_axes(color=C.TEXT_COLOUR, xlabel="x", ylabel="y (posterior)", zlabel="z (cranial)")
        p.set_background(C.BACKGROUND)
        return
    _scene_one(p, data, field)
    p.add_axes(color=C.TEXT_COLOUR, xlabel="x", ylabel="y (posterior)", zlabel="z (cranial)")
    p.set_background(C.BACKGROUND)


def _scene_one(p, data, field: str | None, *, clim=None, legend: bool = True) -> None:
    import numpy as np
    names = list(data.cell_data) + list(data.point_data)
    if "label" in data.cell_data and int(np.max(data.cell_data["label"])) > 0:
        solid = data.threshold(0.5, scalars="label")
    else:
        solid = data
    if field is None:
        if "label" not in solid.cell_data:
            raise InputError(f"{data} has no 'label' field; name one of {names} with --field")
        surf = solid.extract_surface(algorithm="dataset_surface")
        surf.cell_data["rgb"] = C.label_rgb()[np.asarray(surf.cell_data["label"], int)]
        p.add_mesh(surf, scalars="rgb", rgb=True, show_scalar_bar=False)
        if legend:
            entries = C.legend_entries(np.unique(solid.cell_data["label"]))
            p.add_legend(labels=entries, bcolor="#303030", face="rectangle", loc="upper right",
                         size=(0.28, 0.04 * len(entries) + 0.02))
    else:
        if field not in names:
            raise InputError(f"no field {field!r} in the result; it has {names}")
        title, cmap = C.FIELD_STYLE.get(field, (field, "viridis", None))[:2]
        p.add_mesh(solid, scalars=field, cmap=cmap, clim=clim, show_scalar_bar=legend,
                   scalar_bar_args={"title": title, "color": C.TEXT_COLOUR})


def view(path, *, field: str | None = None, screenshot=None, window_size=(1200, 900)):
    """Open RESULT in an interactive window, or with ``screenshot`` write a PNG off
    screen (works without a display) and return its path.

    Raises NoDisplayError (with what to do instead) where no window can open.
    """
    result = resolve_result(path)
    if screenshot is None:
        ok, why = display_available()
        if not ok:
            raise NoDisplayError(no_display_message(path, why))
        if os.environ.get(VTK_WINDOW_VARIABLE) == OFFSCREEN_WINDOW:
            os.environ.pop(VTK_WINDOW_VARIABLE)      # EGL cannot open a window on screen
        try:
            import pyvista as pv
        except ImportError as exc:
            raise BiomechError(
                f"viewing needs pyvista: pip install 'biomech[viz]' ({exc})") from exc
        data = _read(pv, result)
        p = pv.Plotter(off_screen=False, window_size=list(window_size),
                       title=f"biomech view {result.name}")
        _scene(p, data, field)
        p.show()
        return None
    from .offscreen import import_pyvista, require_renderer
    pv = import_pyvista()
    require_renderer()
    data = _read(pv, result)
    p = pv.Plotter(off_screen=True, window_size=list(window_size))
    _scene(p, data, field)
    p.view_vector((1.0, -1.15, 0.75), viewup=(0.0, 0.0, 1.0))
    out = Path(screenshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    p.screenshot(str(out))
    p.close()
    return out


def main(argv=None) -> int:
    """``biomech view RESULT [--field NAME] [--screenshot OUT.png]``; returns the exit
    status (0 done, 2 no display or bad input) and writes messages to stderr."""
    ap = argparse.ArgumentParser(prog="biomech view",
                                 description="Show a result file (VTU/VTI) or a case folder.")
    ap.add_argument("result", help="a .vtu/.vti file, a case folder holding one, or a study "
                                   "folder (its cases.pvd: every case side by side)")
    ap.add_argument("--field", help="field to colour by (default: the labels), e.g. von_mises_MPa")
    ap.add_argument("--screenshot", metavar="PNG",
                    help="write a picture off screen instead of opening a window")
    args = ap.parse_args(argv)
    try:
        out = view(args.result, field=args.field, screenshot=args.screenshot)
    except (NoDisplayError, InputError) as exc:
        sys.stderr.write(f"biomech view: {exc}\n")
        return 2
    if out is not None:
        sys.stderr.write(f"biomech view: wrote {out}\n")
    return 0
