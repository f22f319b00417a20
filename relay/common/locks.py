"""A file lock that a second process finds taken instead of waiting for it."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import BinaryIO


def try_lock(path: Path) -> BinaryIO | None:
    """The file at `path` (made if missing), locked: an open file whose last copy, closed, lets it go;
    None when another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+b")  # noqa: SIM115 (the caller closes it)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
