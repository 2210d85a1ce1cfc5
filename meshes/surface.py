"""Closed triangle surfaces: reading (STL, OBJ, PLY, VTK/VTU, OFF via meshio;
vertex/face CSV), units, welding and checks, and voxelisation (exact inside
test and exact distance to the surface).

Units: coordinates are returned in mm.  ``units='auto'`` decides by the size
of the object (a vertebra or a spine is 15-600 mm long): a largest extent
below 1 is read as metres, 15-600 as millimetres, anything else is refused
with a request to declare the units; declared units are checked the same way
after scaling, so a vertebra 1000 times too small or too large is an error.

Repairs (``TriSurface.repaired``): vertices closer than ``weld_tol_mm`` are
merged (surfaces stored with duplicated seam vertices, like the remus-lss
bodies, close up), degenerate and duplicate triangles are dropped, inward
normals are flipped.  A surface that still has boundary or non-manifold edges
after that is refused (MeshError).  Self-intersections are not searched for
(quadratic cost); the parity fill below stays well defined for them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from biomech.errors import InputError, MeshError

log = logging.getLogger(__name__)

UNIT_SCALE = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 1e-3}
PLAUSIBLE_EXTENT_MM = (15.0, 600.0)


@dataclass(frozen=True, eq=False)
class TriSurface:
    """vertices (n, 3) float64 [mm]; faces (m, 3) int64 (0-based)."""

    vertices: np.ndarray
    faces: np.ndarray
    source: str = ""

    def __post_init__(self):
        v = np.ascontiguousarray(self.vertices, dtype=np.float64)
        f = np.ascontiguousarray(self.faces, dtype=np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) < 4:
            raise MeshError(f"surface vertices must have shape (n >= 4, 3), got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3 or len(f) < 4:
            raise MeshError(f"surface faces must be triangles with shape (m >= 4, 3), got {f.shape}")
        if f.min() < 0 or f.max() >= len(v):
            raise MeshError(f"face indices must lie in [0, {len(v) - 1}], got [{f.min()}, {f.max()}]")
        if not np.isfinite(v).all():
            raise MeshError("surface vertices contain NaN or infinite coordinates")
        object.__setattr__(self, "vertices", v)
        object.__setattr__(self, "faces", f)

    # ------------------------------------------------------------------ measures
    @property
    def extent(self) -> np.ndarray:
        return np.ptp(self.vertices, axis=0)

    def signed_volume(self) -> float:
        """Enclosed volume [mm^3] (positive for outward normals)."""
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)

    def area(self) -> float:
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())

    def edge_counts(self):
        """(boundary edges, non-manifold edges, inconsistently oriented edges)."""
        f = self.faces
        e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        und = np.sort(e, axis=1)
        _, inv, cnt = np.unique(und, axis=0, return_inverse=True, return_counts=True)
        boundary = int((cnt == 1).sum())
        nonman = int((cnt > 2).sum())
        _, dcnt = np.unique(e, axis=0, return_counts=True)
        inconsistent = int((dcnt > 1).sum())
        return boundary, nonman, inconsistent

    def is_closed(self) -> bool:
        b, n, i = self.edge_counts()
        return b == 0 and n == 0 and i == 0

    # ------------------------------------------------------------------ repairs
    def welded(self, tol_mm: float = 1e-6) -> "TriSurface":
        """Merge vertices closer than ``tol_mm``; drop degenerate and duplicate faces."""
        tree = cKDTree(self.vertices)
        pairs = tree.query_pairs(tol_mm, output_type="ndarray")
        n = len(self.vertices)
        if len(pairs):
            g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
            _, rep = connected_components(g, directed=False)
        else:
            rep = np.arange(n)
        uniq, new_index = np.unique(rep, return_inverse=True)
        first = np.zeros(len(uniq), np.int64)
        first[new_index[::-1]] = np.arange(n)[::-1]
        verts = self.vertices[first]
        faces = new_index[self.faces]
        ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
        faces = faces[ok]
        _, keep = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
        faces = faces[np.sort(keep)]
        used = np.zeros(len(verts), bool)
        used[faces.ravel()] = True
        remap = np.cumsum(used) - 1
        return TriSurface(verts[used], remap[faces], self.source)

    def oriented_outward(self) -> "TriSurface":
        """Flip every face when the enclosed volume is negative."""
        if self.signed_volume() < 0:
            return TriSurface(self.vertices, self.faces[:, ::-1], self.source)
        return self

    def repaired(self, weld_tol_mm: float = 1e-6) -> "TriSurface":
        """Weld, then check closed and manifold (MeshError if not), orient outward."""
        s = self.welded(weld_tol_mm)
        b, n, i = s.edge_counts()
        if b or n or i:
            raise MeshError(
                f"surface {self.source or ''} is not a closed manifold after welding vertices "
                f"closer than {weld_tol_mm} mm: {b} boundary edges, {n} non-manifold edges, "
                f"{i} inconsistently oriented edges; close the holes (or raise weld_tol_mm) first")
        s = s.oriented_outward()
        if s.signed_volume() <= 0:
            raise MeshError("surface encloses no volume")
        return s

    def components(self) -> list:
        """The connected components as separate surfaces, largest volume first."""
        n = len(self.vertices)
        f = self.faces
        e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]]])
        g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        nc, lab = connected_components(g, directed=False)
        out = []
        for c in range(nc):
            vmask = lab == c
            fmask = vmask[f[:, 0]]
            if not fmask.any():
                continue
            remap = np.cumsum(vmask) - 1
            out.append(TriSurface(self.vertices[vmask], remap[f[fmask]], self.source))
        out.sort(key=lambda s: -abs(s.signed_volume()))
        return out

    def transformed(self, rotation=None, translation=None, scale: float = 1.0) -> "TriSurface":
        """x' = scale * R x + t (R must be a rotation; faces re-oriented if det < 0)."""
        R = np.eye(3) if rotation is None else np.asarray(rotation, float)
        v = scale * self.vertices @ R.T
        if translation is not None:
            v = v + np.asarray(translation, float)
        faces = self.faces if np.linalg.det(R) > 0 else self.faces[:, ::-1]
        return TriSurface(v, faces, self.source)


