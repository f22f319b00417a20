"""Engine fixtures: a short Korean story written for these tests, and a tiny model trained on it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.checkpoint import Bundle, load_checkpoint
from engine.model import GRUConfig
from engine.train import Source, TrainConfig, TrainResult, train

# Written for these tests (not from any book): dialogue, ellipses, ?! and lines without a period.
DUCK_STORY = """연못가에 오리 한 마리가 살았다.
오리는 아침마다 물을 건너 갈대숲으로 갔다.
"안녕, 난 오리라고 해."
거위가 고개를 갸웃하며 물었다.
"오리? 그게 무슨 뜻이야?"
"나도 잘 몰라… 그냥 오리야."
둘은 한참 동안 말없이 물결을 바라보았다.
해가 지자 바람이 차가워졌다
거위는 깃털을 부풀리고 오리 곁으로 다가왔다.
"내일도 올 거지?!"
오리는 대답 대신 고개를 끄덕였다.
밤이 되자 연못 위로 달이 떠올랐다."""

GOOSE_STORY = """거위는 농장의 마당에서 자랐다.
마당에는 늘 곡식 냄새가 났다.
"오늘은 어디 가니?" 하고 닭이 물었다.
거위는 연못 쪽을 가리켰다.
"거기엔 오리가 있어. 친구야."
닭은 고개를 저었다.
그날 저녁 거위는 늦게 돌아왔다."""


# The suite-wide autouse fixtures of these names need Django; engine tests need no Django at
# all (and must pass under `pytest -p no:django`), so here they do nothing.
@pytest.fixture(autouse=True)
def fast_passwords():
    pass


@pytest.fixture(autouse=True)
def fresh_cache():
    pass


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    # Tiny models run fastest on one thread, and the 2-core test machines are shared.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_train_config(**overrides) -> TrainConfig:
    settings = dict(
        epochs=40,
        batch_size=4,
        seq_len=32,
        lr=1e-2,
        warmup_steps=5,
        patience=100,
        val_fraction=0.0,
        style_dropout=0.0,
        device="cpu",
        seed=7,
        log_every_s=1e9,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def tiny_model_config() -> GRUConfig:
    return GRUConfig(vocab_size=1, embed=32, hidden=128, layers=1, dropout=0.0)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> TrainResult:
    """A tiny model that has all but memorised the two stories (a few seconds on one core)."""
    out = tmp_path_factory.mktemp("tiny-model")
    return train(
        [Source("duck", DUCK_STORY), Source("goose", GOOSE_STORY)],
        out_dir=out,
        model_config=tiny_model_config(),
        train_config=tiny_train_config(),
        progress=False,
        log=lambda line: None,
    )


@pytest.fixture(scope="session")
def bundle(trained: TrainResult) -> Bundle:
    return load_checkpoint(trained.best_path)


@pytest.fixture(scope="session")
def lettered_path(tmp_path_factory) -> Path:
    """The best checkpoint of a tiny model with letter tables (GRUConfig.jamo), and what training wrote beside it."""
    out = tmp_path_factory.mktemp("lettered")
    result = train(
        [Source("duck", DUCK_STORY), Source("goose", GOOSE_STORY)],
        out_dir=out,
        model_config=replace(tiny_model_config(), jamo=True),
        train_config=tiny_train_config(epochs=8),
        progress=False,
        log=lambda line: None,
    )
    return result.best_path


# The stories told many times over: enough validation text for the gate of engine/mixer.py.
RETOLD = [Source("duck", (DUCK_STORY + "\n") * 16), Source("goose", (GOOSE_STORY + "\n") * 16)]


@pytest.fixture(scope="session")
def gated(tmp_path_factory) -> tuple[Path, list[str]]:
    """A tiny model trained with enough validation text for the gate, and its training log."""
    out = tmp_path_factory.mktemp("gated")
    lines: list[str] = []
    config = tiny_train_config(epochs=1, val_fraction=0.4, block_sentences=10)
    result = train(RETOLD, out_dir=out, model_config=tiny_model_config(), train_config=config, log=lines.append)
    return result.best_path, lines


@pytest.fixture
def write(tmp_path: Path):
    """Write bytes or text to a file under tmp_path and return its path."""

    def write(name: str, content: bytes | str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path

    return write
