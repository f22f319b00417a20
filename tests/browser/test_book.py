"""Finishing a novel in the browser, reading it as a book and downloading it as EPUB and PDF."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.conftest import OPENING

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_the_creator_finishes_the_novel_and_readers_download_the_book(reader, novel, editor, alice):
    watcher = reader(alice, server=1)
    watcher.open(f"/novels/{novel.pk}/")
    creator = reader(editor, server=0)
    creator.open(f"/novels/{novel.pk}/")

    creator.page.locator("#finish-form summary").click()
    creator.page.locator("#finish-form button[type=submit]").click()

    expect(creator.page.locator("h1")).to_have_text("등대 이야기", timeout=10000)
    assert creator.page.url.endswith(f"/novels/{novel.pk}/book/")
    expect(watcher.page.locator("#book-link")).to_be_visible(timeout=10000)  # told live, on the other server
    expect(creator.page.locator(".book-passage .credit").first).to_have_text("editor 님이 씀")

    with creator.page.expect_download() as download:
        creator.page.get_by_role("link", name="EPUB").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert archive.infolist()[0].filename == "mimetype" and archive.read("mimetype") == b"application/epub+zip"
    story = "".join(
        "".join(ElementTree.fromstring(archive.read(name)).itertext())
        for name in archive.namelist()
        if name.endswith(".xhtml")
    )
    assert squeeze(OPENING) in squeeze(story)

    if Path(settings.BOOK_FONT).is_file():
        from pypdf import PdfReader

        with creator.page.expect_download() as download:
            creator.page.get_by_role("link", name="PDF").click()
        pdf = PdfReader(download.value.path())
        assert squeeze(OPENING) in squeeze("".join(page.extract_text() for page in pdf.pages))
    assert not creator.errors and not watcher.errors


# Measured in the page: the characters on the second line of the first long paragraph (the first is indented),
# the type of the text and of the notes of who wrote it, and where each stands.
MEASURE = """() => {
  const paragraph = [...document.querySelectorAll(".book-passage p")].find((p) => p.textContent.length > 200);
  const node = paragraph.firstChild;
  const range = document.createRange();
  const tops = [];
  for (let i = 0; i < node.length; i++) {
    range.setStart(node, i); range.setEnd(node, i + 1);
    const rect = range.getClientRects()[0];
    if (rect) tops.push(Math.round(rect.top));
  }
  const lines = [...new Set(tops)];
  const passage = paragraph.closest(".book-passage");
  const credit = passage.querySelector(".credit");
  const text = getComputedStyle(paragraph), note = getComputedStyle(credit);
  const box = (el) => { const r = el.getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }; };
  return {
    second_line: tops.filter((top) => top === lines[1]).length,
    text_size: parseFloat(text.fontSize), text_font: text.fontFamily, text_color: text.color,
    note_size: parseFloat(note.fontSize), note_color: note.color,
    paragraph: box(paragraph), credit: box(credit), passage: box(passage),
    overflow: document.scrollingElement.scrollWidth - window.innerWidth,
    title_page: box(document.querySelector(".book-title-page")),
  };
}"""


def lightness(color: str) -> float:
    red, green, blue = (int(x) for x in re.findall(r"\d+", color)[:3])
    return (red + green + blue) / 3


@pytest.fixture
def long_finished(novel, editor, alice):
    """The novel with long passages of a person's and the AI's, finished."""
    from management.models import ModelVersion
    from novels.models import Turn
    from tests.live import off_loop
    from voting.services import novel_finish

    line = "바닷가 마을의 아침은 늘 안개로 시작되었고, 등대지기의 딸은 그 안개 속을 걸어 학교에 갔다. "
    version = ModelVersion.objects.create(label="v3", directory="v3", vocab_hash="h")
    for position, kind in ((2, Turn.Kind.AI), (3, Turn.Kind.HUMAN), (4, Turn.Kind.AI)):
        Turn.objects.create(
            novel=novel, position=position, text=(line * 6).strip(), kind=kind, status=Turn.Status.APPROVED,
            author=alice if kind == Turn.Kind.HUMAN else None, model_version=version if kind == Turn.Kind.AI else None,
        )  # fmt: skip
    return off_loop(novel_finish, novel=novel, by=editor)


@pytest.mark.parametrize(
    ("device", "viewport"), [("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})]
)
def test_the_book_page_reads_like_a_book_on_a_desktop_and_a_phone(reader, long_finished, device, viewport):
    from tests.browser.conftest import ARTIFACTS

    tab = reader(viewport=viewport)
    tab.page.goto(f"{tab.base_url}/novels/{long_finished.pk}/book/")
    expect(tab.page.locator(".book-title-page h1")).to_have_text("등대 이야기")
    tab.page.evaluate("document.fonts.ready")
    m = tab.page.evaluate(MEASURE)
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(ARTIFACTS / f"book-page-{device}.png"), full_page=True)

    assert "Myeongjo" in m["text_font"] or "Serif" in m["text_font"]  # serif text, as on the novel page
    assert m["overflow"] <= 0  # nothing wider than the window
    assert m["note_size"] <= 0.7 * m["text_size"] and lightness(m["note_color"]) > lightness(m["text_color"]) + 60
    if device == "desktop":
        assert 30 <= m["second_line"] <= 40, m  # about 35 Korean characters a line
        # Who wrote it: a note in the margin beside the passage's first line, outside the text.
        assert m["credit"]["left"] >= m["paragraph"]["right"] + 16
        assert abs(m["credit"]["top"] - m["passage"]["top"]) < m["text_size"] * 1.5
    else:
        assert 18 <= m["second_line"] <= 30, m
        assert m["text_size"] >= 16  # no smaller than the site's own text
        assert m["credit"]["top"] >= m["paragraph"]["bottom"] - 1  # under the passage, quietly
    assert m["title_page"]["bottom"] <= m["paragraph"]["top"]  # the title page comes first
    assert not tab.errors


def test_the_book_page_prints_as_an_a5_book(reader, long_finished, tmp_path):
    """Printed (Chromium's print to PDF): A5, the title page alone on the first page, numbers at the foot of the
    others, nothing of the site."""
    import subprocess

    from pypdf import PdfReader

    tab = reader()
    tab.page.goto(f"{tab.base_url}/novels/{long_finished.pk}/book/")
    tab.page.evaluate("document.fonts.ready")
    path = tmp_path / "printed.pdf"
    path.write_bytes(tab.page.pdf(prefer_css_page_size=True))
    pages = PdfReader(path).pages
    width, height = (round(float(x) * 25.4 / 72) for x in pages[0].mediabox.upper_right)
    assert (width, height) == (148, 210) and len(pages) >= 2

    def text_of(number: int) -> str:
        args = ["pdftotext", "-layout", "-f", str(number), "-l", str(number), str(path), "-"]
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout

    first, second = text_of(1), text_of(2)
    assert "등대 이야기" in first and "안개" not in first and "로그인" not in first and "내려받기" not in first
    assert "안개" in second and second.rstrip().splitlines()[-1].strip() == "2"
