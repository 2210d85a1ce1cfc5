"""Matrix-free voxel operator y = K x.

Every voxel shares one pair of reference matrices, so K x is computed element
by element without storing K: gather x_e, y_e = lam_e K_lambda x_e +
mu_e K_mu x_e, scatter-add, with the elements grouped in 8 colours (voxel
parity) so that each colour is a race-free parallel loop; or node by node
(``voxel_matvec_gather``: one parallel loop, x_e gathered once per node and
element).  The coloured form is the one used (VoxelOperator, the GMG fine level): 2x
faster than the gather form on a quiet machine, with one thread or two (680k DOF:
13 ms against 29 ms).  The gather form waits at one thread barrier per product
instead of nine, which won (2-9x) only while the 2 cores were shared by more busy
threads than cores; the runner gives each worker cores / workers threads, so that
does not arise in a study.  It stays for small serial levels and as a check.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba import INLINE, JIT, PJIT


@njit(**JIT)
def _gather_element(x, conn, e, xe):
    """xe (24,) = the 3 DOFs of each of element e's 8 nodes from x (3 n_nodes,), node-major
    (the gather of every element product here and in biomech.kernels.gmg)."""
    for b in range(8):
        j = conn[e, b]
        xe[3 * b] = x[3 * j]
        xe[3 * b + 1] = x[3 * j + 1]
        xe[3 * b + 2] = x[3 * j + 2]


#: Chunks of one colour's elements per parallel loop of the coloured products (fixed,
#: so the summation order does not depend on the thread count).
COLOUR_CHUNKS = 64


@njit(**INLINE)
def _colour_chunk(colour_ptr, col, ch):
    """Positions [start, stop) in ``order`` of chunk ch (of COLOUR_CHUNKS) of colour col
    (colour_ptr (n_colours + 1,)): the loop bounds every coloured product shares."""
    lo = colour_ptr[col]
    size = colour_ptr[col + 1] - lo
    step = (size + COLOUR_CHUNKS - 1) // COLOUR_CHUNKS
    return lo + ch * step, min(lo + (ch + 1) * step, lo + size)


@njit(**JIT)
def _stacked(K_lambda, K_mu):
    """KK (24, 48) = [K_lambda | K_mu] in their dtype (float32 inputs: float32 throughout)."""
    KK = np.empty((24, 48), K_lambda.dtype)
    for k in range(24):
        for r in range(24):
            KK[k, r] = K_lambda[k, r]
            KK[k, 24 + r] = K_mu[k, r]
    return KK


@njit(**INLINE)
def _stacked_product(KK, xe, z):
    """z (48,) = KK^T xe for KK (24, 48) of symmetric blocks (column k is row k): one
    48-long vector update per entry of xe (SIMD-friendly)."""
    for r in range(48):
        z[r] = 0.0
    for k in range(24):
        xk = xe[k]
        for r in range(48):
            z[r] += KK[k, r] * xk


@njit(**INLINE)
def _voxel_element_add(x, conn, e, le, me, KK, xe, z, y):
    """y += (le K_lambda + me K_mu) x_e for voxel e: gather, stacked product, scatter-add
    (xe (24,), z (48,) workspace)."""
    _gather_element(x, conn, e, xe)
    _stacked_product(KK, xe, z)
    for b in range(8):
        j = conn[e, b]
        for c in range(3):
            y[3 * j + c] += le * z[3 * b + c] + me * z[24 + 3 * b + c]


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


@njit(**PJIT)
def voxel_matvec_coloured(x, conn, colour_ptr, order, lam, mu, K_lambda, K_mu, y):
    """y = K x element by element: gather x_e once, [K_lambda x_e, K_mu x_e] as one
    48-long vector update per entry of x_e (SIMD-friendly: K is symmetric, so column k
    is row k), y_e = lam_e K_lambda x_e + mu_e K_mu x_e, scatter-add.

    Elements grouped by colour (colour_ptr, order) so that no two elements of a
    colour share a node (voxel parity: 8 colours): each colour is a race-free
    parallel loop.  x, y : (3*n_nodes,); conn : (n_el, 8); lam, mu : (n_el,)
    [MPa]; K_lambda, K_mu : (24, 24) reference matrices; all float64, or all float32
    (the mixed-precision V-cycle: 1.6x faster, computed in float32).  2x faster than the
    node-gather form on one thread and on two (x_e gathered once per element, not
    once per node, and the 48-long updates vectorise).
    """
    KK = _stacked(K_lambda, K_mu)
    for t in prange(y.shape[0]):
        y[t] = 0.0
    for col in range(colour_ptr.shape[0] - 1):
        for ch in prange(COLOUR_CHUNKS):
            start, stop = _colour_chunk(colour_ptr, col, ch)
            xe = np.empty(24, x.dtype)
            z = np.empty(48, x.dtype)
            for t in range(start, stop):
                e = order[t]
                _voxel_element_add(x, conn, e, lam[e], mu[e], KK, xe, z, y)


@njit(**PJIT)
def voxel_matvec_layers(x, conn, layer_ptr, order, lam, mu, K_lambda, K_mu, y):
    """y = K x as voxel_matvec_coloured, scheduled by grid layers instead of 8 colours:
    order lists the elements layer by layer (layer_ptr (n_layers + 1,)), one layer being
    the voxels of one grid index along an axis.  Layers of one parity share no node, so
    each parity is a race-free parallel loop over whole layers (2 barriers instead of 8,
    and neighbouring elements in turn: 6-18 % faster on 0.2-1.7M DOF).  The summation
    order is fixed by the data (parity 0, then 1; a layer's elements in turn), not by
    the threads.  Needs several layers per thread (biomech.fem.gmg.fine_schedule)."""
    KK = _stacked(K_lambda, K_mu)
    for t in prange(y.shape[0]):
        y[t] = 0.0
    n_layers = layer_ptr.shape[0] - 1
    for parity in range(2):
        for half in prange((n_layers - parity + 1) // 2):
            layer = 2 * half + parity
            xe = np.empty(24, x.dtype)
            z = np.empty(48, x.dtype)
            for t in range(layer_ptr[layer], layer_ptr[layer + 1]):
                e = order[t]
                _voxel_element_add(x, conn, e, lam[e], mu[e], KK, xe, z, y)


@njit(**JIT)
def _voxel_gather_rows(lo, hi, x, node_elems, conn, lam, mu, K_lambda, K_mu, y):
    """Rows of nodes lo..hi-1 of y = K x (node n gathers row block a of each element
    in which it is local node a)."""
    xe = np.empty(24)
    for n in range(lo, hi):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        for a in range(8):
            e = node_elems[n, a]
            if e < 0:
                continue
            _gather_element(x, conn, e, xe)
            r = 3 * a
            l0 = 0.0
            l1 = 0.0
            l2 = 0.0
            m0 = 0.0
            m1 = 0.0
            m2 = 0.0
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
            s0 += le * l0 + me * m0
            s1 += le * l1 + me * m1
            s2 += le * l2 + me * m2
        y[3 * n] = s0
        y[3 * n + 1] = s1
        y[3 * n + 2] = s2


@njit(**PJIT)
def voxel_matvec_gather(x, node_elems, conn, lam, mu, K_lambda, K_mu, y):
    """y = K x for a voxel mesh, one parallel loop over chunks of nodes (no colours,
    so one thread barrier per product instead of nine).  Same flops as the coloured
    form, x_e gathered once per (node, element).  node_elems (n_nodes, 8): element in
    which node n is local node a, or -1."""
    n = node_elems.shape[0]
    n_chunks = (n + 255) // 256
    for c in prange(n_chunks):
        _voxel_gather_rows(256 * c, min(n, 256 * c + 256), x, node_elems, conn, lam, mu,
                           K_lambda, K_mu, y)


@njit(**JIT)
def voxel_matvec_gather_serial(x, node_elems, conn, lam, mu, K_lambda, K_mu, y):
    """voxel_matvec_gather on one thread (small grids: no barrier to wait at)."""
    _voxel_gather_rows(0, node_elems.shape[0], x, node_elems, conn, lam, mu, K_lambda, K_mu, y)


@njit(**PJIT)
def gather_own(z, rows, cols, skip, x):
    """x[rows[i], :] = z[cols[i], :], or 0 where skip[cols[i]]: the reduced unknowns z
    (n_free, k) that are a DOF's own copied into the DOF vector x (n_dofs, k), in one
    pass without index temporaries (any float dtypes: x takes its own).  Entries of x
    not in rows are left as they are."""
    for i in prange(rows.size):
        c = cols[i]
        r = rows[i]
        if skip[c]:
            for j in range(x.shape[1]):
                x[r, j] = 0.0
        else:
            for j in range(x.shape[1]):
                x[r, j] = z[c, j]


@njit(**PJIT)
def scatter_own(y_full, rows, cols, y):
    """y[cols[i], :] = y_full[rows[i], :]: a DOF vector (n_dofs, k) back to the reduced
    unknowns (n_free, k) that are a DOF's own (the transpose of gather_own's copy)."""
    for i in prange(rows.size):
        r = rows[i]
        c = cols[i]
        for j in range(y.shape[1]):
            y[c, j] = y_full[r, j]
