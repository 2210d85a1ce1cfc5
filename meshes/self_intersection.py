"""Self-intersection of a triangle surface: pairs of triangles that cross each other.

A vertebra surface that passes through itself (a fold, two overlapping shells written as
one) has no well-defined inside; voxelising it silently gives wrong bone.  The test is
geometric and exact up to round-off: two triangles that share no vertex intersect when an
edge of one crosses the other (Moller & Trumbore, J Graph Tools 2:21, 1997, for the
segment-triangle test); candidate pairs come from a k-d tree of the triangle centroids, so
the cost grows with the number of triangles, not its square.  Coplanar overlaps (two
triangles in one plane) are not detected.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

#: Relative tolerance of the crossing test (of the triangle size): touching is not crossing.
_EPS = 1e-9


def _segment_crosses_triangle(p, q, a, b, c) -> np.ndarray:
    """(n,) bool: segment p-q crosses the interior of triangle a-b-c (all (n, 3))."""
    d = q - p
    e1, e2 = b - a, c - a
    h = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, h)
    scale = np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1) * np.linalg.norm(d, axis=1)
    ok = np.abs(det) > _EPS * np.maximum(scale, 1e-300)
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = p - a
    u = inv * np.einsum("ij,ij->i", s, h)
    qv = np.cross(s, e1)
    v = inv * np.einsum("ij,ij->i", d, qv)
    t = inv * np.einsum("ij,ij->i", e2, qv)
    e = _EPS * 10
    return ok & (u > e) & (v > e) & (u + v < 1 - e) & (t > e) & (t < 1 - e)


def intersecting_triangle_pairs(vertices: np.ndarray, faces: np.ndarray, *,
                                chunk: int = 200_000) -> np.ndarray:
    """(m, 2) indices of triangle pairs that cross each other (sharing no vertex).

    vertices (n, 3) [mm]; faces (f, 3) int."""
    V = np.asarray(vertices, float)
    F = np.asarray(faces, np.int64)
    if len(F) < 2:
        return np.zeros((0, 2), np.int64)
    tri = V[F]                                               # (f, 3, 3)
    centre = tri.mean(axis=1)
    radius = np.linalg.norm(tri - centre[:, None, :], axis=2).max(axis=1)
    pairs = cKDTree(centre).query_pairs(2.0 * float(radius.max()), output_type="ndarray")
    out = []
    for start in range(0, len(pairs), chunk):
        p = pairs[start:start + chunk]
        i, j = p[:, 0], p[:, 1]
        near = np.linalg.norm(centre[i] - centre[j], axis=1) <= radius[i] + radius[j]
        shares = (F[i][:, :, None] == F[j][:, None, :]).any(axis=(1, 2))
        p = p[near & ~shares]
        if not len(p):
            continue
        i, j = p[:, 0], p[:, 1]
        hit = np.zeros(len(p), bool)
        for one, other in ((i, j), (j, i)):
            a, b, c = tri[other, 0], tri[other, 1], tri[other, 2]
            for k in range(3):
                hit |= _segment_crosses_triangle(tri[one, k], tri[one, (k + 1) % 3], a, b, c)
        out.append(p[hit])
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)
