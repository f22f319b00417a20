"""Bad input over the socket and over HTTP: each gets a clear error, nothing
already saved is lost, and the server stays up. Runs in both profiles."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from novels.models import Novel, SourceText, Turn
from tests.scaled.conftest import answer
from voting.models import Proposal, Vote

MARKUP = "<script>alert('x')</script>"


def saved_state(novel_id: int) -> tuple[list, list, list]:
    return (
        list(Proposal.objects.filter(round__novel_id=novel_id).values_list("pk", "keyword", "sentences")),
        list(Vote.objects.filter(round__novel_id=novel_id).values_list("user_id", "proposal_id")),
        list(Turn.objects.filter(novel_id=novel_id).values_list("pk", "text", "status")),
    )


async def still_up(communicator) -> None:
    await communicator.send_json_to({"type": "ping"})
    assert (await answer(communicator, kinds=("pong",)))["type"] == "pong"


# Over the socket -----------------------------------------------------------------------------------------


SOCKET_FRAMES = [
    ("{not json", "bad_json"),
    ("[1, 2, 3]", "bad_message"),
    ('"vote"', "bad_message"),
    ("{}", "unknown_type"),
    ('{"type": 5}', "unknown_type"),
    ('{"type": "drop_tables"}', "unknown_type"),
    ("x" * 5000, "too_large"),
    (json.dumps({"type": "propose", "keyword": "가" * 3000, "sentences": 2}), "too_large"),
    ('{"type": "vote", "proposal": "one"}', "bad_message"),
    ('{"type": "vote", "proposal": true}', "bad_message"),
    ('{"type": "vote", "proposal": 1.5}', "bad_message"),
    ('{"type": "vote", "proposal": -1}', "not_found"),
    ('{"type": "vote", "proposal": 0}', "not_found"),
    ('{"type": "vote", "proposal": 100000000000000000000000000000}', "bad_message"),  # more than an id holds
    ('{"type": "vote", "proposal": "' + "9" * 4000 + '"}', "bad_message"),
    ('{"type": "propose", "keyword": "바다", "sentences": -1}', "invalid_length"),
    ('{"type": "propose", "keyword": "바다", "sentences": 0}', "invalid_length"),
    ('{"type": "propose", "keyword": "바다", "sentences": 1000000000}', "invalid_length"),
    ('{"type": "propose", "keyword": "바다", "sentences": 100000000000000000000000000}', "bad_message"),
    ('{"type": "propose", "keyword": "", "sentences": 2}', "invalid_keyword"),
    ('{"type": "propose", "keyword": "바다\\u0000", "sentences": 2}', "invalid_keyword"),
    (json.dumps({"type": "propose", "keyword": "가" * 200, "sentences": 2}), "invalid_keyword"),
    ('{"type": "candidate_vote", "index": -5}', "candidates_not_open"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("frame,code", SOCKET_FRAMES, ids=[f"{i}-{c}" for i, (_, c) in enumerate(SOCKET_FRAMES)])
async def test_a_bad_socket_message_gets_a_coded_error_and_loses_nothing(sockets, novel, proposal, alice, frame, code):
    before = await sync_to_async(saved_state)(novel.pk)
    communicator = await sockets(novel.pk, alice)
    await communicator.send_to(text_data=frame)
    reply = await answer(communicator)
    assert (reply["type"], reply["code"]) == ("error", code)
    assert reply["message"]
    await still_up(communicator)
    assert await sync_to_async(saved_state)(novel.pk) == before


@pytest.mark.django_db(transaction=True)
async def test_markup_in_a_keyword_is_kept_as_text_and_shown_escaped(sockets, novel, proposal, alice):
    communicator = await sockets(novel.pk, alice)
    await communicator.send_json_to({"type": "propose", "keyword": MARKUP, "sentences": 2})
    reply = await answer(communicator, kinds=("error", "voted", "proposal.added"))
    if reply["type"] == "error":  # refusing markup outright is a clear answer too
        assert reply["code"] == "invalid_keyword"
        return
    page = await sync_to_async(Client().get)(f"/novels/{novel.pk}/")
    assert MARKUP.encode() not in page.content
    assert b"&lt;script&gt;" in page.content


@pytest.mark.django_db(transaction=True)
async def test_emoji_and_mixed_scripts_make_a_valid_keyword(sockets, novel, proposal, alice):
    communicator = await sockets(novel.pk, alice)
    await communicator.send_json_to({"type": "propose", "keyword": "고래🐳 whale", "sentences": 2})
    reply = await answer(communicator)
    assert reply["type"] == "voted"
    keyword = await sync_to_async(lambda: Proposal.objects.get(pk=reply["proposal"]).keyword)()
    assert keyword == "고래🐳 whale"


@pytest.mark.django_db(transaction=True)
async def test_a_decomposed_hangul_keyword_merges_with_its_composed_twin(sockets, novel, proposal, alice):
    import unicodedata

    communicator = await sockets(novel.pk, alice)
    await communicator.send_json_to(
        {"type": "propose", "keyword": unicodedata.normalize("NFD", "등대"), "sentences": 2}
    )
    reply = await answer(communicator)
    assert reply == {"type": "voted", "round": proposal.round_id, "proposal": proposal.pk}


# Over HTTP ----------------------------------------------------------------------------------------------------


@pytest.fixture
def alice_browser(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def propose_form(client: Client, novel: Novel, sentences) -> int:
    response = client.post(
        f"/novels/{novel.pk}/propose/", {"keyword": "바다", "sentences": sentences}, HTTP_ACCEPT="application/json"
    )
    return response.status_code


@pytest.mark.django_db
@pytest.mark.parametrize("sentences", ["-1", "0", "99999999999999999999999", "셋", "", "2.5"])
def test_a_length_out_of_range_or_not_a_number_is_refused_on_the_form(alice_browser, novel, proposal, sentences):
    before = saved_state(novel.pk)
    assert propose_form(alice_browser, novel, sentences) == 400
    assert saved_state(novel.pk) == before
    assert propose_form(alice_browser, novel, "2") == 201  # and the server goes on


HUGE = "9" * 4301  # one digit more than Python's int() reads
NOT_ASCII_DIGITS = ["²", "①", "٣"]  # str.isdigit() says yes, int() says no


@pytest.mark.django_db
@pytest.mark.parametrize("value", [HUGE, "9" * 20, *NOT_ASCII_DIGITS])
def test_a_number_no_field_can_hold_is_the_fields_error_at_every_api_door(alice, novel, round_, proposal, value):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(alice)
    before = saved_state(novel.pk)
    answers = {
        "proposal": client.post(f"/api/rounds/{round_.pk}/vote/", {"proposal": value}, format="json"),
        "sentences": client.post(
            f"/api/rounds/{round_.pk}/proposals/", {"keyword": "바다", "sentences": value}, format="json"
        ),
        "style": client.post(
            f"/api/rounds/{round_.pk}/proposals/", {"keyword": "바다", "sentences": 2, "style": value}, format="json"
        ),
        "index": client.post(f"/api/rounds/{round_.pk}/candidate-vote/", {"index": value}, format="json"),
    }

    for field, refused in answers.items():
        assert refused.status_code == 400, (field, refused.status_code)
        assert refused.json()["code"] == "invalid" and field in refused.json()["fields"], (field, refused.json())
    assert saved_state(novel.pk) == before


@pytest.mark.django_db
@pytest.mark.parametrize("value", [HUGE, *NOT_ASCII_DIGITS])
def test_a_number_no_field_can_hold_is_refused_by_the_page_forms(alice_browser, novel, round_, proposal, value):
    before = saved_state(novel.pk)
    forms = {
        f"/novels/{novel.pk}/vote/": {"proposal": value},
        f"/novels/{novel.pk}/propose/": {"keyword": "바다", "sentences": value},
        f"/novels/{novel.pk}/candidate/": {"index": value},
    }

    for path, fields in forms.items():
        refused = alice_browser.post(path, fields, HTTP_ACCEPT="application/json")
        assert refused.status_code in (400, 409) and refused.json()["code"], (path, refused.status_code)
        plain = alice_browser.post(path, fields)
        assert plain.status_code in (200, 302, 400, 409), (path, plain.status_code)
    assert saved_state(novel.pk) == before


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["v=²", "v=①", f"v={HUGE}", "v=-3"])
def test_the_model_page_reads_any_version_number_without_a_500(query):
    assert Client().get(f"/models/?{query}").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["a=²", "b=①", f"a={HUGE}", f"b={HUGE}&a=1"])
def test_the_comparison_page_reads_any_version_number_without_a_500(query):
    assert Client().get(f"/models/compare/?{query}").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("sentences", [-1, 0, 10**30, "두"])
def test_a_length_out_of_range_is_refused_by_the_api(alice, novel, round_, proposal, sentences):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(alice)
    response = client.post(
        f"/api/rounds/{round_.pk}/proposals/", {"keyword": "바다", "sentences": sentences}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"]
    assert Proposal.objects.filter(round=round_).count() == 1


@pytest.mark.django_db
def test_the_same_proposal_posted_twice_is_one_proposal_with_one_vote(alice_browser, novel, round_, proposal):
    assert propose_form(alice_browser, novel, "3") == 201
    assert propose_form(alice_browser, novel, "3") == 200
    assert Proposal.objects.filter(round=round_, sentences=3).count() == 1
    assert Vote.objects.filter(round=round_, user__username="alice").count() == 1


@pytest.mark.django_db
def test_the_same_passage_posted_twice_at_once_is_saved_once(alice_browser, novel):
    text = "수아는 편지를 접어 주머니에 넣었다. 불빛이 흔들렸다."
    first = alice_browser.post(f"/novels/{novel.pk}/write/", {"text": text}, HTTP_ACCEPT="application/json")
    second = alice_browser.post(f"/novels/{novel.pk}/write/", {"text": text}, HTTP_ACCEPT="application/json")
    assert first.status_code == 201
    assert second.status_code == 429
    assert second.json()["code"] == "rate_limited"
    assert Turn.objects.filter(novel=novel, text=text).count() == 1


@pytest.mark.django_db
def test_a_passage_that_is_one_enormous_word_is_refused(alice_browser, novel):
    before = saved_state(novel.pk)
    response = alice_browser.post(f"/novels/{novel.pk}/write/", {"text": "가" * 5000}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "passage_too_long"
    assert saved_state(novel.pk) == before


@pytest.mark.django_db
def test_a_passage_with_emoji_and_mixed_scripts_is_kept_as_written(alice_browser, novel):
    text = "수아는 🐳 고래를 보았다. Hello, 世界! Привет, море."
    response = alice_browser.post(f"/novels/{novel.pk}/write/", {"text": text}, HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    assert Turn.objects.get(pk=response.json()["turn"]["turn"]).text == text


@pytest.mark.django_db
def test_a_title_made_of_markup_is_shown_escaped(alice_browser):
    response = alice_browser.post(
        "/novels/new/", {"title": MARKUP, "first_passage": "바다는 조용했다. 수아가 웃었다.", "submission": "k"}
    )
    assert response.status_code == 302
    assert Novel.objects.filter(title=MARKUP).exists()
    home = Client().get("/")
    assert MARKUP.encode() not in home.content
    assert b"&lt;script&gt;alert(" in home.content


@pytest.mark.django_db
def test_a_request_body_over_the_limit_is_refused_and_the_server_goes_on(alice_browser, novel, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = saved_state(novel.pk)
    response = alice_browser.post(f"/novels/{novel.pk}/write/", {"text": "가나다라 " * 5000})
    assert response.status_code == 400
    assert saved_state(novel.pk) == before
    assert alice_browser.get(f"/novels/{novel.pk}/").status_code == 200


def upload(client: Client, data: bytes, name: str = "story.txt"):
    return client.post("/sources/", {"title": "올린 글", "file": SimpleUploadedFile(name, data)})


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data,name",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "picture.txt"),
        (b"\xff\xfe\xfd\xfc" * 200, "story.txt"),
        ("바다는 조용했다.".encode() + b"\x80\x80\xff", "broken.txt"),
        (b"", "empty.txt"),
    ],
    ids=["binary", "invalid-utf8-and-cp949", "truncated-utf8", "empty"],
)
def test_an_upload_that_is_not_text_is_refused_with_the_reason(alice_browser, data, name):
    response = upload(alice_browser, data, name)
    assert response.status_code == 400
    assert "파일" in response.content.decode() or "file" in response.content.decode()
    assert not SourceText.objects.exists()


@pytest.mark.django_db
def test_an_upload_over_the_size_limit_is_refused(alice_browser, settings):
    settings.SOURCE_TEXT_MAX_BYTES = 2_000
    response = upload(alice_browser, "바다는 조용했다. ".encode() * 400)
    assert response.status_code in (400, 413)
    assert not SourceText.objects.exists()
    assert upload(alice_browser, "바다는 조용했다. 수아가 웃었다. ".encode() * 10).status_code == 302


@pytest.mark.django_db
def test_control_characters_and_noncharacters_never_enter_what_is_stored_at_any_door(alice, editor, alice_browser):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(alice)
    hostile = "\u0000\u0001\x1b\x85\ufffe\uffff"
    made = client.post(
        "/api/novels/",
        {
            "title": f"책{hostile}제목",
            "premise": f"머리{hostile}말",
            "first_passage": f"바다는 조용했다.{hostile} 수아는 편지를 읽었다.",
            "submission": f"k{hostile}",
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    novel = Novel.objects.get(pk=made.json()["novel"]["id"])
    turn = novel.turns.get()
    form = alice_browser.post(
        "/novels/new/",
        {"title": f"양식{hostile}", "first_passage": "버스는 오지 않았다. 지우가 웃었다.", "submission": "x"},
    )
    staff = APIClient()
    staff.force_authenticate(editor)
    approved = staff.post(f"/api/turns/{turn.pk}/approve/", {"note": f"좋아요{hostile}"}, format="json")

    stored = [novel.title, novel.premise, turn.text, Turn.objects.get(pk=turn.pk).review_note]
    stored += list(Novel.objects.filter(title__startswith="양식").values_list("title", flat=True))
    assert form.status_code in (302, 400) and approved.status_code == 200  # the page's form refuses a NUL
    for text in stored:
        assert not any(ch in text for ch in hostile), repr(text)
    assert stored[0] == "책 제목" and "바다는 조용했다." in stored[2]
    keyword = client.post(
        f"/api/rounds/{novel.rounds.get().pk}/proposals/", {"keyword": f"바다{hostile}", "sentences": 2}, format="json"
    )
    assert keyword.status_code == 400 and keyword.json()["code"] == "invalid_keyword"
