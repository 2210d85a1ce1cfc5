"""Slow, obvious NumPy twins of the compiled kernels (the STUMPY habit).

Written from the textbook B-matrix form, independently of ``kernels/``
(Zienkiewicz, Taylor & Zhu, "The Finite Element Method: Its Basis and
Fundamentals", 7th ed., 2013, ch. 6 and 9; Hughes, "The Finite Element Method",
2000, sec. 4.5 for B-bar):

    strain (engineering Voigt)  eps = [e_xx, e_yy, e_zz, g_xy, g_yz, g_xz] = B u_e
    stress                      sig = D eps,  D = lam m m^T + mu diag(2,2,2,1,1,1)
    element stiffness           K_e = sum_q w_q det J_q B_q^T D B_q

B is (6, 3n) with columns in interleaved order ``3*a + c`` (node a, component c),
the same DOF convention as biomech.  Everything loops in Python: use small meshes.

Also here: small test meshes (structured, perturbed) shared by the twin and the
scikit-fem tests.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# ------------------------------------------------------------------ constitutive
M_VOIGT = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])


def elasticity_matrix(lam: float, mu: float) -> np.ndarray:
    """Isotropic D (6, 6) [MPa] for engineering-shear Voigt strain."""
    return lam * np.outer(M_VOIGT, M_VOIGT) + mu * np.diag([2.0, 2.0, 2.0, 1.0, 1.0, 1.0])


def lame_from_young(E, nu):
    """(lam, mu) [MPa] from Young's modulus E [MPa] and Poisson's ratio nu [-]."""
    E = np.asarray(E, float)
    nu = np.asarray(nu, float)
    return E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))


def b_matrix(dN_dx: np.ndarray) -> np.ndarray:
    """Strain-displacement matrix B (6, 3n) from physical gradients dN_dx (n, 3)."""
    n = dN_dx.shape[0]
    B = np.zeros((6, 3 * n))
    for a in range(n):
        dx, dy, dz = dN_dx[a]
        ux, uy, uz = 3 * a, 3 * a + 1, 3 * a + 2
        B[0, ux] = dx
        B[1, uy] = dy
        B[2, uz] = dz
        B[3, ux] = dy          # g_xy = du/dy + dv/dx
        B[3, uy] = dx
        B[4, uy] = dz          # g_yz = dv/dz + dw/dy
        B[4, uz] = dy
        B[5, ux] = dz          # g_xz = du/dz + dw/dx
        B[5, uz] = dx
    return B


def jacobian_gradients(dN_dxi: np.ndarray, xe: np.ndarray):
    """(dN_dx (n, 3), det J) from natural derivatives dN_dxi (n, 3) and nodes xe (n, 3).

    J = dx/dxi (3 x 3, J[i, j] = d x_i / d xi_j); dN/dx = dN/dxi J^-1.
    """
    J = xe.T @ dN_dxi
    return dN_dxi @ np.linalg.inv(J), np.linalg.det(J)


# ------------------------------------------------------------------ hex8
#: natural coordinates of the hex8 nodes, VTK / Abaqus C3D8 order
HEX8_NODES_NATURAL = np.array([
    [-1, -1, -1], [+1, -1, -1], [+1, +1, -1], [-1, +1, -1],
    [-1, -1, +1], [+1, -1, +1], [+1, +1, +1], [-1, +1, +1]], dtype=float)


def hex8_shape_derivatives(xi: float, eta: float, zeta: float) -> np.ndarray:
    """dN_a/d(xi, eta, zeta) (8, 3) of N_a = (1 + xi xi_a)(1 + eta eta_a)(1 + zeta zeta_a) / 8."""
    out = np.zeros((8, 3))
    for a, (xa, ya, za) in enumerate(HEX8_NODES_NATURAL):
        fx, fy, fz = 1 + xi * xa, 1 + eta * ya, 1 + zeta * za
        out[a] = [xa * fy * fz / 8, ya * fx * fz / 8, za * fx * fy / 8]
    return out


def gauss_2x2x2():
    """Points (8, 3) and weights (8,) of the 2x2x2 Gauss-Legendre rule on [-1, 1]^3."""
    g = 1.0 / np.sqrt(3.0)
    pts = np.array([[x, y, z] for x in (-g, g) for y in (-g, g) for z in (-g, g)])
    return pts, np.ones(8)


def hex8_stiffness_twin(xe, lam, mu, bbar=False) -> np.ndarray:
    """Hex8 stiffness (24, 24) [N/mm], 2x2x2 Gauss; B-bar by mean dilatation.

    With ``bbar`` the volumetric part of B, (1/3) m (m^T B), is replaced by its
    volume average (1/3) m (mean of m^T B over the element).
    """
    xe = np.asarray(xe, float)
    D = elasticity_matrix(lam, mu)
    pts, wts = gauss_2x2x2()
    Bs, dets = [], []
    for (xi, eta, zeta) in pts:
        G, det = jacobian_gradients(hex8_shape_derivatives(xi, eta, zeta), xe)
        Bs.append(b_matrix(G))
        dets.append(det)
    dV = np.asarray(dets) * wts
    if bbar:
        div_rows = [M_VOIGT @ B for B in Bs]                       # (24,) each: m^T B
        div_mean = sum(d * v for d, v in zip(div_rows, dV)) / dV.sum()
        Bs = [B + np.outer(M_VOIGT, div_mean - div) / 3.0 for B, div in zip(Bs, div_rows)]
    return sum(v * B.T @ D @ B for B, v in zip(Bs, dV))


# ------------------------------------------------------------------ tet4
def tet4_stiffness_twin(xe, lam, mu) -> np.ndarray:
    """Linear tet (12, 12) [N/mm] from volume coordinates: [1 x y z] C = I."""
    xe = np.asarray(xe, float)
    A = np.hstack([np.ones((4, 1)), xe])          # rows: node a -> (1, x_a, y_a, z_a)
    C = np.linalg.inv(A)                          # L_a(x) = C[0, a] + C[1:, a] . x
    G = C[1:, :].T                                # (4, 3) dL_a/dx
    volume = np.linalg.det(A) / 6.0
    B = b_matrix(G)
    return volume * B.T @ elasticity_matrix(lam, mu) @ B


# ------------------------------------------------------------------ tet10
#: C3D10 mid-edge nodes 5..10 sit on edges (1-2, 2-3, 3-1, 1-4, 2-4, 3-4), 0-based here
TET10_EDGES = ((0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3))


def tet_gauss4():
    """4-point rule on the unit tetrahedron (degree 2): points (4, 3) in (r, s, t), weights."""
    a = (5.0 + 3.0 * np.sqrt(5.0)) / 20.0
    b = (5.0 - np.sqrt(5.0)) / 20.0
    pts = np.array([[b, b, b], [a, b, b], [b, a, b], [b, b, a]])
    return pts, np.full(4, 1.0 / 24.0)


def tet10_shape_derivatives(r: float, s: float, t: float) -> np.ndarray:
    """dN/d(r, s, t) (10, 3) of the quadratic tet in C3D10 order.

    Barycentric L = (1 - r - s - t, r, s, t); corners N_i = L_i (2 L_i - 1),
    edge (i, j): N = 4 L_i L_j.  Chain rule through dL/d(r, s, t).
    """
    L = np.array([1.0 - r - s - t, r, s, t])
    dL = np.array([[-1.0, -1.0, -1.0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    dN_dL = np.zeros((10, 4))
    for i in range(4):
        dN_dL[i, i] = 4.0 * L[i] - 1.0
    for m, (i, j) in enumerate(TET10_EDGES):
        dN_dL[4 + m, i] = 4.0 * L[j]
        dN_dL[4 + m, j] = 4.0 * L[i]
    return dN_dL @ dL


def tet10_stiffness_twin(xe, lam, mu) -> np.ndarray:
    """Isoparametric tet10 (30, 30) [N/mm], 4-point rule (curved edges allowed)."""
    xe = np.asarray(xe, float)
    D = elasticity_matrix(lam, mu)
    pts, wts = tet_gauss4()
    K = np.zeros((30, 30))
    for (r, s, t), w in zip(pts, wts):
        G, det = jacobian_gradients(tet10_shape_derivatives(r, s, t), xe)
        B = b_matrix(G)
        K += w * det * B.T @ D @ B
    return K


def element_stiffness_twin(kind: str, xe, lam, mu, bbar=False) -> np.ndarray:
    if kind == "hex8":
        return hex8_stiffness_twin(xe, lam, mu, bbar)
    if kind == "tet4":
        return tet4_stiffness_twin(xe, lam, mu)
    if kind == "tet10":
        return tet10_stiffness_twin(xe, lam, mu)
    raise ValueError(f"unknown element kind {kind!r}")


# ------------------------------------------------------------------ global operations
def element_dofs(cell) -> np.ndarray:
    """Interleaved global DOFs (3n,) of an element's nodes."""
    cell = np.asarray(cell)
    return (3 * cell[:, None] + np.arange(3)).ravel()


