"""Plots of a results table (matplotlib, no display needed).

The table is a list of dicts, one per case and load case, with the metric names of
DESIGN.md (``case``, ``load_case``, ``stiffness_N_per_mm``, ``disc_pressure_MPa``,
``cement_volume_ml``, ..., ratio columns ending in ``_ratio``).  Per-level metrics
may be stored either nested (``row["disc_pressure_MPa"] = {"L1-L2": 0.61, ...}``,
per-endplate statistics as ``{"L1 inferior": {"mean": .., "p95": ..}}``) or flat
(``disc_pressure_MPa_L1-L2``, ``disc_pressure_MPa[L1-L2]``, with ``_ratio`` at the
end for ratios); :func:`level_values` reads both.

* :func:`plot_sweep` -- metrics against a swept parameter (cement volume, modulus),
  one line per group (treatment, cement);
* :func:`plot_level_ratios` -- per-level bars of adjacent-level load as ratios to
  the baseline case, the treated level marked;
* :func:`plot_stiffness_restoration` -- stiffness of each case in % of the baseline.

Each returns a ``matplotlib.figure.Figure`` (no pyplot state) and writes a PNG
when ``filename`` is given.  Axis labels carry units, parsed from column names
by :func:`axis_label`.
"""
from __future__ import annotations

import logging
import math
import re
from typing import Mapping, Sequence

from biomech.errors import InputError

log = logging.getLogger(__name__)

#: Column-name unit suffixes -> unit shown on axes (longest match first).
UNIT_SUFFIXES = (
    ("_N_per_mm", "N/mm"), ("_N_mm", "N mm"), ("_mg_cm3", "mg/cm³"), ("_g_cm3", "g/cm³"),
    ("_Pa_s", "Pa s"), ("_MPa", "MPa"), ("_mm3", "mm³"), ("_mm2", "mm²"), ("_mm", "mm"),
    ("_ml", "mL"), ("_N", "N"), ("_s", "s"), ("_percent", "%"), ("_deg", "°"),
    ("_fraction", "-"), ("_strain", "-"),
)
#: Dimensionless metric names without a unit suffix.
DIMENSIONLESS = ("bone_at_risk", "fill_fraction", "nu", "bvtv")
DPI = 150
#: Colours of the cases, in order of first appearance (matplotlib "tab10").
CASE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf")


def axis_label(column: str) -> str:
    """Readable label with unit from a column name:
    ``stiffness_N_per_mm`` -> 'stiffness [N/mm]', ``cement_volume_ml`` ->
    'cement volume [mL]', ``disc_pressure_MPa_ratio`` -> 'disc pressure / baseline [-]'."""
    name, ratio = column, False
    if name.endswith("_ratio"):
        name, ratio = name[:-len("_ratio")], True
    unit = None
    for suffix, u in UNIT_SUFFIXES:
        if name.endswith(suffix):
            name = name[:-len(suffix)] if suffix not in ("_fraction", "_strain") else name
            unit = u
            break
    if unit is None and name in DIMENSIONLESS:
        unit = "-"
    text = name.replace("_", " ")
    if ratio:
        return f"{text} / baseline [-]"
    return f"{text} [{unit}]" if unit else text


def metric_name(column: str) -> str:
    """The label of a column without its unit: 'disc_pressure_MPa' -> 'disc pressure'."""
    text = axis_label(column)
    return text[:text.rfind(" [")] if text.endswith("]") else text


def _outside_legend(ax, **kw):
    """Legend to the right of the axes (never over the data)."""
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              **kw)


def _figure(n_panels: int = 1, *, width_per_panel: float = 5.0, height: float = 3.8):
    from .offscreen import import_matplotlib
    import_matplotlib()
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width_per_panel * n_panels, height), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    return fig, list(axes)


def _save(fig, filename):
    if filename is not None:
        fig.savefig(str(filename), dpi=DPI, facecolor="white")
        log.info("wrote plot %s", filename)
    return fig


