"""The book as plain text, EPUB and PDF, each passage with who wrote it.

The EPUB and the PDF follow the book page's design (templates/novels/book.html,
static/relay/book.css): a title page, the text in chapters with a table of
contents when the book is long (novels.book: Book.chapters), and who wrote each
passage set apart from the text: in the PDF a small note in the outer margin
beside the passage's first line, in the EPUB (whose readers have no margin) a
small line under it. The PDF is an A5 book with page numbers.

EPUB is made with EbookLib; PDF with fpdf2 in a Korean font (fonts-nanum's
Nanum Myeongjo, BOOK_FONT). Korean text is NFC here: each syllable is one code
point and one glyph of the font, so it needs no shaping engine. (fpdf2's
HarfBuzz mode also runs its bidi pass, which recurses once per neutral
character and failed on a passage of 2,000 emoji.)
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.html import escape

from novels.book import SITE_NAME, Book, Chapter, Passage
from relay.common.errors import DomainError


class NoBookFont(DomainError):
    code = "no_book_font"
    status = 503
    message = "PDF에 쓸 한글 글꼴이 이 서버에 없습니다 (BOOK_FONT, fonts-nanum). EPUB이나 텍스트로 받아 주세요."


def attribution(passage: Passage) -> str:
    return f"[{passage.by} · {passage.credit}]"


def colophon(book: Book) -> str:
    return f"{SITE_NAME}에서 사람과 AI가 함께 쓴 소설 · {book.finished_on} 완결"


def writers(book: Book) -> str:
    """The title page's line of authors: the people, and the AI when it wrote."""
    people = ", ".join(book.people)
    if not people:
        return "AI"
    return f"{people} 그리고 AI" if book.ai_passages else people


def as_text(book: Book) -> str:
    lines = [book.title, ""]
    if book.premise:
        lines += [book.premise, ""]
    for chapter in book.chapters:
        if book.long:
            lines += [chapter.title, ""]
        for passage in chapter.passages:
            lines += [passage.text, attribution(passage), ""]
    lines.append(f"— {colophon(book)}")
    return "\n".join(lines) + "\n"


# -- EPUB -----------------------------------------------------------------------------------------------------


EPUB_CSS = """
body { font-family: serif; line-height: 1.85; }
.title-page { text-align: center; margin-top: 25%; }
.title-page .kind { font-family: sans-serif; font-size: .8em; letter-spacing: .08em; color: #777; }
.title-page h1 { font-size: 1.8em; margin: .4em 0 .8em; }
.title-page .premise { color: #444; }
.title-page .imprint { font-family: sans-serif; font-size: .8em; color: #777; margin-top: 3em; }
h2.chapter { text-align: center; font-size: 1.1em; margin: 2em 0 1.5em; }
.passage p { margin: 0; text-indent: 1em; }
.passage { margin-bottom: .9em; }
.credit { font-family: sans-serif; font-size: .7em; line-height: 1.5; color: #888; text-align: right; text-indent: 0; margin: .2em 0 0; }
.ai .credit { color: #6a8099; }
.colophon { font-family: sans-serif; font-size: .75em; color: #777; text-align: center; margin-top: 3em; }
"""


def _passage_html(passage: Passage) -> str:
    kind = "ai" if passage.by == "AI" else "human"
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in passage.text.split("\n") if line.strip())
    return f'<div class="passage {kind}">{paragraphs}<p class="credit">{escape(passage.note)}</p></div>'