def assemble_twin(points, cells, kind, lam, mu, bbar=False) -> sp.csr_matrix:
    """Global K (CSR, N/mm) by a Python loop over elements and a COO sum.

    lam, mu : (n_el,) [MPa].
    """
    rows, cols, vals = [], [], []
    for e, cell in enumerate(cells):
        Ke = element_stiffness_twin(kind, points[cell], lam[e], mu[e], bbar)
        dofs = element_dofs(cell)
        rows.append(np.repeat(dofs, dofs.size))
        cols.append(np.tile(dofs, dofs.size))
        vals.append(Ke.ravel())
    n = 3 * len(points)
    return sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, n)).tocsr()


def matvec_twin(points, cells, kind, lam, mu, x, bbar=False) -> np.ndarray:
    """y = K x element by element (y_e += K_e x_e), without a global matrix."""
    y = np.zeros(3 * len(points))
    for e, cell in enumerate(cells):
        dofs = element_dofs(cell)
        y[dofs] += element_stiffness_twin(kind, points[cell], lam[e], mu[e], bbar) @ x[dofs]
    return y


def centroid_strains_twin(points, cells, kind, u) -> np.ndarray:
    """Small strain at each element centroid (n_el, 6), tensor Voigt
    [xx, yy, zz, xy, yz, xz] (shear halved from B u's engineering shear)."""
    u = np.asarray(u, float).ravel()
    out = np.zeros((len(cells), 6))
    for e, cell in enumerate(cells):
        xe = points[cell]
        if kind == "hex8":
            G, _ = jacobian_gradients(hex8_shape_derivatives(0.0, 0.0, 0.0), xe)
        elif kind == "tet4":
            G = np.linalg.inv(np.hstack([np.ones((4, 1)), xe]))[1:, :].T
        else:
            G, _ = jacobian_gradients(tet10_shape_derivatives(0.25, 0.25, 0.25), xe)
        eng = b_matrix(G) @ u[element_dofs(cell)]
        out[e] = eng * np.array([1, 1, 1, 0.5, 0.5, 0.5])
    return out