def _number(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _check_rows(rows) -> list[dict]:
    rows = list(rows)
    if not rows:
        raise InputError("the results table is empty: nothing to plot")
    if not all(isinstance(r, Mapping) for r in rows):
        raise InputError("the results table must be a list of dicts (one per case and load case)")
    return rows


def _columns(rows) -> list[str]:
    seen = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def _select_load_case(rows, load_case, load_case_key="load_case"):
    if load_case is None:
        return rows
    out = [r for r in rows if r.get(load_case_key) == load_case]
    if not out:
        have = sorted({str(r.get(load_case_key)) for r in rows})
        raise InputError(f"no row has {load_case_key} = {load_case!r}; the table has {have}")
    return out


def _load_cases(rows, load_case_key="load_case") -> list:
    out = []
    for r in rows:
        lc = r.get(load_case_key)
        if lc not in out:
            out.append(lc)
    return out


def _colour_map(names) -> dict:
    return {n: CASE_COLOURS[i % len(CASE_COLOURS)] for i, n in enumerate(names)}


# ---------------------------------------------------------------------------- table access
_SEP = re.compile(r"^[\s_\.\[\(]+|[\s_\.\]\)]+$")


def level_values(row: Mapping, metric: str, *, ratio: bool = False, statistic: str | None = None,
                 columns: Mapping[str, str] | None = None) -> dict[str, float]:
    """{level: value} of a per-level metric in one row (see the module doc for the
    layouts read); ``ratio`` reads the ``_ratio`` columns; ``statistic`` picks
    "mean" / "p95" ... of nested per-endplate statistics or flat columns that
    contain it; ``columns`` {level: column name} overrides the search."""
    if columns:
        return {lvl: _number(row.get(col)) for lvl, col in columns.items()}
    out: dict[str, float] = {}
    key = f"{metric}_ratio" if ratio else metric
    nested = row.get(key)
    if isinstance(nested, Mapping):
        for lvl, v in nested.items():
            if isinstance(v, Mapping):
                stat = statistic or "mean"
                v = v.get(stat)
            out[str(lvl)] = _number(v)
        return out
    for col, v in row.items():
        if not col.startswith(metric) or col == metric:
            continue
        rest = col[len(metric):]
        if rest.endswith("_ratio") != ratio:
            continue
        if ratio:
            rest = rest[:-len("_ratio")]
        if statistic is not None:
            if statistic not in rest:
                continue
            rest = rest.replace(statistic, "", 1)
        level = _SEP.sub("", rest)
        if not level or (rest and rest[0].isalnum()):
            continue          # another metric that merely starts with the same letters
        out[level] = _number(v)
    return out


def ratios_to_baseline(rows, baseline: str, metric: str, *, case_key: str = "case",
                       load_case_key: str = "load_case", statistic: str | None = None,
                       columns: Mapping[str, str] | None = None) -> dict[tuple, dict[str, float]]:
    """{(case, load case): {level: value / baseline value}} for a per-level metric,
    dividing by the baseline case's row of the same load case.  Ratio columns
    already in the table are used where present."""
    rows = _check_rows(rows)
    base = {r.get(load_case_key): r for r in rows if r.get(case_key) == baseline}
    if not base:
        have = sorted({str(r.get(case_key)) for r in rows})
        raise InputError(f"baseline case {baseline!r} is not in the table; cases: {have}")
    out = {}
    for r in rows:
        key = (r.get(case_key), r.get(load_case_key))
        given = level_values(r, metric, ratio=True, statistic=statistic)
        if given and not columns:
            out[key] = given
            continue
        b = base.get(r.get(load_case_key))
        if b is None:
            continue
        vals = level_values(r, metric, statistic=statistic, columns=columns)
        bvals = level_values(b, metric, statistic=statistic, columns=columns)
        out[key] = {lvl: (v / bvals[lvl] if v is not None and bvals.get(lvl) not in (None, 0.0)
                          else None) for lvl, v in vals.items()}
    return out


# ---------------------------------------------------------------------------- plots
def plot_sweep(rows, x: str, y: str | Sequence[str], *, group_by: str | None = None,
               load_case=None, load_case_key: str = "load_case", baseline_value=None,
               filename=None, title: str | None = None):
    """Metrics ``y`` (one panel each) against the swept parameter ``x`` (e.g.
    ``cement_volume_ml``, ``cement_E_MPa``), one line per value of ``group_by``
    (e.g. ``treatment``); rows without a number in x or y are left out.
    ``_ratio`` metrics get a dashed line at 1 (the baseline); ``baseline_value``
    {y column: value} draws a dashed line at that value."""
    rows = _select_load_case(_check_rows(rows), load_case, load_case_key)
    ys = [y] if isinstance(y, str) else list(y)
    cols = _columns(rows)
    for c in [x, *ys] + ([group_by] if group_by else []):
        if c not in cols:
            raise InputError(f"column {c!r} is not in the results table; columns: {cols}")
    groups = []
    for r in rows:
        g = r.get(group_by) if group_by else None
        if g not in groups:
            groups.append(g)
    colours = _colour_map(groups)
    fig, axes = _figure(len(ys))
    for ax, col in zip(axes, ys):
        for g in groups:
            pts = sorted((_number(r.get(x)), _number(r.get(col))) for r in rows
                         if (not group_by or r.get(group_by) == g)
                         and _number(r.get(x)) is not None and _number(r.get(col)) is not None)
            if not pts:
                continue
            xs, vs = zip(*pts)
            ax.plot(xs, vs, marker="o", color=colours[g], label=str(g) if group_by else None)
        if col.endswith("_ratio"):
            ax.axhline(1.0, color="0.4", ls="--", lw=1, label="baseline")
        if baseline_value and col in baseline_value:
            ax.axhline(float(baseline_value[col]), color="0.4", ls="--", lw=1, label="baseline")
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(axis_label(col))
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0] and ax is axes[-1]:
            _outside_legend(ax, title=group_by.replace("_", " ") if group_by else None)
    if title:
        fig.suptitle(title)
    if load_case is not None:
        axes[0].set_title(f"load case: {load_case}", fontsize="medium")
    return _save(fig, filename)


