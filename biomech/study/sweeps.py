"""Case inheritance (``extends``) and sweeps: merging tables, setting dotted paths,
generated case names."""
from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from ..validation import CASE_NAME, _Bad

def _merge_case(parent: dict, child: dict) -> dict:
    out = copy.deepcopy(parent)
    out.pop("name", None)
    if "treatment" in child or "treatments" in child:
        out.pop("treatments", None)
        out.pop("treatment", None)
    for k, v in child.items():
        if k in ("model", "analysis") and isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _deep_merge(a: dict, b: dict) -> dict:
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _normalise_case(raw: dict) -> dict:
    raw = copy.deepcopy(raw)
    if "treatment" in raw:
        raw["treatments"] = [raw.pop("treatment")]
    return raw


def _canonical_path(path: str) -> str:
    parts = path.split(".")
    if parts[0] == "treatment":
        parts = ["treatments", "0"] + parts[1:]
    elif parts[0] == "condition":
        parts = ["conditions", "0"] + parts[1:]
    return ".".join(parts)


def _set_path(raw: dict, path: str, value, key: str):
    parts = _canonical_path(path).split(".")
    if parts[0] not in ("model", "analysis", "conditions", "treatments", "description"):
        raise _Bad(key, "a sweep path starts with model, analysis, conditions, condition, "
                        "treatments or treatment")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise _Bad(key, f"{'.'.join(parts[:i])} has {len(node)} item(s); "
                                f"{part!r} is not one of them")
            node = node[int(part)]
            continue
        if part not in node:
            if part in ("conditions", "treatments"):
                raise _Bad(key, f"the case has no {part} to set {'.'.join(parts[i + 1:])} on")
            node[part] = {}
        elif part == "cement" and isinstance(node[part], str):
            node[part] = {"base": node[part]}        # set a field of a library cement
        if not isinstance(node[part], (dict, list)):
            raise _Bad(key, f"{'.'.join(parts[:i + 1])} is a value, not a table")
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise _Bad(key, f"index {last!r} is not in the list")
        node[int(last)] = value
    else:
        node[last] = value


def _value_text(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list)):
        return hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:6]
    return str(v)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)


def _sweep_name(case: str, pattern: str | None, point: dict, key: str) -> str:
    if pattern is None:
        parts = [case] + [f"{p.split('.')[-1]}{_value_text(v)}" for p, v in point.items()]
        return _safe("-".join(parts))[:100]
    short = {}
    for p, v in point.items():
        short[p] = v
        short[_canonical_path(p)] = v
        short.setdefault(p.split(".")[-1], v)

    def sub(m):
        token = m.group(1)
        if token == "case":
            return case
        if token not in short:
            raise _Bad(key, f"{{{token}}} names no swept path; use one of {sorted(short)} or "
                            "{case}")
        return _value_text(short[token])
    name = _safe(re.sub(r"\{([^{}]+)\}", sub, pattern))
    if not CASE_NAME.match(name):
        raise _Bad(key, f"the pattern gives the case name {name!r}, which is not allowed")
    return name


def _point_text(point: dict) -> str:
    return ", ".join(f"{p} = {v!r}" for p, v in point.items())
