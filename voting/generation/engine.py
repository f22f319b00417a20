"""The one door to the engine for writing: the AI's continuations of the site's novels.

It loads the active model once per version and process (so a newly activated
model is picked up by the next generation, without a restart), keeps one
story-state cache and one set of per-novel adapted copies per process, and
passes the settings (ENGINE_*) in. Where a version's files lie and which
device runs them are the model registry's (management.engine_adapter). Whatever
needs torch is imported inside the function that uses it, so that a web
process that never generates never loads torch.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings

from management.engine_adapter import checkpoint_path, device, load, site_writing

if TYPE_CHECKING:
    from engine.adapt import AdaptedStates
    from engine.cast import Words
    from engine.checkpoint import Bundle
    from engine.generate import StateCache
    from management.models import ModelVersion

_lock = threading.Lock()
_bundles: dict[int, Bundle] = {}
_per_process_caches: dict[str, Any] = {}


def load_ahead(version: ModelVersion | None) -> None:
    """Load the model and the tagger now: a worker started cold would import torch, read the model and start
    Mecab at its first job, which takes seconds (tens of seconds on a busy CPU) while readers wait."""
    from engine.morph import tagger

    tagger()
    if version is not None:
        bundle_for(version)
        _training_words(version)


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
    """What the settings turn on or off in generation: the story's memory and recall, the n-gram, the copy guard,
    the name guard and the pull of the story's people."""
    writing = site_writing()
    return {name: writing[name] for name in ("memory", "copy_guard", "name_guard", "cast_pull", "ngram")}


def adaptation() -> dict:
    """The story adaptation the settings ask for, with this process's adapted copies (one per novel)."""
    return {"adapt": site_writing()["adapt"], "adapters": adapted_states()}


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
    cast: tuple[str, ...] | None = None,
) -> Iterator[str]:
    """Stream the continuation of a novel's story, piece by piece (the best of ENGINE_CANDIDATES, when more than 1);
    ``cast``: the story's people as its readers corrected them (None: as the engine finds them in the story)."""
    from engine.generate import generate
    from engine.rerank import stream_best

    bundle = bundle_for(version)
    write = generate
    if settings.ENGINE_CANDIDATES > 1:
        write = functools.partial(stream_best, n=settings.ENGINE_CANDIDATES)
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
        cast=cast,
        **generation_options(),
        **adaptation(),
    )


def generate_candidates(
    *,
    version: ModelVersion,
    story: str,
    keyword: str,
    sentences: int,
    style: str | None,
    seed: int,
    n: int,
    cast: tuple[str, ...] | None = None,
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
        cast=cast,
        **generation_options(),
    )


# The story's people (engine/cast.py), for the novel page and for the cast its readers correct. Only the
# training texts' words are read (names.json beside the version's checkpoint), never the model: a web process
# that shows a cast loads no torch.
_words: dict[int | None, Words] = {}


def found_cast(*, version: ModelVersion | None, story: str) -> tuple[str, ...]:
    """The story's people as the engine finds them, most named first."""
    from engine.cast import cached_cast

    return cached_cast(_training_words(version), story)


def is_common_word(*, version: ModelVersion | None, word: str) -> bool:
    """Whether a word is too common to be anyone's name (그날, 어머니; and the version's training texts' own)."""
    return _training_words(version).is_common(word)


def _training_words(version: ModelVersion | None) -> Words:
    from engine.cast import FILE, TrainingNames, Words
    from engine.errors import CheckpointError

    key = version.pk if version is not None else None
    with _lock:
        words = _words.get(key)
    if words is not None:
        return words
    words = Words()
    if version is not None:
        checkpoint = checkpoint_path(version)
        path = checkpoint.parent / FILE
        if not checkpoint.is_file():
            return words  # this host is still fetching the version (management.model_cache): ask again later
        try:
            words = TrainingNames.load(path).words if path.is_file() else words
        except CheckpointError:
            pass  # a names file that cannot be read: the finder's own rules still find the story's people
    with _lock:
        for old in [k for k in _words if k is not None][:-1]:
            del _words[old]  # the active version and the one before it, as for the models
        return _words.setdefault(key, words)


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
