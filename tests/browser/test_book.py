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
