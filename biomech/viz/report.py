"""``report.html`` of a study: results table, plots, pictures and the inputs that
reproduce them (study file text, package versions, SHA-256 of every file).

The page is self-contained and needs no network: images are embedded as base64
data URIs (default) or referenced relative to the report's folder (copied in
when they live elsewhere); the style sheet is inline; there is no script.  A
Content-Security-Policy meta tag forbids any other fetch, so a page that tried to
reach the network would show it as a console error (tests/test_report.py opens
the page in headless Chromium and checks it).

Takes plain inputs (a list of result dicts, lists of (caption, PNG path)); the
study layer calls :func:`write_report`.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import logging
import math
import platform
import shutil
from pathlib import Path
from typing import Mapping, Sequence

from biomech.environment import VERSIONED_PACKAGES, package_versions  # noqa: F401
from biomech.errors import InputError
from biomech.io.files import atomic_write_text, sha256_file

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; img-src data: 'self' file:; style-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")
#: Where images referenced (not embedded) are copied, relative to the report.
ASSET_FOLDER = "report_files"

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0 auto;max-width:1400px;
padding:1em 2em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
nav a{margin-right:1.2em}.meta{color:#555;font-size:.9em}
.scroll{overflow-x:auto;border:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em}
th,td{padding:.25em .6em;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th{background:#f3f3f3;position:sticky;top:0;text-align:center}
td.text{text-align:left}tr:hover td{background:#fafae8}
td.up{background:#fde2de}td.down{background:#dfe9fb}
th:first-child,td:first-child{position:sticky;left:0;background:#fff;text-align:left}
th:first-child{background:#f3f3f3;z-index:1}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(620px,100%),1fr));gap:1.2em}
figure{margin:0 0 1em 0}figure img{width:100%;height:auto;border:1px solid #ddd}
figure.wide{grid-column:1/-1}
figcaption{color:#444;font-size:.9em;margin-top:.3em}
pre{background:#f6f6f6;border:1px solid #ddd;padding:.8em;overflow-x:auto;font-size:.85em}
.kv td{text-align:left}.kv td:first-child{color:#555;padding-right:2em}
code{font-size:.9em}
table.headline{width:100%;font-size:.95em;margin:.6em 0 1em 0}
table.headline th{white-space:normal;vertical-align:bottom;position:static}
table.headline td{white-space:nowrap}
table.headline td.case{text-align:left;font-weight:600}
table.headline .unit{font-weight:normal;color:#555;font-size:.85em}
.ratio{display:block;color:#555;font-size:.82em}
.ratio.up{color:#b0301c}.ratio.down{color:#1f4ea8}
.warning{background:#fff4d6;border:1px solid #e0b040;border-left:6px solid #e0a000;
padding:.6em 1em;margin:1em 0}
.warning b{color:#8a5a00}
dl.glossary dt{font-family:monospace;font-weight:600;margin-top:.5em}
dl.glossary dd{margin-left:1.5em}
dl.methods dt{font-weight:600;margin-top:.6em}dl.methods dd{margin-left:0}
"""


# ---------------------------------------------------------------------------- table
def flatten_row(row: Mapping) -> dict:
    """Nested per-level values become columns ``metric[level]`` and
    ``metric[level].stat``; other values are kept."""
    out = {}
    for k, v in row.items():
        if isinstance(v, Mapping):
            for lvl, w in v.items():
                if isinstance(w, Mapping):
                    for stat, x in w.items():
                        out[f"{k}[{lvl}].{stat}"] = x
                else:
                    out[f"{k}[{lvl}]"] = w
        else:
            out[k] = v
    return out


