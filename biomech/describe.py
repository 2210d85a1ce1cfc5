"""One description per domain type.

A condition, a treatment, a cement or a load case declares each parameter once, as a
dataclass field with its default in the signature and its unit, range, choices and
meaning in the field's metadata (:func:`param`).  From that one declaration come:

* validation of an object (:meth:`Described.validate`, called by ``__post_init__``) and
  of a study file (:func:`study_table`): the same check, the same wording;
* the dict form (:meth:`Described.to_dict` / :meth:`Described.from_dict`: tuples as lists,
  nested dataclasses as tables) used by study files and case records;
* the study-file schema (:func:`study_table`), so a new field is a new study key;
* a short text (:meth:`Described.describe`) for the condition and treatment columns.

    @dataclass(frozen=True)
    class Vertebroplasty(Described):
        KIND: ClassVar[str] = "vertebroplasty"
        level: str = param(doc="treated vertebra, e.g. 'L2'")
        volume_ml: float = param(4.0, unit="mL", range=(0.0, 30.0), lo_open=True,
                                 doc="cement injected")
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, field
from typing import Any, ClassVar

from .errors import InputError
from .validation import (Anything, Bool, Int, ListOf, Num, Str, Table, Vec3, _Bad, _Spec)

_KEY = "describe"


def param(default=MISSING, *, unit: str = "", range=None, lo_open: bool = False,
          hi_open: bool = False, choices=None, doc: str = "", key: str | None = None,
          item: str | None = None, min_len: int = 0, study: bool = True, spec=None,
          summary: str | None = None, default_factory=MISSING):
    """A dataclass field with its description.

    unit : shown in messages and the schema; range : (lo, hi) with ``lo_open`` /
    ``hi_open``; choices : allowed strings (or a function returning them); key : the name
    in study files and dicts when it differs from the field's; item : "vec3" (three
    numbers) or "vec3s" (a list of them) for tuple fields; study : False keeps the field out
    of study files; spec : a ready :class:`biomech.validation` type (or a function returning
    one) instead of the one derived from the annotation; summary : how :meth:`~biomech.describe.Described.describe`
    shows the value ("{value}" style format; None: by type)."""
    meta = {_KEY: dict(unit=unit, range=range, lo_open=lo_open, hi_open=hi_open,
                       choices=choices, doc=doc, key=key, item=item, min_len=min_len,
                       study=study, spec=spec, summary=summary)}
    return field(default=default, default_factory=default_factory, metadata=meta)


def _meta(f) -> dict:
    return f.metadata.get(_KEY) or {}


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _strip_optional(hint):
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _is_tuple(hint) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple


def _range(md):
    lo, hi = md.get("range") or (None, None)
    return lo, hi


def field_spec(cls, f) -> _Spec:
    """The validation type of one field of ``cls`` (from its metadata and annotation)."""
    md = _meta(f)
    if md.get("spec") is not None:
        s = md["spec"]
        return s() if callable(s) and not isinstance(s, _Spec) else s
    hint = _strip_optional(_hints(cls)[f.name])
    lo, hi = _range(md)
    unit = md.get("unit", "")
    if hint is bool:
        return Bool()
    if hint is int:
        return Int(lo, hi)
    if hint is float:
        return Num(lo, hi, lo_open=md.get("lo_open", False), hi_open=md.get("hi_open", False),
                   unit=unit)
    if hint is str:
        return Str(md.get("choices"), what=md.get("doc", ""))
    if _is_tuple(hint):
        if md.get("item") == "vec3":
            return Vec3(unit or "mm", bound=hi)
        if md.get("item") == "vec3s":
            return ListOf(Vec3(unit or "mm", bound=hi), max(1, md.get("min_len", 0)))
        return ListOf(Num(lo, hi, lo_open=md.get("lo_open", False),
                          hi_open=md.get("hi_open", False), unit=unit), md.get("min_len", 0))
    if dataclasses.is_dataclass(hint):
        return study_table(hint)
    return Anything()


def study_fields(cls) -> dict:
    """{study key: validation type} of the study-file fields of a dataclass (fields with
    ``study=False`` and untyped mappings are left out)."""
    out = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        md = _meta(f)
        if not md.get("study", True) or f.name.startswith("_"):
            continue
        hint = _strip_optional(hints[f.name])
        if not md and (hint is dict or typing.get_origin(hint) is dict):
            continue                              # e.g. keyed by Label: not a file value
        out[md.get("key") or f.name] = field_spec(cls, f)
    return out


def required_keys(cls) -> tuple:
    return tuple(_meta(f).get("key") or f.name for f in dataclasses.fields(cls)
                 if f.default is MISSING and f.default_factory is MISSING
                 and _meta(f).get("study", True))


def study_table(cls, *, extra: dict | None = None) -> Table:
    """The study-file table of a dataclass: its fields (plus ``extra``), required ones
    the fields without a default."""
    doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip(".")
    return Table({**(extra or {}), **study_fields(cls)}, required=required_keys(cls),
                 what=doc)


def plain(value):
    """A value as plain data: dataclasses as dicts (:meth:`Described.to_dict` where
    there is one), tuples as lists, enums by name."""
    if isinstance(value, Described):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), dict)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(getattr(k, "name", k)): plain(v) for k, v in value.items()}
    return value


def _from_plain(hint, value):
    hint = _strip_optional(hint)
    if value is None:
        return None
    if _is_tuple(hint) and isinstance(value, (list, tuple)):
        return tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in value)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and isinstance(value, dict):
        hint = next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        if issubclass(hint, Described):
            return hint.from_dict(value)
        hh = _hints(hint)
        return hint(**{k: _from_plain(hh[k], v) for k, v in value.items()})
    return value


class Described:
    """Mixin of the described domain dataclasses (see the module docstring).

    ``KIND`` : the registry name (the ``kind`` of study files); ``SUMMARY`` : the fields
    :meth:`~biomech.describe.Described.describe` shows, in order (None: all that differ from their defaults)."""

    KIND: ClassVar[str] = ""
    SUMMARY: ClassVar[tuple | None] = None

    def __post_init__(self):
        """Every described field is checked when the object is made (one wording with the
        study file); classes with checks that relate fields call :meth:`validate` too."""
        self.validate()

    # ------------------------------------------------------------------ dict form
    def to_dict(self, *, kind: bool = False) -> dict:
        """The fields as plain data under their study keys (``kind`` adds ``KIND``)."""
        out = {"kind": self.KIND} if kind else {}
        for f in dataclasses.fields(self):
            md = _meta(f)
            if not md.get("study", True):
                continue
            v = getattr(self, f.name)
            if isinstance(v, dict) and not md:
                continue
            out[md.get("key") or f.name] = plain(v)
        return out

    @classmethod
    def from_dict(cls, data: dict):
        """An object from :meth:`to_dict`'s form (a ``kind`` key is ignored); unknown
        keys raise InputError."""
        by_key = {(_meta(f).get("key") or f.name): f for f in dataclasses.fields(cls)}
        hints = _hints(cls)
        kw = {}
        for k, v in data.items():
            if k == "kind" and "kind" not in by_key:
                continue
            f = by_key.get(k)
            if f is None:
                raise InputError(f"{cls.__name__}: unknown key {k!r}; keys: {sorted(by_key)}")
            kw[f.name] = _from_plain(hints[f.name], v)
        return cls(**kw)

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check every described field with the study file's check (one wording);
        InputError names the class and the field.  ``None`` passes where it is the
        default."""
        for f in dataclasses.fields(self):
            md = _meta(f)
            v = getattr(self, f.name)
            if not md or (v is None and f.default is None):
                continue
            if dataclasses.is_dataclass(v):
                continue                    # a nested object checked itself when made
            try:
                field_spec(type(self), f).check(plain(v), md.get("key") or f.name)
            except _Bad as exc:
                raise InputError(f"{self.KIND or type(self).__name__}: {exc.key} {exc.reason}") \
                    from None

    # ------------------------------------------------------------------ text
    def describe(self) -> str:
        """Short text: KIND then the ``SUMMARY`` fields (numbers with their units, true
        flags by name; None and false left out)."""
        names = self.SUMMARY
        fields = {f.name: f for f in dataclasses.fields(self)}
        if names is None:
            names = [n for n, f in fields.items() if _meta(f).get("study", True)
                     and getattr(self, n) != f.default]
        parts = [self.KIND] if self.KIND else []
        for n in names:
            if n == "KIND":
                continue
            v, md = getattr(self, n), _meta(fields[n])
            if v is None or v is False:
                continue
            fmt = md.get("summary")
            if fmt is not None:
                parts.append(fmt.format(value=v, **{k: getattr(self, k) for k in fields}))
            elif v is True:
                parts.append(n.replace("_", " "))
            elif isinstance(v, float) or isinstance(v, int) and not isinstance(v, bool):
                parts.append(f"{v:g} {md.get('unit', '')}".strip())
            elif isinstance(v, (tuple, list)):
                parts.append(f"{n} {tuple(v)}")
            else:
                parts.append(str(getattr(v, "name", v)))
        return " ".join(parts)


def registry(*classes) -> dict:
    """{KIND: class} of described classes."""
    return {c.KIND: c for c in classes}


def from_registry(reg: dict, data: dict, what: str):
    """The object of a ``{"kind": ..., ...}`` dict from a registry."""
    kind = data.get("kind")
    if kind not in reg:
        raise InputError(f"unknown {what} kind {kind!r}; kinds: {sorted(reg)}")
    return reg[kind].from_dict(data)


def signature_default(fn, name: str) -> Any:
    """The default of keyword ``name`` in the signature of ``fn`` (the one place a
    default is written; study resolution and the runner read it from there)."""
    import inspect
    p = inspect.signature(fn).parameters[name]
    if p.default is inspect.Parameter.empty:
        raise TypeError(f"{fn.__qualname__}() has no default for {name}")
    return p.default


__all__ = ["param", "Described", "field_spec", "study_fields", "study_table", "required_keys",
           "plain", "registry", "from_registry", "signature_default"]
