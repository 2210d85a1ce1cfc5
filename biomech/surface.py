"""Consistent nodal loads of a uniform surface traction on element faces."""
from __future__ import annotations

import numpy as np

from .errors import BoundaryConditionError

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


def consistent_face_loads(points, faces, traction):
    """Nodal forces [N] (n_faces, n_face_nodes, 3) of traction [MPa] (3,) on faces.

    faces : (n_faces, 3 | 4 | 6) node indices (tri3, quad4, tri6).
    """
    n = faces.shape[1] if faces.ndim == 2 else 0
    if n not in (3, 4, 6):
        raise BoundaryConditionError(
            f"faces must have 3 (tri), 4 (quad) or 6 (quadratic tri) nodes, got shape {faces.shape}")
    t = np.asarray(traction, float).reshape(3)
    pts, w = (_QUAD_PTS, np.ones(4)) if n == 4 else (_TRI_PTS, np.full(3, 1 / 6))
    xf = points[faces]                                  # (n_faces, n, 3)
    out = np.zeros(faces.shape + (3,))
    for (r, s), wq in zip(pts, w):
        N, dN = _shape(n, r, s)
        a = np.einsum("fnk,n->fk", xf, dN[:, 0])
        b = np.einsum("fnk,n->fk", xf, dN[:, 1])
        area = np.linalg.norm(np.cross(a, b), axis=1)   # dA / (dr ds)
        out += wq * area[:, None, None] * N[None, :, None] * t[None, None, :]
    return out
