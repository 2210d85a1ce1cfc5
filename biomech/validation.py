"""Validation types: each checks one value at a dotted key and returns it normalised,
or raises ``_Bad(key, reason)``.  The study loader turns that into
:class:`StudyFileError` (file, key, reason); the domain classes (through
:mod:`biomech.describe`) into :class:`~biomech.errors.InputError` naming the class and the field: one
wording for a value out of range wherever it is checked."""
from __future__ import annotations

import json
import math
import re
from typing import Mapping

from .errors import InputError

CASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")


class StudyFileError(InputError):
    """A study file (or dict) is invalid: ``file``, ``key`` (dotted path) and ``reason``."""

    def __init__(self, file: str, key: str, reason: str):
        key, reason = _cut(key, 300), _cut(reason, 1000)     # never echo megabytes
        self.file, self.key, self.reason = file, key, reason
        super().__init__(f"{file}: {key}: {reason}" if key else f"{file}: {reason}")


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit * 2 // 3]} ...({len(text) - limit} characters left out)... " \
           f"{text[-limit // 3:]}"


class _Bad(Exception):
    """Internal: a bad value at ``key`` (converted to StudyFileError with the file)."""

    def __init__(self, key: str, reason: str):
        super().__init__(key, reason)
        self.key, self.reason = key, reason


#: Deepest nesting of tables and arrays a study file or dict may have.
MAX_DEPTH = 32


def _short(value, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters (a message never echoes megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 20] + f"... ({len(text)} chars)"


def check_depth(data, key: str = "", limit: int = MAX_DEPTH) -> None:
    """Raise ``_Bad`` when tables or arrays in ``data`` nest deeper than ``limit``
    (checked without recursion, so any input is safe)."""
    stack = [(data, key, 0)]
    while stack:
        node, k, depth = stack.pop()
        if isinstance(node, dict):
            items = [(_join(k, str(kk)), v) for kk, v in node.items()]
        elif isinstance(node, (list, tuple)):
            items = [(_join(k, i), v) for i, v in enumerate(node)]
        else:
            continue
        if depth >= limit:
            raise _Bad(k, f"tables and arrays nest more than {limit} deep here; a study "
                          f"needs at most a few levels")
        stack.extend((v, kk, depth + 1) for kk, v in items)


def _join(key: str, sub) -> str:
    if isinstance(sub, int):
        return f"{key}[{sub}]"
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(sub)):
        sub = json.dumps(str(sub))
    return f"{key}.{sub}" if key else str(sub)


# ---------------------------------------------------------------------------- field types
class _Spec:
    doc = ""

    def check(self, value, key):
        raise NotImplementedError


class Num(_Spec):
    """A finite number in [lo, hi] (open ends with lo_open / hi_open); returns float."""

    def __init__(self, lo=None, hi=None, *, lo_open=False, hi_open=False, unit=""):
        self.lo, self.hi, self.lo_open, self.hi_open, self.unit = lo, hi, lo_open, hi_open, unit

    def _range(self):
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return (f"{'(' if self.lo_open or self.lo is None else '['}{lo}, {hi}"
                f"{')' if self.hi_open or self.hi is None else ']'}" + (f" {self.unit}" if self.unit else ""))

    def check(self, value, key):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _Bad(key, f"must be a number in {self._range()}, got {_short(value)}")
        v = float(value)
        bad = ((self.lo is not None and (v < self.lo or (self.lo_open and v == self.lo))) or
               (self.hi is not None and (v > self.hi or (self.hi_open and v == self.hi))))
        if bad:
            raise _Bad(key, f"must lie in {self._range()}, got {_short(value)}")
        return v


class Int(_Spec):
    def __init__(self, lo=None, hi=None):
        self.lo, self.hi = lo, hi

    def check(self, value, key):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(key, f"must be a whole number, got {_short(value)}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise _Bad(key, f"must lie in [{self.lo}, {self.hi}], got {_short(value)}")
        return int(value)


class Bool(_Spec):
    def check(self, value, key):
        if not isinstance(value, bool):
            raise _Bad(key, f"must be true or false, got {_short(value)}")
        return value


class Str(_Spec):
    """A string, one of ``choices`` (a sequence, or a function returning one: looked up
    when checked), or matching ``pattern``."""

    def __init__(self, choices=None, pattern=None, what=""):
        self.choices, self.pattern, self.what = choices, pattern, what

    def check(self, value, key):
        if not isinstance(value, str):
            raise _Bad(key, f"must be a string{' (' + self.what + ')' if self.what else ''}, "
                            f"got {_short(value)}")
        choices = self.choices() if callable(self.choices) else self.choices
        if choices is not None and value not in choices:
            raise _Bad(key, f"must be one of {list(choices)}, got {_short(value)}")
        if self.pattern is not None and not self.pattern.match(value):
            raise _Bad(key, f"{_short(value)} is not allowed: {self.what}")
        return value


class Vec3(_Spec):
    """Three finite numbers [x, y, z] in ``unit``, each of magnitude at most ``bound``."""

    def __init__(self, unit="mm", bound=None):
        self.unit, self.bound = unit, bound

    def check(self, value, key):
        if (not isinstance(value, (list, tuple)) or len(value) != 3 or
                any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                    for v in value)):
            raise _Bad(key, f"must be three numbers [x, y, z] in {self.unit}, got {_short(value)}")
        if self.bound is not None and any(abs(v) > self.bound for v in value):
            raise _Bad(key, f"components must lie in [-{self.bound:g}, {self.bound:g}] {self.unit}, "
                            f"got {list(value)!r}")
        return [float(v) for v in value]


