"""A proposal and a vote are read by one rule and made by one call, whichever door they come through: socket,
form or API."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from relay.common.errors import InvalidField
from voting.actions import whole_number
from voting.models import Vote

JSON = {"Accept": "application/json"}


@pytest.mark.parametrize("value, read", [(7, 7), ("7", 7), (" 12 ", 12)])
def test_a_whole_number_is_read_from_a_number_or_its_digits(value, read):
    assert whole_number({"proposal": value}, "proposal") == read


@pytest.mark.parametrize("value", [True, False, 1.5, "1.5", "-1", "일", "１", "", None, [1], {"id": 1}])
def test_anything_else_is_refused_naming_the_field(value):
    with pytest.raises(InvalidField) as refused:
        whole_number({"proposal": value}, "proposal")

    assert refused.value.field == "proposal" and refused.value.code == "invalid"


@pytest.mark.django_db(transaction=True)
async def test_the_socket_the_form_and_the_api_answer_a_vote_with_the_same_names(
    sockets, novel, round_, proposal, alice, bob, charlie
):
    from asgiref.sync import sync_to_async

    def over_form_and_api() -> tuple[dict, dict]:
        form = Client()
        form.force_login(bob)
        by_form = form.post(reverse("round-vote", args=[novel.pk]), {"proposal": str(proposal.pk)}, headers=JSON)
        api = APIClient()
        api.force_authenticate(charlie)
        by_api = api.post(f"/api/rounds/{round_.pk}/vote/", {"proposal": str(proposal.pk)}, format="json")
        return by_form.json()["voted"], by_api.json()

    ws = await sockets(novel.pk, alice)
    await ws.send_json_to({"type": "vote", "proposal": proposal.pk})
    by_socket = await ws.receive_json_from(timeout=5)
    while by_socket["type"] != "voted":
        by_socket = await ws.receive_json_from(timeout=5)
    by_form, by_api = await sync_to_async(over_form_and_api)()

    expected = {"round": round_.pk, "proposal": proposal.pk}
    assert {k: by_socket[k] for k in expected} == expected
    assert {k: by_form[k] for k in expected} == expected
    assert {k: by_api[k] for k in expected} == expected
    voters = await sync_to_async(
        lambda: set(Vote.objects.filter(proposal=proposal).values_list("user__username", flat=True))
    )()
    assert voters == {"alice", "bob", "charlie"}


@pytest.mark.django_db
def test_each_door_answers_an_unreadable_proposal_in_its_own_way(client, novel, round_, alice):
    client.force_login(alice)
    form = client.post(reverse("round-vote", args=[novel.pk]), {"proposal": "first"}, headers=JSON)
    api = APIClient()
    api.force_authenticate(alice)
    by_api = api.post(f"/api/rounds/{round_.pk}/vote/", {"proposal": "first"}, format="json")

    assert form.status_code == 400 and form.json()["code"] == "invalid" and "proposal" in form.json()["errors"]
    assert by_api.status_code == 400 and by_api.json()["fields"] == {"proposal": [form.json()["message"]]}
    assert not Vote.objects.filter(user=alice).exists()


# What each door says when a proposal is refused: (code, field that could not be read or None, message).
REFUSED_PROPOSALS = [
    ({"sentences": 2}, ("invalid", "keyword", "'keyword' 값이 올바르지 않습니다.")),
    ({"keyword": "등대", "sentences": "셋"}, ("invalid", "sentences", "'sentences' 값이 올바르지 않습니다.")),
    ({"keyword": "등대", "sentences": 40}, ("invalid_length", None, "문장 수는 1~10 사이로 골라 주세요.")),
    ({"keyword": "등대", "sentences": 2, "style": 999}, ("invalid", "style", "승인된 문체가 아닙니다.")),
    ({"keyword": "   ", "sentences": 2}, ("invalid_keyword", None, "키워드를 적어 주세요.")),
]


@pytest.mark.parametrize("body, refusal", REFUSED_PROPOSALS)
@pytest.mark.django_db(transaction=True)
async def test_the_socket_the_form_and_the_api_refuse_a_proposal_alike(sockets, novel, round_, alice, body, refusal):
    from asgiref.sync import sync_to_async

    from voting.models import Proposal

    code, field, message = refusal

    def over_form_and_api() -> tuple[dict, dict]:
        form = Client()
        form.force_login(alice)
        by_form = form.post(reverse("round-propose", args=[novel.pk]), body, headers=JSON)
        api = APIClient()
        api.force_authenticate(alice)
        by_api = api.post(f"/api/rounds/{round_.pk}/proposals/", body, format="json")
        return by_form.json(), by_api.json()

    ws = await sockets(novel.pk, alice)
    await ws.send_json_to({"type": "propose", **body})
    by_socket = await ws.receive_json_from(timeout=5)
    by_form, by_api = await sync_to_async(over_form_and_api)()

    # The socket calls a field it cannot read a bad message; the form and the API name the field.
    assert (by_socket["code"], by_socket["message"]) == ("bad_message" if field else code, message)
    assert (by_form["code"], by_form["message"], by_form.get("errors")) == (
        code,
        message,
        {field: [message]} if field else None,
    )
    assert (by_api["code"], by_api.get("fields")) == (code, {field: [message]} if field else None)
    assert not await sync_to_async(Proposal.objects.exists)()