def rigid_modes_twin(points) -> np.ndarray:
    """(3n, 6) rigid-body displacements: 3 translations, 3 infinitesimal rotations."""
    x = points - points.mean(axis=0)
    R = np.zeros((3 * len(points), 6))
    for c in range(3):
        R[c::3, c] = 1.0
    for k, axis in enumerate(np.eye(3)):
        R[:, 3 + k] = np.cross(axis, x).ravel()     # omega x r
    return R


def relative_difference(A, B) -> float:
    """||A - B||_F / ||B||_F for dense or sparse matrices / vectors."""
    if sp.issparse(A) or sp.issparse(B):
        A = sp.csr_matrix(A)
        B = sp.csr_matrix(B)
        return sp.linalg.norm(A - B) / sp.linalg.norm(B)
    A = np.asarray(A)
    B = np.asarray(B)
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


# ------------------------------------------------------------------ test meshes
def random_hex(rng, h=1.0, distortion=0.2) -> np.ndarray:
    """A distorted hex8 (8, 3) [mm]: a cube of side h, each corner moved by up to
    ``distortion * h``, then rotated and shifted at random (det J stays > 0 for
    distortion <= 0.25)."""
    x = (HEX8_NODES_NATURAL + 1) / 2 * h + rng.uniform(-distortion, distortion, (8, 3)) * h
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(Q) < 0:
        Q[:, 0] *= -1
    return x @ Q.T + rng.uniform(-5, 5, 3)


