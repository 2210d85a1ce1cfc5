"""Kernels of the multigrid cycle: CSR products and multicolour Gauss-Seidel on
blocks of vectors.

Every kernel works on ``X`` of shape (n, k): k right-hand sides in one pass, so
the matrix is read once for all of them (a rigid plate's six condensation
solves, several load cases).  Rows are processed in parallel; Gauss-Seidel is
made parallel and deterministic by a colouring of the node (block) graph: blocks
of one colour share no matrix entry, so they are relaxed at the same time, and
the result does not depend on the number of threads (Adams 2001, "A distributed
memory unstructured Gauss-Seidel algorithm for multigrid smoothers").
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._numba import JIT, PJIT


@njit(**JIT)
def greedy_block_colouring(indptr, indices, bs):
    """Colour the graph of bs x bs blocks of a square CSR matrix (n = indptr.size - 1,
    a multiple of bs): two blocks joined by any entry get different colours.

    Greedy in block order; returns colour (n // bs,) int32.
    """
    nb = (indptr.size - 1) // bs
    colour = np.full(nb, -1, np.int32)
    stamp = np.full(nb + 1, -1, np.int64)      # stamp[c] == I: colour c used next to I
    for I in range(nb):
        for r in range(I * bs, I * bs + bs):
            for p in range(indptr[r], indptr[r + 1]):
                J = indices[p] // bs
                c = colour[J]
                if c >= 0:
                    stamp[c] = I
        c = 0
        while stamp[c] == I:
            c += 1
        colour[I] = c
    return colour


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
    def gauss_seidel(indptr, indices, data, inv_diag, X, B, colour_ptr, order, bs, reverse):
        """One Gauss-Seidel sweep on A X = B, in place on X (n, width).

        Blocks (bs rows each) are visited colour by colour (the blocks of colour c
        are ``order[colour_ptr[c]:colour_ptr[c+1]]``), the blocks of one colour
        in parallel, the rows of a block in sequence.  ``reverse``: colours and
        rows in the opposite order (a forward then a reverse sweep is a symmetric
        smoother).  inv_diag: 1 / a_rr, 0 where a_rr == 0 (the row is left alone).
        """
        n_colours = colour_ptr.size - 1
        for cc in range(n_colours):
            c = n_colours - 1 - cc if reverse else cc
            first = colour_ptr[c]
            count = colour_ptr[c + 1] - first
            for ch in prange((count + _CHUNK - 1) // _CHUNK):
                acc = np.empty(width)
                for t in range(first + ch * _CHUNK, first + min(count, ch * _CHUNK + _CHUNK)):
                    blk = order[t]
                    for rr in range(bs):
                        r = blk * bs + (bs - 1 - rr if reverse else rr)
                        w = inv_diag[r]
                        if w == 0.0:
                            continue
                        for v in range(width):
                            acc[v] = B[r, v]
                        for p in range(indptr[r], indptr[r + 1]):
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
        multicolour_gauss_seidel(indptr, indices, data, np.full(2, 0.5), X, B,
                                 np.array([0, 1, 2], np.int64), np.array([0, 1], np.int64), 1,
                                 False)


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


def multicolour_gauss_seidel(indptr, indices, data, inv_diag, X, B, colour_ptr, order, bs,
                             reverse):
    """One multicolour Gauss-Seidel sweep on A X = B in place on X (n, k); see
    :func:`block_kernels`."""
    for a, b in _split(X.shape[1]):
        if b - a == X.shape[1]:
            block_kernels(b - a)[2](indptr, indices, data, inv_diag, X, B, colour_ptr, order,
                                    bs, reverse)
        else:
            xs = np.ascontiguousarray(X[:, a:b])
            block_kernels(b - a)[2](indptr, indices, data, inv_diag, xs,
                                    np.ascontiguousarray(B[:, a:b]), colour_ptr, order, bs,
                                    reverse)
            X[:, a:b] = xs
