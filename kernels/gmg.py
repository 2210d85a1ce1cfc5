"""Kernels of the geometric multigrid on voxel grids (biomech.fem.gmg).

A coarse voxel is a 2x2x2 block of fine voxels (its children; child position
q = 4 (i % 2) + 2 (j % 2) + (k % 2) of the fine index).  Trilinear prolongation
is element-local: fine local node a of child q takes W[q, a, A] of coarse corner A
(W (8, 8, 8), rows summing to 1), so the Galerkin coarse element matrix is
``Ke_E = sum_children P_q^T Ke_c P_q`` with ``P_q = W[q] (x) I_3`` (24 x 24).

Coarse element matrices are symmetric and stored packed: the upper triangle row by
row, PACKED = 300 entries per element (``_packed_index``), float32 or float64.
Products run by colour on large levels and node by node (serial) on small ones.
The first coarse level of a large model stores no element matrices: each is
``sum_q lam_q A_q + mu_q B_q`` over its children (A_q = P_q^T K_lambda P_q,
B_q = P_q^T K_mu P_q), so 16 moduli per coarse voxel stand for it (the coefficient
form: galerkin_coefficients, galerkin_matvec_coloured and the kernels after them).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba import INLINE, JIT, PJIT
from .assembly import _find
from .matfree import COLOUR_CHUNKS, _colour_chunk, _gather_element, _stacked_product

#: entries of a packed symmetric 24 x 24 element matrix (upper triangle, row by row)
PACKED = 300


@njit(**JIT)
def _packed_index(r, c):
    """Position of entry (r, c) of a symmetric 24 x 24 matrix in its packed form."""
    if r > c:
        r, c = c, r
    return 24 * r - (r * (r - 1)) // 2 + (c - r)


@njit(**JIT)
def _pack(o, out_e):
    """out_e (PACKED,) = upper triangle of o (24, 24), row by row."""
    t = 0
    for r in range(24):
        for c in range(r, 24):
            out_e[t] = o[r, c]
            t += 1


@njit(**JIT)
def _unpack(ke, full):
    """full (24, 24) float64 = the symmetric matrix of packed ke (PACKED,)."""
    t = 0
    for r in range(24):
        for c in range(r, 24):
            v = ke[t]
            full[r, c] = v
            full[c, r] = v
            t += 1


@njit(**JIT)
def _triple_add(Ke, W, out):
    """out += (W (x) I3)^T Ke (W (x) I3) for Ke (24, 24), W (8, 8) (fine node, coarse node)."""
    T = np.zeros((24, 24))
    for r in range(24):
        for b in range(8):
            for j in range(3):
                v = Ke[r, 3 * b + j]
                if v != 0.0:
                    for B in range(8):
                        T[r, 3 * B + j] += v * W[b, B]
    for a in range(8):
        for A in range(8):
            w = W[a, A]
            if w != 0.0:
                for i in range(3):
                    for c in range(24):
                        out[3 * A + i, c] += w * T[3 * a + i, c]


@njit(**PJIT)
def galerkin_voxel(child_ptr, child_el, child_pos, lam, mu, conn, dof_mask,
                   A_ref, B_ref, K_lambda, K_mu, W, out):
    """Coarse element matrices of the fine voxel level, out (n_parent, PACKED) [N/mm],
    packed (summed in float64; out may be float32).

    child_ptr (n_parent+1,), child_el, child_pos: children of each parent (CSR);
    lam, mu (n_el,) [MPa]; conn (n_el, 8); dof_mask (3 n_nodes,) 1.0 for an active
    DOF, 0.0 for a masked one (prescribed, tied to a plate): the fine operator is
    M K M.  A_ref[q] = P_q^T K_lambda P_q, B_ref[q] = P_q^T K_mu P_q: an unmasked
    child costs two 24x24 axpys, a masked one an explicit triple product.
    """
    for E in prange(child_ptr.size - 1):
        o = np.zeros((24, 24))             # summed in float64 whatever out stores
        Km = np.empty((24, 24))
        m = np.empty(24)
        for t in range(child_ptr[E], child_ptr[E + 1]):
            e = child_el[t]
            q = child_pos[t]
            full = True
            for b in range(8):
                for c in range(3):
                    m[3 * b + c] = dof_mask[3 * conn[e, b] + c]
                    if m[3 * b + c] != 1.0:
                        full = False
            le = lam[e]
            me = mu[e]
            if full:
                for r in range(24):
                    for c in range(24):
                        o[r, c] += le * A_ref[q, r, c] + me * B_ref[q, r, c]
            else:
                for r in range(24):
                    for c in range(24):
                        Km[r, c] = m[r] * m[c] * (le * K_lambda[r, c] + me * K_mu[r, c])
                _triple_add(Km, W[q], o)
        _pack(o, out[E])


@njit(**INLINE)
def _packed_add(Ke, s, xe, ye):
    """ye (24,) += Ke[s] xe for the packed symmetric matrix Ke[s] (PACKED,)."""
    p = 0
    for r in range(24):
        xr = xe[r]
        acc = Ke[s, p] * xr
        p += 1
        for c in range(r + 1, 24):
            v = Ke[s, p]
            acc += v * xe[c]
            ye[c] += v * xr
            p += 1
        ye[r] += acc


@njit(**INLINE)
def _scatter_element(y, conn, e, ye):
    """y (3 n_nodes,) += ye (24,) on element e's DOFs (node-major)."""
    for b in range(8):
        j = conn[e, b]
        for c in range(3):
            y[3 * j + c] += ye[3 * b + c]