# ---------------------------------------------------------------------------- reading
def _scale_for_units(extent_mm_guess: float, units: str, source: str) -> float:
    lo, hi = PLAUSIBLE_EXTENT_MM
    if units == "auto":
        if extent_mm_guess < 1.0:
            scale = 1000.0
        elif lo <= extent_mm_guess <= hi:
            scale = 1.0
        else:
            raise InputError(
                f"{source}: cannot tell the units of a surface {extent_mm_guess:.4g} units across "
                f"(a vertebra or spine is {lo:g}-{hi:g} mm): pass units='mm', 'cm' or 'm'")
    else:
        if units not in UNIT_SCALE:
            raise InputError(f"units must be 'auto' or one of {sorted(UNIT_SCALE)}, got {units!r}")
        scale = UNIT_SCALE[units]
    ext = extent_mm_guess * scale
    if not lo <= ext <= hi:
        raise InputError(
            f"{source}: the surface is {ext:.4g} mm across in units {units!r}: a vertebra or spine "
            f"is {lo:g}-{hi:g} mm; is it {'1000 times too small' if ext < lo else 'too large'}? "
            "Check the units")
    return scale


def read_surface(path, *, units: str = "auto", weld_tol_mm: float = 1e-6,
                 repair: bool = True) -> TriSurface:
    """A closed triangle surface from STL, OBJ, PLY, VTK, VTU or OFF (meshio).

    units : 'auto' (see module doc), 'mm', 'cm', 'm' or 'um'; coordinates are
    returned in mm.  repair : weld and check (:meth:`TriSurface.repaired`)."""
    import meshio
    path = Path(path)
    _check_surface_file(path)
    try:
        m = meshio.read(str(path))
    except SystemExit:                 # meshio exits on some empty or truncated files
        raise MeshError(f"cannot read surface {path}: the file is empty, truncated or not a "
                        f"{path.suffix or 'surface'} file") from None
    except Exception as exc:
        raise MeshError(f"cannot read surface {path}: {type(exc).__name__}: "
                        f"{str(exc)[:200]}") from None
    try:
        cells = [(c.type, np.asarray(c.data)) for c in m.cells]
        points = np.asarray(m.points, float)
    except (TypeError, ValueError) as exc:
        raise MeshError(f"cannot read surface {path}: {exc}") from None
    if points.ndim != 2 or points.shape[1] < 3:
        raise MeshError(f"{path}: points must be 3-D, got shape {points.shape}")
    for t, d in cells:
        if t in ("triangle", "quad") and d.size and (d.min() < 0 or d.max() >= len(points)):
            raise MeshError(f"{path}: {t} cells refer to points outside [0, {len(points) - 1}] "
                            "(truncated file?)")
    tris = [d for t, d in cells if t == "triangle"]
    quads = [d for t, d in cells if t == "quad"]
    faces = list(tris) + [q[:, [0, 1, 2]] for q in quads] + [q[:, [0, 2, 3]] for q in quads]
    if not faces:
        raise MeshError(f"{path} holds no triangles (cell types: {[t for t, _ in cells]})")
    s = TriSurface(points[:, :3], np.concatenate(faces), str(path))
    return _finish(s, units, weld_tol_mm, repair)