def random_tet4(rng, h=1.0, distortion=0.15) -> np.ndarray:
    """A random right-handed tet (4, 3) [mm]: a regular tet of edge ~h with each
    corner moved by up to ``distortion * h``, rotated and shifted at random."""
    regular = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) * h / np.sqrt(8)
    x = regular + rng.uniform(-distortion, distortion, (4, 3)) * h
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(Q) < 0:
        Q[:, 0] *= -1
    x = x @ Q.T + rng.uniform(-5, 5, 3)
    if np.linalg.det(x[1:] - x[0]) < 0:
        x[[1, 2]] = x[[2, 1]]
    return x


def tet10_from_corners(corners, rng=None, curvature=0.0) -> np.ndarray:
    """Tet10 nodes (10, 3): corners, then C3D10 mid-edge nodes moved off the straight
    edge by up to ``curvature`` times the edge length (curved edges)."""
    mids = []
    for i, j in TET10_EDGES:
        m = 0.5 * (corners[i] + corners[j])
        if rng is not None and curvature:
            m = m + rng.uniform(-curvature, curvature, 3) * np.linalg.norm(corners[j] - corners[i])
        mids.append(m)
    return np.vstack([corners, mids])


def grid_hex_mesh(n=(2, 2, 2), h=1.0, rng=None, perturb=0.0):
    """Structured hex8 mesh (points, cells) in VTK order; interior nodes moved by up
    to ``perturb * h`` when rng is given."""
    nx, ny, nz = n
    ijk = np.stack(np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), np.arange(nz + 1),
                               indexing="ij"), axis=-1).reshape(-1, 3)
    points = ijk * float(h)
    nid = lambda i, j, k: (i * (ny + 1) + j) * (nz + 1) + k  # noqa: E731
    offs = ((HEX8_NODES_NATURAL + 1) / 2).astype(int)
    cells = np.array([[nid(i + a, j + b, k + c) for a, b, c in offs]
                      for i in range(nx) for j in range(ny) for k in range(nz)])
    if rng is not None and perturb:
        interior = np.all((ijk > 0) & (ijk < np.array(n)), axis=1)
        points = points.astype(float)
        points[interior] += rng.uniform(-perturb, perturb, (interior.sum(), 3)) * h
    return points.astype(float), cells


#: the six tets of the Kuhn (Freudenthal) split of the unit cube: each is the path
#: 0 -> e_i -> e_i + e_j -> (1,1,1) for a permutation (i, j, k)
def _kuhn_tets():
    import itertools
    tets = []
    for perm in itertools.permutations(range(3)):
        path = [np.zeros(3, int)]
        for axis in perm:
            step = path[-1].copy()
            step[axis] = 1
            path.append(step)
        tets.append(path)
    return np.array(tets)          # (6, 4, 3) corner offsets


def grid_tet4_mesh(n=(2, 2, 2), h=1.0, rng=None, perturb=0.0):
    """Structured tet4 mesh (Kuhn split: conforming across cubes), right-handed."""
    nx, ny, nz = n
    points, _ = grid_hex_mesh(n, h, rng, perturb)
    nid = lambda p: (p[0] * (ny + 1) + p[1]) * (nz + 1) + p[2]  # noqa: E731
    cells = []
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                for tet in _kuhn_tets():
                    cells.append([nid(np.array([i, j, k]) + off) for off in tet])
    cells = orient_tets(points, np.array(cells))
    return points, cells


