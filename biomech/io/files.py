"""Small file helpers used everywhere: atomic writes, content hashes, TOML reading.

* Atomic: a file is written to a temporary name in its folder and renamed into place
  (``os.replace``), so readers see the old file or the whole new one, never half.
* Hashes: ``sha256_path`` of a file is the plain SHA-256 of its bytes (``sha256sum``);
  of a folder, of every file in it in sorted order, each name then bytes.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import sys
import uuid
from pathlib import Path

from ..errors import BiomechError, InputError

#: Longest path and file-name component accepted for an input file [characters]
#: (Linux PATH_MAX and NAME_MAX).
MAX_PATH_CHARS, MAX_NAME_CHARS = 4096, 255
#: Largest text input (study, cement file, calibration log) [bytes].
MAX_TEXT_BYTES = 16 * 2**20
#: Largest image file or DICOM series [bytes] and most files in a DICOM folder.
MAX_IMAGE_BYTES, MAX_FOLDER_FILES = 8 * 2**30, 10_000


class FileReadError(InputError):
    """A file cannot be read or parsed: ``path`` and ``reason`` (the message is
    ``"<path>: <reason>"``)."""

    def __init__(self, path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


class OutputError(BiomechError, OSError):
    """A result file or folder cannot be written (read-only, not a folder, disk full, a
    symbolic link in the way): ``path`` and ``reason``."""

    def __init__(self, path, reason: str):
        self.path, self.reason = str(path), reason
        BiomechError.__init__(self, f"{path}: {reason}")

    def __str__(self):
        return f"{self.path}: {self.reason}"


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full (no space left on device)"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "not writable (permission denied or a read-only file system)"
    if exc.errno == errno.ENOTDIR:
        return "a file is in the way where a folder is needed"
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long"
    return exc.strerror or type(exc).__name__


def check_output_folder(path) -> Path:
    """Create the output folder ``path`` (and parents) and check that files can be
    written into it; :class:`OutputError` says why not (a file in the way, read-only,
    a symbolic link, full)."""
    p = Path(path)
    if p.is_symlink():
        raise OutputError(p, "is a symbolic link; give the real folder (results are never "
                             "written through a link)")
    if p.exists() and not p.is_dir():
        raise OutputError(p, "is a file, not a folder; --out needs a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / f".write-test-{uuid.uuid4().hex[:8]}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(p, f"cannot write results here: {_os_reason(exc)}") from None
    return p


def _tmp_name(path: Path) -> Path:
    """A fresh temporary name beside ``path`` that keeps its suffix (writers that pick
    the format by suffix still work)."""
    return path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")


def _refuse_link(path: Path) -> None:
    """A symbolic link where a result goes is replaced, never followed (``os.replace``
    renames over the link itself); said in the log."""
    if path.is_symlink():
        import logging
        logging.getLogger(__name__).warning("%s was a symbolic link; it is replaced by the "
                                            "result file (links are never written through)",
                                            path)


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` to write to (by any writer); renamed to
    ``path`` when the block ends without an error, removed when it raises.

    Safe against planted links: the temporary name is fresh and created exclusively
    (``O_EXCL | O_NOFOLLOW``) before the writer opens it, and a symbolic link at
    ``path`` is replaced by the file, not followed (``os.replace``).  An OSError (disk full, read-only)
    becomes :class:`OutputError` and leaves no temporary file."""
    path = Path(path)
    _refuse_link(path)
    tmp = _tmp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o644)
        os.close(fd)
    except OSError as exc:
        raise OutputError(path, f"cannot write: {_os_reason(exc)}") from None
    try:
        yield tmp
        _refuse_link(path)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(path, f"cannot write: {_os_reason(exc)}") from None
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