def format_value(v) -> str:
    """Numbers for a reader: 100 and above as whole numbers with thousands separated,
    smaller ones to 4 significant digits (never ``1.416e+04``); integers as they are;
    None/NaN as '–'."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        from .report_text import round_sig
        return round_sig(v, 4)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return format_value(f)


def _ratio_class(col: str, v) -> str:
    """'up' / 'down' for ratio columns more than 10 % away from 1."""
    if "_ratio" not in col or not isinstance(v, (int, float)) or isinstance(v, bool):
        return ""
    if not math.isfinite(v):
        return ""
    return "up" if v > 1.1 else "down" if v < 0.9 else ""


def results_table_html(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """An HTML table of the results (one row per case and load case)."""
    flat = [flatten_row(r) for r in rows]
    if columns is None:
        columns = list(dict.fromkeys(k for r in flat for k in r))
    from .plots import axis_label
    from .report_text import define
    head = "".join(f'<th title="{html.escape(define(c) or axis_label(c.split("[")[0]), quote=True)}">'
                   f'{html.escape(c)}</th>' for c in columns)
    body = []
    for r in flat:
        cells = []
        for c in columns:
            v = r.get(c)
            cls = "text" if isinstance(v, str) else _ratio_class(c, v)
            cells.append(f'<td class="{cls}">{html.escape(format_value(v))}</td>' if cls
                         else f"<td>{html.escape(format_value(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table id="full-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def headline_load_case(rows: Sequence[Mapping], prefer: str = "compression") -> str | None:
    """The load case of the compact table: ``prefer`` when present, else the first."""
    lcs = list(dict.fromkeys(r.get("load_case") for r in rows if r.get("load_case")))
    return prefer if prefer in lcs else (lcs[0] if lcs else None)


def posture_load_case(rows: Sequence[Mapping]) -> str | None:
    """The first load case that applies the upper-body weight (its rows carry
    ``upper_body_weight_N``, :mod:`biomech.posture`); None without one."""
    for r in rows:
        v = r.get("upper_body_weight_N")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
            return r.get("load_case")
    return None


def headline_table_html(rows: Sequence[Mapping], *, load_case: str | None = None,
                        baseline: str | None = None) -> str:
    """The compact comparison table: one row per case (load case ``load_case``), the
    headline metrics with units and, below each value, its ratio to the baseline; the
    adjacent-level loads come from the posture load case when there is one
    (:func:`posture_load_case`; their headings name it)."""
    from .report_text import HEADLINE, HEADLINE_POSTURE, HEADLINE_RATIOS, define, format_metric
    lc = load_case or headline_load_case(rows)
    sel = [r for r in rows if r.get("load_case") == lc] if lc else list(rows)
    if not sel:
        return ""
    posture = posture_load_case(rows)
    by_key = {(r.get("case"), r.get("load_case")): r for r in rows}

    def source(r, col):
        if posture and col in HEADLINE_POSTURE:
            return by_key.get((r.get("case"), posture), {})
        return r

    def finite(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))

    cols = [h for h in HEADLINE if any(finite(source(r, h[0]).get(h[0])) for r in sel)]
    if not cols:
        return ""
    head = ['<th>case</th>']
    for col, heading, unit, _ in cols:
        tip = html.escape(f"{col}: {define(col) or ''}", quote=True)
        if posture and col in HEADLINE_POSTURE:
            heading = f"{heading} ({posture})"
        head.append(f'<th title="{tip}">{html.escape(heading)}<br>'
                    f'<span class="unit">[{html.escape(unit)}]</span></th>')
    body = []
    for r in sel:
        name = str(r.get("case", "?"))
        cells = [f'<td class="case">{html.escape(name)}</td>']
        if r.get("status", "ok") != "ok":
            cells.append(f'<td colspan="{len(cols)}" class="text">failed: '
                         f'{html.escape(str(r.get("error") or ""))}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
            continue
        for col, _heading, unit, dec in cols:
            src = source(r, col)
            txt = html.escape(format_metric(src.get(col), unit, dec))
            ratio = src.get(f"{col}_ratio")
            if (col in HEADLINE_RATIOS and baseline and name != baseline
                    and isinstance(ratio, (int, float)) and math.isfinite(float(ratio))):
                cls = _ratio_class(f"{col}_ratio", float(ratio))
                txt += f'<span class="ratio {cls}">&times;{float(ratio):.2f}</span>'
            cells.append(f"<td>{txt}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="headline" id="headline-table"><thead><tr>{"".join(head)}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table>')


def glossary_html(columns: Sequence[str]) -> str:
    """Definitions of the metrics among ``columns`` (one entry per definition)."""
    from .report_text import define
    seen, items = set(), []
    for c in columns:
        d = define(c)
        if d is None:
            continue
        base = d.replace(" Shown as the ratio to the baseline.", "")
        if base in seen:
            continue
        seen.add(base)
        items.append(f"<dt>{html.escape(c)}</dt><dd>{html.escape(base)}</dd>")
    return f'<dl class="glossary">{"".join(items)}</dl>' if items else ""


# ---------------------------------------------------------------------------- images
def _items(pictures) -> list[tuple[str, Path]]:
    if pictures is None:
        return []
    items = pictures.items() if isinstance(pictures, Mapping) else pictures
    out = []
    for caption, path in items:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"picture {str(caption)!r}: file {p} does not exist")
        if p.suffix.lower() not in (".png", ".jpg", ".jpeg", ".svg"):
            raise InputError(f"picture {p.name!r} must be PNG, JPEG or SVG")
        out.append((str(caption), p))
    return out


_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}


def _image_src(path: Path, folder: Path, embed: bool) -> str:
    if embed:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"data:{_MIME[path.suffix.lower()]};base64,{data}"
    try:
        rel = path.resolve().relative_to(folder.resolve())
    except ValueError:
        assets = folder / ASSET_FOLDER
        assets.mkdir(parents=True, exist_ok=True)
        digest = sha256_file(path)[:10]
        target = assets / f"{path.stem}-{digest}{path.suffix.lower()}"
        shutil.copyfile(path, target)
        rel = target.relative_to(folder)
    return "/".join(html.escape(part, quote=True) for part in rel.parts)


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) [px] from a PNG header, None for other files."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _figures(items, folder, embed) -> str:
    """A grid of figures; pictures wider than 1.8 : 1 span the whole row."""
    out = []
    for caption, path in items:
        src = _image_src(path, folder, embed)
        size = _png_size(path)
        wide = ' class="wide"' if size and size[0] > 1.8 * size[1] else ""
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        out.append(f'<figure{wide}><img src="{src}"{dims} alt="{html.escape(caption, quote=True)}">'
                   f"<figcaption>{html.escape(caption)} <span class=\"meta\">"
                   f"({html.escape(path.name)})</span></figcaption></figure>")
    return '<div class="gallery">' + "\n".join(out) + "</div>"


# ---------------------------------------------------------------------------- page
def _kv_table(d: Mapping) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(format_value(v))}</td></tr>"
                   for k, v in d.items())
    return f'<table class="kv">{rows}</table>'


def _file_rows(files, folder: Path) -> str:
    rows = []
    for f in files:
        p = Path(f)
        if not p.is_file():
            raise InputError(f"file to hash {p} does not exist")
        try:
            rel = p.resolve().relative_to(folder.resolve())
            href = html.escape("/".join(rel.parts), quote=True)
            name = f'<a href="{href}">{html.escape(str(rel))}</a>'
        except ValueError:
            name = html.escape(str(p))
        rows.append(f"<tr><td class=\"text\">{name}</td><td>{p.stat().st_size:,}</td>"
                    f"<td class=\"text\"><code>{sha256_file(p)}</code></td></tr>")
    return ("<table><thead><tr><th>file</th><th>bytes</th><th>SHA-256</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def write_report(folder, rows: Sequence[Mapping], *, title: str = "biomech study",
                 pictures=None, plots=None, study_file=None, study_text: str | None = None,
                 files: Sequence = (), inputs: Mapping | None = None,
                 columns: Sequence[str] | None = None, baseline: str | None = None,
                 command: str | None = None, notes: str | None = None, embed: bool = True,
                 filename: str = "report.html", methods=None, limitations=None,
                 comparisons: Mapping | None = None, warnings: Sequence[str] = (),
                 load_case: str | None = None) -> Path:
    """Write ``folder/report.html`` and return its path.

    rows : the results table (list of dicts; nested per-level dicts are flattened)
    pictures, plots : [(caption, PNG path), ...] or {caption: path}
    study_file : the study file (its text is shown and hashed); or ``study_text``
    files : more files to list with size and SHA-256 (results.csv, VTU, ...)
    inputs : further provenance {name: value} (case hashes, seeds, cluster, ...)
    columns : table columns in order (default: every column met)
    baseline : name of the baseline case the ``_ratio`` columns refer to
    command : the command that reproduces the study
    embed : True = images inside the page (base64), False = relative files
    methods : [(heading, text)] (:func:`biomech.viz.report_text.methods`)
    limitations : [sentence] (:func:`biomech.viz.report_text.limitations`)
    comparisons : {case: what it is compared with} (:func:`~biomech.viz.report_text.comparison_notes`)
    warnings : further validity warnings (those :func:`~biomech.viz.report_text.validity_warnings`
    finds in ``rows`` are always shown)
    load_case : load case of the compact headline table (default compression, else the first)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    if not all(isinstance(r, Mapping) for r in rows):
        raise InputError("rows must be a list of dicts (one per case and load case)")
    pics, plts = _items(pictures), _items(plots)
    if study_file is not None:
        sf = Path(study_file)
        if not sf.is_file():
            raise InputError(f"study file {sf} does not exist")
        study_text = sf.read_text(encoding="utf-8", errors="replace")
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    versions = package_versions()
    n_cases = len({r.get("case") for r in rows}) if rows else 0
    sections = []
    nav = []

    def section(anchor, heading, body):
        nav.append(f'<a href="#{anchor}">{html.escape(heading)}</a>')
        sections.append(f'<section id="{anchor}"><h2>{html.escape(heading)}</h2>{body}</section>')

    from .report_text import validity_warnings
    all_warnings = list(dict.fromkeys(list(validity_warnings(rows)) + list(warnings or ())))
    if all_warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in all_warnings)
        section("validity", "Validity warnings",
                f'<div class="warning"><b>Some results lie outside the validity of the model.'
                f"</b><ul>{items}</ul></div>")
    lc = load_case or headline_load_case(rows)
    intro = (f"<p>{n_cases} case{'s' if n_cases != 1 else ''}, {len(rows)} result row"
             f"{'s' if len(rows) != 1 else ''}.</p>")
    if notes:
        intro += f"<p>{html.escape(notes)}</p>"
    compact = headline_table_html(rows, load_case=lc, baseline=baseline) if rows else ""
    if compact:
        intro += (f"<h3>Headline metrics, load case <i>{html.escape(str(lc))}</i></h3>"
                  + compact + '<p class="meta">'
                  + (f"&times; = ratio to the baseline case <b>{html.escape(baseline)}</b> in the "
                     "same load case (red more than 10 % above, blue more than 10 % below). "
                     if baseline else "")
                  + "Values of 100 and above are whole numbers; smaller ones 3 significant "
                  "digits. Hover a heading for its definition; all are defined under "
                  '<a href="#metrics">Metrics</a>.</p>')
    if comparisons:
        items = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>"
                        for k, v in comparisons.items())
        intro += f"<h3>What each case is compared with</h3><ul>{items}</ul>"
    section("results", "Results", intro + (
        "<h3>All results</h3><p class=\"meta\">One row per case and load case; units in the "
        "column names; <code>_ratio</code> columns are to the baseline.</p>"
        + results_table_html(rows, columns) if rows else "<p>No results.</p>"))
    if plts:
        section("plots", "Plots", _figures(plts, folder, embed))
    if pics:
        section("pictures", "Pictures", _figures(pics, folder, embed))
    if methods:
        items = "".join(f"<dt>{html.escape(h)}</dt><dd>{html.escape(t)}</dd>" for h, t in methods)
        section("methods", "Methods", f'<dl class="methods">{items}</dl>')
    if limitations:
        items = "".join(f"<li>{html.escape(t)}</li>" for t in limitations)
        section("limitations", "Limitations", f"<p>What this model does not represent:</p>"
                                              f"<ul>{items}</ul>")
    shown = list(columns) if columns is not None else list(
        dict.fromkeys(k for r in rows for k in flatten_row(r)))
    from .report_text import HEADLINE
    gl = glossary_html([h[0] for h in HEADLINE] + shown)
    if gl:
        section("metrics", "Metrics", gl)
    inp = []
    if command:
        inp.append(f"<h3>Command</h3><pre>{html.escape(command)}</pre>")
    if study_text is not None:
        digest = hashlib.sha256(study_text.encode("utf-8")).hexdigest()
        name = html.escape(Path(study_file).name) if study_file is not None else "study"
        inp.append(f"<h3>Study file <code>{name}</code></h3>"
                   f'<p class="meta">SHA-256 <code>{digest}</code></p>'
                   f"<pre>{html.escape(study_text)}</pre>")
    if inputs:
        inp.append("<h3>Provenance</h3>" + _kv_table(inputs))
    inp.append("<h3>Software</h3>" + _kv_table(versions))
    all_files = list(files) + ([study_file] if study_file is not None else []) + \
        ([p for _, p in pics + plts] if not embed else [])
    if all_files:
        inp.append("<h3>Files</h3>" + _file_rows(all_files, folder))
    section("inputs", "Inputs (to reproduce)", "".join(inp))

    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body><header><h1>{html.escape(title)}</h1>
<p class="meta">written {now} by biomech {html.escape(versions['biomech'])}
on {html.escape(platform.node() or 'unknown host')}</p>
<nav>{''.join(nav)}</nav></header>
<main>{''.join(sections)}</main></body></html>
"""
    out = folder / filename
    atomic_write_text(out, page)
    log.info("wrote report %s (%d rows, %d plots, %d pictures)", out, len(rows), len(plts),
             len(pics))
    return out