def orient_tets(points, cells) -> np.ndarray:
    """Swap corners 2 and 3 of tets with negative volume (corner columns only)."""
    cells = np.array(cells)
    x = points[cells[:, :4]]
    vol = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), x[:, 3] - x[:, 0])
    neg = vol < 0
    cells[neg, 1], cells[neg, 2] = cells[neg, 2].copy(), cells[neg, 1].copy()
    return cells


def tet10_mesh_from_tet4(points, cells, rng=None, curvature=0.0):
    """Add one mid-edge node per unique edge (C3D10 order), optionally curved
    (shared edges stay conforming)."""
    edge_node = {}
    new_points = [p for p in points]
    out = []
    for cell in cells:
        row = list(cell)
        for i, j in TET10_EDGES:
            key = tuple(sorted((cell[i], cell[j])))
            if key not in edge_node:
                a, b = points[key[0]], points[key[1]]
                m = 0.5 * (a + b)
                if rng is not None and curvature:
                    m = m + rng.uniform(-curvature, curvature, 3) * np.linalg.norm(b - a)
                edge_node[key] = len(new_points)
                new_points.append(m)
            row.append(edge_node[key])
        out.append(row)
    return np.array(new_points), np.array(out)


def gauss_strains_twin(points, cells, kind, u, bbar=False) -> np.ndarray:
    """Small strain at the integration points (n_el, n_q, 6), tensor Voigt.

    Point order: hex8 at g * (natural node coordinates), g = 1/sqrt(3) (the
    Gauss points in the order of the nodes they are nearest to); tet10 the
    4-point rule of ``tet_gauss4``; tet4 one point.  With ``bbar`` (hex8) the
    strain is B-bar u: volumetric part replaced by its volume (det J weighted)
    average, consistent with ``hex8_stiffness_twin``.
    """
    u = np.asarray(u, float).ravel()
    half = np.array([1, 1, 1, 0.5, 0.5, 0.5])
    out = []
    for cell in cells:
        xe, ue = points[cell], u[element_dofs(cell)]
        if kind == "hex8":
            pts = HEX8_NODES_NATURAL / np.sqrt(3.0)
            Bs, dV = [], []
            for p in pts:
                G, det = jacobian_gradients(hex8_shape_derivatives(*p), xe)
                Bs.append(b_matrix(G))
                dV.append(det)
            if bbar:
                div_mean = sum(v * (M_VOIGT @ B) for B, v in zip(Bs, dV)) / sum(dV)
                Bs = [B + np.outer(M_VOIGT, div_mean - M_VOIGT @ B) / 3.0 for B in Bs]
            out.append([B @ ue * half for B in Bs])
        elif kind == "tet4":
            G = np.linalg.inv(np.hstack([np.ones((4, 1)), xe]))[1:, :].T
            out.append([b_matrix(G) @ ue * half])
        else:
            out.append([b_matrix(jacobian_gradients(tet10_shape_derivatives(*p), xe)[0]) @ ue * half
                        for p in tet_gauss4()[0]])
    return np.array(out)


# ------------------------------------------------------------------ multigrid
def gauss_seidel_twin(A, x, b, rows) -> np.ndarray:
    """Plain Gauss-Seidel on A x = b visiting ``rows`` in the given order; a row with
    a zero diagonal is left alone.  Returns the new x (n,)."""
    A = sp.csr_matrix(A)
    x = np.array(x, dtype=float)
    for r in rows:
        lo, hi = A.indptr[r], A.indptr[r + 1]
        d = A[r, r]
        if d != 0:
            x[r] += (b[r] - A.data[lo:hi] @ x[A.indices[lo:hi]]) / d
    return x