def check_input_file(path, *, what: str = "file", max_bytes: int = MAX_TEXT_BYTES,
                     folder: bool = False) -> os.stat_result:
    """The ``os.stat`` of an input file that is safe to read, else :class:`FileReadError`:
    the name must be printable (no NUL), at most MAX_PATH_CHARS long with components of at
    most MAX_NAME_CHARS; the path must be a regular file (a folder only with ``folder``),
    not a device, FIFO or socket (reading those never ends); its size at most
    ``max_bytes``."""
    text = os.fspath(path)
    shown = text if len(text) <= 200 else text[:180] + f"... ({len(text)} characters)"
    if "\x00" in text:
        raise FileReadError(shown.replace("\x00", "\\0"), f"the {what} name contains a NUL "
                                                            "character")
    if len(text) > MAX_PATH_CHARS or any(len(part) > MAX_NAME_CHARS
                                         for part in text.split(os.sep)):
        raise FileReadError(shown, f"the {what} path is too long (at most {MAX_PATH_CHARS} "
                                   f"characters, {MAX_NAME_CHARS} per name)")
    try:
        st = os.stat(text)
    except FileNotFoundError:
        raise FileReadError(shown, f"the {what} does not exist") from None
    except OSError as exc:
        raise FileReadError(shown, f"the {what} cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        if not folder:
            raise FileReadError(shown, f"a folder, not a {what}")
        return st
    if not stat.S_ISREG(st.st_mode):
        kind = ("a character device" if stat.S_ISCHR(st.st_mode) else "a block device"
                if stat.S_ISBLK(st.st_mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise FileReadError(shown, f"{kind}, not a regular file; a {what} must be a regular file")
    if st.st_size > max_bytes:
        raise FileReadError(shown, f"the {what} is {st.st_size / 2**20:.1f} MiB; at most "
                                   f"{max_bytes / 2**20:.0f} MiB is accepted")
    return st


def folder_files(path, *, what: str = "folder", max_files: int = MAX_FOLDER_FILES,
                 max_bytes: int = MAX_IMAGE_BYTES) -> list:
    """The regular files directly in a folder (sorted; hidden files, sub-folders, links to
    folders and special files left out), at most ``max_files`` of at most ``max_bytes``
    in all, else :class:`FileReadError` (a folder is never walked recursively)."""
    p = Path(path)
    out, total = [], 0
    try:
        with os.scandir(p) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                try:
                    if not entry.is_file():         # follows a link to a file, not to a folder
                        continue
                    size = entry.stat().st_size
                except OSError:
                    continue
                out.append(Path(entry.path))
                total += size
                if len(out) > max_files:
                    raise FileReadError(p, f"the {what} holds more than {max_files} files")
                if total > max_bytes:
                    raise FileReadError(p, f"the {what} holds more than "
                                           f"{max_bytes / 2**30:.0f} GiB")
    except OSError as exc:
        raise FileReadError(p, f"the {what} cannot be read: {exc.strerror}") from None
    return sorted(out)


def sha256_path(path, *, what: str = "file", max_bytes: int = MAX_IMAGE_BYTES) -> str:
    """SHA-256 hex digest of a file's bytes, or of a folder (each regular file directly in
    it, in sorted order: its name, then its bytes).  Only regular files of at most
    ``max_bytes`` are read (:func:`check_input_file`, :func:`folder_files`)."""
    st = check_input_file(path, what=what, max_bytes=max_bytes, folder=True)
    h = hashlib.sha256()
    if stat.S_ISDIR(st.st_mode):
        files = folder_files(path, what=what, max_bytes=max_bytes)
        if not files:
            raise FileReadError(path, f"the {what} folder holds no files")
        for q in files:
            h.update(q.name.encode())
            _update(h, q)
    else:
        _update(h, Path(path))
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
    text = read_text_file(p, what=what)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileReadError(p, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise FileReadError(p, f"not a usable TOML {what}: tables or arrays nest too deep "
                               "(a study needs a few levels)") from None
    from ..validation import _Bad, check_depth
    try:
        check_depth(data)
    except _Bad as exc:
        raise FileReadError(p, f"{exc.key}: {exc.reason}") from None
    return data, text


def read_text_file(path, *, what: str = "file", max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of a small input file, checked first (:func:`check_input_file`:
    a regular file of at most ``max_bytes``); binary content (NUL bytes or not UTF-8)
    is refused with :class:`FileReadError`."""
    check_input_file(path, what=what, max_bytes=max_bytes)
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise FileReadError(p, f"the {what} cannot be read: {exc.strerror}") from None
    if b"\x00" in data:
        raise FileReadError(p, f"the {what} is binary (it holds NUL bytes), not UTF-8 text")
    try:
        return data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        raise FileReadError(p, f"the {what} is not UTF-8 text") from None


__all__ = ["FileReadError", "OutputError", "check_input_file", "check_output_folder",
           "folder_files", "read_text_file", "atomic_path", "atomic_open", "atomic_write_text", "atomic_write_bytes",
           "atomic_write_json", "sha256_path", "sha256_file", "read_toml"]
