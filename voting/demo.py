"""First-start preparation for `make run`: a demo admin, a demo novel, a demo model.

It lives in the relay app, the top of the house, as it uses every app: the novel is the relay's, the
source texts the novels app's, the model management's (trained through makedata, as every later one).

Every step checks first, so a second start does nothing and takes seconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from management import engine_adapter, model_cache
from management.models import ModelVersion
from management.retraining import EXIT_ACTIVATED, Options, run_makedata
from novels.models import Novel, SourceText
from novels.services import source_text_propose, source_text_review
from voting.services import novel_create

DEMO_CORPUS = Path(settings.BASE_DIR) / "novels" / "demo_corpus"
DEMO_TITLE = "등대가 보이는 마을"
DEMO_PREMISE = "바닷가 작은 마을에 사는 사람들과, 밤마다 꺼지지 않는 등대에 얽힌 이야기."
DEMO_OPENING = (
    "안개가 짙은 아침이었다. 선착장 끝에 선 수아는 멀리 등대 쪽을 바라보았다. "
    "“오늘도 배가 들어올까?” 옆에 선 할머니가 대답 대신 웃기만 했다."
)
DEMO_ADMIN = "admin"
DEMO_CREDIT = "릴레이 소설 데모"


def ensure_admin(*, say: Callable[[str], None]) -> None:
    """Create a superuser with a random password unless one exists; print it once."""
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=DEMO_ADMIN, email="", password=password)
    say(f"관리자 계정을 만들었습니다 / demo admin created: {DEMO_ADMIN} / {password}  (shown once)")


def ensure_novel(*, say: Callable[[str], None]) -> Novel:
    """The demo novel, started from a first human passage."""
    novel = Novel.objects.filter(title=DEMO_TITLE).first()
    if novel is not None:
        return novel
    admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    novel = novel_create(title=DEMO_TITLE, premise=DEMO_PREMISE, created_by=admin, first_passage=DEMO_OPENING)
    say(f"데모 소설을 만들었습니다: {novel.title}")
    return novel


def demo_stories() -> list[tuple[str, str]]:
    """(title, text) of each demo story: the first line of its file is the title."""
    stories = []
    for path in sorted(DEMO_CORPUS.glob("*.txt")):
        title, _, text = engine_adapter.read_text(path).strip().partition("\n")
        stories.append((title.strip(), text.strip()))
    return stories


def demo_sources() -> list:
    """The demo stories as engine sources, for benchmarks that need a model without a site."""
    return [
        engine_adapter.training_source(name=f"demo-{n}", text=text)
        for n, (_, text) in enumerate(demo_stories(), start=1)
    ]


def ensure_sources(*, say: Callable[[str], None]) -> list[SourceText]:
    """The demo stories as approved source texts: styles a proposal can name, and part of every retraining.

    A story is added once: one that exists in any state (an admin may have
    rejected it) is left as it is.
    """
    admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    added = []
    for title, text in demo_stories():
        if SourceText.objects.filter(title=title, author_credit=DEMO_CREDIT).exists():
            continue
        source = source_text_propose(title=title, author_credit=DEMO_CREDIT, text=text, proposed_by=admin)
        added.append(source_text_review(source=source, reviewer=admin, action="approve", note="데모 원문"))
    if added:
        say(f"데모 원문 {len(added)}편을 승인된 학습 원문으로 올렸습니다: {', '.join(s.title for s in added)}")
    return added


def ensure_model(*, say: Callable[[str], None], time_budget_s: float = 150.0) -> ModelVersion:
    """Train the first model through makedata unless a model is active.

    The same path as every later retraining: the approved text (the demo
    stories, the demo novel's opening) with the same held-out blocks, a run
    on record, a version folder swapped in whole. So the first `makedata`
    after it fine-tunes on everything this model learned from plus what is
    new, and is judged on the same held-out text.
    """
    active = engine_adapter.active_version()
    if active is not None and model_cache.available(active):  # here, or in the model store for this host
        return active
    say(f"데모 모델을 학습합니다 (최대 {time_budget_s:.0f}초)…")
    outcome = run_makedata(
        Options(initial=True, size="small", epochs=50, time_budget_s=time_budget_s, progress=False), say=say
    )
    if outcome.exit_code != EXIT_ACTIVATED or outcome.version is None:
        raise RuntimeError(f"데모 모델을 학습하지 못했습니다: {outcome.message}")
    version = outcome.version
    say(f"데모 모델 준비 완료: 검증 {version.val_bpc:.2f} bits/char, {version.train_seconds:.0f}초")
    return version


def ensure_demo(*, say: Callable[[str], None] = print) -> None:
    ensure_admin(say=say)
    ensure_novel(say=say)
    ensure_sources(say=say)
    ensure_model(say=say, time_budget_s=settings.DEMO_TRAIN_SECONDS)
