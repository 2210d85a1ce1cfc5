"""Consistent nodal loads of surface tractions and pressures on element faces."""
from __future__ import annotations

import numpy as np

from ..errors import BoundaryConditionError

_G = 1.0 / np.sqrt(3.0)
_QUAD_PTS = np.array([[-_G, -_G], [_G, -_G], [_G, _G], [-_G, _G]])
_TRI_PTS = np.array([[1 / 6, 1 / 6], [2 / 3, 1 / 6], [1 / 6, 2 / 3]])   # degree 2, weights 1/6


def _shape(n_face_nodes, r, s):
    """Shape values (n,) and natural derivatives (n, 2) of a face."""
    if n_face_nodes == 4:
        sr = np.array([-1, 1, 1, -1.0]); ss = np.array([-1, -1, 1, 1.0])
        N = 0.25 * (1 + sr * r) * (1 + ss * s)
        dN = np.stack([0.25 * sr * (1 + ss * s), 0.25 * ss * (1 + sr * r)], axis=1)
        return N, dN
    L = np.array([1 - r - s, r, s])
    dL = np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]])
    if n_face_nodes == 3:
        return L, dL
    edges = [(0, 1), (1, 2), (2, 0)]
    N = np.concatenate([L * (2 * L - 1), [4 * L[i] * L[j] for i, j in edges]])
    dN = np.vstack([(4 * L - 1)[:, None] * dL,
                    [4 * (dL[i] * L[j] + L[i] * dL[j]) for i, j in edges]])
    return N, dN


def _integrate(points, faces, load_density):
    """sum_q w_q N_a(q) load_density(area_vector_q) per face node, (n_faces, n, 3).

    load_density(av) gets the area vector av = dx/dr x dx/ds (n_faces, 3), whose
    norm is the area element, and returns the force per unit (r, s) area (n_faces, 3).
    """
    n = faces.shape[1] if faces.ndim == 2 else 0
    if n not in (3, 4, 6):
        raise BoundaryConditionError(
            f"faces must have 3 (tri), 4 (quad) or 6 (quadratic tri) nodes, got shape {faces.shape}")
    pts, w = (_QUAD_PTS, np.ones(4)) if n == 4 else (_TRI_PTS, np.full(3, 1 / 6))
    xf = points[faces]                                  # (n_faces, n, 3)
    out = np.zeros(faces.shape + (3,))
    for (r, s), wq in zip(pts, w):
        N, dN = _shape(n, r, s)
        a = np.einsum("fnk,n->fk", xf, dN[:, 0])
        b = np.einsum("fnk,n->fk", xf, dN[:, 1])
        out += wq * N[None, :, None] * load_density(np.cross(a, b))[:, None, :]
    return out


def consistent_face_loads(points, faces, traction):
    """Nodal forces [N] (n_faces, n_face_nodes, 3) of a uniform traction [MPa] (3,).

    faces : (n_faces, 3 | 4 | 6) node indices (tri3, quad4, tri6).
    """
    t = np.asarray(traction, float).reshape(3)
    return _integrate(points, faces,
                      lambda av: np.linalg.norm(av, axis=1)[:, None] * t[None, :])


def pressure_face_loads(points, faces, pressure):
    """Nodal forces [N] (n_faces, n_face_nodes, 3) of a pressure [MPa] acting
    against each face's normal (n = dx/dr x dx/ds, right-hand rule over the face
    nodes: positive pressure pushes into the body for outward-ordered faces).

    pressure : scalar or (n_faces,) [MPa].
    """
    faces = np.asarray(faces)
    p = np.broadcast_to(np.asarray(pressure, float), (faces.shape[0],))
    return _integrate(points, faces, lambda av: -p[:, None] * av)