@njit(**PJIT)
def galerkin_coefficients(child_ptr, child_el, child_pos, lam, mu, conn, dof_mask, coef,
                          masked):
    """Coefficient form of the fine level's Galerkin coarse elements (see
    galerkin_matvec_coloured): coef[E, q] = lam, coef[E, 8 + q] = mu [MPa] of the child at
    position q (0 where there is none); masked[E] = 1 if a child has a masked DOF (its
    element matrix is not a combination of the reference ones), else 0.  coef (n_parent,
    16) float32 or float64; masked (n_parent,) int8, and masked[E] = 2 for an unmasked
    element with 8 children of one material (its matrix is lam sum_q A_q + mu sum_q B_q:
    one product instead of eight in galerkin_matvec_coloured)."""
    for E in prange(child_ptr.size - 1):
        for q in range(16):
            coef[E, q] = 0.0
        masked[E] = 0
        uniform = child_ptr[E + 1] - child_ptr[E] == 8
        first = child_el[child_ptr[E]] if uniform else 0
        for t in range(child_ptr[E], child_ptr[E + 1]):
            e = child_el[t]
            q = child_pos[t]
            coef[E, q] = lam[e]
            coef[E, 8 + q] = mu[e]
            if uniform and (lam[e] != lam[first] or mu[e] != mu[first]):
                uniform = False
            for b in range(8):
                for c in range(3):
                    if dof_mask[3 * conn[e, b] + c] != 1.0:
                        masked[E] = 1
        if uniform and masked[E] == 0:
            masked[E] = 2


@njit(**JIT)
def _coefficient_element(E, coef, special, Ke_special, A_ref, B_ref, full):
    """full (24, 24) float64 = coarse element E of the coefficient form (see
    galerkin_matvec_coloured): sum_q coef[E, q] A_ref[q] + coef[E, 8 + q] B_ref[q], or
    its packed matrix Ke_special[special[E]]."""
    s = special[E]
    if s >= 0:
        _unpack(Ke_special[s], full)
        return
    for r in range(24):
        for c in range(24):
            full[r, c] = 0.0
    for q in range(8):
        lq = np.float64(coef[E, q])
        mq = np.float64(coef[E, 8 + q])
        if lq == 0.0 and mq == 0.0:
            continue
        for r in range(24):
            for c in range(24):
                full[r, c] += lq * A_ref[q, r, c] + mq * B_ref[q, r, c]


@njit(**PJIT)
def coefficient_elements(coef, special, Ke_special, A_ref, B_ref, out):
    """The packed element matrices out (n, PACKED) of a level in coefficient form
    (galerkin_matvec_coloured), e.g. to assemble it as the coarsest level."""
    for E in prange(coef.shape[0]):
        full = np.empty((24, 24))
        _coefficient_element(E, coef, special, Ke_special, A_ref, B_ref, full)
        _pack(full, out[E])


