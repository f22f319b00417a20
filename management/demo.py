"""First-start preparation for `make run`: a demo admin, a demo novel, a demo model.

Every step checks first, so a second start does nothing and takes seconds.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from management import engine_adapter
from management.models import ModelVersion
from management.services import model_version_activate, register_training_result
from novels.models import Novel

DEMO_CORPUS = Path(settings.BASE_DIR) / "novels" / "demo_corpus"
DEMO_TITLE = "등대가 보이는 마을"
DEMO_PREMISE = "바닷가 작은 마을에 사는 사람들과, 밤마다 꺼지지 않는 등대에 얽힌 이야기."
DEMO_OPENING = (
    "안개가 짙은 아침이었다. 선착장 끝에 선 수아는 멀리 등대 쪽을 바라보았다. "
    "“오늘도 배가 들어올까?” 옆에 선 할머니가 대답 대신 웃기만 했다."
)
DEMO_ADMIN = "admin"


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
    from novels.services import novel_create

    novel = Novel.objects.filter(title=DEMO_TITLE).first()
    if novel is not None:
        return novel
    admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    novel = novel_create(title=DEMO_TITLE, premise=DEMO_PREMISE, created_by=admin, first_passage=DEMO_OPENING)
    say(f"데모 소설을 만들었습니다: {novel.title}")
    return novel


def demo_sources() -> list:
    from engine.text import read_text
    from engine.train import Source

    return [Source(name=f"demo-{path.stem}", text=read_text(path)) for path in sorted(DEMO_CORPUS.glob("*.txt"))]


def ensure_model(*, say: Callable[[str], None], time_budget_s: float = 150.0) -> ModelVersion:
    """Train a small demo model from the project's own demo corpus unless a model is active."""
    active = engine_adapter.active_version()
    if active is not None and engine_adapter.checkpoint_path(active).is_file():
        return active
    from engine.model import GRUConfig
    from engine.train import TrainConfig, train
    from engine.vocab import Vocab

    directory = engine_adapter.model_root() / "demo"
    if directory.exists():  # a half-finished earlier attempt
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    sources = demo_sources()
    vocab = Vocab.build([s.text for s in sources], styles=[s.name for s in sources])
    say(f"데모 모델을 학습합니다 (최대 {time_budget_s:.0f}초)…")
    result = train(
        sources,
        out_dir=directory,
        vocab=vocab,
        model_config=GRUConfig(
            vocab_size=len(vocab), n_styles=len(vocab.styles), embed=64, hidden=256, layers=1, dropout=0.0
        ),
        train_config=TrainConfig(epochs=50, time_budget_s=time_budget_s, device=engine_adapter.device()),
        log=say,
    )
    version = register_training_result(
        result=result,
        directory=directory,
        label="demo",
        trained_on={"passages": 0, "source_texts": len(sources), "characters": sum(len(s.text) for s in sources)},
    )
    model_version_activate(version=version)
    say(f"데모 모델 준비 완료: 검증 {result.val_bpc:.2f} bits/char, {result.seconds:.0f}초")
    return version


def ensure_demo(*, say: Callable[[str], None] = print) -> None:
    ensure_admin(say=say)
    ensure_novel(say=say)
    ensure_model(say=say, time_budget_s=settings.DEMO_TRAIN_SECONDS)