def plot_level_ratios(rows, metric: str, *, baseline: str | None = None, cases=None,
                      load_case=None, treated_level: str | None = None,
                      statistic: str | None = None, columns: Mapping[str, str] | None = None,
                      case_key: str = "case", load_case_key: str = "load_case",
                      filename=None, title: str | None = None):
    """Per-level bars of ``metric`` (e.g. ``disc_pressure_MPa``,
    ``endplate_stress_MPa`` with ``statistic="p95"``) as ratios to the baseline
    case, one bar per case, a dashed line at 1; one panel per load case.

    Ratios come from the ``_ratio`` columns, or are computed from the values and
    the ``baseline`` row of the same load case.  ``treated_level`` shades that level.
    """
    rows = _select_load_case(_check_rows(rows), load_case, load_case_key)
    if baseline is not None:
        ratios = ratios_to_baseline(rows, baseline, metric, case_key=case_key,
                                    load_case_key=load_case_key, statistic=statistic,
                                    columns=columns)
    else:
        ratios = {(r.get(case_key), r.get(load_case_key)):
                  level_values(r, metric, ratio=True, statistic=statistic) for r in rows}
    ratios = {k: v for k, v in ratios.items() if v}
    if not ratios:
        raise InputError(
            f"no per-level values of {metric!r} as ratios: the table needs "
            f"'{metric}_<level>_ratio' columns (or nested '{metric}_ratio' dicts), or give "
            "baseline=<case> and per-level values")
    names = [c for c in dict.fromkeys(k[0] for k in ratios)
             if c != baseline and (cases is None or c in cases)]
    if not names:
        raise InputError(f"no case to compare with the baseline {baseline!r}")
    lcs = [lc for lc in _load_cases(rows, load_case_key) if any(k[1] == lc for k in ratios)]
    levels = list(dict.fromkeys(l for v in ratios.values() for l in v))
    colours = _colour_map(names)
    fig, axes = _figure(len(lcs), width_per_panel=max(4.5, 1.1 * len(levels) + 2.5))
    width = 0.8 / len(names)
    label = metric_name(metric) + (f" ({statistic})" if statistic else "")
    for ax, lc in zip(axes, lcs):
        for i, name in enumerate(names):
            vals = ratios.get((name, lc), {})
            xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(levels))]
            hs = [vals.get(l) if vals.get(l) is not None else math.nan for l in levels]
            bars = ax.bar(xs, hs, width=width * 0.95, color=colours[name], label=str(name))
            ax.bar_label(bars, labels=[f"{h:.2f}" if math.isfinite(h) else "" for h in hs],
                         fontsize="x-small", padding=1)
        ax.axhline(1.0, color="0.3", ls="--", lw=1,
                   label=f"baseline{': ' + str(baseline) if baseline else ''} = 1")
        if treated_level in levels:
            j = levels.index(treated_level)
            ax.axvspan(j - 0.45, j + 0.45, color="0.85", zorder=0, label="treated level")
        ax.set_xticks(range(len(levels)), levels)
        ax.set_xlabel("level")
        ax.set_ylabel(f"{label} / baseline [-]")
        ax.grid(True, axis="y", alpha=0.3)
        if lc is not None and len(lcs) > 1 or load_case is not None:
            ax.set_title(f"load case: {lc}", fontsize="medium")
        lo = min([h for v in ratios.values() for h in v.values() if h is not None] + [1.0])
        hi = max([h for v in ratios.values() for h in v.values() if h is not None] + [1.0])
        ax.set_ylim(min(0.0, lo * 1.1), hi * 1.15)
    _outside_legend(axes[-1])
    fig.suptitle(title or f"{label}: ratio to baseline, per level")
    return _save(fig, filename)


