"""The database model store: Django's storage API over rows of the default database.

A trained version's files must reach every host, and the scaled profile's
hosts already share one thing, PostgreSQL. Each file is kept as chunks of
CHUNK_BYTES in a bytea column (BLOB on SQLite), written in one transaction and
read back a chunk at a time, so neither side holds a large model in memory.
(django-db-file-storage keeps a whole file base64-encoded in one text column
and reads it whole: a third larger, and all of it in memory at once.)
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import IO

from django.core.files import File
from django.core.files.storage import Storage
from django.db import transaction
from django.utils.deconstruct import deconstructible

from management.models import StoredChunk, StoredFile

CHUNK_BYTES = 1024 * 1024


class ChunkReader(io.RawIOBase):
    """A stored file read one chunk at a time, as a plain binary stream (seekable)."""

    def __init__(self, stored: StoredFile) -> None:
        self.file_id, self.length, self.chunk_size = stored.pk, stored.size, stored.chunk_size
        self.position = 0
        self._chunk_index, self._chunk = -1, b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        if self.position >= self.length:
            return 0
        index, start = divmod(self.position, self.chunk_size)
        if index != self._chunk_index:
            self._chunk = bytes(
                StoredChunk.objects.values_list("data", flat=True).get(file_id=self.file_id, index=index)
            )
            self._chunk_index = index
        piece = self._chunk[start : start + len(buffer)]
        buffer[: len(piece)] = piece
        self.position += len(piece)
        return len(piece)


@deconstructible
class DatabaseStorage(Storage):
    """Files in the database (StoredFile, StoredChunk); no URLs: they are read through the storage only."""

    def _open(self, name: str, mode: str = "rb") -> File:
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("the database store opens files for reading only; save() writes them")
        try:
            stored = StoredFile.objects.get(name=name)
        except StoredFile.DoesNotExist:
            raise FileNotFoundError(name) from None
        return File(io.BufferedReader(ChunkReader(stored), stored.chunk_size), name=name)

    def _save(self, name: str, content: IO[bytes]) -> str:
        with transaction.atomic():
            chunk_size = CHUNK_BYTES
            stored = StoredFile.objects.create(name=name, chunk_size=chunk_size)
            size = 0
            chunks = (
                content.chunks(chunk_size)
                if hasattr(content, "chunks")
                else iter(lambda: content.read(chunk_size), b"")
            )
            for index, chunk in enumerate(_whole_chunks(chunks, chunk_size)):
                StoredChunk.objects.create(file=stored, index=index, data=chunk)
                size += len(chunk)
            stored.size = size
            stored.save(update_fields=["size"])
        return name

    def delete(self, name: str) -> None:
        StoredFile.objects.filter(name=name).delete()

    def exists(self, name: str) -> bool:
        return StoredFile.objects.filter(name=name).exists()

    def size(self, name: str) -> int:
        try:
            return StoredFile.objects.values_list("size", flat=True).get(name=name)
        except StoredFile.DoesNotExist:
            raise FileNotFoundError(name) from None

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        prefix = path.rstrip("/") + "/" if path else ""
        dirs, files = set(), []
        for name in StoredFile.objects.filter(name__startswith=prefix).values_list("name", flat=True):
            head, _, tail = name[len(prefix) :].partition("/")
            if tail:
                dirs.add(head)
            else:
                files.append(head)
        return sorted(dirs), sorted(files)

    def url(self, name: str) -> str:
        raise NotImplementedError("the database store serves no URLs; hosts read its files through the storage")


def _whole_chunks(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Pieces of any length regrouped into chunks of `size` bytes (the last one shorter), so that a chunk's
    index says where it starts."""
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
