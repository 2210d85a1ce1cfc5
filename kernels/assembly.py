"""Sparse assembly: the CSR pattern once per mesh, values in parallel.

The pattern is built on the node graph first (3x3 blocks), then expanded to a
scalar CSR matrix whose rows hold, for node ``i`` and component ``c``, the
columns ``3*j + d`` of every neighbour ``j`` (sorted) and component ``d``:

    indptr[3*i + c] = 9*bptr[i] + 3*c*deg(i)
    data index of (3*i + c, 3*j + d) = 9*bptr[i] + 3*c*deg(i) + 3*k + d

where ``k`` is the position of ``j`` in node ``i``'s sorted neighbour list.
``block_positions`` stores ``bptr[i] + k`` for every element block (a, b), so
refilling values after a material change needs no search (a cement study changes
materials, not the mesh).

Race freedom: elements are coloured so that no two elements of one colour share
a node; each colour is one parallel loop (``prange``) whose scatters never
touch the same matrix entry.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba import JIT, PJIT
from .elements import element_stiffness


@njit(**JIT)
def node_element_adjacency(conn, n_nodes):
    """Elements around each node as CSR: (ptr (n_nodes+1,), elems, local_index)."""
    n_el, n_per = conn.shape
    count = np.zeros(n_nodes + 1, dtype=np.int64)
    for e in range(n_el):
        for a in range(n_per):
            count[conn[e, a] + 1] += 1
    ptr = np.cumsum(count)
    fill = ptr[:-1].copy()
    elems = np.empty(ptr[-1], dtype=np.int64)
    local = np.empty(ptr[-1], dtype=np.int8)
    for e in range(n_el):
        for a in range(n_per):
            i = conn[e, a]
            elems[fill[i]] = e
            local[fill[i]] = a
            fill[i] += 1
    return ptr, elems, local


@njit(**PJIT)
def neighbour_lists(conn, n_nodes, n2e_ptr, n2e, count_only, bptr, bind):
    """The sorted node neighbours of each node (nodes sharing an element) in two passes:
    count_only fills bptr[i + 1] with node i's count, otherwise bind[bptr[i]:bptr[i + 1]]
    with the neighbours.  conn (n_el, n_per); n2e_ptr, n2e: node -> elements (CSR)."""
    n_per = conn.shape[1]
    n_chunks = 64
    chunk = (n_nodes + n_chunks - 1) // n_chunks
    max_el = 0
    for i in range(n_nodes):
        max_el = max(max_el, n2e_ptr[i + 1] - n2e_ptr[i])
    for ch in prange(n_chunks):
        buf = np.empty(max_el * n_per, dtype=np.int64)
        for i in range(ch * chunk, min((ch + 1) * chunk, n_nodes)):
            m = 0
            for p in range(n2e_ptr[i], n2e_ptr[i + 1]):
                e = n2e[p]
                for b in range(n_per):
                    buf[m] = conn[e, b]
                    m += 1
            s = np.sort(buf[:m])
            u = 0
            for t in range(m):
                if t == 0 or s[t] != s[t - 1]:
                    if not count_only:
                        bind[bptr[i] + u] = s[t]
                    u += 1
            if count_only:
                bptr[i + 1] = u


def block_pattern(conn, n_nodes):
    """Node-graph pattern: (bptr (n_nodes+1,) int64, bind (n_blocks,) int64).

    conn : (n_el, n_per) int node indices.  Neighbour lists are sorted.
    """
    conn = np.ascontiguousarray(conn, dtype=np.int64)
    n2e_ptr, n2e, _ = node_element_adjacency(conn, n_nodes)
    bptr = np.zeros(n_nodes + 1, dtype=np.int64)
    dummy = np.empty(0, dtype=np.int64)
    neighbour_lists(conn, n_nodes, n2e_ptr, n2e, True, bptr, dummy)
    bptr = np.cumsum(bptr)
    bind = np.empty(bptr[-1], dtype=np.int64)
    neighbour_lists(conn, n_nodes, n2e_ptr, n2e, False, bptr, bind)
    return bptr, bind


@njit(**PJIT)
def block_positions(conn, bptr, bind, out):
    """out[e, a*n_per + b] = index of block (conn[e,a], conn[e,b]) in bind."""
    n_el, n_per = conn.shape
    for e in prange(n_el):
        for a in range(n_per):
            i = conn[e, a]
            lo0 = bptr[i]
            for b in range(n_per):
                j = conn[e, b]
                lo = lo0
                hi = bptr[i + 1] - 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    if bind[mid] < j:
                        lo = mid + 1
                    else:
                        hi = mid
                out[e, a * n_per + b] = lo


@njit(**PJIT)
def scalar_csr_structure(bptr, bind, indptr, indices):
    """Expand the node pattern into scalar CSR indptr (3n+1,) and indices."""
    n_nodes = bptr.shape[0] - 1
    for i in prange(n_nodes):
        deg = bptr[i + 1] - bptr[i]
        base = 9 * bptr[i]
        for c in range(3):
            row = base + 3 * c * deg
            indptr[3 * i + c] = row
            for k in range(deg):
                j = bind[bptr[i] + k]
                for d in range(3):
                    indices[row + 3 * k + d] = 3 * j + d
    indptr[3 * n_nodes] = 9 * bptr[n_nodes]


@njit(**JIT)
def greedy_element_colouring(conn, n2e_ptr, n2e):
    """Colour elements so that no two of one colour share a node (int32 colours)."""
    n_el, n_per = conn.shape
    colour = np.full(n_el, -1, dtype=np.int32)
    used = np.full(64, -1, dtype=np.int64)     # used[c] == e marks colour c taken for e
    for e in range(n_el):
        for a in range(n_per):
            i = conn[e, a]
            for p in range(n2e_ptr[i], n2e_ptr[i + 1]):
                f = n2e[p]
                cf = colour[f]
                if cf >= 0:
                    if cf >= used.shape[0]:
                        grown = np.full(2 * cf + 2, -1, dtype=np.int64)
                        grown[:used.shape[0]] = used
                        used = grown
                    used[cf] = e
        c = 0
        while c < used.shape[0] and used[c] == e:
            c += 1
        colour[e] = c
    return colour


@njit(**JIT)
def _scatter_block(Ke, e, conn, bpos, bptr, data):
    n_per = conn.shape[1]
    for a in range(n_per):
        i = conn[e, a]
        deg = bptr[i + 1] - bptr[i]
        base = 9 * bptr[i]
        for b in range(n_per):
            k = bpos[e, a * n_per + b] - bptr[i]
            for c in range(3):
                row = base + 3 * c * deg + 3 * k
                for d in range(3):
                    data[row + d] += Ke[3 * a + c, 3 * b + d]


@njit(**PJIT)
def fill_voxel(conn, n2e_ptr, n2e, n2e_local, lam, mu, K_lambda, K_mu, bpos, bptr, data):
    """Write the values of a voxel stiffness, row block by row block.

    Node i's rows collect, from each voxel e around it (where i is local node a),
    the blocks (a, b) of ``lam[e]*K_lambda + mu[e]*K_mu``.  Each row block is
    written by one iteration of the parallel loop (race-free, cache-friendly,
    first touch of ``data`` in parallel), so ``data`` need not be zeroed.

    conn : (n_el, 8); n2e_ptr/n2e/n2e_local : node_element_adjacency(conn);
    lam, mu : (n_el,) [MPa]; K_lambda, K_mu : (24, 24); bpos : (n_el, 64)
    from block_positions; data : (9 * n_blocks,) output.
    """
    n_nodes = bptr.shape[0] - 1
    for i in prange(n_nodes):
        deg = bptr[i + 1] - bptr[i]
        base = 9 * bptr[i]
        for t in range(base, base + 9 * deg):
            data[t] = 0.0
        for p in range(n2e_ptr[i], n2e_ptr[i + 1]):
            e = n2e[p]
            a = n2e_local[p]
            le = lam[e]
            me = mu[e]
            for b in range(8):
                k = bpos[e, a * 8 + b] - bptr[i]
                for c in range(3):
                    row = base + 3 * c * deg + 3 * k
                    r = 3 * a + c
                    for d in range(3):
                        s = 3 * b + d
                        data[row + d] += le * K_lambda[r, s] + me * K_mu[r, s]


@njit(**PJIT)
def fill_general(kind, coords, conn, lam, mu, bbar, bpos, bptr, colour_ptr, order, data, detmin):
    """Compute every element's stiffness (kind: 0 hex8, 1 tet4, 2 tet10) and add it.

    coords : (n_nodes, 3) [mm]; conn : (n_el, n_per); lam, mu : (n_el,) [MPa];
    detmin : (n_el,) output, minimum det J of each element.
    """
    n_per = conn.shape[1]
    for col in range(colour_ptr.shape[0] - 1):
        for t in prange(colour_ptr[col], colour_ptr[col + 1]):
            e = order[t]
            xe = np.empty((n_per, 3))
            Ke = np.empty((3 * n_per, 3 * n_per))
            for a in range(n_per):
                for k in range(3):
                    xe[a, k] = coords[conn[e, a], k]
            detmin[e] = element_stiffness(kind, xe, lam[e], mu[e], bbar, Ke)
            _scatter_block(Ke, e, conn, bpos, bptr, data)


@njit(**PJIT)
def decouple_rows_and_columns(indptr, indices, data, decoupled):
    """Zero the rows and columns of the decoupled unknowns except their diagonal.

    Symmetric elimination in place on a CSR matrix: a prescribed unknown keeps
    its diagonal entry (so the scale of the system is unchanged) and loses every
    coupling.  decoupled : (n,) bool.
    """
    n = indptr.shape[0] - 1
    for i in prange(n):
        row_fixed = decoupled[i]
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if (row_fixed or decoupled[j]) and j != i:
                data[p] = 0.0


@njit(**JIT)
def _find(root, s):
    """Root of slot s in the union-find forest ``root`` (path halving)."""
    while root[s] != s:
        root[s] = root[root[s]]
        s = root[s]
    return s


@njit(**JIT)
def node_components(cells, tie_a, tie_b, label):
    """Connected parts of a mesh's node graph, by union-find: nodes of one element are
    joined, and each pair (tie_a[t], tie_b[t]) (rigid-plate ties).  Out: label
    (n_nodes,) = the part of each node, numbered 0, 1, ... in the order of each part's
    smallest node (as scipy.sparse.csgraph.connected_components numbers them); a node
    in no element and no tie is a part of its own.  Memory: 8 bytes per node (the
    forest), against ~50 bytes per element for an assembled graph."""
    n = label.size
    root = np.arange(n)
    for e in range(cells.shape[0]):
        r0 = _find(root, cells[e, 0])
        for b in range(1, cells.shape[1]):
            rb = _find(root, cells[e, b])
            if rb != r0:
                if rb < r0:
                    root[r0] = rb
                    r0 = rb
                else:
                    root[rb] = r0
    for t in range(tie_a.size):
        ra = _find(root, tie_a[t])
        rb = _find(root, tie_b[t])
        if ra < rb:
            root[rb] = ra
        elif rb < ra:
            root[ra] = rb
    # each root is its part's smallest node: number the roots in node order
    k = 0
    for i in range(n):
        r = _find(root, i)
        if r == i:
            label[i] = k
            k += 1
        else:
            label[i] = label[r]

