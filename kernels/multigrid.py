"""Kernels of the multigrid cycle: CSR products and Gauss-Seidel on blocks of vectors.

Every kernel works on ``X`` of shape (n, k): k right-hand sides in one pass, so
the matrix is read once for all of them (a rigid plate's six condensation
solves, several load cases).  Products run rows in parallel.  Gauss-Seidel is
made parallel and deterministic by contiguous row chunks at least one matrix
bandwidth long: a chunk couples only to its two neighbours, so the even chunks
are relaxed at the same time, then the odd ones, each chunk in plain row order.
The ordering (and so the result) does not depend on the number of threads.
On the voxel grid (nodes in lexicographic order) this is a slab-wise
lexicographic sweep: better locality and smoothing than a multicolour sweep
(14 and 29 colours on the two levels), which took 38 % longer per solve on the
L1-L3 segment at 2 mm.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba import JIT, PJIT


@njit(**JIT)
def csr_bandwidth(indptr, indices, data):
    """max |row - column| over the non-zero entries of a CSR matrix (0 if diagonal)."""
    bw = 0
    for r in range(indptr.size - 1):
        for p in range(indptr[r], indptr[r + 1]):
            if data[p] != 0.0:
                d = abs(indices[p] - r)
                if d > bw:
                    bw = d
    return bw


#: rows (or blocks) handed to a thread at a time
_CHUNK = 64
#: the widest block of vectors one kernel call processes; wider blocks are split
MAX_WIDTH = 8


def _make_block_kernels(width: int):
    """(matmat, residual, gauss_seidel) for X of exactly ``width`` columns.

    The width is a compile-time constant of each kernel (a closure variable, part
    of Numba's cache key), so the loop over the vectors is unrolled: a run-time
    width made the kernels 2-4x slower.
    """

    @njit(**PJIT)
    def matmat(indptr, indices, data, X, Y, accumulate):
        """Y = A X (Y += A X when ``accumulate``); A CSR (m rows), X (n, width)."""
        m = indptr.size - 1
        for c in prange((m + _CHUNK - 1) // _CHUNK):
            acc = np.empty(width)
            for r in range(c * _CHUNK, min(m, c * _CHUNK + _CHUNK)):
                for v in range(width):
                    acc[v] = Y[r, v] if accumulate else 0.0
                for p in range(indptr[r], indptr[r + 1]):
                    a = data[p]
                    j = indices[p]
                    for v in range(width):
                        acc[v] += a * X[j, v]
                for v in range(width):
                    Y[r, v] = acc[v]

    @njit(**PJIT)
    def residual(indptr, indices, data, X, B, R):
        """R = B - A X, all (n, width)."""
        m = indptr.size - 1
        for c in prange((m + _CHUNK - 1) // _CHUNK):
            acc = np.empty(width)
            for r in range(c * _CHUNK, min(m, c * _CHUNK + _CHUNK)):
                for v in range(width):
                    acc[v] = B[r, v]
                for p in range(indptr[r], indptr[r + 1]):
                    a = data[p]
                    j = indices[p]
                    for v in range(width):
                        acc[v] -= a * X[j, v]
                for v in range(width):
                    R[r, v] = acc[v]

    @njit(**PJIT)
    def gauss_seidel(indptr, indices, data, inv_diag, X, B, chunk_ptr, reverse):
        """One Gauss-Seidel sweep on A X = B, in place on X (n, width).

        Rows chunk_ptr[c]:chunk_ptr[c+1] form chunk c; a chunk may couple only to
        chunks c - 1 and c + 1 (see module docstring).  The even chunks are swept
        in parallel, then the odd ones.  ``reverse``: the exact reverse order (odd
        chunks first, rows backwards); a forward then a reverse sweep is a
        symmetric smoother.  inv_diag: 1 / a_rr, 0 where a_rr == 0 (row left alone).
        """
        n_chunks = chunk_ptr.size - 1
        for step in range(2):
            parity = 1 - step if reverse else step
            for h in prange((n_chunks - parity + 1) // 2):
                c = 2 * h + parity
                lo = chunk_ptr[c]
                hi = chunk_ptr[c + 1]
                acc = np.empty(width)
                # reverse: rows and their entries backwards, one descending stream
                # through memory (rows backwards with entries forwards ran 2.7x slower)
                step = -1 if reverse else 1
                for t in range(hi - lo):
                    r = hi - 1 - t if reverse else lo + t
                    w = inv_diag[r]
                    if w == 0.0:
                        continue
                    for v in range(width):
                        acc[v] = B[r, v]
                    first = indptr[r + 1] - 1 if reverse else indptr[r]
                    for q in range(indptr[r + 1] - indptr[r]):
                        p = first + step * q
                        a = data[p]
                        j = indices[p]
                        for v in range(width):
                            acc[v] -= a * X[j, v]
                    for v in range(width):
                        X[r, v] += w * acc[v]

    return matmat, residual, gauss_seidel


_BLOCK_KERNELS = {}
#: widths compiled by ``biomech warmup``: one vector, and a rigid plate's six DOFs
WARM_WIDTHS = (1, 6)


def block_kernels(width: int):
    """The (matmat, residual, gauss_seidel) kernels for blocks of ``width`` vectors
    (1 <= width <= MAX_WIDTH), compiled on first use and cached."""
    if not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"width must lie in 1..{MAX_WIDTH}, got {width}")
    if width not in _BLOCK_KERNELS:
        _BLOCK_KERNELS[width] = _make_block_kernels(width)
    return _BLOCK_KERNELS[width]


def block_dispatchers() -> dict:
    """{"matmat[6]": dispatcher, ...} for the widths in WARM_WIDTHS (for warm-up and
    its check that everything compiled)."""
    out = {}
    for w in WARM_WIDTHS:
        for name, fn in zip(("matmat", "residual", "gauss_seidel"), block_kernels(w)):
            out[f"{name}[{w}]"] = fn
    return out


def warm_block_kernels() -> None:
    """Compile (or load) the block kernels of WARM_WIDTHS on a 2 x 2 matrix."""
    indptr = np.array([0, 2, 4], np.int32)
    indices = np.array([0, 1, 0, 1], np.int32)
    data = np.array([2.0, -1.0, -1.0, 2.0])
    for w in WARM_WIDTHS:
        X, B, Y = np.ones((2, w)), np.ones((2, w)), np.empty((2, w))
        csr_matmat(indptr, indices, data, X, Y, False)
        csr_residual(indptr, indices, data, X, B, Y)
        chunked_gauss_seidel(indptr, indices, data, np.full(2, 0.5), X, B,
                             row_chunks(indptr, indices, data), False)


def _split(k):
    return [(s, min(k, s + MAX_WIDTH)) for s in range(0, k, MAX_WIDTH)]


def csr_matmat(indptr, indices, data, X, Y, accumulate):
    """Y = A X (Y += A X when ``accumulate``) for a CSR matrix A and X (n, k), Y (m, k),
    both C-contiguous float64."""
    for a, b in _split(X.shape[1]):
        xs, ys = (X, Y) if b - a == X.shape[1] else (np.ascontiguousarray(X[:, a:b]),
                                                      np.ascontiguousarray(Y[:, a:b]))
        block_kernels(b - a)[0](indptr, indices, data, xs, ys, accumulate)
        if ys is not Y:
            Y[:, a:b] = ys


def csr_residual(indptr, indices, data, X, B, R):
    """R = B - A X, all (n, k) C-contiguous float64."""
    for a, b in _split(X.shape[1]):
        if b - a == X.shape[1]:
            block_kernels(b - a)[1](indptr, indices, data, X, B, R)
        else:
            rs = np.empty((R.shape[0], b - a))
            block_kernels(b - a)[1](indptr, indices, data, np.ascontiguousarray(X[:, a:b]),
                                    np.ascontiguousarray(B[:, a:b]), rs)
            R[:, a:b] = rs


def chunked_gauss_seidel(indptr, indices, data, inv_diag, X, B, chunk_ptr, reverse):
    """One Gauss-Seidel sweep on A X = B in place on X (n, k), chunk by chunk; see
    :func:`block_kernels` and :func:`row_chunks`."""
    for a, b in _split(X.shape[1]):
        if b - a == X.shape[1]:
            block_kernels(b - a)[2](indptr, indices, data, inv_diag, X, B, chunk_ptr, reverse)
        else:
            xs = np.ascontiguousarray(X[:, a:b])
            block_kernels(b - a)[2](indptr, indices, data, inv_diag, xs,
                                    np.ascontiguousarray(B[:, a:b]), chunk_ptr, reverse)
            X[:, a:b] = xs


def row_chunks(indptr, indices, data):
    """chunk_ptr (n_chunks + 1,) int64: equal contiguous row chunks, each at least the
    matrix bandwidth long, so that a chunk couples only to its neighbours."""
    n = indptr.size - 1
    bw = max(int(csr_bandwidth(indptr, indices, data)), 1)
    n_chunks = max(1, n // bw)
    return np.linspace(0, n, n_chunks + 1).astype(np.int64)
