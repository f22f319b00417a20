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
from novels.models import Novel, Turn
from novels.services import novel_finish
from relay.common.errors import NotAuthenticated, NovelFinished, PermissionDenied
from voting.models import Proposal, Round
from voting.selectors import current_round
from voting.services import proposal_create

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}
AI_TEXT = "등대지기는 불을 켜고 바다를 오래 바라보았다."


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


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
    response = client.get(reverse("novel-book-file", args=[finished.pk, "txt"]))

    text = response.content.decode("utf-8")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert AI_TEXT + "\n[AI · 키워드 “등대” · 모델 v7]" in text
    assert "[사람 · editor]" in text


def test_the_epub_is_a_valid_book_with_the_text(client, finished):
    response = client.get(reverse("novel-book-file", args=[finished.pk, "epub"]))

    archive = zipfile.ZipFile(io.BytesIO(response.content))
    first = archive.infolist()[0]
    assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
    assert archive.read("mimetype") == b"application/epub+zip"
    container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
    assert container.find(".//{*}rootfile") is not None
    pages = [name for name in archive.namelist() if name.endswith(".xhtml")]
    story = "".join("".join(ElementTree.fromstring(archive.read(name)).itertext()) for name in pages)  # each parses
    assert AI_TEXT in story and "[AI · 키워드 “등대” · 모델 v7]" in story


@pytest.mark.skipif(not Path(settings.BOOK_FONT).is_file(), reason="fonts-nanum missing (make system-packages)")
def test_the_pdf_holds_the_korean_text(client, finished):
    from pypdf import PdfReader

    response = client.get(reverse("novel-book-file", args=[finished.pk, "pdf"]))

    assert response["Content-Type"] == "application/pdf"
    extracted = squeeze("".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages))
    assert squeeze(AI_TEXT) in extracted
    assert squeeze(finished.turns.order_by("position").first().text) in extracted
    assert squeeze("[AI · 키워드 “등대” · 모델 v7]") in extracted


def test_without_the_font_the_pdf_is_refused_clearly(client, finished, settings):
    settings.BOOK_FONT = "/nonexistent/font.ttf"
    response = client.get(reverse("novel-book-file", args=[finished.pk, "pdf"]))
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

    response = client.get(reverse("novel-book-file", args=[finished.pk, "txt"]))

    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    name = book.file_stem('../../비밀/:*?"<>|\n\t제목.', finished.pk)
    assert name == f"비밀 제목-{finished.pk}"
    assert "/" not in disposition and "\n" not in disposition


def test_a_passage_of_2000_emoji_exports_without_losing_the_book(client, finished):
    Turn.objects.create(novel=finished, position=3, text="😀" * 2000, kind=Turn.Kind.HUMAN, status=Turn.Status.APPROVED)

    text = client.get(reverse("novel-book-file", args=[finished.pk, "txt"])).content.decode()
    epub = client.get(reverse("novel-book-file", args=[finished.pk, "epub"]))

    assert "😀" * 2000 in text
    assert epub.status_code == 200 and zipfile.ZipFile(io.BytesIO(epub.content)).testzip() is None
    if Path(settings.BOOK_FONT).is_file():  # a font without emoji: the PDF still comes, with the Korean text
        pdf = client.get(reverse("novel-book-file", args=[finished.pk, "pdf"]))
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


@pytest.mark.django_db(transaction=True)
def test_a_finished_novel_is_told_to_every_page(novel, editor):
    from relay.live.events import SITE_GROUP
    from tests.voting.listening import Listener

    listener = Listener(SITE_GROUP)
    try:
        novel_finish(novel=novel, by=editor)
        finished = [event for event in listener.events(0.5) if event["type"] == "novel.finished"]
    finally:
        listener.close()
    assert finished == [{"type": "novel.finished", "novel": novel.pk, "title": "등대 이야기"}]