@njit(**PJIT)
def galerkin_coefficient_elements(child_ptr, child_el, child_pos, coef, special, Ke_special,
                                  A_ref, B_ref, W, out):
    """Coarse element matrices out (n_parent, PACKED) of a level whose children are in
    coefficient form (galerkin_elements for a level that stores no element matrices)."""
    for E in prange(child_ptr.size - 1):
        o = np.zeros((24, 24))
        child = np.empty((24, 24))
        for t in range(child_ptr[E], child_ptr[E + 1]):
            _coefficient_element(child_el[t], coef, special, Ke_special, A_ref, B_ref, child)
            _triple_add(child, W[child_pos[t]], o)
        _pack(o, out[E])


@njit(**PJIT)
def coefficient_diagonal(node_elems, coef, special, Ke_special, A_ref, B_ref, diag):
    """element_diagonal for a level in coefficient form: diag (3 n_nodes,)."""
    for n in prange(node_elems.shape[0]):
        for c in range(3):
            acc = 0.0
            for a in range(8):
                E = node_elems[n, a]
                if E < 0:
                    continue
                r = 3 * a + c
                s = special[E]
                if s >= 0:
                    acc += Ke_special[s, _packed_index(r, r)]
                    continue
                for q in range(8):
                    acc += coef[E, q] * A_ref[q, r, r] + coef[E, 8 + q] * B_ref[q, r, r]
            diag[3 * n + c] = acc


@njit(**PJIT)
def galerkin_matvec_coloured(x, conn, colour_ptr, order, coef, special, Ke_special, KK, y):
    """y = sum_E Ke_E x_E for the fine level's Galerkin coarse elements, without storing
    them: Ke_E = sum_q coef[E, q] A_q + coef[E, 8 + q] B_q (galerkin_coefficients), with
    KK[q] = [A_q | B_q] (9, 24, 48), A_q = P_q^T K_lambda P_q, B_q = P_q^T K_mu P_q
    (symmetric, so column k is row k) and KK[8] = sum_q KK[q].  An element with
    special[E] >= 0 uses the packed matrix Ke_special[special[E]] (masked children); one
    with special[E] == -2 (8 children of one material) the single product with KK[8].
    Reads 16 coefficients per element instead of its PACKED entries; coloured as
    element_matvec_coloured."""
    for t in prange(y.shape[0]):
        y[t] = 0.0
    for col in range(colour_ptr.shape[0] - 1):
        for ch in prange(COLOUR_CHUNKS):
            start, stop = _colour_chunk(colour_ptr, col, ch)
            xe = np.empty(24, x.dtype)
            ye = np.empty(24, x.dtype)
            zq = np.empty(48, x.dtype)
            for t in range(start, stop):
                e = order[t]
                _gather_element(x, conn, e, xe)
                for r in range(24):
                    ye[r] = 0.0
                s = special[e]
                if s >= 0:
                    _packed_add(Ke_special, s, xe, ye)
                else:
                    # each child's pair, or (one material, s == -2) the summed pair KK[8]
                    # with child 0's moduli
                    first, last = (0, 8) if s == -1 else (8, 9)
                    for q in range(first, last):
                        lq = coef[e, q % 8]
                        mq = coef[e, 8 + q % 8]
                        if lq == 0.0 and mq == 0.0:
                            continue
                        _stacked_product(KK[q], xe, zq)
                        for r in range(24):
                            ye[r] += lq * zq[r] + mq * zq[24 + r]
                _scatter_element(y, conn, e, ye)


@njit(**PJIT)
def galerkin_elements(child_ptr, child_el, child_pos, Ke, W, out):
    """Coarse element matrices out (n_parent, PACKED) from the packed element matrices
    Ke (n_child, PACKED) of a coarse level: out[E] = sum P_q^T Ke[c] P_q (summed in
    float64; Ke and out may be float32)."""
    for E in prange(child_ptr.size - 1):
        o = np.zeros((24, 24))
        child = np.empty((24, 24))
        for t in range(child_ptr[E], child_ptr[E + 1]):
            _unpack(Ke[child_el[t]], child)
            _triple_add(child, W[child_pos[t]], o)
        _pack(o, out[E])


@njit(**PJIT)
def element_diagonal(node_elems, Ke, diag):
    """Diagonal of sum_e Ke[e] scattered (Ke (n_el, PACKED) packed): node_elems
    (n_nodes, 8) the element in which a node is local node a (or -1); diag (3 n_nodes,)."""
    for n in prange(node_elems.shape[0]):
        for c in range(3):
            s = 0.0
            for a in range(8):
                e = node_elems[n, a]
                if e >= 0:
                    r = 3 * a + c
                    s += Ke[e, _packed_index(r, r)]
            diag[3 * n + c] = s


