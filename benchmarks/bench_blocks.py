"""Shared parts of the block benchmarks (bench_strains, bench_coarse_product): the
best-of-n timer and the command line that runs one table per block edge."""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def best_seconds(fn, repeats: int) -> float:
    """Shortest of ``repeats`` timed calls of fn() [s], after one untimed call (compiled
    and warmed before timing)."""
    fn()
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run_blocks(description: str, rows_of, markdown, argv=None, *, default_n, repeats: int):
    """Parse ``--n`` (block edges) ``--repeats`` ``--json``, make rows_of(n, repeats) for
    each edge, print markdown(rows), write them as JSON if asked; returns the rows."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--n", type=int, nargs="*", default=list(default_n),
                    help="block edges [voxels]")
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    rows = [r for n in args.n for r in rows_of(n, args.repeats)]
    print(markdown(rows), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


def markdown_table(rows, columns) -> str:
    """Markdown table of rows (dicts): columns [(header, key, format spec), ...]."""
    out = ["| " + " | ".join(h for h, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(format(r[k], f) for _, k, f in columns) + " |" for r in rows]
    return "\n".join(out)