def read_surface_csv(vertices_csv, faces_csv, *, units: str = "auto", one_based: str | bool = "auto",
                     weld_tol_mm: float = 1e-6, repair: bool = True) -> TriSurface:
    """A surface from two CSV files: 'x,y,z' rows and 'i,j,k' rows (0- or
    1-based; 'auto' takes 1-based when no index is 0)."""
    v = _read_csv_table(vertices_csv, float, "vertices (x,y,z rows)")
    f = _read_csv_table(faces_csv, np.int64, "faces (i,j,k rows)")
    if one_based == "auto":
        one_based = f.min() >= 1
    if one_based:
        f = f - 1
    s = TriSurface(v, f, f"{vertices_csv}")
    return _finish(s, units, weld_tol_mm, repair)


#: Largest surface file read [bytes].
MAX_SURFACE_BYTES = 1 << 30
#: A surface must lie within this distance of the origin [mm] (farther, float rounding
#: spoils volumes and inside tests; move it closer first).
MAX_SURFACE_OFFSET_MM = 1e5


def _check_surface_file(path: Path) -> None:
    from biomech.io.files import check_input_file
    st = check_input_file(path, what="surface file", max_bytes=MAX_SURFACE_BYTES)  # InputError
    if st.st_size == 0:
        raise MeshError(f"{path}: the surface file is empty")


def _read_csv_table(path, dtype, what: str) -> np.ndarray:
    """A CSV table of 3 columns; every failure a MeshError naming the file."""
    path = Path(path)
    _check_surface_file(path)
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
    except (ValueError, UnicodeDecodeError, OverflowError, IndexError) as exc:
        raise MeshError(f"{path}: cannot read the {what}: {str(exc)[:200]}") from None
    if t.ndim != 2 or t.shape[1] != 3 or len(t) == 0:
        raise MeshError(f"{path}: the {what} must be rows of 3 numbers, got shape {t.shape}")
    if dtype is float and not np.all(np.isfinite(t)):
        raise MeshError(f"{path}: the {what} hold NaN or infinite values")
    return t


def _finish(s, units, weld_tol_mm, repair):
    scale = _scale_for_units(float(s.extent.max()), units, s.source)
    if scale != 1.0:
        s = TriSurface(s.vertices * scale, s.faces, s.source)
    if float(np.abs(s.vertices).max()) > MAX_SURFACE_OFFSET_MM:
        raise MeshError(f"{s.source}: the surface lies {float(np.abs(s.vertices).max()):.3g} mm "
                        f"from the origin; at most {MAX_SURFACE_OFFSET_MM:g} mm is accepted "
                        "(move it near the origin first)")
    if not repair:
        return s
    return s.repaired(weld_tol_mm)