def as_epub(book: Book) -> bytes:
    from ebooklib import epub

    document = epub.EpubBook()
    document.set_identifier(f"relay-novel-{book.novel_id}")
    document.set_title(book.title)
    document.set_language("ko")
    document.add_author(f"{SITE_NAME}의 사람들과 AI")
    style = epub.EpubItem(uid="style", file_name="style.css", media_type="text/css", content=EPUB_CSS.encode("utf-8"))
    document.add_item(style)

    def page(name: str, title: str, body: str) -> Any:
        item = epub.EpubHtml(title=title, file_name=name, lang="ko")
        item.content = body
        item.add_item(style)
        document.add_item(item)
        return item

    premise = f'<p class="premise">{escape(book.premise)}</p>' if book.premise else ""
    title_page = page(
        "title.xhtml",
        book.title,
        f'<section class="title-page"><p class="kind">사람과 AI가 함께 쓴 소설</p><h1>{escape(book.title)}</h1>'
        f'{premise}<p class="imprint">{escape(writers(book))}<br/>{escape(SITE_NAME)} · {book.finished_on} 완결</p>'
        "</section>",
    )
    chapters = []
    for chapter in book.chapters or [Chapter(1, [])]:
        heading = f'<h2 class="chapter">{escape(chapter.title)}</h2>' if book.long else ""
        last = chapter is book.chapters[-1] if book.chapters else True
        end = f'<p class="colophon">{escape(colophon(book))}</p>' if last else ""
        body = heading + "".join(_passage_html(passage) for passage in chapter.passages) + end
        chapters.append(page(f"chapter-{chapter.number}.xhtml", chapter.title if book.long else book.title, body))
    if book.long:
        document.toc = [epub.Link(item.file_name, chapter.title, f"chapter-{chapter.number}")
                        for item, chapter in zip(chapters, book.chapters, strict=True)]  # fmt: skip
    else:
        document.toc = [epub.Link(chapters[0].file_name, book.title, "story")]
    document.add_item(epub.EpubNcx())
    document.add_item(epub.EpubNav())
    document.spine = [title_page, "nav", *chapters] if book.long else [title_page, *chapters]
    out = io.BytesIO()
    epub.write_epub(out, document)
    return out.getvalue()


# -- PDF --------------------------------------------------------------------------------------------------------

# A5, in millimetres: the text in 98 mm (about 26 syllables of 10.5 points a line, as A5 books set Korean),
# the outer margin wide enough for the notes of who wrote each passage.
PAGE = (148, 210)
LEFT, TOP, BOTTOM = 16, 18, 20
NOTE_X, NOTE_W = 120, 22  # the margin note's column
RIGHT = PAGE[0] - NOTE_X + 6  # the text ends 6 mm before the note's column
BODY_PT, LINE_MM = 10.5, 6.3
GREY, AI_GREY = (120, 114, 108), (94, 116, 140)


def book_font() -> Path:
    path = Path(settings.BOOK_FONT)
    if not path.is_file():
        raise NoBookFont()
    return path


def _pdf_class() -> type:
    from fpdf import FPDF  # (imported when a PDF is made: web processes that never make one skip it)

    class BookPDF(FPDF):
        numbered_from = 2  # the title page has no number

        def footer(self) -> None:
            if self.page_no() < self.numbered_from:
                return
            self.set_y(-13)
            self.set_font("book", size=8)
            self.set_text_color(*GREY)
            self.cell(0, 5, str(self.page_no()), align="C")
            self.set_text_color(0, 0, 0)

    return BookPDF


