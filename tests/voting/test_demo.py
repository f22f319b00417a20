"""`make run`'s first-start preparation: a demo admin, novel and model, and nothing twice."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from management.models import ModelVersion
from novels.models import Novel, SourceText, Turn
from novels.text_rules import clean_passage
from voting.demo import DEMO_ADMIN, DEMO_CREDIT, DEMO_OPENING, DEMO_TITLE, ensure_demo
from voting.selectors import current_round


def test_it_prepares_the_demo_once_and_a_second_start_changes_nothing(active_model, settings):
    # active_model points MODEL_DIR at the tiny model: a ready model is reused, nothing is trained.
    said: list[str] = []
    ensure_demo(say=said.append)
    ensure_demo(say=said.append)

    admins = get_user_model().objects.filter(is_superuser=True)
    assert [admin.username for admin in admins] == [DEMO_ADMIN]
    assert sum("demo admin created" in line for line in said) == 1  # the password is shown once
    novel = Novel.objects.get()
    assert novel.title == DEMO_TITLE
    turn = novel.turns.get()
    expected = (clean_passage(DEMO_OPENING), Turn.Kind.HUMAN, "approved", admins[0])
    assert (turn.text, turn.kind, turn.status, turn.author) == expected
    assert current_round(novel).number == 1
    assert list(ModelVersion.objects.all()) == [active_model]
    assert not any("모델을 학습" in line for line in said)  # no training happened
    # The demo stories are approved source texts, added once: styles a proposal can name.
    sources = SourceText.objects.filter(author_credit=DEMO_CREDIT)
    assert sources.count() == 5 and {s.status for s in sources} == {SourceText.Status.APPROVED}
    assert "등대지기의 겨울" in {s.title for s in sources}
    assert all(not s.text.startswith(s.title) and s.char_count > 4_000 for s in sources)
    assert sum("데모 원문 5편" in line for line in said) == 1