@njit(**PJIT)
def element_matvec_coloured(x, conn, colour_ptr, order, Ke, y):
    """y = sum_e Ke[e] x_e element by element (Ke (n_el, PACKED) packed symmetric, float32
    or float64, read once per element; sums in float64): x_e gathered once, scatter-add;
    elements of one colour (colour_ptr, order: voxel parity) share no node, so each
    colour is a race-free parallel loop."""
    for t in prange(y.shape[0]):
        y[t] = 0.0
    for col in range(colour_ptr.shape[0] - 1):
        for ch in prange(COLOUR_CHUNKS):
            start, stop = _colour_chunk(colour_ptr, col, ch)
            xe = np.empty(24)
            ye = np.empty(24)
            for t in range(start, stop):
                e = order[t]
                _gather_element(x, conn, e, xe)
                for r in range(24):
                    ye[r] = 0.0
                _packed_add(Ke, e, xe, ye)
                _scatter_element(y, conn, e, ye)


@njit(**PJIT)
def element_matvec_dense_coloured(x, conn, colour_ptr, order, Ke, y):
    """y = sum_e Ke[e] x_e as element_matvec_coloured for full symmetric element matrices
    Ke (n_el, 24, 24) of x's dtype (small coarse levels, where the unpacked storage costs
    little): one 24-long update per entry of x_e (row k is column k), which vectorises:
    summed in x's precision.  benchmarks/bench_coarse_product.py: 2.7x the packed product
    on 5.8k coarse voxels (13 MB, in cache), 1.3x on 17.6k (memory-bound)."""
    n_rows = Ke.shape[2]        # 24; read from the array: a constant trip count is
    for t in prange(y.shape[0]):        # unrolled to scalars, not vectorised
        y[t] = 0.0
    for col in range(colour_ptr.shape[0] - 1):
        for ch in prange(COLOUR_CHUNKS):
            start, stop = _colour_chunk(colour_ptr, col, ch)
            xe = np.empty(24, x.dtype)
            ye = np.empty(n_rows, x.dtype)
            for t in range(start, stop):
                e = order[t]
                _gather_element(x, conn, e, xe)
                for r in range(n_rows):
                    ye[r] = 0.0
                for k in range(24):
                    xk = xe[k]
                    for r in range(n_rows):
                        ye[r] += Ke[e, k, r] * xk
                _scatter_element(y, conn, e, ye)


@njit(**JIT)
def _element_gather_rows(lo, hi, x, node_elems, conn, Ke, y):
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
            for k in range(24):
                xk = xe[k]
                s0 += Ke[e, _packed_index(r, k)] * xk
                s1 += Ke[e, _packed_index(r + 1, k)] * xk
                s2 += Ke[e, _packed_index(r + 2, k)] * xk
        y[3 * n] = s0
        y[3 * n + 1] = s1
        y[3 * n + 2] = s2


@njit(**PJIT)
def element_matvec_gather(x, node_elems, conn, Ke, y):
    """y = sum_e Ke[e] x_e (Ke (n_el, PACKED) packed), one parallel loop over chunks of nodes;
    node_elems as in biomech.kernels.matfree.voxel_matvec_gather."""
    n = node_elems.shape[0]
    n_chunks = (n + 255) // 256
    for c in prange(n_chunks):
        _element_gather_rows(256 * c, min(n, 256 * c + 256), x, node_elems, conn, Ke, y)


@njit(**JIT)
def element_matvec_gather_serial(x, node_elems, conn, Ke, y):
    """element_matvec_gather on one thread (small levels)."""
    _element_gather_rows(0, node_elems.shape[0], x, node_elems, conn, Ke, y)