# ---------------------------------------------------------------------------- voxelisation
def inside_mask(surface: TriSurface, origin, h: float, shape) -> np.ndarray:
    """(nx, ny, nz) bool: voxel centres inside the closed surface.

    Exact parity test along z columns: every triangle is intersected with the
    vertical lines through the voxel centres it covers; a centre is inside when
    an odd number of crossings lies below it.  The columns are shifted by a
    tiny irrational offset so no line passes exactly through an edge or vertex."""
    origin = np.asarray(origin, float)
    nx, ny, nz = (int(v) for v in shape)
    eps = h * np.array([1.234567e-7, 2.345671e-7])
    V = surface.vertices
    F = surface.faces
    a, b, c = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    # column index ranges covered by each triangle's xy box
    gx = lambda x: (x - origin[0] - eps[0]) / h - 0.5      # noqa: E731
    gy = lambda y: (y - origin[1] - eps[1]) / h - 0.5      # noqa: E731
    xmin = np.minimum(np.minimum(a[:, 0], b[:, 0]), c[:, 0])
    xmax = np.maximum(np.maximum(a[:, 0], b[:, 0]), c[:, 0])
    ymin = np.minimum(np.minimum(a[:, 1], b[:, 1]), c[:, 1])
    ymax = np.maximum(np.maximum(a[:, 1], b[:, 1]), c[:, 1])
    i0 = np.clip(np.ceil(gx(xmin)).astype(np.int64), 0, nx)
    i1 = np.clip(np.floor(gx(xmax)).astype(np.int64), -1, nx - 1)
    j0 = np.clip(np.ceil(gy(ymin)).astype(np.int64), 0, ny)
    j1 = np.clip(np.floor(gy(ymax)).astype(np.int64), -1, ny - 1)
    ni = np.maximum(i1 - i0 + 1, 0)
    nj = np.maximum(j1 - j0 + 1, 0)
    count = ni * nj
    tri = np.repeat(np.arange(len(F)), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    ii = i0[tri] + k // nj[tri]
    jj = j0[tri] + k % nj[tri]
    px = origin[0] + (ii + 0.5) * h + eps[0]
    py = origin[1] + (jj + 0.5) * h + eps[1]
    A, B, C = a[tri], b[tri], c[tri]
    d = (B[:, 0] - A[:, 0]) * (C[:, 1] - A[:, 1]) - (C[:, 0] - A[:, 0]) * (B[:, 1] - A[:, 1])
    ok = np.abs(d) > 0
    w1 = ((px - A[:, 0]) * (C[:, 1] - A[:, 1]) - (C[:, 0] - A[:, 0]) * (py - A[:, 1]))
    w2 = ((B[:, 0] - A[:, 0]) * (py - A[:, 1]) - (px - A[:, 0]) * (B[:, 1] - A[:, 1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        u = w1 / d
        v = w2 / d
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1)
    zc = A[hit, 2] + u[hit] * (B[hit, 2] - A[hit, 2]) + v[hit] * (C[hit, 2] - A[hit, 2])
    # first voxel centre above the crossing
    kz = np.clip(np.ceil((zc - origin[2]) / h - 0.5).astype(np.int64), 0, nz)
    counts = np.zeros((nx, ny, nz + 1), np.uint8)
    np.add.at(counts, (ii[hit], jj[hit], kz), 1)
    parity = np.bitwise_xor.accumulate(counts[:, :, :nz] & 1, axis=2)
    return parity.astype(bool)


def _point_triangle_distance(p, a, b, c):
    """Exact distance from points p (n, 3) to triangles (a, b, c) (n, 3 each)
    (Ericson, Real-Time Collision Detection, 5.1.5), vectorised."""
    ab, ac, ap = b - a, c - a, p - a
    d1 = np.einsum("ij,ij->i", ab, ap)
    d2 = np.einsum("ij,ij->i", ac, ap)
    bp = p - b
    d3 = np.einsum("ij,ij->i", ab, bp)
    d4 = np.einsum("ij,ij->i", ac, bp)
    cp = p - c
    d5 = np.einsum("ij,ij->i", ab, cp)
    d6 = np.einsum("ij,ij->i", ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1.0 / (va + vb + vc)
        v = vb * denom
        w = vc * denom
        q = a + ab * v[:, None] + ac * w[:, None]                    # face region
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    conds = [
        (d1 <= 0) & (d2 <= 0), (d3 >= 0) & (d4 <= d3), (d6 >= 0) & (d5 <= d6),
        (vc <= 0) & (d1 >= 0) & (d3 <= 0), (vb <= 0) & (d2 >= 0) & (d6 <= 0),
        (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)]
    choices = [a, b, c, a + ab * t_ab[:, None], a + ac * t_ac[:, None],
               b + (c - b) * t_bc[:, None]]
    done = np.zeros(len(p), bool)
    for cond, ch in zip(conds, choices):
        sel = cond & ~done
        q[sel] = ch[sel]
        done |= sel
    return np.linalg.norm(p - q, axis=1)


class SurfaceDistance:
    """Exact unsigned distance [mm] from points to a triangle surface and the
    normal of the nearest triangle (k nearest triangles by centroid checked).

    ``__call__(p, max_distance=None)``: points farther than ``max_distance``
    (proved by the centroid distance minus the largest triangle radius) get inf
    without the exact computation."""

    def __init__(self, surface: TriSurface, k: int = 8):
        V, F = surface.vertices, surface.faces
        self.a, self.b, self.c = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
        n = np.cross(self.b - self.a, self.c - self.a)
        self.normals = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)
        cen = (self.a + self.b + self.c) / 3.0
        self.tree = cKDTree(cen)
        self.r_max = float(max(np.linalg.norm(self.a - cen, axis=1).max(),
                               np.linalg.norm(self.b - cen, axis=1).max(),
                               np.linalg.norm(self.c - cen, axis=1).max()))
        self.k = min(k, len(F))

    def __call__(self, p, max_distance: float | None = None, chunk: int = 200_000):
        p = np.asarray(p, float)
        dist = np.full(len(p), np.inf)
        near = np.zeros(len(p), np.int64)
        todo = np.arange(len(p))
        if max_distance is not None:
            d0, _ = self.tree.query(p, k=1, distance_upper_bound=max_distance + self.r_max)
            todo = np.flatnonzero(np.isfinite(d0))
        for s in range(0, len(todo), chunk):
            sel = todo[s:s + chunk]
            q = p[sel]
            _, idx = self.tree.query(q, k=self.k)
            idx = idx.reshape(len(q), -1)
            best = np.full(len(q), np.inf)
            arg = np.zeros(len(q), np.int64)
            for j in range(idx.shape[1]):
                t = idx[:, j]
                d = _point_triangle_distance(q, self.a[t], self.b[t], self.c[t])
                better = d < best
                best[better] = d[better]
                arg[better] = t[better]
            dist[sel] = best
            near[sel] = arg
        return dist, near