class ListOf(_Spec):
    def __init__(self, item: _Spec, min_len=0):
        self.item, self.min_len = item, min_len

    def check(self, value, key):
        if not isinstance(value, (list, tuple)):
            raise _Bad(key, f"must be a list, got {_short(value)}")
        if len(value) < self.min_len:
            raise _Bad(key, f"must hold at least {self.min_len} item(s), got {len(value)}")
        return [self.item.check(v, _join(key, i)) for i, v in enumerate(value)]


#: Reasons that say a value has the wrong type (Either looks for another reason).
_TYPE_REASONS = ("must be a number in", "must be a whole number", "must be true or false",
                 "must be a string", "must be three numbers", "must be a list", "must be a table")


class Either(_Spec):
    """The first of ``options`` that accepts the value (tables are tried for a dict, the
    other options for anything else); when none does, the reason of the only option of
    the value's kind, or ``what``."""

    def __init__(self, *options, what=""):
        self.options, self.what = options, what

    def check(self, value, key):
        want_table = isinstance(value, dict)
        fitting = [opt for opt in self.options if isinstance(opt, (Table, Mapping_)) == want_table]
        errors = []
        for opt in fitting:
            try:
                return opt.check(value, key)
            except _Bad as exc:
                errors.append(exc)
        # an option of the right type refused the value itself (a range, a nested key):
        # its reason, with what else is allowed
        typed = [e for e in errors if e.key != key or not e.reason.startswith(_TYPE_REASONS)]
        if typed:
            e = typed[0]
            if e.key != key:
                raise e
            raise _Bad(key, f"{e.reason} ({self.what})" if self.what else e.reason)
        raise _Bad(key, f"must be {self.what}, got {_short(value)}")


class Table(_Spec):
    """A table with known keys; ``required`` keys must be present; unknown keys fail."""

    def __init__(self, fields: Mapping[str, _Spec], required=(), what=""):
        self.fields, self.required, self.what = dict(fields), tuple(required), what

    def check(self, value, key):
        if not isinstance(value, dict):
            raise _Bad(key, f"must be a table{' (' + self.what + ')' if self.what else ''}, "
                            f"got {_short(value)}")
        unknown = [k for k in value if k not in self.fields]
        if unknown:
            raise _Bad(_join(key, unknown[0]), f"unknown key; allowed here: {sorted(self.fields)}")
        missing = [k for k in self.required if k not in value]
        if missing:
            raise _Bad(_join(key, missing[0]), "is required")
        return {k: self.fields[k].check(v, _join(key, k)) for k, v in value.items()}


class Mapping_(_Spec):
    """A table of user-named entries, each checked by ``item``."""

    def __init__(self, item: _Spec, name_choices=None):
        self.item, self.name_choices = item, name_choices

    def check(self, value, key):
        if not isinstance(value, dict):
            raise _Bad(key, f"must be a table, got {_short(value)}")
        for k in value:
            if self.name_choices is not None and k not in self.name_choices:
                raise _Bad(_join(key, k), f"unknown name; allowed: {sorted(self.name_choices)}")
        return {k: self.item.check(v, _join(key, k)) for k, v in value.items()}


class Anything(_Spec):
    def check(self, value, key):
        return value


class _Kinded(_Spec):
    """A table whose ``kind`` picks its schema."""

    def __init__(self, schemas: dict, what: str):
        self.schemas, self.what = schemas, what

    def check(self, value, key):
        if not isinstance(value, dict):
            raise _Bad(key, f"must be a table ({self.what}), got {_short(value)}")
        kind = value.get("kind")
        if kind not in self.schemas:
            raise _Bad(_join(key, "kind"), f"must be one of {list(self.schemas)}, got {kind!r}")
        return self.schemas[kind].check(value, key)


def _kinded_check(schemas, value, key):
    return _Kinded(schemas, "").check(value, key)