def plot_stiffness_restoration(rows, *, metric: str = "stiffness_N_per_mm",
                               baseline: str = "intact",
                               reference: str | None = None, cases=None, load_case=None,
                               case_key: str = "case", load_case_key: str = "load_case",
                               filename=None, title: str | None = None):
    """Stiffness of each case in % of the ``baseline`` case (e.g. intact), one bar
    per case and load case, a dashed line at 100 %; ``reference`` (e.g. the
    untreated fractured case) gets a dotted line, so restoration reads as the
    climb from it towards 100 %.  Bars are annotated with % and N/mm."""
    rows = _select_load_case(_check_rows(rows), load_case, load_case_key)
    base = {r.get(load_case_key): _number(r.get(metric)) for r in rows
            if r.get(case_key) == baseline}
    if not base:
        have = sorted({str(r.get(case_key)) for r in rows})
        raise InputError(f"baseline case {baseline!r} is not in the table; cases: {have}")
    lcs = [lc for lc in _load_cases(rows, load_case_key) if base.get(lc)]
    names = [c for c in dict.fromkeys(r.get(case_key) for r in rows)
             if c != baseline and (cases is None or c in cases)]
    if not names or not lcs:
        raise InputError(f"nothing to compare with the baseline {baseline!r} "
                         f"(needs other cases and a non-zero baseline {metric})")
    colours = _colour_map(lcs)
    fig, axes = _figure(1, width_per_panel=max(5.0, 1.2 * len(names) * max(1, len(lcs)) + 2))
    ax = axes[0]
    width = 0.8 / len(lcs)
    for i, lc in enumerate(lcs):
        xs, hs, notes = [], [], []
        for j, name in enumerate(names):
            v = next((_number(r.get(metric)) for r in rows
                      if r.get(case_key) == name and r.get(load_case_key) == lc), None)
            xs.append(j + (i - (len(lcs) - 1) / 2) * width)
            hs.append(100.0 * v / base[lc] if v is not None else math.nan)
            notes.append(f"{100.0 * v / base[lc]:.0f} %\n{v:.0f}" if v is not None else "")
        bars = ax.bar(xs, hs, width=width * 0.95, color=colours[lc],
                      label=f"load case: {lc}" if lc is not None else None)
        ax.bar_label(bars, labels=notes, fontsize="x-small", label_type="center", color="white",
                     fontweight="bold")
        if reference is not None:
            ref = next((_number(r.get(metric)) for r in rows
                        if r.get(case_key) == reference and r.get(load_case_key) == lc), None)
            if ref is not None:
                ax.axhline(100.0 * ref / base[lc], color=colours[lc], ls=":", lw=1.5,
                           label=f"{reference}" + (f" ({lc})" if len(lcs) > 1 else ""))
    ax.axhline(100.0, color="0.3", ls="--", lw=1, label=f"{baseline} = 100 %")
    ax.set_xticks(range(len(names)), [str(n) for n in names], rotation=20 if len(names) > 4 else 0)
    ax.set_ylabel(f"{metric_name(metric)} [% of {baseline}]")
    heights = [p.get_height() for p in ax.patches]
    top = max([h for h in heights if math.isfinite(h)] + [100.0])
    ax.set_ylim(0, top * 1.1)
    ax.grid(True, axis="y", alpha=0.3)
    _outside_legend(ax)
    unit = axis_label(metric)[axis_label(metric).rfind("[") + 1:-1]
    fig.suptitle(title or f"{metric_name(metric)} restoration: % of {baseline} "
                          f"(bar labels: % and {unit})")
    return _save(fig, filename)