def as_pdf(book: Book) -> bytes:
    font = book_font()
    pdf = _pdf_class()(format=PAGE)
    pdf.set_margins(LEFT, TOP, RIGHT)
    pdf.set_auto_page_break(True, margin=BOTTOM)
    pdf.add_font("book", fname=str(font))
    pdf.set_title(book.title)
    pdf.set_author(f"{SITE_NAME}의 사람들과 AI")
    pdf.set_lang("ko")
    _title_page(pdf, book)
    if book.long:
        pdf.add_page()
        # It leaves the pages for the contents, written once the chapters' pages are known, and opens the next.
        pdf.insert_toc_placeholder(lambda pdf, outline: _contents(pdf, outline, book), pages=_toc_pages(book))
    for chapter in book.chapters:
        if not (book.long and chapter.number == 1):
            pdf.add_page()
        if book.long:
            pdf.start_section(chapter.title)
            pdf.set_font("book", size=13)
            pdf.ln(8)
            pdf.cell(0, 8, chapter.title, align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(8)
        for passage in chapter.passages:
            _passage(pdf, passage)
    pdf.ln(10)
    pdf.set_font("book", size=8)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 5, colophon(book), align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _title_page(pdf: Any, book: Book) -> None:
    pdf.add_page()
    width = PAGE[0] - 2 * LEFT  # the title page is centred on the page, not on the text column
    pdf.set_left_margin(LEFT)
    pdf.set_right_margin(LEFT)
    pdf.set_y(62)
    pdf.set_font("book", size=8.5)
    pdf.set_text_color(*GREY)
    pdf.cell(width, 6, "사람과 AI가 함께 쓴 소설", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("book", size=20)
    pdf.multi_cell(width, 10, book.title, align="C", new_x="LMARGIN", new_y="NEXT")
    if book.premise:
        pdf.ln(6)
        pdf.set_font("book", size=9.5)
        pdf.set_text_color(70, 66, 60)
        pdf.multi_cell(width, 6, book.premise, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(160)
    pdf.set_font("book", size=9)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(width, 5.5, f"{writers(book)}\n{SITE_NAME} · {book.finished_on} 완결", align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.set_right_margin(RIGHT)


def _toc_pages(book: Book) -> int:
    return 1 + len(book.chapters) // 22  # 22 chapters to a page of contents


def _contents(pdf: Any, outline: list, book: Book) -> None:
    openings = {chapter.title: chapter.opening for chapter in book.chapters}
    pdf.set_font("book", size=13)
    pdf.ln(8)
    pdf.cell(0, 8, "차례", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    width = PAGE[0] - LEFT - RIGHT
    for section in outline:
        pdf.set_font("book", size=10)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(18, 7, section.name)
        pdf.set_font("book", size=8.5)
        pdf.set_text_color(*GREY)
        pdf.cell(width - 30, 7, openings.get(section.name, ""))
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("book", size=10)
        pdf.cell(12, 7, str(section.page_number), align="R", new_x="LMARGIN", new_y="NEXT")


def _passage(pdf: Any, passage: Passage) -> None:
    """The passage in the text column; who wrote it in the outer margin, beside its first line (the two start
    on the same page: a passage that would begin in the last lines of a page begins on the next)."""
    pdf.set_font("book", size=6.5)
    note_lines = pdf.multi_cell(NOTE_W, 3.4, passage.note, dry_run=True, output="LINES")
    if pdf.get_y() + max(len(note_lines) * 3.4, 2 * LINE_MM) > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y()
    pdf.set_text_color(*(AI_GREY if passage.by == "AI" else GREY))
    pdf.set_xy(NOTE_X, top + 1.2)
    pdf.multi_cell(NOTE_W, 3.4, passage.note, align="L")
    page, note_bottom = pdf.page, pdf.get_y()
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(LEFT, top)
    pdf.set_font("book", size=BODY_PT)
    for line in passage.text.split("\n"):
        if line.strip():
            pdf.multi_cell(0, LINE_MM, "\u3000" + line.strip(), align="J", new_x="LMARGIN", new_y="NEXT")
    if pdf.page == page and pdf.get_y() < note_bottom:  # a short passage: the next one's note must not meet this one's
        pdf.set_y(note_bottom)
    pdf.ln(2.5)


def as_bytes(book: Book, fmt: str) -> bytes:
    """The book in one of FORMATS."""
    return FORMATS[fmt][1](book)


# Each format: its media type and how it is written.
FORMATS = {
    "txt": ("text/plain; charset=utf-8", lambda book: as_text(book).encode("utf-8")),
    "epub": ("application/epub+zip", as_epub),
    "pdf": ("application/pdf", as_pdf),
}
