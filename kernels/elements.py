"""Element kernels: shape-function gradients and element stiffness matrices.

Conventions (all element kinds)
-------------------------------
* DOFs are interleaved per node: element DOF ``3*a + c`` is component ``c``
  (x, y, z) of local node ``a``.  Global DOF ``3*i + c`` likewise.
* Isotropic small-strain elasticity with Lamé parameters ``lam``, ``mu`` [MPa].
  The stiffness is written with nodal gradients ``G`` (n_nodes x 3) at a point:

      K[a c, b d] = lam G_ac G_bd + mu (G_ad G_bc + delta_cd G_a . G_b)

  integrated over the element (units N/mm when lengths are mm).
* B-bar (selective reduced integration of the volumetric part): the
  volumetric term uses the element-average gradient ``Gbar``:

      K = kappa V Gbar_ac Gbar_bd
          + mu * int(G_ad G_bc + delta_cd G_a.G_b - 2/3 G_ac G_bd),
      kappa = lam + 2/3 mu

  which does not lock as nu -> 0.5 (Hughes 1980, "Generalization of selective
  integration procedures to anisotropic and nonlinear media", IJNME 15:1413).

Node orders
-----------
* hex8: VTK / Abaqus C3D8 order, natural coordinates
  (-1,-1,-1) (1,-1,-1) (1,1,-1) (-1,1,-1) (-1,-1,1) (1,-1,1) (1,1,1) (-1,1,1).
* tet4: any right-handed order (positive volume).
* tet10: CalculiX / Abaqus C3D10: corners 1-4, then mid-edge nodes on edges
  1-2, 2-3, 3-1, 1-4, 2-4, 3-4.  4-point Gauss rule.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._numba import JIT

HEX8_SIGNS = np.array(
    [[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
     [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=np.float64)

_G = 1.0 / np.sqrt(3.0)
HEX8_GAUSS = HEX8_SIGNS * _G          # (8, 3) 2x2x2 Gauss points, weight 1 each

_TA = 0.5854101966249685
_TB = 0.1381966011250105
TET_GAUSS4 = np.array([[_TB, _TB, _TB], [_TA, _TB, _TB], [_TB, _TA, _TB], [_TB, _TB, _TA]])
TET_GAUSS4_W = np.full(4, 1.0 / 24.0)   # reference tet volume 1/6

# Element kinds understood by the assembly kernels.
KIND_HEX8 = 0
KIND_TET4 = 1
KIND_TET10 = 2
NODES_PER_KIND = {KIND_HEX8: 8, KIND_TET4: 4, KIND_TET10: 10}


# ---------------------------------------------------------------- shape functions
@njit(**JIT)
def hex8_dshape(xi, eta, zeta, out):
    """Natural derivatives of the hex8 shape functions, out (8, 3)."""
    for a in range(8):
        sx = HEX8_SIGNS[a, 0]
        sy = HEX8_SIGNS[a, 1]
        sz = HEX8_SIGNS[a, 2]
        out[a, 0] = 0.125 * sx * (1.0 + sy * eta) * (1.0 + sz * zeta)
        out[a, 1] = 0.125 * sy * (1.0 + sx * xi) * (1.0 + sz * zeta)
        out[a, 2] = 0.125 * sz * (1.0 + sx * xi) * (1.0 + sy * eta)


@njit(**JIT)
def tet10_dshape(r, s, t, out):
    """Natural derivatives of the tet10 shape functions, out (10, 3).

    Barycentric L0 = 1-r-s-t, L1 = r, L2 = s, L3 = t.
    """
    L0 = 1.0 - r - s - t
    L = (L0, r, s, t)
    # dL/d(r,s,t)
    dL = ((-1.0, -1.0, -1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    for i in range(4):
        for k in range(3):
            out[i, k] = (4.0 * L[i] - 1.0) * dL[i][k]
    edges = ((0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3))
    for m in range(6):
        i = edges[m][0]
        j = edges[m][1]
        for k in range(3):
            out[4 + m, k] = 4.0 * (dL[i][k] * L[j] + L[i] * dL[j][k])


@njit(**JIT)
def _det3(J):
    return (J[0, 0] * (J[1, 1] * J[2, 2] - J[1, 2] * J[2, 1])
            - J[0, 1] * (J[1, 0] * J[2, 2] - J[1, 2] * J[2, 0])
            + J[0, 2] * (J[1, 0] * J[2, 1] - J[1, 1] * J[2, 0]))


@njit(**JIT)
def physical_gradients(dN, xe, G):
    """Physical gradients G = dN J^-T for one point; returns det J.

    dN : (n, 3) natural derivatives; xe : (n, 3) node coordinates [mm];
    G : (n, 3) output [1/mm].  J[i, j] = d x_j / d xi_i.
    """
    n = dN.shape[0]
    J = np.zeros((3, 3))
    for a in range(n):
        for i in range(3):
            for j in range(3):
                J[i, j] += dN[a, i] * xe[a, j]
    det = _det3(J)
    if det == 0.0:              # degenerate: no inverse; callers check det
        G[:, :] = 0.0
        return det
    inv = np.empty((3, 3))
    inv[0, 0] = (J[1, 1] * J[2, 2] - J[1, 2] * J[2, 1]) / det
    inv[0, 1] = (J[0, 2] * J[2, 1] - J[0, 1] * J[2, 2]) / det
    inv[0, 2] = (J[0, 1] * J[1, 2] - J[0, 2] * J[1, 1]) / det
    inv[1, 0] = (J[1, 2] * J[2, 0] - J[1, 0] * J[2, 2]) / det
    inv[1, 1] = (J[0, 0] * J[2, 2] - J[0, 2] * J[2, 0]) / det
    inv[1, 2] = (J[0, 2] * J[1, 0] - J[0, 0] * J[1, 2]) / det
    inv[2, 0] = (J[1, 0] * J[2, 1] - J[1, 1] * J[2, 0]) / det
    inv[2, 1] = (J[0, 1] * J[2, 0] - J[0, 0] * J[2, 1]) / det
    inv[2, 2] = (J[0, 0] * J[1, 1] - J[0, 1] * J[1, 0]) / det
    # G[a, j] = sum_i dN[a, i] * inv[j, i]  (dN/dx = J^-1 dN/dxi)
    for a in range(n):
        for j in range(3):
            s = 0.0
            for i in range(3):
                s += inv[j, i] * dN[a, i]
            G[a, j] = s
    return det


@njit(**JIT)
def point_stiffness_add(G, lam_w, mu_w, Ke):
    """Ke += lam_w G_ac G_bd + mu_w (G_ad G_bc + delta_cd G_a.G_b), node blocks
    b >= a only (the element routines mirror the lower blocks once at the end)."""
    n = G.shape[0]
    for a in range(n):
        for b in range(a, n):
            gg = G[a, 0] * G[b, 0] + G[a, 1] * G[b, 1] + G[a, 2] * G[b, 2]
            for c in range(3):
                for d in range(3):
                    v = lam_w * G[a, c] * G[b, d] + mu_w * G[a, d] * G[b, c]
                    if c == d:
                        v += mu_w * gg
                    Ke[3 * a + c, 3 * b + d] += v


@njit(**JIT)
def _add_volumetric_outer(Gbar, scale, Ke):
    """Ke += scale * Gbar_ac Gbar_bd (the B-bar volumetric term), blocks b >= a."""
    n = Gbar.shape[0]
    for a in range(n):
        for b in range(a, n):
            for c in range(3):
                for d in range(3):
                    Ke[3 * a + c, 3 * b + d] += scale * Gbar[a, c] * Gbar[b, d]


@njit(**JIT)
def _mirror_lower_blocks(Ke):
    """Copy the node blocks above the diagonal to below it (K is symmetric)."""
    n = Ke.shape[0] // 3
    for a in range(n):
        for b in range(a + 1, n):
            for c in range(3):
                for d in range(3):
                    Ke[3 * b + d, 3 * a + c] = Ke[3 * a + c, 3 * b + d]


# ---------------------------------------------------------------- element matrices
@njit(**JIT)
def hex8_stiffness(xe, lam, mu, bbar, Ke):
    """Isoparametric hex8 stiffness, 2x2x2 Gauss, into Ke (24, 24) [N/mm].

    xe : (8, 3) node coordinates [mm]; lam, mu : Lamé parameters [MPa];
    bbar : use the B-bar volumetric term.  Returns the minimum det J over the
    Gauss points (<= 0 means an inverted or degenerate element).
    """
    Ke[:, :] = 0.0
    dN = np.empty((8, 3))
    G = np.empty((8, 3))
    Gbar = np.zeros((8, 3))
    vol = 0.0
    detmin = np.inf
    for q in range(8):
        hex8_dshape(HEX8_GAUSS[q, 0], HEX8_GAUSS[q, 1], HEX8_GAUSS[q, 2], dN)
        det = physical_gradients(dN, xe, G)
        if det < detmin:
            detmin = det
        if bbar:
            # deviatoric: mu (D0 - 2/3 m m^T) with full integration
            point_stiffness_add(G, -2.0 / 3.0 * mu * det, mu * det, Ke)
            for a in range(8):
                for k in range(3):
                    Gbar[a, k] += G[a, k] * det
            vol += det
        else:
            point_stiffness_add(G, lam * det, mu * det, Ke)
    if bbar:
        for a in range(8):
            for k in range(3):
                Gbar[a, k] /= vol
        _add_volumetric_outer(Gbar, (lam + 2.0 / 3.0 * mu) * vol, Ke)
    _mirror_lower_blocks(Ke)
    return detmin


@njit(**JIT)
def tet4_stiffness(xe, lam, mu, Ke):
    """Linear tet4 stiffness into Ke (12, 12) [N/mm]; returns 6 x volume (det J)."""
    Ke[:, :] = 0.0
    dN = np.array([[-1.0, -1.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    G = np.empty((4, 3))
    det = physical_gradients(dN, xe, G)
    w = det / 6.0
    point_stiffness_add(G, lam * w, mu * w, Ke)
    _mirror_lower_blocks(Ke)
    return det


@njit(**JIT)
def tet10_stiffness(xe, lam, mu, Ke):
    """Quadratic tet10 stiffness (4-point rule) into Ke (30, 30) [N/mm].

    Returns the minimum det J over the Gauss points.
    """
    Ke[:, :] = 0.0
    dN = np.empty((10, 3))
    G = np.empty((10, 3))
    detmin = np.inf
    for q in range(4):
        tet10_dshape(TET_GAUSS4[q, 0], TET_GAUSS4[q, 1], TET_GAUSS4[q, 2], dN)
        det = physical_gradients(dN, xe, G)
        if det < detmin:
            detmin = det
        w = TET_GAUSS4_W[q] * det
        point_stiffness_add(G, lam * w, mu * w, Ke)
    _mirror_lower_blocks(Ke)
    return detmin


@njit(**JIT)
def element_stiffness(kind, xe, lam, mu, bbar, Ke):
    """Dispatch on the element kind (KIND_HEX8, KIND_TET4, KIND_TET10)."""
    if kind == 0:
        return hex8_stiffness(xe, lam, mu, bbar, Ke)
    elif kind == 1:
        return tet4_stiffness(xe, lam, mu, Ke)
    else:
        return tet10_stiffness(xe, lam, mu, Ke)


@njit(**JIT)
def element_min_jacobian(kind, coords, conn, out, include_corners=True):
    """Minimum det J over the integration points of every element, out (n_el,).

    coords : (n_nodes, 3) [mm]; conn : (n_el, n_per) node indices.
    include_corners : hex8 also checks det J at the 8 corners (a strongly
    distorted hex can be positive at the Gauss points only).
    Zero or negative values mark inverted or degenerate elements.
    """
    n_per = conn.shape[1]
    xe = np.empty((n_per, 3))
    dN = np.empty((n_per, 3))
    G = np.empty((n_per, 3))
    for e in range(conn.shape[0]):
        for a in range(n_per):
            for k in range(3):
                xe[a, k] = coords[conn[e, a], k]
        m = np.inf
        if kind == 0:
            for q in range(8):
                hex8_dshape(HEX8_GAUSS[q, 0], HEX8_GAUSS[q, 1], HEX8_GAUSS[q, 2], dN)
                m = min(m, physical_gradients(dN, xe, G))
            for q in range(8 if include_corners else 0):
                hex8_dshape(HEX8_SIGNS[q, 0], HEX8_SIGNS[q, 1], HEX8_SIGNS[q, 2], dN)
                m = min(m, physical_gradients(dN, xe, G))
        elif kind == 1:
            dN[0, 0] = -1.0; dN[0, 1] = -1.0; dN[0, 2] = -1.0
            dN[1, 0] = 1.0; dN[1, 1] = 0.0; dN[1, 2] = 0.0
            dN[2, 0] = 0.0; dN[2, 1] = 1.0; dN[2, 2] = 0.0
            dN[3, 0] = 0.0; dN[3, 1] = 0.0; dN[3, 2] = 1.0
            m = physical_gradients(dN, xe, G)
        else:
            for q in range(4):
                tet10_dshape(TET_GAUSS4[q, 0], TET_GAUSS4[q, 1], TET_GAUSS4[q, 2], dN)
                m = min(m, physical_gradients(dN, xe, G))
        out[e] = m


def voxel_reference_matrices(h: float, bbar: bool = False):
    """The two reference matrices of the voxel hex8 of side ``h`` [mm].

    Every voxel element's stiffness is ``K_e = lam_e * K_lambda + mu_e * K_mu``
    (lam, mu in MPa, K in N/mm).  With ``bbar=True`` the pair is the B-bar one:
    ``K_lambda = V gbar gbar^T`` and ``K_mu = K_dev + 2/3 V gbar gbar^T``, so the
    same ``lam*K_lambda + mu*K_mu`` gives ``kappa*Kvol_bar + mu*K_dev``.

    Returns (K_lambda, K_mu), each (24, 24) float64, node order as hex8.
    """
    if not h > 0:
        raise ValueError(f"voxel size h must be > 0 mm, got {h!r}")
    xe = (HEX8_SIGNS + 1.0) * 0.5 * h
    K_lambda = np.zeros((24, 24))
    K_mu = np.zeros((24, 24))
    hex8_stiffness(xe, 1.0, 0.0, bbar, K_lambda)
    hex8_stiffness(xe, 0.0, 1.0, bbar, K_mu)
    return K_lambda, K_mu
