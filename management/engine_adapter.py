"""The operations app's door to the engine: training, scoring, a version's files, the device.

It decides where model files live (MODEL_DIR) and which device runs them,
trains and scores models for makedata and its report, and writes the fixed
samples and the blind rounds' texts. The site's own writing (loaded models,
story states, the continuations) has its door in voting.generation.engine, and
reading text (normalising, Mecab) in novels.text_rules; an import-linter
contract keeps every app to its door. Whatever needs torch is imported inside
the function that uses it, so that a web process that never trains never
loads torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from engine import cli as cli
from engine.errors import CheckpointError as CheckpointError
from engine.text import normalize as normalize
from engine.text import read_text as read_text
from engine.text import segments as segments

if TYPE_CHECKING:
    from engine.checkpoint import Bundle
    from engine.model import GRUConfig
    from engine.train import Source, TrainConfig, TrainResult, Watch
    from management.models import ModelVersion


def model_root() -> Path:
    return Path(settings.MODEL_DIR)


def device() -> str:
    if settings.ENGINE_DEVICE != "auto":
        return settings.ENGINE_DEVICE
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def checkpoint_path(version: ModelVersion) -> Path:
    return model_root() / version.directory / version.checkpoint


def has_copy_index(version: ModelVersion) -> bool:
    """Whether the version's training wrote the index the copy guard needs (models before it did not)."""
    from engine.copyguard import FILE

    return _has_file(version, FILE)


def has_ngram(version: ModelVersion) -> bool:
    """Whether the version's training counted the n-gram that generation mixes in (models before it did not)."""
    from engine.ngram import FILE

    return _has_file(version, FILE)


def has_mixer(version: ModelVersion) -> bool:
    """Whether the version's training fitted the gate that weighs the GRU, the counts and the story (engine/mixer.py)."""
    from engine.mixer import FILE

    return _has_file(version, FILE)


def gate_recalls(version: ModelVersion) -> bool:
    """Whether the version's gate weighs the story's recall (engine/recall.py); one fitted before it does not."""
    from engine.errors import CheckpointError
    from engine.mixer import FILE, Mixer

    if not _has_file(version, FILE):
        return False
    try:
        return Mixer.load(checkpoint_path(version).parent / FILE).recalls
    except CheckpointError:
        return False


def _has_file(version: ModelVersion, name: str) -> bool:
    """Whether training wrote this file beside the version's checkpoint."""
    return (model_root() / version.directory / name).is_file()


def site_writing() -> dict[str, Any]:
    """How the site writes, from the settings (ENGINE_*): the story's memory and its recall, the copy guard, the
    name guard and the pull of the story's people, the n-gram, adaptation to the story, and how many candidates each sentence is chosen from. The writing door
    (voting.generation.engine) writes with these, and a training run's samples are written with them."""
    from engine.adapt import AdaptSettings
    from engine.generate import DEFAULT_MEMORY
    from engine.memory import MemorySettings

    memory = MemorySettings(
        order=DEFAULT_MEMORY.order, weight=settings.ENGINE_STORY_MEMORY, recall=settings.ENGINE_STORY_RECALL
    )
    return {
        "memory": memory,
        "copy_guard": settings.ENGINE_COPY_GUARD,
        "name_guard": settings.ENGINE_NAME_GUARD,
        "cast_pull": settings.ENGINE_CAST_PULL,
        "ngram": settings.ENGINE_NGRAM,
        "adapt": AdaptSettings(lr=settings.ENGINE_STORY_ADAPT),
        "candidates": settings.ENGINE_CANDIDATES,
    }


def active_version() -> ModelVersion | None:
    from management.models import ModelVersion

    return ModelVersion.objects.filter(is_active=True).first()


# Training and scoring, for the retraining service, its report and the commands.


def check_device(name: str) -> str:
    """The device a name stands for ("auto" resolved); ValueError with the reason when there is none."""
    from engine.model import resolve_device

    return resolve_device(name)


def load(path: Path, *, device: str) -> Bundle:
    """A checkpoint loaded afresh (not the shared copy `bundle_for` keeps); CheckpointError when it will not."""
    from engine.checkpoint import load_checkpoint

    return load_checkpoint(path, device=device)


def training_source(*, name: str, text: str) -> Source:
    """One text to train on; its name is its style (novel-<id>, source-<id>)."""
    from engine.train import Source

    return Source(name=name, text=text)


def model_preset(size: str, vocab_size: int = 1, n_styles: int = 1) -> GRUConfig:
    """The model shape of a named size (training sizes the vocabulary itself)."""
    from engine.model import GRUConfig

    return GRUConfig.preset(size, vocab_size, n_styles)


def train_config(**config: Any) -> TrainConfig:
    from engine.train import TrainConfig

    return TrainConfig(**config)


def training_watch(**kwargs: Any) -> Watch:
    """What a training run reports as it goes (progress, a sample now and then)."""
    from engine.train import Watch

    return Watch(**kwargs)


def train(sources: list[Source], **kwargs: Any) -> TrainResult:
    from engine.train import train as engine_train

    return engine_train(sources, **kwargs)


def evaluate_bpc(bundle: Bundle, texts: Sequence[str], *, style: str | None) -> float:
    """Bits per character as the site writes: with the model's n-gram mixed in unless ENGINE_NGRAM turns it off."""
    from engine.train import evaluate_bpc as engine_evaluate

    return engine_evaluate(bundle, texts, style=style, ngram=settings.ENGINE_NGRAM)


def unigram_bpc(train_texts: Sequence[str], texts: Sequence[str], *, alphabet: int) -> float:
    from engine.train import unigram_bpc as engine_unigram

    return engine_unigram(train_texts, texts, alphabet=alphabet)


def write_plainly(bundle: Bundle, **kwargs: Any) -> Iterator[str]:
    """Generation without the site's story state, memory or candidates: the fixed samples and blind rounds."""
    from engine.generate import generate

    return generate(bundle, **kwargs)
