"""A book's files, built once for each state of the book by a process of its own, served from disk.

fpdf2 is pure Python: the PDF of a 400,000-character book took 3.6-4.0 s of CPU,
and made for every download in the web process, three downloads at once raised
the websocket ping of the same server from 1.7 ms to 63 ms (median). Here each
format is written once per state of the book (Book.digest: what it holds) by
`manage.py buildbook` at a lower CPU priority, started when the novel is
finished and whenever a reviewer changes what it holds, and a download reads
the file. A download that comes before its file answers 503 with Retry-After
(and starts the build if none is under way); the book page waits for the files.

The files lie in BOOK_DIR (VAR_DIR/books): `<novel>-<digest>.<format>`. A
build takes `<novel>.lock`, so one build per novel runs at a time; it writes
each file beside its name and renames it into place, so a download never reads
half a file, and removes the novel's files of earlier states.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from novels.book import Book, book_of
from novels.book.formats import FORMATS, NoBookFont, as_bytes, book_font
from relay.common.locks import try_lock
from relay.common.processes import start_command

log = logging.getLogger(__name__)

BUILD_NICE = 10
# A build that finds the book changed when it is done builds it again, at most this many times.
BUILD_ROUNDS = 3


def book_dir() -> Path:
    return Path(settings.BOOK_DIR)


def path_of(book: Book, fmt: str) -> Path:
    return book_dir() / f"{book.novel_id}-{book.digest}.{fmt}"


def formats_of(book: Book) -> list[str]:
    """The formats this server can write: all but the PDF when it has no Korean font."""
    try:
        book_font()
    except NoBookFont:
        return [fmt for fmt in FORMATS if fmt != "pdf"]
    return list(FORMATS)


def ready(book: Book) -> dict[str, bool]:
    """Which of the book's files are built for what it holds now."""
    return {fmt: path_of(book, fmt).is_file() for fmt in FORMATS}


def _lock(novel_id: int) -> BinaryIO | None:
    return try_lock(book_dir() / f"{novel_id}.lock")


def building(novel_id: int) -> bool:
    """Whether a build of this novel's book is under way (its lock is held)."""
    handle = _lock(novel_id)
    if handle is None:
        return True
    handle.close()
    return False


def _write(path: Path, content: bytes) -> None:
    partial = path.with_name(f".{path.name}.part")
    with open(partial, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)


def build(novel_id: int, *, say: Callable[[str], None] = log.info) -> Book | None:
    """Write every missing file of the novel's book as it stands; None when another build holds the novel.

    NotFound and NotFinished (book_of) pass through: there is no book to build."""
    handle = _lock(novel_id)
    if handle is None:
        return None
    with handle:
        book = book_of(novel_id)
        for _ in range(BUILD_ROUNDS):
            for fmt in formats_of(book):
                path = path_of(book, fmt)
                if not path.is_file():
                    _write(path, as_bytes(book, fmt))
                    say(f"{path.name}: {path.stat().st_size:,} bytes")
            latest = book_of(novel_id)
            if latest.digest == book.digest:
                break
            book = latest  # a reviewer changed the book meanwhile
        current = {path_of(book, fmt).name for fmt in FORMATS}
        for old in book_dir().glob(f"{novel_id}-*"):
            if old.name not in current:
                old.unlink(missing_ok=True)
        return book


def schedule(novel_id: int) -> None:
    """Have the novel's files built by a process of its own, unless a build is under way."""
    if building(novel_id):
        return
    try:
        start_builder(novel_id)
    except OSError:
        log.exception("could not start the build of novel %s's book", novel_id)


def start_builder(novel_id: int) -> None:
    start_command(
        ["buildbook", str(novel_id)], log_name="books.log", env={"BOOK_DIR": str(book_dir())}, nice=BUILD_NICE
    )
