"""One run per output folder at a time: ``run.lock`` holds the pid and host; a lock
left by a dead process on this host is removed."""
from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

from ..errors import InputError

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"

class RunLock:
    """``with RunLock(out_dir):`` holds ``out_dir/run.lock`` (pid and host) for one run."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / LOCK_FILE

    def __enter__(self):
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    other = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    other = {}
                if other.get("host") == me["host"] and not _pid_alive(other.get("pid")):
                    log.warning("removing the stale lock of process %s", other.get("pid"))
                    self.path.unlink(missing_ok=True)
                    continue
                raise InputError(f"another run (pid {other.get('pid')} on {other.get('host')}) "
                                 f"is writing to {self.path.parent}; wait for it or delete "
                                 f"{self.path} if it is dead") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            return self
        raise InputError(f"cannot take the lock {self.path}")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
