"""A novel's cast (등장인물): found by the engine, corrected by its creator and the staff through one service,
checked like every write, kept with who made each change, undoable, used by the AI from its next turn."""

from __future__ import annotations

import unicodedata

import pytest
from django.urls import reverse

from novels.models import BannedWord, Novel
from relay.common.errors import (
    AlreadyUndone,
    BannedWordUsed,
    CommonWord,
    Duplicate,
    InvalidAction,
    InvalidName,
    NotAuthenticated,
    NotInCast,
    NovelFinished,
    PermissionDenied,
)
from voting.generation import engine as writing_engine
from voting.generation.worker import run_next_job
from voting.models import CastChange
from voting.selectors import novel_cast
from voting.services import cast_change, cast_change_undo, novel_create, proposal_create, round_close

# Written for these tests: 민호 is named often enough, before several particles, for the finder to know him.
STORY = (
    '"민호야, 어디 가니?" 하고 수아가 물었다.\n민호는 웃었다. "등대에 가."\n'
    "민호가 앞서 걸었다. 수아는 민호의 뒤를 따랐다. 민호와 수아는 바닷가에 닿았다."
)


@pytest.fixture
def story_novel(alice, active_model):
    return novel_create(title="민호 이야기", created_by=alice, first_passage=STORY)


def test_the_engine_finds_the_story_s_people(story_novel):
    cast = novel_cast(story_novel)
    assert "민호" in cast.found and cast.names == cast.found and cast.changes == []


def test_the_creator_adds_a_name_removes_a_word_and_undoes_it(story_novel, alice):
    decomposed = unicodedata.normalize("NFD", " 등대지기 ")  # kept as NFC, the spaces around it trimmed
    added = cast_change(novel=story_novel, user=alice, name=decomposed, action="add")
    assert added.name == "등대지기"
    assert novel_cast(story_novel).names[-1] == added.name
    removed = cast_change(novel=story_novel, user=alice, name="민호", action="remove")
    assert "민호" not in novel_cast(story_novel).names
    cast_change_undo(change=removed, user=alice)
    after = novel_cast(story_novel)
    assert "민호" in after.names and added.name in after.names
    kept = [(c.name, c.action, c.made_by, c.undone_by is not None) for c in after.changes]
    assert kept == [(added.name, "add", alice, False), ("민호", "remove", alice, True)]
    with pytest.raises(AlreadyUndone):
        cast_change_undo(change=removed, user=alice)


def test_staff_may_correct_any_novel_and_others_may_not(story_novel, bob, editor):
    cast_change(novel=story_novel, user=editor, name="수아", action="add")
    with pytest.raises(PermissionDenied):
        cast_change(novel=story_novel, user=bob, name="영희", action="add")
    with pytest.raises(NotAuthenticated):
        cast_change(novel=story_novel, user=None, name="영희", action="add")
    change = CastChange.objects.get()
    with pytest.raises(PermissionDenied):
        cast_change_undo(change=change, user=bob)
    assert CastChange.objects.count() == 1 and CastChange.objects.get().undone_at is None


@pytest.mark.parametrize(
    ("name", "action", "error"),
    [
        ("", "add", InvalidName),
        ("   ", "add", InvalidName),
        ("가" * 40, "add", InvalidName),
        ("민호!", "add", InvalidName),
        (None, "add", InvalidName),
        ("바보", "add", BannedWordUsed),
        ("그날", "add", CommonWord),
        ("어머니", "add", CommonWord),
        ("민호", "add", Duplicate),
        ("영희", "remove", NotInCast),
        ("영희", "rename", InvalidAction),
    ],
)
def test_bad_input_gets_a_clear_error_and_saves_nothing(story_novel, alice, name, action, error):
    BannedWord.objects.create(word="바보")
    before = novel_cast(story_novel).names
    with pytest.raises(error) as refused:
        cast_change(novel=story_novel, user=alice, name=name, action=action)
    assert refused.value.message and refused.value.code
    assert CastChange.objects.count() == 0 and novel_cast(story_novel).names == before


def test_the_common_word_error_reads_as_korean(story_novel, alice):
    with pytest.raises(CommonWord, match="‘그날’은 너무 흔한 낱말"):
        cast_change(novel=story_novel, user=alice, name="그날", action="add")


def test_a_finished_novel_s_cast_stays_as_it_is(story_novel, alice):
    Novel.objects.filter(pk=story_novel.pk).update(status=Novel.Status.FINISHED)
    with pytest.raises(NovelFinished):
        cast_change(novel=story_novel, user=alice, name="영희", action="add")


def test_the_ai_writes_its_next_turn_with_the_corrected_cast(story_novel, alice, bob, monkeypatch):
    cast_change(novel=story_novel, user=alice, name="영희", action="add")
    cast_change(novel=story_novel, user=alice, name="민호", action="remove")
    given = []
    generate = writing_engine.generate_text

    def remembering(**kwargs):
        given.append(kwargs["cast"])
        return generate(**kwargs)

    monkeypatch.setattr(writing_engine, "generate_text", remembering)
    from voting.selectors import current_round

    round_ = current_round(story_novel)
    proposal_create(round=round_, author=bob, keyword="바다", sentences=1)
    round_close(round=round_)
    job = run_next_job(worker="test")
    assert job.status == "done"
    assert "영희" in given[0] and "민호" not in given[0]


def test_the_api_shows_corrects_and_undoes_the_cast(client, story_novel, alice, bob):
    url = reverse("api-novel-cast", args=[story_novel.pk])
    shown = client.get(url).json()
    assert "민호" in shown["cast"] and shown["changes"] == []
    assert client.post(url, {"name": "영희", "action": "add"}, content_type="application/json").status_code == 401
    client.force_login(bob)
    refused = client.post(url, {"name": "영희", "action": "add"}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    client.force_login(alice)
    common = client.post(url, {"name": "그날", "action": "add"}, content_type="application/json")
    assert common.status_code == 400 and common.json()["code"] == "common_word"
    long = client.post(url, {"name": "가" * 40, "action": "add"}, content_type="application/json")
    assert long.status_code == 400
    added = client.post(url, {"name": "영희", "action": "add"}, content_type="application/json")
    assert added.status_code == 201 and added.json()["cast"][-1] == "영희"
    change = added.json()["changes"][0]
    assert (change["name"], change["action"], change["made_by"], change["undone"]) == ("영희", "add", "alice", False)
    undo = reverse("api-novel-cast-undo", args=[story_novel.pk, change["id"]])
    undone = client.post(undo, content_type="application/json")
    assert undone.status_code == 200 and "영희" not in undone.json()["cast"]
    assert client.post(undo, content_type="application/json").json()["code"] == "already_undone"


def test_the_novel_page_shows_the_cast_and_its_form_to_the_creator_only(client, story_novel, alice, bob):
    page = client.get(reverse("novel", args=[story_novel.pk])).content.decode()
    assert "등장인물" in page and 'data-name="민호"' in page and 'id="cast-form"' not in page
    client.force_login(bob)
    assert 'id="cast-form"' not in client.get(reverse("novel", args=[story_novel.pk])).content.decode()
    client.force_login(alice)
    assert 'id="cast-form"' in client.get(reverse("novel", args=[story_novel.pk])).content.decode()
    answer = client.post(reverse("novel-cast", args=[story_novel.pk]), {"name": "영희", "action": "add"}, follow=True)
    assert "‘영희’를 등장인물에 더했습니다" in answer.content.decode()
    refused = client.post(
        reverse("novel-cast", args=[story_novel.pk]), {"name": "", "action": "add"}, HTTP_ACCEPT="application/json"
    )
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_name"
