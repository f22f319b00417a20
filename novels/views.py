"""Pages of a finished novel: the book, and its files. The pages where a novel is written are the relay's
(voting.views); the source texts' pages are management's."""

from __future__ import annotations

import math

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header

from novels import book
from novels.book import files as book_files
from novels.book.formats import FORMATS, book_font
from relay.common.answers import error_json
from relay.common.api import BookDownloadThrottle
from relay.common.errors import DomainError


def novel_book(request: HttpRequest, novel_id: int) -> HttpResponse:
    """A finished novel as a book: each passage marked a person's or the AI's; a card for messengers."""
    try:
        the_book = book.book_of(novel_id)
    except DomainError as error:
        return render(request, "novels/not_a_book.html", {"error": error, "novel_id": novel_id}, status=error.status)
    made = book_files.ready(the_book)
    all_ready = all(made[fmt] for fmt in book_files.formats_of(the_book))
    if not all_ready:
        book_files.schedule(novel_id)
    opening = " ".join(passage.text for passage in the_book.passages)[:160]
    context = {
        "book": the_book,
        "opening": opening,
        "share_url": request.build_absolute_uri(),
        "downloads": [(fmt, label, made[fmt]) for fmt, label in BOOK_LABELS.items()],
        "all_ready": all_ready,
        "nav": "novels",
    }
    return render(request, "novels/book.html", context)


BOOK_LABELS = {"epub": "EPUB", "pdf": "PDF", "txt": "텍스트"}
BOOK_PREPARING = "책 파일을 만드는 중입니다. 몇 초 뒤에 다시 받아 주세요."


def novel_book_files(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Which of the book's files are ready to download (the book page asks while they are being made)."""
    try:
        the_book = book.book_of(novel_id)
    except DomainError as error:
        return error_json(error.code, error.message, error.status)
    return JsonResponse({"novel": novel_id, "ready": book_files.ready(the_book)})


def novel_book_file(request: HttpRequest, novel_id: int, fmt: str) -> HttpResponse:
    """The book as plain text, EPUB or PDF, each passage with its attribution, built once per state of the book."""
    if fmt not in FORMATS:
        return error_json("not_found", "책은 txt, epub, pdf로만 내려받을 수 있습니다.", 404)
    throttle = BookDownloadThrottle()
    if not throttle.allow_request(request, None):
        wait = math.ceil(throttle.wait() or 60)
        response = error_json("throttled", f"너무 자주 내려받고 있습니다. {wait}초 뒤에 다시 받아 주세요.", 429)
        response["Retry-After"] = str(wait)
        return response
    try:
        the_book = book.book_of(novel_id)
        if fmt == "pdf":
            book_font()
    except DomainError as error:
        return error_json(error.code, error.message, error.status)
    try:
        content = book_files.path_of(the_book, fmt).read_bytes()
    except FileNotFoundError:
        book_files.schedule(novel_id)
        response = error_json("book_preparing", BOOK_PREPARING, 503)
        response["Retry-After"] = "3"
        return response
    response = HttpResponse(content, content_type=FORMATS[fmt][0])
    response["Content-Disposition"] = content_disposition_header(True, f"{the_book.file_stem}.{fmt}")
    return response
