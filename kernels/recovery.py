"""Strain recovery: small-strain tensor per element at the centroid or at the
integration points.

Output layout: (n_el, n_points, 6) with tensor components
``[e_xx, e_yy, e_zz, e_xy, e_yz, e_xz]`` (shear as tensor components, i.e.
half the engineering shear strain), dimensionless.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba import PJIT
from .elements import HEX8_GAUSS, TET_GAUSS4, hex8_dshape, physical_gradients, tet10_dshape


@njit(**PJIT)
def element_strains(kind, coords, conn, u, at_gauss, out, detj):
    """Strain per element and point into out (n_el, n_pts, 6).

    kind : 0 hex8, 1 tet4, 2 tet10; coords : (n_nodes, 3) [mm];
    conn : (n_el, n_per); u : (3*n_nodes,) [mm]; at_gauss : False for the
    centroid (n_pts = 1), True for the integration points (8 hex8, 1 tet4,
    4 tet10).  detj : (n_el, n_pts) output, det J at each point.
    """
    n_el, n_per = conn.shape
    n_pts = out.shape[1]
    for e in prange(n_el):
        xe = np.empty((n_per, 3))
        ue = np.empty((n_per, 3))
        dN = np.empty((n_per, 3))
        G = np.empty((n_per, 3))
        for a in range(n_per):
            for k in range(3):
                xe[a, k] = coords[conn[e, a], k]
                ue[a, k] = u[3 * conn[e, a] + k]
        for q in range(n_pts):
            if kind == 0:
                if at_gauss:
                    hex8_dshape(HEX8_GAUSS[q, 0], HEX8_GAUSS[q, 1], HEX8_GAUSS[q, 2], dN)
                else:
                    hex8_dshape(0.0, 0.0, 0.0, dN)
            elif kind == 1:
                dN[:, :] = 0.0
                dN[0, 0] = -1.0; dN[0, 1] = -1.0; dN[0, 2] = -1.0
                dN[1, 0] = 1.0; dN[2, 1] = 1.0; dN[3, 2] = 1.0
            else:
                if at_gauss:
                    tet10_dshape(TET_GAUSS4[q, 0], TET_GAUSS4[q, 1], TET_GAUSS4[q, 2], dN)
                else:
                    tet10_dshape(0.25, 0.25, 0.25, dN)
            detj[e, q] = physical_gradients(dN, xe, G)
            H = np.zeros((3, 3))       # H[i, j] = d u_i / d x_j
            for a in range(n_per):
                for i in range(3):
                    for j in range(3):
                        H[i, j] += ue[a, i] * G[a, j]
            out[e, q, 0] = H[0, 0]
            out[e, q, 1] = H[1, 1]
            out[e, q, 2] = H[2, 2]
            out[e, q, 3] = 0.5 * (H[0, 1] + H[1, 0])
            out[e, q, 4] = 0.5 * (H[1, 2] + H[2, 1])
            out[e, q, 5] = 0.5 * (H[0, 2] + H[2, 0])


@njit(**PJIT)
def voxel_strains(conn, u, h, at_gauss, out):
    """Strain of equal cubic voxels (edge h [mm], hex8 node order) into out (n_el,
    n_pts, 6), as :func:`element_strains` for such a mesh: the shape-function
    gradients are the same in every voxel (J = h/2 I), so they are tabulated once and
    no element allocates.  conn (n_el, 8); u (3*n_nodes,) [mm]; at_gauss: the 8
    integration points, else the centroid (n_pts = 1)."""
    n_el = conn.shape[0]
    n_pts = out.shape[1]
    G = np.empty((n_pts, 8, 3))
    dN = np.empty((8, 3))
    for q in range(n_pts):
        if at_gauss:
            hex8_dshape(HEX8_GAUSS[q, 0], HEX8_GAUSS[q, 1], HEX8_GAUSS[q, 2], dN)
        else:
            hex8_dshape(0.0, 0.0, 0.0, dN)
        for a in range(8):
            for k in range(3):
                G[q, a, k] = dN[a, k] * (2.0 / h)
    for e in prange(n_el):
        for q in range(n_pts):
            h00 = h01 = h02 = h10 = h11 = h12 = h20 = h21 = h22 = 0.0
            for a in range(8):
                n = conn[e, a]
                ux = u[3 * n]
                uy = u[3 * n + 1]
                uz = u[3 * n + 2]
                gx = G[q, a, 0]
                gy = G[q, a, 1]
                gz = G[q, a, 2]
                h00 += ux * gx
                h01 += ux * gy
                h02 += ux * gz
                h10 += uy * gx
                h11 += uy * gy
                h12 += uy * gz
                h20 += uz * gx
                h21 += uz * gy
                h22 += uz * gz
            out[e, q, 0] = h00
            out[e, q, 1] = h11
            out[e, q, 2] = h22
            out[e, q, 3] = 0.5 * (h01 + h10)
            out[e, q, 4] = 0.5 * (h12 + h21)
            out[e, q, 5] = 0.5 * (h02 + h20)
