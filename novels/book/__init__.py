"""A finished novel as a book: its approved passages, each with who wrote it.

Every passage says whose it is: a person's (with the author's name) or the
AI's (with the keyword that readers chose for it and the model version that
wrote it). Only approved passages are in the book, the same text that trains
the AI; passages still waiting for review are counted (the book page says how
many) and join the book once a reviewer approves them. `formats` writes it as
plain text, EPUB and PDF; `files` keeps each format built once per state of the
book, built by a process of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass

from django.utils import timezone

from novels.models import Novel, Turn
from novels.selectors import story_turns
from relay.common.errors import DomainError, NotFound

SITE_NAME = "릴레이 소설"
# The design of the files (title page, chapters, credits in the margin): part of the digest, so that a file
# made with an earlier design is made again.
LAYOUT = 2
# A chapter ends at the first passage end after this many characters; a book of more than one has a table of
# contents (about ten A5 pages each).
CHAPTER_CHARS = 6000


class NotFinished(DomainError):
    code = "not_finished"
    status = 409
    message = "완결된 소설만 책으로 내려받을 수 있습니다."


@dataclass(frozen=True)
class Passage:
    text: str
    by: str  # "사람" or "AI"
    credit: str  # "alice", or "키워드 “등대” · 모델 v3"

    @property
    def note(self) -> str:
        """Who wrote it, as the book's margin says: "alice 님이 씀", "AI가 씀 · 키워드 “등대” · 모델 v3"."""
        return f"AI가 씀 · {self.credit}" if self.by == "AI" else f"{self.credit} 님이 씀"


@dataclass(frozen=True)
class Chapter:
    number: int
    passages: list[Passage]

    @property
    def title(self) -> str:
        return f"제{self.number}장"

    @property
    def opening(self) -> str:
        """Its first words, for the table of contents."""
        text = " ".join(self.passages[0].text.split()) if self.passages else ""
        return text if len(text) <= 24 else text[:24].rstrip() + "…"


@dataclass(frozen=True)
class Book:
    novel_id: int
    title: str
    premise: str
    finished_on: str
    passages: list[Passage]
    waiting: int = 0  # passages still waiting for review: not in the book

    @property
    def file_stem(self) -> str:
        return file_stem(self.title, self.novel_id)

    @property
    def digest(self) -> str:
        """What the book holds and the files' design, hashed: its files are built once for each."""
        state = json.dumps({**asdict(self), "layout": LAYOUT}, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(state.encode("utf-8")).hexdigest()[:32]

    @property
    def chapters(self) -> list[Chapter]:
        """The passages in chapters of about CHAPTER_CHARS characters, each ending where a passage does; a last
        chapter of less than a third of that joins the one before."""
        groups: list[list[Passage]] = [[]]
        size = 0
        for passage in self.passages:
            if size >= CHAPTER_CHARS:
                groups.append([])
                size = 0
            groups[-1].append(passage)
            size += len(passage.text)
        if len(groups) > 1 and size < CHAPTER_CHARS / 3:
            last = groups.pop()
            groups[-1] += last
        return [Chapter(number, group) for number, group in enumerate(groups, 1) if group]

    @property
    def long(self) -> bool:
        """Whether it has chapters, and so a table of contents."""
        return len(self.chapters) > 1

    @property
    def people(self) -> list[str]:
        """The people who wrote in it, in the order of their first passage."""
        return list(dict.fromkeys(passage.credit for passage in self.passages if passage.by == "사람"))

    @property
    def ai_passages(self) -> int:
        return sum(passage.by == "AI" for passage in self.passages)


# What XML 1.0 refuses (and an EPUB with it): control characters but tab and line breaks, lone surrogates,
# U+FFFE and U+FFFF; C1 controls and the other noncharacters go too. The services keep them out of
# what is stored; this is for anything that came in before they did.
_NOT_XML = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(chr(plane * 0x10000 + 0xFFFE) + chr(plane * 0x10000 + 0xFFFF) for plane in range(1, 17))
    + "]"
)


def printable(text: str) -> str:
    """The text without the code points no book format may hold."""
    return _NOT_XML.sub("", text)


def credit(turn: Turn) -> Passage:
    text = printable(turn.text)
    if turn.kind == Turn.Kind.HUMAN:
        return Passage(text, "사람", printable(turn.author.username) if turn.author_id else "알 수 없는 사람")
    parts = []
    keyword = printable(turn.proposal.keyword) if turn.proposal_id else ""
    if keyword:
        parts.append(f"키워드 “{keyword}”")
    parts.append(f"모델 {printable(turn.model_version.label)}" if turn.model_version_id else "모델 정보 없음")
    return Passage(text, "AI", " · ".join(parts))


def book_of(novel_id: int) -> Book:
    """The finished novel's book of approved passages; NotFound or NotFinished otherwise."""
    novel = Novel.objects.filter(pk=novel_id).first()
    if novel is None:
        raise NotFound("그런 소설이 없습니다.")
    if novel.status != Novel.Status.FINISHED:
        raise NotFinished()
    turns = list(story_turns(novel).select_related("proposal"))
    approved = [credit(turn) for turn in turns if turn.status == Turn.Status.APPROVED]
    finished = timezone.localtime(novel.finished_at).date().isoformat() if novel.finished_at else ""
    return Book(
        novel.pk, printable(novel.title), printable(novel.premise), finished, approved, len(turns) - len(approved)
    )


def file_stem(title: str, novel_id: int) -> str:
    """A file name from the title that every system accepts: no separators, controls or reserved characters."""
    name = unicodedata.normalize("NFC", title)
    name = "".join(c for c in name if unicodedata.category(c)[0] not in "CZ" or c == " ")
    name = re.sub(r'[\\/:*?"<>|]+', " ", name)
    name = re.sub(r"\s+", " ", name).strip(" .")[:80].rstrip(" .")
    return f"{name or '소설'}-{novel_id}"
