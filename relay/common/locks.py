"""File locks between processes: one a second process finds taken (try_lock), one it waits for (locked)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """The file at `path` (made if missing), locked for the block, waiting while another process holds it; the
    lock goes with the process, also when it is killed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
