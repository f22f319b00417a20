"""A finished novel as a book: its passages with who wrote each, as plain text, EPUB and PDF.

Every passage says whose it is: a person's (with the author's name) or the
AI's (with the keyword that readers chose for it and the model version that
wrote it). EPUB is made with EbookLib; PDF with fpdf2 in a Korean font
(fonts-nanum's Nanum Myeongjo, BOOK_FONT). Korean text is NFC here: each
syllable is one code point and one glyph of the font, so it needs no shaping
engine. (fpdf2's HarfBuzz mode also runs its bidi pass, which recurses once per
neutral character and failed on a passage of 2,000 emoji.)
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.html import escape

from novels.models import Novel, Turn
from novels.selectors import story_turns
from relay.common.errors import DomainError, NotFound

SITE_NAME = "릴레이 소설"


class NotFinished(DomainError):
    code = "not_finished"
    status = 409
    message = "완결된 소설만 책으로 내려받을 수 있습니다."


class NoBookFont(DomainError):
    code = "no_book_font"
    status = 503
    message = "PDF에 쓸 한글 글꼴이 이 서버에 없습니다 (BOOK_FONT, fonts-nanum). EPUB이나 텍스트로 받아 주세요."


@dataclass(frozen=True)
class Passage:
    text: str
    by: str  # "사람" or "AI"
    credit: str  # "alice", or "키워드 “등대” · 모델 v3"


@dataclass(frozen=True)
class Book:
    novel_id: int
    title: str
    premise: str
    finished_on: str
    passages: list[Passage]

    @property
    def file_stem(self) -> str:
        return file_stem(self.title, self.novel_id)


def credit(turn: Turn) -> Passage:
    if turn.kind == Turn.Kind.HUMAN:
        return Passage(turn.text, "사람", turn.author.username if turn.author_id else "알 수 없는 사람")
    parts = []
    keyword = turn.proposal.keyword if turn.proposal_id else ""
    if keyword:
        parts.append(f"키워드 “{keyword}”")
    parts.append(f"모델 {turn.model_version.label}" if turn.model_version_id else "모델 정보 없음")
    return Passage(turn.text, "AI", " · ".join(parts))


def book_of(novel_id: int) -> Book:
    """The finished novel's book; NotFound or NotFinished otherwise."""
    novel = Novel.objects.filter(pk=novel_id).first()
    if novel is None:
        raise NotFound("그런 소설이 없습니다.")
    if novel.status != Novel.Status.FINISHED:
        raise NotFinished()
    turns = story_turns(novel).select_related("proposal")
    finished = timezone.localtime(novel.finished_at).date().isoformat() if novel.finished_at else ""
    return Book(novel.pk, novel.title, novel.premise, finished, [credit(turn) for turn in turns])


def file_stem(title: str, novel_id: int) -> str:
    """A file name from the title that every system accepts: no separators, controls or reserved characters."""
    name = unicodedata.normalize("NFC", title)
    name = "".join(c for c in name if unicodedata.category(c)[0] not in "CZ" or c == " ")
    name = re.sub(r'[\\/:*?"<>|]+', " ", name)
    name = re.sub(r"\s+", " ", name).strip(" .")[:80].rstrip(" .")
    return f"{name or '소설'}-{novel_id}"


def attribution(passage: Passage) -> str:
    return f"[{passage.by} · {passage.credit}]"


def as_text(book: Book) -> str:
    lines = [book.title, ""]
    if book.premise:
        lines += [book.premise, ""]
    for passage in book.passages:
        lines += [passage.text, attribution(passage), ""]
    lines.append(f"— {SITE_NAME}에서 사람과 AI가 함께 쓴 소설 (완결 {book.finished_on})")
    return "\n".join(lines) + "\n"


def as_epub(book: Book) -> bytes:
    from ebooklib import epub

    document = epub.EpubBook()
    document.set_identifier(f"relay-novel-{book.novel_id}")
    document.set_title(book.title)
    document.set_language("ko")
    document.add_author(f"{SITE_NAME}의 사람들과 AI")
    body = [f"<h1>{escape(book.title)}</h1>"]
    if book.premise:
        body.append(f'<p class="premise">{escape(book.premise)}</p>')
    for passage in book.passages:
        kind = "human" if passage.by == "사람" else "ai"
        paragraphs = "".join(f"<p>{escape(line)}</p>" for line in passage.text.split("\n") if line.strip())
        body.append(
            f'<section class="passage {kind}">{paragraphs}'
            f'<p class="credit">{escape(attribution(passage))}</p></section>'
        )
    body.append(f'<p class="colophon">{escape(SITE_NAME)}에서 사람과 AI가 함께 쓴 소설 (완결 {book.finished_on})</p>')
    chapter = epub.EpubHtml(title=book.title, file_name="story.xhtml", lang="ko")
    chapter.content = "".join(body)
    style = epub.EpubItem(uid="style", file_name="style.css", media_type="text/css", content=EPUB_CSS.encode("utf-8"))
    chapter.add_item(style)
    document.add_item(style)
    document.add_item(chapter)
    document.toc = [epub.Link("story.xhtml", book.title, "story")]
    document.add_item(epub.EpubNcx())
    document.add_item(epub.EpubNav())
    document.spine = ["nav", chapter]
    out = io.BytesIO()
    epub.write_epub(out, document)
    return out.getvalue()


EPUB_CSS = """
body { line-height: 1.8; }
.premise { color: #555; }
.passage { margin: 1.2em 0; }
.credit { font-size: .8em; color: #666; text-align: right; }
.ai .credit { color: #345; }
"""


def book_font() -> Path:
    path = Path(settings.BOOK_FONT)
    if not path.is_file():
        raise NoBookFont()
    return path


def as_pdf(book: Book) -> bytes:
    from fpdf import FPDF  # (likewise)

    font = book_font()
    pdf = FPDF(format=(148, 210))  # A5, in mm
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_font("book", fname=str(font))
    pdf.set_title(book.title)
    pdf.set_lang("ko")
    pdf.add_page()
    pdf.set_font("book", size=18)
    pdf.multi_cell(0, 10, book.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    if book.premise:
        pdf.set_font("book", size=10)
        pdf.multi_cell(0, 6, book.premise, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    for passage in book.passages:
        pdf.set_font("book", size=11)
        pdf.multi_cell(0, 7, passage.text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("book", size=8)
        pdf.set_text_color(90, 90, 90)
        pdf.multi_cell(0, 5, attribution(passage), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(3)
    pdf.set_font("book", size=8)
    pdf.multi_cell(0, 5, f"{SITE_NAME}에서 사람과 AI가 함께 쓴 소설 (완결 {book.finished_on})")
    return bytes(pdf.output())
