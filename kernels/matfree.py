"""Matrix-free voxel operator y = K x.

Every voxel shares one pair of reference matrices, so K x is computed element
by element without storing K.  The loop runs over nodes (gather form): node n
collects, from each of its up to 8 voxels e (where it is local node a), the
three rows ``(lam_e K_lambda + mu_e K_mu)[3a:3a+3, :] @ x_e``.  Each output
entry is written by exactly one iteration, so the parallel loop is race-free,
and the FLOP count equals the element-by-element product.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba import JIT, PJIT


@njit(**PJIT)
def voxel_matvec(x, conn, node_elems, lam, mu, K_lambda, K_mu, y):
    """y = K x for a voxel mesh.

    x, y : (3*n_nodes,) [mm] / [N]; conn : (n_el, 8) node indices;
    node_elems : (n_nodes, 8) element in which the node is local node a, or -1;
    lam, mu : (n_el,) [MPa]; K_lambda, K_mu : (24, 24) reference matrices.
    """
    n_nodes = node_elems.shape[0]
    for n in prange(n_nodes):
        y0 = 0.0
        y1 = 0.0
        y2 = 0.0
        xe = np.empty(24)
        for a in range(8):
            e = node_elems[n, a]
            if e < 0:
                continue
            for b in range(8):
                j = conn[e, b]
                xe[3 * b] = x[3 * j]
                xe[3 * b + 1] = x[3 * j + 1]
                xe[3 * b + 2] = x[3 * j + 2]
            l0 = 0.0
            l1 = 0.0
            l2 = 0.0
            m0 = 0.0
            m1 = 0.0
            m2 = 0.0
            r = 3 * a
            for k in range(24):
                xk = xe[k]
                l0 += K_lambda[r, k] * xk
                l1 += K_lambda[r + 1, k] * xk
                l2 += K_lambda[r + 2, k] * xk
                m0 += K_mu[r, k] * xk
                m1 += K_mu[r + 1, k] * xk
                m2 += K_mu[r + 2, k] * xk
            le = lam[e]
            me = mu[e]
            y0 += le * l0 + me * m0
            y1 += le * l1 + me * m1
            y2 += le * l2 + me * m2
        y[3 * n] = y0
        y[3 * n + 1] = y1
        y[3 * n + 2] = y2


@njit(**PJIT)
def voxel_diagonal(node_elems, lam, mu, K_lambda, K_mu, diag):
    """Diagonal of K for a voxel mesh (Jacobi smoothing), diag (3*n_nodes,)."""
    n_nodes = node_elems.shape[0]
    for n in prange(n_nodes):
        for c in range(3):
            s = 0.0
            for a in range(8):
                e = node_elems[n, a]
                if e >= 0:
                    r = 3 * a + c
                    s += lam[e] * K_lambda[r, r] + mu[e] * K_mu[r, r]
            diag[3 * n + c] = s
