"""Closing a round from the Django admin goes through the service."""

from __future__ import annotations

import pytest
from django.urls import reverse

from voting.services import proposal_create

pytestmark = pytest.mark.django_db


def test_staff_close_a_round_from_the_admin(client, editor, alice, novel, round_, active_model):
    proposal, _ = proposal_create(round=round_, author=alice, keyword="등대", sentences=3)
    client.force_login(editor)

    client.post(
        reverse("admin:voting_round_changelist"),
        {"action": "close_rounds", "_selected_action": [round_.pk]},
        follow=True,
    )

    round_.refresh_from_db()
    assert (round_.status, round_.winner, round_.closed_by) == ("closed", proposal, editor)
    assert novel.jobs.get().proposal == proposal
