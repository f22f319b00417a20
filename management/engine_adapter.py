"""The one place where Django reaches the engine (an import-linter contract keeps it so).

It decides where model files live and which device runs them, loads the
active model once per version (so a newly activated model is picked up by the
next generation, without a restart) and keeps one story-state cache per process.

The engine's text rules (normalising, sentence splitting, Mecab) are light and
re-exported as they are; whatever needs torch is imported inside the function
that uses it, so that a web process that never generates never loads torch.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from engine import cli as cli
from engine.errors import CheckpointError as CheckpointError
from engine.morph import pos as pos
from engine.text import TextDecodeError as TextDecodeError
from engine.text import decode_bytes as decode_bytes
from engine.text import has_non_text as has_non_text
from engine.text import normalize as normalize
from engine.text import read_text as read_text
from engine.text import segments as segments
from engine.text import visible as visible

if TYPE_CHECKING:
    from engine.adapt import AdaptedStates
    from engine.checkpoint import Bundle
    from engine.generate import StateCache
    from engine.model import GRUConfig
    from engine.train import Source, TrainConfig, TrainResult, Watch
    from management.models import ModelVersion

_lock = threading.Lock()
_bundles: dict[int, Bundle] = {}
_per_process_caches: dict[str, Any] = {}


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


def active_version() -> ModelVersion | None:
    from management.models import ModelVersion

    return ModelVersion.objects.filter(is_active=True).first()


def _limit_threads() -> None:
    # On a machine of two cores or fewer, torch's OpenMP threads fight the web
    # server's own threads and each other (training measured 8x slower with
    # two threads there); one thread generates fastest.
    import torch

    if (os.cpu_count() or 1) <= 2 and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def bundle_for(version: ModelVersion) -> Bundle:
    """The loaded model of a version; loaded once per process and version."""
    with _lock:
        bundle = _bundles.get(version.pk)
        if bundle is None:
            _limit_threads()
            bundle = load(checkpoint_path(version), device=device())
            bundle.model.eval()
            # Keep the newest two: the active one and the one it replaced,
            # which a generation already under way may still be using.
            for old in sorted(_bundles)[:-1]:
                del _bundles[old]
            _bundles[version.pk] = bundle
        return bundle


def state_cache() -> StateCache:
    """This process's story states (hidden state and memory after each novel's story so far)."""
    from engine.generate import StateCache

    return _per_process("states", StateCache)


def adapted_states() -> AdaptedStates:
    """This process's copies of the model adapted to each novel's story."""
    from engine.adapt import AdaptedStates

    return _per_process("adapted", AdaptedStates)


def _per_process(name: str, make: Callable[[], Any]) -> Any:
    with _lock:
        if name not in _per_process_caches:
            _per_process_caches[name] = make()
        return _per_process_caches[name]


def generation_options() -> dict:
    """What the settings turn on or off in generation: the story's memory and recall, the n-gram and the copy guard."""
    from engine.generate import DEFAULT_MEMORY
    from engine.memory import MemorySettings

    memory = MemorySettings(
        order=DEFAULT_MEMORY.order, weight=settings.ENGINE_STORY_MEMORY, recall=settings.ENGINE_STORY_RECALL
    )
    return {"memory": memory, "copy_guard": settings.ENGINE_COPY_GUARD, "ngram": settings.ENGINE_NGRAM}


def adaptation() -> dict:
    """The story adaptation the settings ask for, with this process's adapted copies (one per novel)."""
    from engine.adapt import AdaptSettings

    return {"adapt": AdaptSettings(lr=settings.ENGINE_STORY_ADAPT), "adapters": adapted_states()}


def prepare_story(*, version: ModelVersion, novel_id: int, story: str, style: str | None) -> None:
    """Bring the novel's story state and adapted copy up to date now, so that its next turn starts at once."""
    from engine.generate import prepare

    bundle = bundle_for(version)
    prepare(
        bundle,
        story=story,
        style=_known_style(bundle, style),
        cache=state_cache(),
        cache_key=story_key(novel_id, version),
        memory=generation_options()["memory"],
        **adaptation(),
    )


def _known_style(bundle: Bundle, style: str | None) -> str | None:
    """The style if the model learned it; a source approved after its training is written in no particular style."""
    return style if style and style in bundle.vocab.styles else None


def story_key(novel_id: int, version: ModelVersion) -> str:
    return f"novel-{novel_id}/model-{version.pk}"


def generate_text(
    *,
    version: ModelVersion,
    novel_id: int,
    story: str,
    keyword: str,
    sentences: int,
    style: str | None,
    seed: int,
    max_chars: int | None = None,
) -> Iterator[str]:
    """Stream the continuation of a novel's story, piece by piece (the best of ENGINE_CANDIDATES, when more than 1)."""
    from engine.generate import generate
    from engine.rerank import generate_best

    bundle = bundle_for(version)
    write = generate
    if settings.ENGINE_CANDIDATES > 1:
        write = functools.partial(generate_best, n=settings.ENGINE_CANDIDATES)
    return write(
        bundle,
        story=story,
        keyword=keyword,
        sentences=sentences,
        max_chars=max_chars,
        style=_known_style(bundle, style),
        seed=seed,
        cache=state_cache(),
        cache_key=story_key(novel_id, version),
        **generation_options(),
        **adaptation(),
    )


def generate_candidates(
    *, version: ModelVersion, story: str, keyword: str, sentences: int, style: str | None, seed: int, n: int
) -> list[str]:
    """Several continuations for the same prompt, written in one batch."""
    from engine.generate import generate_candidates as engine_candidates

    bundle = bundle_for(version)
    return engine_candidates(
        bundle,
        n=n,
        story=story,
        keyword=keyword,
        sentences=sentences,
        style=_known_style(bundle, style),
        seed=seed,
        **generation_options(),
    )


def explain_passage(*, version: ModelVersion, story: str, passage: str, style: str | None) -> list[dict]:
    """Per character of an AI passage: the model's chance of it and its alternatives (engine.explain)."""
    from engine.explain import explain

    bundle = bundle_for(version)
    return explain(
        bundle, story=story, passage=passage, style_index=bundle.vocab.style_index(_known_style(bundle, style))
    )


def forget_loaded_models() -> None:
    """Drop every loaded model (tests, and after a rollback deletes files)."""
    with _lock:
        _bundles.clear()


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
