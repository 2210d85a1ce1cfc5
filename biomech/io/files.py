"""Small file helpers used everywhere: atomic writes, content hashes, TOML reading.

* Atomic: a file is written to a temporary name in its folder and renamed into place
  (``os.replace``), so readers see the old file or the whole new one, never half.
* Hashes: ``sha256_path`` of a file is the plain SHA-256 of its bytes (``sha256sum``);
  of a folder, of every file in it in sorted order, each name then bytes.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import uuid
from pathlib import Path

from ..errors import InputError


class FileReadError(InputError):
    """A file cannot be read or parsed: ``path`` and ``reason`` (the message is
    ``"<path>: <reason>"``)."""

    def __init__(self, path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def _tmp_name(path: Path) -> Path:
    """A fresh temporary name beside ``path`` that keeps its suffix (writers that pick
    the format by suffix still work)."""
    return path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` to write to (by any writer); renamed to
    ``path`` when the block ends without an error, removed when it raises."""
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", **kwargs):
    """``open`` a temporary file beside ``path``; renamed to ``path`` when the block
    ends without an error, removed when it raises."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_json(path, data, *, indent: int | None = 1) -> Path:
    """``data`` as JSON (no NaN or infinity: ``allow_nan=False``) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=indent, allow_nan=False))


def sha256_path(path) -> str:
    """SHA-256 hex digest of a file's bytes, or of a folder (each file in sorted
    order: its name, then its bytes)."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for q in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(q.name.encode())
            _update(h, q)
    else:
        _update(h, p)
    return h.hexdigest()


def _update(h, path: Path) -> None:
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


#: the file hash of :func:`sha256_path` under the name the report used
sha256_file = sha256_path


def read_toml(path, *, what: str = "file") -> tuple:
    """(data, text) of a UTF-8 TOML file; :class:`FileReadError` names the file and
    says what is wrong (``what`` names the kind of file in the message)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise InputError("reading TOML on Python 3.10 needs the 'tomli' package "
                             "(pip install tomli)") from exc
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileReadError(p, f"the {what} does not exist") from None
    except IsADirectoryError:
        raise FileReadError(p, f"a folder, not a {what}") from None
    except UnicodeDecodeError:
        raise FileReadError(p, f"the {what} is not UTF-8 text") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise FileReadError(p, f"not valid TOML: {exc}") from None


__all__ = ["FileReadError", "atomic_path", "atomic_open", "atomic_write_text", "atomic_write_bytes",
           "atomic_write_json", "sha256_path", "sha256_file", "read_toml"]
