"""A finished novel is read as a book and exported as EPUB, PDF and plain text, each passage attributed."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.conf import settings
from django.urls import reverse

from management.models import ModelVersion
from novels import book
from novels.book import files
from novels.models import Novel, Turn
from relay.common.errors import NotAuthenticated, NovelFinished, PermissionDenied
from tests.waiting import wait_until
from voting.models import Proposal, Round
from voting.selectors import current_round
from voting.services import novel_finish, proposal_create

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}
AI_TEXT = "등대지기는 불을 켜고 바다를 오래 바라보았다."


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def download(client, novel, fmt: str):
    """The book's file as a reader downloads it once it is built (here, in the test's process)."""
    files.build(novel.pk)
    return client.get(reverse("novel-book-file", args=[novel.pk, fmt]))


@pytest.fixture
def finished(novel, editor, alice):
    """The novel with an AI passage (keyword and model version) after its first, finished by its creator."""
    round_ = current_round(novel)
    proposal, _ = proposal_create(round=round_, author=alice, keyword="등대", sentences=1)
    version = ModelVersion.objects.create(label="v7", directory="v7", vocab_hash="h")
    Turn.objects.create(
        novel=novel, position=2, text=AI_TEXT, kind=Turn.Kind.AI, status=Turn.Status.APPROVED,
        proposal=proposal, model_version=version,
    )  # fmt: skip
    return novel_finish(novel=novel, by=editor)


def test_the_creator_finishes_the_novel_and_its_open_round_ends_keeping_its_proposals(novel, editor, alice):
    round_ = current_round(novel)
    proposal_create(round=round_, author=alice, keyword="바다", sentences=2)

    novel_finish(novel=novel, by=editor)

    novel.refresh_from_db()
    round_.refresh_from_db()
    assert (novel.status, novel.finished_by) == (Novel.Status.FINISHED, editor)
    assert round_.status == Round.Status.FAILED and "완결" in round_.failure_reason
    assert Proposal.objects.filter(round=round_).count() == 1
    assert current_round(novel) is None


def test_someone_else_may_not_finish_it_and_nothing_changes(novel, alice):
    with pytest.raises(PermissionDenied):
        novel_finish(novel=novel, by=alice)
    novel.refresh_from_db()
    assert novel.status == Novel.Status.OPEN and current_round(novel) is not None


def test_finishing_twice_or_anonymously_is_refused(finished, editor):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NovelFinished):
        novel_finish(novel=finished, by=editor)
    with pytest.raises(NotAuthenticated):
        novel_finish(novel=finished, by=AnonymousUser())


def test_finishing_over_the_page_needs_the_right_person(client, novel, alice, editor):
    client.force_login(alice)
    refused = client.post(reverse("novel-finish", args=[novel.pk]), headers=JSON)
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")

    client.force_login(editor)
    done = client.post(reverse("novel-finish", args=[novel.pk]))
    assert done.status_code == 302 and done["Location"] == reverse("novel-book", args=[novel.pk])


def test_the_book_page_marks_each_passage_and_carries_a_share_card(client, finished):
    page = client.get(reverse("novel-book", args=[finished.pk])).content.decode()

    assert '<meta property="og:title" content="등대 이야기">' in page
    description = re.search(r'<meta property="og:description" content="([^"]*)">', page).group(1)
    assert description.startswith(finished.turns.order_by("position").first().text[:20])
    assert "editor 님이 씀" in page
    assert "AI가 씀 · 키워드 “등대” · 모델 v7" in page


def test_the_text_file_carries_every_passage_with_its_attribution(client, finished):
    response = download(client, finished, "txt")

    text = response.content.decode("utf-8")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert AI_TEXT + "\n[AI · 키워드 “등대” · 모델 v7]" in text
    assert "[사람 · editor]" in text


def test_the_epub_is_a_valid_book_with_the_text(client, finished):
    response = download(client, finished, "epub")

    archive = zipfile.ZipFile(io.BytesIO(response.content))
    first = archive.infolist()[0]
    assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
    assert archive.read("mimetype") == b"application/epub+zip"
    container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
    assert container.find(".//{*}rootfile") is not None
    pages = [name for name in archive.namelist() if name.endswith(".xhtml")]
    story = "".join("".join(ElementTree.fromstring(archive.read(name)).itertext()) for name in pages)  # each parses
    assert AI_TEXT in story and "AI가 씀 · 키워드 “등대” · 모델 v7" in story
    assert pages[0].endswith("title.xhtml") or "title.xhtml" in archive.namelist()  # a title page of its own
    title_page = "".join(
        ElementTree.fromstring(archive.read(next(n for n in pages if n.endswith("title.xhtml")))).itertext()
    )
    assert "등대 이야기" in title_page and "사람과 AI가 함께 쓴 소설" in title_page and AI_TEXT not in title_page


@pytest.mark.skipif(not Path(settings.BOOK_FONT).is_file(), reason="fonts-nanum missing (make system-packages)")
def test_the_pdf_holds_the_korean_text(client, finished):
    from pypdf import PdfReader

    response = download(client, finished, "pdf")

    assert response["Content-Type"] == "application/pdf"
    extracted = squeeze("".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages))
    assert squeeze(AI_TEXT) in extracted
    assert squeeze(finished.turns.order_by("position").first().text) in extracted
    assert squeeze("AI가 씀 · 키워드 “등대” · 모델 v7") in extracted


def test_without_the_font_the_pdf_is_refused_clearly(client, finished, settings):
    settings.BOOK_FONT = "/nonexistent/font.ttf"
    response = download(client, finished, "pdf")
    assert (response.status_code, response.json()["code"]) == (503, "no_book_font")


def test_exporting_a_novel_that_is_missing_or_not_finished_is_a_clear_error(client, novel):
    missing = client.get(reverse("novel-book-file", args=[novel.pk + 1000, "epub"]))
    open_one = client.get(reverse("novel-book-file", args=[novel.pk, "pdf"]))
    unknown = client.get(reverse("novel-book-file", args=[novel.pk, "docx"]))
    page = client.get(reverse("novel-book", args=[novel.pk]))

    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert (open_one.status_code, open_one.json()["code"]) == (409, "not_finished")
    assert unknown.status_code == 404
    assert page.status_code == 409 and "완결된 소설만" in page.content.decode()


def test_a_title_that_breaks_file_names_gives_a_safe_one(client, finished):
    Novel.objects.filter(pk=finished.pk).update(title='../../비밀/:*?"<>|\n\t제목.')

    response = download(client, finished, "txt")

    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    name = book.file_stem('../../비밀/:*?"<>|\n\t제목.', finished.pk)
    assert name == f"비밀 제목-{finished.pk}"
    assert "/" not in disposition and "\n" not in disposition


def test_a_passage_of_2000_emoji_exports_without_losing_the_book(client, finished):
    Turn.objects.create(novel=finished, position=3, text="😀" * 2000, kind=Turn.Kind.HUMAN, status=Turn.Status.APPROVED)

    text = download(client, finished, "txt").content.decode()
    epub = download(client, finished, "epub")

    assert "😀" * 2000 in text
    assert epub.status_code == 200 and zipfile.ZipFile(io.BytesIO(epub.content)).testzip() is None
    if Path(settings.BOOK_FONT).is_file():  # a font without emoji: the PDF still comes, with the Korean text
        pdf = download(client, finished, "pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


@pytest.mark.django_db(transaction=True)
def test_a_finished_novel_is_told_to_every_page(novel, editor):
    from relay.transport.groups import SITE_GROUP
    from tests.voting.listening import Listener

    listener = Listener(SITE_GROUP)
    try:
        novel_finish(novel=novel, by=editor)
        finished = [event for event in listener.events(0.5) if event["type"] == "novel.finished"]
    finally:
        listener.close()
    assert finished == [{"type": "novel.finished", "novel": novel.pk, "title": "등대 이야기"}]


def test_a_download_before_its_file_is_made_asks_for_it_and_says_to_come_back(client, finished, book_builders):
    answer = client.get(reverse("novel-book-file", args=[finished.pk, "epub"]))

    assert answer.status_code == 503 and answer.json()["code"] == "book_preparing"
    assert answer["Retry-After"] == "3" and book_builders == [finished.pk]
    files.build(finished.pk)
    assert client.get(reverse("novel-book-file", args=[finished.pk, "epub"])).status_code == 200


def test_each_file_is_made_once_for_each_state_of_the_book(finished, editor):
    made = files.build(finished.pk)
    first = {fmt: files.path_of(made, fmt).stat().st_mtime_ns for fmt in files.formats_of(made)}

    again = files.build(finished.pk)
    assert again.digest == made.digest
    assert {fmt: files.path_of(again, fmt).stat().st_mtime_ns for fmt in first} == first

    Turn.objects.create(novel=finished, position=3, text="새벽이 왔다.", kind=Turn.Kind.HUMAN, author=editor,
                        status=Turn.Status.APPROVED)  # fmt: skip
    changed = files.build(finished.pk)
    assert changed.digest != made.digest and "새벽이 왔다." in files.path_of(changed, "txt").read_text()
    assert not any(files.path_of(made, fmt).exists() for fmt in first)  # the earlier state's files are gone


def test_the_book_holds_only_approved_passages_and_says_how_many_wait(client, finished, alice, editor):
    from voting.services import turn_review

    waiting = Turn.objects.create(
        novel=finished, position=3, text="아직 검토를 기다리는 글이다.", kind=Turn.Kind.HUMAN, author=alice
    )
    page = client.get(reverse("novel-book", args=[finished.pk])).content.decode()
    assert "아직 검토를 기다리는 글이다." not in download(client, finished, "txt").content.decode()
    assert "아직 검토를 기다리는 글이다." not in page and "검토를 기다리는 글 1편" in page

    turn_review(turn=waiting, reviewer=editor, action="approve")

    assert "아직 검토를 기다리는 글이다." in download(client, finished, "txt").content.decode()


def test_a_finished_novel_refuses_a_revert_and_keeps_its_last_passage(finished, editor):
    from voting.services import turn_revert_last

    last = finished.turns.order_by("-position").first()
    with pytest.raises(NovelFinished):
        turn_revert_last(novel=finished, reviewer=editor)
    last.refresh_from_db()
    assert last.status == Turn.Status.APPROVED


HOSTILE_TITLE = "책\u0001제목\x1b\x85"


def test_control_characters_and_noncharacters_make_a_well_formed_epub(client, finished, editor):
    from lxml import etree

    Novel.objects.filter(pk=finished.pk).update(title=HOSTILE_TITLE, premise="머리말\ufffe\uffff")
    Turn.objects.create(novel=finished, position=3, text="끝\uffff\ufffe\u0007 문장.", kind=Turn.Kind.HUMAN,
                        author=editor, status=Turn.Status.APPROVED)  # fmt: skip

    response = download(client, finished, "epub")

    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.read("mimetype") == b"application/epub+zip"
    strict = etree.XMLParser(recover=False, resolve_entities=False)
    container = etree.fromstring(archive.read("META-INF/container.xml"), strict)
    package_path = container.find(".//{*}rootfile").get("full-path")
    package = etree.fromstring(archive.read(package_path), strict)
    folder = package_path.rsplit("/", 1)[0] + "/" if "/" in package_path else ""
    items = package.findall(".//{*}manifest/{*}item")
    assert items and all(folder + item.get("href") in archive.namelist() for item in items)
    assert package.findtext(".//{*}metadata/{*}title") == "책제목"
    for name in archive.namelist():
        if name.endswith((".xhtml", ".opf", ".ncx")):
            etree.fromstring(archive.read(name), strict)  # every document is well-formed XML
    story = "".join(
        "".join(etree.fromstring(archive.read(name), strict).itertext())
        for name in archive.namelist()
        if name.endswith(".xhtml")
    )
    assert "끝 문장." in story


def test_downloads_are_limited_per_address(client, finished, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "book": "2/min"},
    }
    files.build(finished.pk)

    codes = [client.get(reverse("novel-book-file", args=[finished.pk, "txt"])).status_code for _ in range(3)]

    assert codes == [200, 200, 429]


@pytest.mark.django_db(transaction=True)
def test_finishing_starts_a_builder_process_that_makes_every_file(
    editor, monkeypatch, django_capture_on_commit_callbacks
):
    from voting.services import novel_create, novel_finish

    monkeypatch.undo()  # the real builder: `manage.py buildbook`, a process of its own
    novel = novel_create(title="한 권", created_by=editor, first_passage="바다는 조용했다. 수아는 편지를 읽었다.")
    with django_capture_on_commit_callbacks(execute=True):
        novel_finish(novel=novel, by=editor)
    the_book = book.book_of(novel.pk)

    wait_until(lambda: all(files.ready(the_book)[fmt] for fmt in files.formats_of(the_book)), timeout_s=120,
               what="the builder's files")  # fmt: skip
    assert "수아는 편지를 읽었다." in files.path_of(the_book, "txt").read_text(encoding="utf-8")


def long_book(count: int = 40) -> book.Book:
    text = "바닷가 마을의 아침은 늘 안개로 시작되었다. " * 20  # 500 characters a passage
    passages = [
        book.Passage(text, "AI", f"키워드 “안개” · 모델 v{n}") if n % 2 else book.Passage(text, "사람", "수아")
        for n in range(count)
    ]
    return book.Book(1, "안개의 마을", "안개 속의 한 해.", "2026-12-04", passages)


def test_a_long_book_is_in_chapters_that_end_with_a_passage_and_a_short_one_is_not():
    chapters = long_book(40).chapters
    assert [chapter.title for chapter in chapters] == ["제1장", "제2장", "제3장", "제4장"]  # 12, 12, 12 and 4
    assert sum(len(chapter.passages) for chapter in chapters) == 40
    assert all(sum(len(p.text) for p in chapter.passages) >= book.CHAPTER_CHARS for chapter in chapters[:-1])
    assert long_book(40).long and not long_book(3).long and len(long_book(3).chapters) == 1
    # a last chapter of one passage joins the one before
    assert [len(c.passages) for c in long_book(13).chapters] == [13]
    assert book.Book(1, "빈 책", "", "", []).chapters == []


def test_the_design_of_the_files_is_part_of_what_they_are_built_for(monkeypatch):
    made = long_book(3).digest
    monkeypatch.setattr(book, "LAYOUT", book.LAYOUT + 1)
    assert long_book(3).digest != made  # files of an earlier design are built again


def test_a_long_epub_has_its_chapters_in_its_table_of_contents():
    from novels.book.formats import as_epub

    archive = zipfile.ZipFile(io.BytesIO(as_epub(long_book(40))))
    nav = next(name for name in archive.namelist() if name.endswith("nav.xhtml"))
    listed = ["".join(a.itertext()) for a in ElementTree.fromstring(archive.read(nav)).findall(".//{*}a")]
    assert listed == ["제1장", "제2장", "제3장", "제4장"]


@pytest.mark.skipif(not Path(settings.BOOK_FONT).is_file(), reason="fonts-nanum missing (make system-packages)")
def test_the_pdf_is_an_a5_book_title_page_contents_chapters_page_numbers_notes_in_the_margin(tmp_path):
    """Its first pages rendered to images (pdftoppm, Debian's poppler-utils) and read back (pdftotext): the
    title page holds the title and no story, the next the contents, then the text with who wrote each passage in
    the outer margin and the page's number at its foot. The images are kept in test-artifacts/."""
    import shutil
    import subprocess

    from PIL import Image
    from pypdf import PdfReader

    from novels.book.formats import as_pdf

    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), "poppler-utils missing: make system-packages"
    pdf_path = tmp_path / "book.pdf"
    pdf_path.write_bytes(as_pdf(long_book(40)))
    reader = PdfReader(pdf_path)
    width, height = (float(x) * 25.4 / 72 for x in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (148, 210)  # A5

    def page_text(number: int, **crop: int) -> str:
        box = [part for k, v in crop.items() for part in (f"-{k}", str(v))]  # in points: 72 a inch
        args = ["pdftotext", "-layout", "-f", str(number), "-l", str(number), *box, str(pdf_path), "-"]
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout

    title = page_text(1)
    assert "안개의 마을" in title and "사람과 AI가 함께 쓴 소설" in title and "수아 그리고 AI" in title
    assert "안개로 시작되었다" not in title  # the title page is a page of its own
    contents = page_text(2)
    assert "차례" in contents and re.search(r"제1장.*\b3\b", contents) and "제3장" in contents
    text = page_text(3)
    assert "제1장" in text and "안개로 시작되었다" in text
    points = 72 / 25.4
    margin = page_text(3, x=int(118 * points), y=0, W=int(30 * points), H=int(200 * points))  # the outer margin
    assert "수아 님이" in margin and "안개로" not in margin  # who wrote it stands apart from the text
    foot = page_text(4, x=0, y=int(195 * points), W=int(148 * points), H=int(15 * points))
    assert foot.strip() == "4"  # numbered at the foot; the title page is not

    artifacts = Path(settings.BASE_DIR) / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "3", str(pdf_path), str(artifacts / "book-pdf")],
                   check=True)  # fmt: skip
    images = sorted(artifacts.glob("book-pdf-*.png"))
    assert len(images) == 3
    for image_path in images:
        pixels = Image.open(image_path).convert("L")
        assert pixels.getextrema()[0] < 100  # ink on every page, not a blank one
