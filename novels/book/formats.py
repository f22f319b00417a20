"""The book as plain text, EPUB and PDF, each passage with its attribution.

EPUB is made with EbookLib; PDF with fpdf2 in a Korean font (fonts-nanum's
Nanum Myeongjo, BOOK_FONT). Korean text is NFC here: each syllable is one code
point and one glyph of the font, so it needs no shaping engine. (fpdf2's
HarfBuzz mode also runs its bidi pass, which recurses once per neutral
character and failed on a passage of 2,000 emoji.)
"""

from __future__ import annotations

import io
from pathlib import Path

from django.conf import settings
from django.utils.html import escape

from novels.book import SITE_NAME, Book, Passage
from relay.common.errors import DomainError


class NoBookFont(DomainError):
    code = "no_book_font"
    status = 503
    message = "PDF에 쓸 한글 글꼴이 이 서버에 없습니다 (BOOK_FONT, fonts-nanum). EPUB이나 텍스트로 받아 주세요."


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


def as_bytes(book: Book, fmt: str) -> bytes:
    """The book in one of FORMATS."""
    return FORMATS[fmt][1](book)


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


# Each format: its media type and how it is written.
FORMATS = {
    "txt": ("text/plain; charset=utf-8", lambda book: as_text(book).encode("utf-8")),
    "epub": ("application/epub+zip", as_epub),
    "pdf": ("application/pdf", as_pdf),
}