@njit(**JIT)
def coarse_slot_labels(conn, node_ijk, parent_of, parent_ijk, corner_index, fine_parent,
                       label):
    """Coarse nodes that follow the fine grid's connectivity (biomech.fem.gmg.coarse_node_slots).

    Slot (E, A) is corner A of coarse voxel E.  For each fine node n the distinct parents
    of its voxels are sorted; consecutive ones (E1, E2) share the coarse corners N with
    |n - 2N| < 2 per axis (N = n // 2 or (n + 1) // 2), whose slots are joined
    (union-find).  conn (n_el, 8), node_ijk (n_nodes, 3): the fine grid; parent_of
    (n_el,); parent_ijk (n_par, 3); corner_index (2, 2, 2): hex8 local index of a corner
    offset.  Out: fine_parent (n_nodes,): the smallest parent of a node (-1: node in no
    voxel); label (8 n_par,): coarse node of each slot, numbered in order of the slots'
    first appearance (0, 1, ...).  Memory: 33 bytes per fine node and 8 per slot."""
    n_nodes = node_ijk.shape[0]
    plist = np.full((n_nodes, 8), -1, np.int32)
    count = np.zeros(n_nodes, np.int8)
    for e in range(conn.shape[0]):
        p = parent_of[e]
        for b in range(8):
            n = conn[e, b]
            k = count[n]
            seen = False
            for t in range(k):
                if plist[n, t] == p:
                    seen = True
                    break
            if not seen:
                # insertion in ascending order
                t = k
                while t > 0 and plist[n, t - 1] > p:
                    plist[n, t] = plist[n, t - 1]
                    t -= 1
                plist[n, t] = p
                count[n] = k + 1
    root = np.arange(label.size)
    lo = np.empty(3, np.int64)
    hi = np.empty(3, np.int64)
    for n in range(n_nodes):
        k = count[n]
        fine_parent[n] = plist[n, 0] if k > 0 else -1
        for ax in range(3):
            lo[ax] = node_ijk[n, ax] // 2
            hi[ax] = (node_ijk[n, ax] + 1) // 2
        for t in range(1, k):
            e1 = plist[n, t - 1]
            e2 = plist[n, t]
            for q in range(8):
                ok = True
                for ax in range(3):
                    if (q >> (2 - ax)) & 1 and hi[ax] == lo[ax]:
                        ok = False
                if not ok:
                    continue
                N0 = hi[0] if (q >> 2) & 1 else lo[0]
                N1 = hi[1] if (q >> 1) & 1 else lo[1]
                N2 = hi[2] if q & 1 else lo[2]
                s1 = 8 * e1 + corner_index[N0 - parent_ijk[e1, 0], N1 - parent_ijk[e1, 1],
                                           N2 - parent_ijk[e1, 2]]
                s2 = 8 * e2 + corner_index[N0 - parent_ijk[e2, 0], N1 - parent_ijk[e2, 1],
                                           N2 - parent_ijk[e2, 2]]
                r1 = _find(root, s1)
                r2 = _find(root, s2)
                if r1 != r2:
                    if r1 < r2:
                        root[r2] = r1
                    else:
                        root[r1] = r2
    # the smallest slot of a set is its root; number the roots in slot order
    for s in range(label.size):
        r = _find(root, s)
        if r == s:
            label[s] = -1
        else:
            label[s] = r
    next_label = 0
    for s in range(label.size):
        if label[s] == -1:
            label[s] = next_label
            next_label += 1
        else:
            label[s] = label[label[s]]


@njit(**JIT)
def trilinear_prolongation(node_ijk, fine_parent, parent_ijk, conn_c, corner_index,
                           indptr, indices, data):
    """Node prolongation P (n_fine, n_coarse) as CSR arrays: fine node n takes weight
    prod_axes (1 on an even axis, 1/2 on an odd one) from each coarse corner N around
    it (N = n // 2 or (n + 1) // 2 per axis), the copy seen from its parent
    fine_parent[n] (conn_c (n_par, 8) the coarse connectivity).  indptr (n_fine + 1,)
    must hold each row's count, 2 ** (odd axes), in indptr[1:] on entry (prefix-summed
    here); indices, data (indptr[-1],) are filled."""
    n_nodes = node_ijk.shape[0]
    for n in range(n_nodes):
        indptr[n + 1] += indptr[n]
    o = np.empty(3, np.int64)
    for n in range(n_nodes):
        e = fine_parent[n]
        t = indptr[n]
        for q in range(8):
            w = 1.0
            ok = True
            for ax in range(3):
                v = node_ijk[n, ax]
                pick = (q >> (2 - ax)) & 1
                if v % 2 == 1:
                    w *= 0.5
                    N = (v + 1) // 2 if pick else v // 2
                elif pick:
                    ok = False
                    N = 0
                else:
                    N = v // 2
                o[ax] = N - parent_ijk[e, ax]
            if not ok:
                continue
            indices[t] = conn_c[e, corner_index[o[0], o[1], o[2]]]
            data[t] = w
            t += 1
