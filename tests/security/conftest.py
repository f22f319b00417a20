"""Fixtures of the security tests: a novel with an open round and one proposal."""

from __future__ import annotations

import pytest

OPENING = "바다는 조용했다. 수아는 등대 아래에서 편지를 읽었다."


@pytest.fixture
def novel(editor):
    from novels.services import novel_create

    return novel_create(title="등대 이야기", created_by=editor, first_passage=OPENING)


@pytest.fixture
def round_(novel):
    from voting.selectors import current_round

    return current_round(novel)


@pytest.fixture
def proposal(round_, bob):
    from voting.services import proposal_create

    return proposal_create(round=round_, author=bob, keyword="등대", sentences=2)[0]
