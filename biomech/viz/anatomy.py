"""A smooth anatomical rendering of a labelled voxel model, as a figure in a paper
shows it: surfaces contoured from the label field (marching cubes on a lightly
blurred indicator of each tissue group), smoothed (windowed-sinc, which keeps the
volume), the bone semi-transparent so that the cement, the leaks and a lesion inside
are seen, the discs faint, all lit.  The block views (:func:`~biomech.viz.pictures.picture_model`)
stay the way to inspect voxels.
"""
from __future__ import annotations

import numpy as np

from biomech.meshes.labels import Label as L

from . import colours as C
from .canvas import _finish, _plotter

#: (name, labels, colour, opacity) of each surface, drawn back to front.
ANATOMY_GROUPS = (
    ("bone", (L.CORTICAL, L.CANCELLOUS, L.ENDPLATE, L.POSTERIOR, L.FRACTURE_ZONE, L.COMPACTED,
              L.BLASTIC, L.ANGIOMA, L.COMPOSITE, L.CEMENT, L.LYTIC), "#c8b48a", 0.3),
    ("disc", (L.NUCLEUS, L.ANNULUS, L.CARTILAGE_ENDPLATE), "#5a8cd0", 0.3),
    ("lytic lesion", (L.LYTIC,), "#d03020", 0.9),
    ("cement", tuple(C.CEMENT_LABELS), "#10a050", 1.0),
    ("leaked cement", tuple(C.LEAK_LABELS), "#ff2020", 1.0),
)


def _surface(pv, model, labels, smooth_iter: int = 30):
    """A smooth closed surface around the voxels of ``labels`` (None when empty)."""
    from scipy import ndimage
    m = np.isin(model.labels, [int(x) for x in labels])
    if not m.any():
        return None
    f = ndimage.gaussian_filter(np.pad(m, 2).astype(np.float32), 0.7)
    grid = pv.ImageData(dimensions=f.shape, spacing=(model.h,) * 3,
                        origin=tuple(np.asarray(model.origin) + (0.5 - 2) * model.h))
    grid.point_data["v"] = f.ravel(order="F")
    surf = grid.contour([0.5], scalars="v")
    if surf.n_points == 0:
        return None
    surf = surf.smooth_taubin(n_iter=smooth_iter, pass_band=0.1)
    return surf.compute_normals(auto_orient_normals=True)


def picture_anatomy(model, *, filename=None, window_size=(1200, 800),
                    view=(1.0, -1.4, 0.55), title: str | None = None) -> np.ndarray:
    """Smooth, lit rendering of ``model`` (a VoxelModel) from ``view`` (direction to the
    camera; default anterior-left-above), with a legend of the groups present and an
    orientation marker; returns the image (and writes ``filename``)."""
    from .offscreen import import_pyvista
    pv = import_pyvista()
    p = _plotter(window_size)
    entries = []
    for name, labels, colour, opacity in ANATOMY_GROUPS:
        s = _surface(pv, model, labels)
        if s is None:
            continue
        p.add_mesh(s, color=colour, opacity=opacity, smooth_shading=True, specular=0.3,
                   specular_power=20, ambient=0.15, diffuse=0.8)
        entries.append([name, colour])
    key = pv.Light(position=(-1.0, -2.0, 3.0), focal_point=(0, 0, 0), intensity=0.6,
                   light_type="camera light")
    p.add_light(key)
    p.add_legend(labels=entries, bcolor="white", face="rectangle", loc="upper right",
                 size=(0.22, 0.05 * len(entries) + 0.02))
    p.add_axes(color=C.TEXT_COLOUR, xlabel="x (left)", ylabel="y (posterior)",
               zlabel="z (cranial)", line_width=3)
    p.camera_position = "xz"
    p.view_vector(view, viewup=(0.0, 0.0, 1.0))
    p.reset_camera()
    p.camera.zoom(1.25)
    if title:
        p.add_text(title, position="upper_left", font_size=12, color=C.TEXT_COLOUR)
    return _finish(p, filename)


__all__ = ["ANATOMY_GROUPS", "picture_anatomy"]
