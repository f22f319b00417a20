"""Training: several novels at once, stateful TBPTT, AdamW, early stopping, exact resume.

``train`` writes into ``out_dir``:
- ``last.pt``: everything needed to resume exactly (weights, optimizer, step,
  RNG state, position in the epoch, hidden state), rewritten every epoch and
  whenever training stops early;
- ``best.pt``: the weights with the lowest validation bits per character;
- ``epoch-N.pt``: the weights after epoch N, for ``python -m engine generate --epoch N``;
- ``copy-index.npy``: every 40-character span of the training text, so that
  generation never writes one of them verbatim (engine/copyguard.py);
- ``gradients.npz``: how large each row of weights' gradient is on the training text,
  what adaptation to a story divides its steps by (engine/gradients.py);
- ``ngram.npz``: a Kneser-Ney n-gram of the training text, with its mixing
  weights fitted on the validation text against ``best.pt`` (engine/ngram.py).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.adapt import NONE as NO_ADAPT
from engine.adapt import AdaptedStates, Adapter, AdaptSettings
from engine.cast import FILE as NAMES_FILE
from engine.cast import TrainingNames, training_names
from engine.checkpoint import Bundle, load_checkpoint, model_from_payload, read_checkpoint, save_checkpoint
from engine.copyguard import FILE as COPY_INDEX_FILE
from engine.copyguard import CopyIndex
from engine.data import Dataset, Layout, Run, bos_ids, build_dataset, make_layout, text_run
from engine.errors import GenerationError
from engine.generate import (
    CAST_PULL,
    DEFAULT_ADAPT,
    DEFAULT_MEMORY,
    FEED_CHUNK,
    MEMORY_CONTEXT,
    gate_of,
    generate,
    recall_size,
    story_cast,
    story_ids,
)
from engine.gradients import FILE as GRADIENTS_FILE
from engine.gradients import GradientSizes
from engine.memory import OFF, MemorySettings, StoryMemory
from engine.mixer import FILE as MIXER_FILE
from engine.mixer import MIN_POSITIONS, RECALL_FEATURES, Mixer, blank_tokens, features, guess
from engine.model import IGNORE_INDEX, GRUConfig, GRUModel, resolve_device
from engine.ngram import FILE as NGRAM_FILE
from engine.ngram import ORDER as NGRAM_ORDER
from engine.ngram import TokenNgram
from engine.recall import Recall, fit_basis
from engine.recurrence import bfloat16_products
from engine.rerank import stream_best
from engine.text import normalize
from engine.vocab import Vocab

logger = logging.getLogger("engine.train")
LN2 = math.log(2.0)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    # 16 x 64 = 1,024 characters per update: on a CPU budget more, smaller updates
    # learn faster than 32 x 128 did (4.29 against 4.97 held-out bits/char after one epoch).
    batch_size: int = 16
    seq_len: int = 64
    lr: float | None = None  # the peak; None: default_lr() of the model trained
    min_lr_ratio: float = 0.05  # the cosine ends at lr * min_lr_ratio
    warmup_steps: int = 50
    weight_decay: float = 0.01
    clip: float = 1.0
    patience: int = 3  # epochs without a better validation score before stopping
    time_budget_s: float | None = None  # stop (resumably) after this many seconds of training
    max_steps: int | None = None  # stop (resumably) after this many optimizer steps in all
    device: str = "auto"
    seed: int = 1234
    val_fraction: float = 0.05
    block_sentences: int = 40  # validation holds out whole blocks of this many sentences
    style_dropout: float = 0.25  # share of pieces read as "no particular style"
    eval_batch_size: int = 32
    vocab_mode: str = "char"  # when train() builds the vocabulary
    ngram_order: int = NGRAM_ORDER  # the n-gram counted beside the GRU (engine/ngram.py); 0: none
    min_count: int = 1
    resume: bool = False
    dry_run: bool = False  # two windows of one epoch: a smoke test of the whole path
    num_threads: int | None = None  # None: one thread on a machine of 2 cores or fewer, else torch's choice
    # Matrix products of the CPU's training steps in bfloat16, the rest in 32 bits (engine/recurrence.py);
    # None: where the CPU multiplies bfloat16 natively (AMX or AVX-512 BF16). Validation reads in 32 bits.
    bfloat16: bool | None = None
    save_epochs: bool = True  # epoch-N.pt after every epoch
    log_every_s: float = 30.0

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Source:
    name: str  # also the style name
    text: str


@dataclass
class TrainResult:
    best_path: Path
    last_path: Path
    vocab: Vocab
    config: GRUConfig
    val_bpc: float
    train_chars: int
    seconds: float
    epochs: int
    curve: list[dict] = field(default_factory=list)
    chars_per_s: float = 0.0  # training throughput, validation and saving not counted
    mixed_bpc: float | None = None  # validation bits/char of the GRU mixed with the n-gram, when one was counted


@dataclass(frozen=True)
class Progress:
    """Where a training stands: what a Watch is told as it goes."""

    epoch: int  # epochs completed
    epochs: int
    step: int
    fraction: float  # 0..1: steps done of all, or of the time budget when that ends first
    chars_per_s: float
    eta_s: float
    train_loss: float | None
    val_bpc: float | None = None  # at the end of an epoch (or of a run stopped inside one)
    sample: str | None = None  # the same prompt continued by the model as it is now, at the same moments
    sample_parts: tuple[str, ...] = ()  # what was on as it wrote the sample (Watch.parts)


@dataclass(frozen=True)
class Watch:
    """Someone watching a training: told every `every_s` seconds and after every epoch, with a sample.

    The sample continues `story` from `keyword` with a fixed seed, so samples
    differ only because the model learned: people see gibberish turn into
    sentences. It is written the way the site writes (``memory``, ``copy_guard``,
    ``adapt``, ``candidates``: the site's settings), with the parts a model in
    training has: the n-gram and the gate that mixes it in are counted after the
    last epoch, so samples are written without them (``parts`` names what was on).
    """

    on_progress: Callable[[Progress], None]
    every_s: float = 1.0
    story: str = ""
    keyword: str = ""
    sample_chars: int = 80
    sample_seed: int = 7
    sample_style: str | None = None
    memory: MemorySettings = DEFAULT_MEMORY
    copy_guard: bool = True
    name_guard: bool = True
    cast_pull: float = CAST_PULL
    adapt: AdaptSettings = NO_ADAPT
    candidates: int = 1

    def sample(self, bundle: Bundle) -> str:
        """The prompt continued by this bundle as the site would write it: what each epoch's sample is."""
        style = self.sample_style if self.sample_style in bundle.vocab.styles else None
        options: dict = {
            "story": self.story,
            "keyword": self.keyword,
            "sentences": 2,
            "max_chars": self.sample_chars,
            "style": style,
            "seed": self.sample_seed,
            "memory": self.memory,
            "copy_guard": self.copy_guard,
            "name_guard": self.name_guard,
            "cast_pull": self.cast_pull,
        }
        if self.adapt.enabled:  # its own adapted copy, read afresh: nothing of an earlier epoch's
            options.update(adapt=self.adapt, adapters=AdaptedStates(), cache_key="watch")
        if self.candidates > 1:
            pieces = stream_best(bundle, n=self.candidates, **options)
        else:
            pieces = generate(bundle, **options)
        return "".join(pieces).strip()

    def parts(self, bundle: Bundle) -> tuple[str, ...]:
        """What was on when ``sample`` wrote with this bundle: memory, recall, copy_guard, name_guard, cast_pull,
        ngram, adapt, best_of_N."""
        on = []
        if self.memory.weight > 0:
            on.append("memory")
            if self.memory.recall:
                on.append("recall")
        if self.copy_guard and bundle.copy_index is not None:
            on.append("copy_guard")
        if self.name_guard and bundle.names is not None and bundle.names.all:
            on.append("name_guard")
        if self.cast_pull and story_cast(bundle, self.story):
            on.append("cast_pull")
        if bundle.ngram is not None:
            on.append("ngram")
        if self.adapt.enabled:
            on.append("adapt")
        if self.candidates > 1:
            on.append(f"best_of_{self.candidates}")
        return tuple(on)


@dataclass
class _State:
    """What changes as training goes, and what last.pt must hold to resume it."""

    model: GRUModel
    config: GRUConfig
    vocab: Vocab
    optimizer: torch.optim.Optimizer
    step: int = 0
    epoch: int = 0  # completed epochs
    window: int = 0  # windows done in the current epoch
    hidden: Tensor | None = None
    curve: list[dict] = field(default_factory=list)
    best_bpc: float = math.inf
    bad_epochs: int = 0
    elapsed: float = 0.0
    chars_seen: int = 0
    train_seconds: float = 0.0  # inside training steps only: the throughput's denominator
    stopped: str = ""


def train(
    sources: Sequence[Source],
    *,
    out_dir: Path,
    model_config: GRUConfig | None = None,
    train_config: TrainConfig,
    vocab: Vocab | None = None,
    init_from: Path | None = None,
    heldout: Sequence[str] | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    watch: Watch | None = None,
) -> TrainResult:
    """Train (or resume, or fine-tune) a GRU on several sources at once; see the module docstring."""
    tc = train_config
    say = log or logger.info
    out_dir = Path(out_dir)
    sources = _check_sources(sources)
    device = resolve_device(tc.device)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(_threads(tc, device))
    try:
        return _train(sources, out_dir, model_config, tc, vocab, init_from, heldout, progress, say, device, watch)
    finally:
        torch.set_num_threads(threads_before)


def _threads(tc: TrainConfig, device: torch.device) -> int:
    if tc.num_threads:
        return tc.num_threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if device.type == "cpu" and cores <= 2:
        # The recurrence is a chain of small matrix products; on 2 cores OpenMP's
        # synchronisation costs more than the second core gives (measured: 5,600
        # characters/s on one thread, 700 on two, 4,800 on two with passive waiting).
        return 1
    return torch.get_num_threads()


def _train(
    sources: list[Source],
    out_dir: Path,
    model_config: GRUConfig | None,
    tc: TrainConfig,
    vocab: Vocab | None,
    init_from: Path | None,
    heldout: Sequence[str] | None,
    progress: bool | None,
    say: Callable[[str], None],
    device: torch.device,
    watch: Watch | None = None,
) -> TrainResult:
    torch.manual_seed(tc.seed)
    data_hash = _data_hash(sources)

    state = _resume_state(out_dir, tc, data_hash, device, say) if tc.resume else None
    if state is None:
        state = _fresh_state(sources, model_config, tc, vocab, init_from, device, say)
    dataset = build_dataset(
        [(s.name, s.text) for s in sources],
        state.vocab,
        val_fraction=tc.val_fraction,
        block_sentences=tc.block_sentences,
    )
    if not dataset.train:
        raise ValueError("the sources hold no text to train on")
    copy_index = CopyIndex.build(s.text for s in sources)
    copy_index.save(out_dir / COPY_INDEX_FILE)
    names = training_names([(s.name, s.text) for s in sources])  # whose people generation keeps out of a story
    names.save(out_dir / NAMES_FILE)
    heldout_runs = [text_run(state.vocab, normalize(t), 0) for t in heldout or ()]
    say(
        f"training {state.model.num_parameters():,} parameters on {device.type}: "
        f"{len(sources)} source(s), {dataset.train_tokens:,} training tokens, "
        f"{sum(len(r.ids) for r in dataset.val):,} validation tokens, vocabulary {len(state.vocab)}, "
        f"{len(names.all):,} names of their people and places"
    )
    loop = _Loop(
        state,
        dataset,
        heldout_runs,
        tc,
        out_dir,
        device,
        data_hash,
        _show_progress(progress),
        say,
        watch,
        copy_index,
        names,
    )
    result = loop.run()
    _remove_counts(out_dir)  # counts of other text must never sit beside these weights
    if not tc.dry_run:
        _measure_gradients(dataset, result.best_path, say)
        if tc.ngram_order:
            result.mixed_bpc = _count_ngram(dataset, result.best_path, tc.ngram_order, out_dir, say)
    return result


def count_again(
    sources: Sequence[Source], best_path: Path, *, train_config: TrainConfig, log: Callable[[str], None] | None = None
) -> float | None:
    """Count the n-gram and fit the mixing again for a trained model, on the split its training made of ``sources``.

    What ``train`` does after its last epoch, for a model trained before the
    mixer existed (or with other counts): the sources must be the ones it was
    trained on, with the same ``val_fraction`` and ``block_sentences``.
    """
    tc = train_config
    _remove_counts(best_path.parent)
    vocab = load_checkpoint(best_path).vocab
    pairs = [(s.name, s.text) for s in _check_sources(sources)]
    dataset = build_dataset(pairs, vocab, val_fraction=tc.val_fraction, block_sentences=tc.block_sentences)
    _measure_gradients(dataset, best_path, log or logger.info)
    return _count_ngram(dataset, best_path, tc.ngram_order, best_path.parent, log or logger.info)


def _remove_counts(directory: Path) -> None:
    """Remove the n-gram, the gate fitted to it and the gradient sizes: all belong to one training's weights."""
    for name in (NGRAM_FILE, MIXER_FILE, GRADIENTS_FILE):
        (directory / name).unlink(missing_ok=True)


def _measure_gradients(dataset: Dataset, best_path: Path, say: Callable[[str], None]) -> None:
    """Measure the best weights' gradient sizes on the training text and keep them beside ``best_path``
    (before the gate is fitted: it learns how far to trust the adaptation they scale)."""
    started = time.perf_counter()
    model = load_checkpoint(best_path).model
    try:
        sizes = GradientSizes.measure(model, dataset.train, window=DEFAULT_ADAPT.window)
    except ValueError as e:
        say(f"gradient sizes not measured ({e}): adaptation takes plain steps")
        return
    sizes.save(best_path.parent / GRADIENTS_FILE)
    say(f"gradient sizes measured for adaptation, {time.perf_counter() - started:.1f}s")


def _count_ngram(
    dataset: Dataset, best_path: Path, order: int, out_dir: Path, say: Callable[[str], None]
) -> float | None:
    """Count the training text, fit the mixing weights on the validation text against the best weights, save.

    Without validation text (sources too short to hold any out) the weights keep
    their starting value: fitted on the text it counted, the n-gram would look
    better than it is. Returns the validation bits/char of the mixture, or None.
    """
    started = time.perf_counter()
    bundle = load_checkpoint(best_path)
    vocab = bundle.vocab
    ngram = TokenNgram.build([run.ids.numpy() for run in dataset.train], len(vocab), order)
    bos = bos_ids(vocab)
    probs: list[float] = []
    contexts: list[list[int]] = []
    targets: list[int] = []
    for run in dataset.val:
        ids = [bos[run.style], *run.ids.tolist()]
        for position, logprobs, _ in _scored_positions(bundle, ids, 1, run.style, NO_ADAPT):
            probs.append(math.exp(float(logprobs[ids[position]])))
            contexts.append(ids[max(0, position - ngram.order + 1) : position])
            targets.append(ids[position])
    mixed = None
    if targets:
        mix = ngram.fit_mix(np.array(probs), contexts, targets)
        chars = max(1, sum(vocab.token_chars[t] for t in targets))
        alone = -sum(math.log(p) for p in probs) / LN2 / chars
        mixed = -sum(math.log(ngram.mix_prob(p, c, t)) for p, c, t in zip(probs, contexts, targets, strict=True))
        mixed /= LN2 * chars
        fitted = (
            f"validation {alone:.3f} bits/char for the GRU alone, {mixed:.3f} mixed "
            f"(weights {' '.join(f'{w:.2f}' for w in mix)} by match length)"
        )
    else:
        fitted = f"no validation text to fit its weight on: {ngram.mix[0]:.2f}"
    ngram.save(out_dir / NGRAM_FILE)
    say(f"n-gram of order {ngram.order} counted: {fitted}, {time.perf_counter() - started:.1f}s")
    _fit_mixer(replace(bundle, ngram=ngram), ngram, dataset, out_dir, say)
    return mixed


def _fit_mixer(bundle: Bundle, counts: TokenNgram, dataset: Dataset, out_dir: Path, say: Callable[[str], None]) -> None:
    """Fit the gate of engine/mixer.py on the validation text, each block read as a story is while the site writes.

    The story's memory, its recall and adaptation read each block from its
    start with the site's default settings, so the gate learns how far to trust
    them at each point of a story, not only in a long one.
    """
    started = time.perf_counter()
    vocab = bundle.vocab
    word_start = blank_tokens(vocab)
    bos = bos_ids(vocab)
    rows: list[np.ndarray] = []
    chances: list[tuple[float, float, float, float]] = []
    present: list[tuple[bool, bool, bool, bool]] = []
    fixed = 0.0  # nats of the fixed rules the gate replaces, for the report
    chars = 0
    blocks = [([bos[run.style], *run.ids.tolist()], run.style) for run in dataset.val]
    basis = fit_basis(_outputs(bundle, blocks))  # the directions the story's recall compares outputs on
    for ids, style in blocks:
        store = StoryMemory(DEFAULT_MEMORY, len(vocab))
        store.extend(ids[:1])
        recall = None
        if DEFAULT_MEMORY.recalls:
            recall = Recall(DEFAULT_MEMORY.recall, bundle.model.config.hidden, len(vocab), basis=basis)
        for position, logprobs, output in _scored_positions(bundle, ids, 1, style, DEFAULT_ADAPT):
            target, gru = ids[position], np.exp(logprobs)
            context = ids[max(0, position - MEMORY_CONTEXT) : position]
            blank = bool(word_start[ids[position - 1]])
            recalled = recall.guess(output) if recall is not None else None
            g = guess(gru, context, counts=counts, store=store, blank=blank, recalled=recalled)
            assert g.ngram is not None
            rows.append(features(g, counts.order))
            story = g.story[target] if g.story is not None else 0.0
            chances.append((gru[target], g.ngram[target], story, recalled.probs[target] if recalled else 0.0))
            present.append((True, True, g.story is not None, recalled is not None))
            fixed -= math.log(_fixed_mix(gru[target], counts, store, context, target))
            chars += vocab.token_chars[target]
            store.extend((target,))
            if recall is not None:
                recall.add(output[None], (target,))
    if len(rows) < MIN_POSITIONS:
        say(f"mixer not fitted: {len(rows)} validation positions, fewer than {MIN_POSITIONS}; fixed weights mix")
        return
    x, p, present_ = np.array(rows), np.array(chances), np.array(present)
    # The same gate over three parts, for positions without the recall (or with it off), and the report.
    without = Mixer.fit(x[:, :-RECALL_FEATURES], p[:, :3], present_[:, :3], counts.order)
    mixer = Mixer.fit(x, p, present_, counts.order, recall_basis=basis).with_fallback(without)
    mixer.save(out_dir / MIXER_FILE)
    say(
        f"mixer fitted on {len(rows):,} validation positions read as stories: {fixed / LN2 / chars:.3f} bits/char "
        f"with fixed weights, {_gated_bits(without, x, p, present_) / chars:.3f} with the gate, "
        f"{_gated_bits(mixer, x, p, present_) / chars:.3f} with the story's recall too, "
        f"{time.perf_counter() - started:.1f}s"
    )


@torch.no_grad()
def _outputs(bundle: Bundle, blocks: list[tuple[list[int], int]]) -> np.ndarray:
    """(N, H): the network's outputs over blocks of (token ids, style), each read from its start."""
    model = bundle.model
    model.eval()
    device = model.head.weight.device
    outputs = []
    for ids, style in blocks:
        out, _ = model.run(torch.tensor([ids], dtype=torch.long, device=device), None, style)  # (T, 1, H)
        outputs.append(out[:, 0].float().cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, model.config.hidden), dtype=np.float32)


def _gated_bits(mixer: Mixer, rows: np.ndarray, chances: np.ndarray, present: np.ndarray) -> float:
    """Bits of the tokens that came, mixed by ``mixer``."""
    return -float(np.log2((mixer.shares_of(rows, present) * chances).sum(axis=1)).sum())


def _check_sources(sources: Sequence[Source]) -> list[Source]:
    if not sources:
        raise ValueError("no sources to train on")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be unique (they name the styles): {names}")
    cleaned = [Source(s.name, normalize(s.text)) for s in sources]
    empty = [s.name for s in cleaned if not s.text]
    if empty:
        raise ValueError(f"empty source(s): {', '.join(empty)}")
    return cleaned


def _data_hash(sources: Sequence[Source]) -> str:
    digest = hashlib.sha256()
    for s in sources:
        digest.update(s.name.encode() + b"\0" + s.text.encode() + b"\0")
    return digest.hexdigest()


def _show_progress(progress: bool | None) -> bool:
    return progress if progress is not None else sys.stderr.isatty()


def default_lr(config: GRUConfig) -> float:
    """The peak learning rate when none is given: 3e-3 for the tiny and default GRUs, 1e-3 for wider or
    deeper ones. The large preset (3 x 1024) does not learn at 3e-3: on an H100 its training loss stayed
    at 3.3 from the second epoch (held-out 4.87 bits/char), against 3.98 at 1e-3 (docs/engine.md)."""
    return 3e-3 if config.hidden <= 512 and config.layers <= 2 else 1e-3


def peak_lr(tc: TrainConfig, config: GRUConfig) -> float:
    return tc.lr if tc.lr is not None else default_lr(config)


def _make_optimizer(model: GRUModel, tc: TrainConfig) -> torch.optim.Optimizer:
    # Matrices decay; biases and the (zero-initialised) style rows do not.
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("style.")]
    keep = [p for n, p in model.named_parameters() if p.dim() < 2 or n.startswith("style.")]
    groups = [{"params": decay, "weight_decay": tc.weight_decay}, {"params": keep, "weight_decay": 0.0}]
    lr = peak_lr(tc, model.config)
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), fused=True)
    except (RuntimeError, TypeError):  # fused kernels missing for this device
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


def _fresh_state(
    sources: list[Source],
    model_config: GRUConfig | None,
    tc: TrainConfig,
    vocab: Vocab | None,
    init_from: Path | None,
    device: torch.device,
    say: Callable[[str], None],
) -> _State:
    texts = [s.text for s in sources]
    names = [s.name for s in sources]
    if init_from is not None:
        base = load_checkpoint(init_from)
        vocab = base.vocab.extend(texts, styles=names, min_count=tc.min_count)
        if model_config is not None and _architecture(model_config) != _architecture(base.config):
            raise ValueError(f"--init-from {init_from}: its architecture differs from the model config given")
        config = replace(base.config, vocab_size=len(vocab), n_styles=len(vocab.styles))
        model = GRUModel(config, vocab.tokens)
        grow_into(model, base.model)
        say(f"fine-tuning from {init_from}: vocabulary {len(base.vocab)} -> {len(vocab)} tokens")
    else:
        if vocab is None:
            vocab = Vocab.build(texts, styles=names, min_count=tc.min_count, mode=tc.vocab_mode)
        elif any(vocab.style_id(n) is None for n in names):
            vocab = vocab.extend([], styles=names)
        base_config = model_config or GRUConfig.default(len(vocab), len(vocab.styles))
        config = replace(base_config, vocab_size=len(vocab), n_styles=len(vocab.styles))
        model = GRUModel(config, vocab.tokens)
    model.to(device)
    return _State(model=model, config=config, vocab=vocab, optimizer=_make_optimizer(model, tc))


def _architecture(config: GRUConfig) -> tuple:
    return (config.embed, config.hidden, config.layers, config.tie_weights, config.jamo)


@torch.no_grad()
def grow_into(model: GRUModel, old: GRUModel) -> None:
    """Copy a trained model into one with more tokens or styles; learned rows are kept as they were."""
    old_state = old.state_dict()
    for name, param in model.state_dict().items():
        before = old_state[name]
        if before.shape == param.shape:
            param.copy_(before)
            continue
        rows = before.shape[0]
        param[:rows].copy_(before)
        if name == "embed.weight":
            # New characters start near the average character, not at random far away.
            param[rows:] = before.mean(0) + 0.01 * torch.randn_like(param[rows:])
        elif name == "head.bias":
            param[rows:] = before.min()  # unseen tokens start as unlikely as the rarest known one
        elif name == "head.weight":
            param[rows:] = 0.01 * torch.randn_like(param[rows:])
        elif name == "style.weight":
            param[rows:] = 0.0


def _resume_state(
    out_dir: Path, tc: TrainConfig, data_hash: str, device: torch.device, say: Callable[[str], None]
) -> _State | None:
    path = out_dir / "last.pt"
    if not path.exists():
        say(f"nothing to resume in {out_dir}: starting fresh")
        return None
    payload = read_checkpoint(path)
    extra = payload["extra"]
    if extra.get("data_hash") != data_hash:
        raise ValueError(
            f"{path} was trained on other sources; to train on new text start from it with init_from instead"
        )
    model = model_from_payload(payload, path).to(device)
    optimizer = _make_optimizer(model, tc)
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["rng"]["torch"])
    if device.type == "cuda" and payload["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(payload["rng"]["cuda"])
    hidden = extra.get("hidden")
    state = _State(
        model=model,
        config=payload["config"],
        vocab=payload["vocab"],
        optimizer=optimizer,
        step=payload["step"],
        epoch=payload["epoch"],
        window=extra.get("window", 0),
        hidden=hidden.to(device) if hidden is not None else None,
        curve=list(extra.get("curve", [])),
        best_bpc=extra.get("best_bpc", math.inf),
        bad_epochs=extra.get("bad_epochs", 0),
        elapsed=extra.get("elapsed", 0.0),
        chars_seen=extra.get("chars_seen", 0),
        train_seconds=extra.get("train_seconds", 0.0),
    )
    say(f"resuming from {path}: epoch {state.epoch}, window {state.window}, step {state.step}")
    return state


class _Loop:
    def __init__(
        self,
        state: _State,
        dataset: Dataset,
        heldout: list[Run],
        tc: TrainConfig,
        out_dir: Path,
        device: torch.device,
        data_hash: str,
        show_progress: bool,
        say: Callable[[str], None],
        watch: Watch | None = None,
        copy_index: CopyIndex | None = None,
        names: TrainingNames | None = None,
    ) -> None:
        self.s = state
        self.watch = watch
        self.copy_index = copy_index  # the watch's samples are guarded as the site's passages are
        self.names = names
        self.last_told = -math.inf
        self.data = dataset
        self.heldout = heldout
        self.tc = tc
        self.out_dir = out_dir
        self.device = device
        self.data_hash = data_hash
        self.show_progress = show_progress
        self.say = say
        self.bos = bos_ids(state.vocab)
        self.token_chars = torch.tensor(state.vocab.token_chars, dtype=torch.long)
        self.epochs = 1 if tc.dry_run else tc.epochs
        self._cached_layout: tuple[int, Layout] | None = None
        first = self._layout(state.epoch)
        self.windows_per_epoch = 2 if tc.dry_run else first.n_windows(tc.seq_len)
        self.total_steps = max(1, self.epochs * self.windows_per_epoch)
        self.started = time.perf_counter() - state.elapsed
        bf16 = tc.bfloat16 if tc.bfloat16 is not None else bfloat16_products()
        self.products = torch.bfloat16 if bf16 else None  # the model applies it to CPU steps only (_products)

    # -- the loop ------------------------------------------------------------

    def run(self) -> TrainResult:
        s = self.s
        while s.epoch < self.epochs and not s.stopped:
            layout = self._layout(s.epoch)
            try:
                train_loss = self._train_epoch(layout)
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one: keep what was learned
                self._save_resume()
                self.say(f"interrupted in epoch {s.epoch + 1}; {self.out_dir / 'last.pt'} holds it, resume to go on")
                raise
            if s.stopped and s.window < self.windows_per_epoch:
                self._finish_partial(train_loss)
                break
            s.epoch += 1
            s.window = 0
            s.hidden = None
            self._end_epoch(train_loss)
        return self._result()

    def _layout(self, epoch: int) -> Layout:
        if self._cached_layout is not None and self._cached_layout[0] == epoch:
            return self._cached_layout[1]
        # Each epoch shuffles the pieces afresh; seeded by epoch, so a resumed run sees the same order.
        generator = torch.Generator().manual_seed(self.tc.seed * 1_000_003 + epoch)
        layout = make_layout(
            self.data.train, self.tc.batch_size, self.bos, generator=generator, style_dropout=self.tc.style_dropout
        )
        self._cached_layout = (epoch, layout)
        return layout

    def _train_epoch(self, layout: Layout) -> float:
        s = self.s
        s.model.train()
        s.model.products = self.products
        try:
            return self._train_windows(layout)
        finally:
            s.model.products = None

    def _train_windows(self, layout: Layout) -> float:
        s, tc = self.s, self.tc
        hidden = s.hidden if s.hidden is not None else s.model.init_hidden(layout.batch_size)
        bar = self._bar(s.window)
        loss_sum, loss_n = 0.0, 0
        last_log = time.perf_counter()
        for x, y, style in layout.windows(tc.seq_len, start=s.window):
            if s.window >= self.windows_per_epoch:
                break
            window_start = time.perf_counter()
            x, y, style = x.to(self.device), y.to(self.device), style.to(self.device)
            self._set_lr()
            _, hidden, loss = s.model(x, hidden, targets=y, style=style)
            hidden = hidden.detach()  # truncated backpropagation: the state goes on, the graph does not
            s.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(s.model.parameters(), tc.clip)
            s.optimizer.step()
            s.step += 1
            s.window += 1
            chars = int(self.token_chars[y.clamp(min=0).cpu()].mul_(y.cpu() >= 0).sum())
            s.chars_seen += chars
            loss_sum += loss.item()
            loss_n += 1
            s.hidden = hidden
            s.elapsed = time.perf_counter() - self.started
            s.train_seconds += time.perf_counter() - window_start
            self._report(bar, loss_sum / loss_n)
            self._tell(loss_sum / loss_n)
            if not self.show_progress and time.perf_counter() - last_log >= tc.log_every_s:
                last_log = time.perf_counter()
                self.say(self._status_line(loss_sum / loss_n))
            s.stopped = self._should_stop()
            if s.stopped:
                break
        if bar is not None:
            bar.close()
        return loss_sum / max(1, loss_n)

    def _should_stop(self) -> str:
        tc, s = self.tc, self.s
        if tc.time_budget_s is not None and s.elapsed >= tc.time_budget_s:
            return "time budget"
        if tc.max_steps is not None and s.step >= tc.max_steps:
            return "max steps"
        return ""

    def _set_lr(self) -> None:
        tc, s = self.tc, self.s
        if s.step < tc.warmup_steps:
            scale = (s.step + 1) / tc.warmup_steps
        else:
            # With a time budget the cosine follows whichever runs out first, steps or time.
            progress = s.step / self.total_steps
            if tc.time_budget_s:
                progress = max(progress, s.elapsed / tc.time_budget_s)
            progress = min(1.0, progress)
            scale = tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        peak = peak_lr(tc, s.model.config)
        for group in s.optimizer.param_groups:
            group["lr"] = peak * scale

    # -- epochs, checkpoints ---------------------------------------------------

    def _end_epoch(self, train_loss: float) -> None:
        s = self.s
        val_bpc = self._validate()
        row = self._curve_row(train_loss, val_bpc)
        improved = val_bpc < s.best_bpc - 1e-4
        if improved:
            s.best_bpc = val_bpc
            s.bad_epochs = 0
        else:
            s.bad_epochs += 1
        if s.bad_epochs >= self.tc.patience:
            s.stopped = f"no better validation score for {self.tc.patience} epochs"
        self._save(improved)
        self._tell(train_loss, val_bpc=val_bpc)
        self.say(
            f"epoch {s.epoch}/{self.epochs}: train loss {train_loss:.3f}, validation {val_bpc:.3f} bits/char"
            f"{' (best)' if improved else ''}, {row['seconds']:.0f}s"
        )

    def _finish_partial(self, train_loss: float) -> None:
        s = self.s
        val_bpc = self._validate()
        self._curve_row(train_loss, val_bpc)
        improved = val_bpc < s.best_bpc - 1e-4
        if improved:
            s.best_bpc = val_bpc
        self._save(improved, epoch_file=False)
        self._tell(train_loss, val_bpc=val_bpc)
        self.say(
            f"stopped ({s.stopped}) in epoch {s.epoch + 1} after {s.window}/{self.windows_per_epoch} windows: "
            f"validation {val_bpc:.3f} bits/char; resume to go on"
        )

    def _curve_row(self, train_loss: float, val_bpc: float) -> dict:
        s = self.s
        row = {
            "epoch": s.epoch if not s.window else s.epoch + s.window / self.windows_per_epoch,
            "step": s.step,
            "train_loss": train_loss,
            "val_bpc": val_bpc,
            "seconds": time.perf_counter() - self.started,
            "chars_per_s": s.chars_seen / max(1e-9, s.train_seconds),
        }
        if self.heldout:
            row["heldout_bpc"] = evaluate_runs(s.model, s.vocab, self.heldout, batch_size=self.tc.eval_batch_size)
        s.curve.append(row)
        return row

    def _validate(self) -> float:
        # Sources too short to hold anything out are scored on their training text.
        runs = self.data.val or self.data.train
        limit = 2 if self.tc.dry_run else None
        return evaluate_runs(self.s.model, self.s.vocab, runs, batch_size=self.tc.eval_batch_size, max_windows=limit)

    def _save(self, improved: bool, *, epoch_file: bool = True) -> None:
        if epoch_file and self.tc.save_epochs:
            self._write(f"epoch-{self.s.epoch}.pt", extra=self._extra())
        if improved or not (self.out_dir / "best.pt").exists():
            self._write("best.pt", extra=self._extra())
        self._save_resume()

    def _save_resume(self) -> None:
        """last.pt: everything a resumed run needs to go on exactly from here."""
        s = self.s
        resume = {
            **self._extra(),
            "data_hash": self.data_hash,
            "window": s.window if s.window < self.windows_per_epoch else 0,
            "hidden": s.hidden.detach().cpu() if s.hidden is not None and s.window else None,
            "curve": s.curve,
            "best_bpc": s.best_bpc,
            "bad_epochs": s.bad_epochs,
            "elapsed": s.elapsed,
            "chars_seen": s.chars_seen,
            "train_seconds": s.train_seconds,
        }
        self._write("last.pt", extra=resume, optimizer=self.s.optimizer)

    def _extra(self) -> dict:
        return {"val_bpc": self.s.curve[-1]["val_bpc"] if self.s.curve else None, "train_config": asdict(self.tc)}

    def _write(self, name: str, *, extra: dict, optimizer: torch.optim.Optimizer | None = None) -> None:
        s = self.s
        save_checkpoint(
            self.out_dir / name,
            model=s.model,
            config=s.config,
            vocab=s.vocab,
            optimizer=optimizer,
            step=s.step,
            epoch=s.epoch,
            extra=extra,
        )

    def _result(self) -> TrainResult:
        s = self.s
        return TrainResult(
            best_path=self.out_dir / "best.pt",
            last_path=self.out_dir / "last.pt",
            vocab=s.vocab,
            config=s.config,
            val_bpc=s.best_bpc,
            train_chars=s.chars_seen,
            seconds=time.perf_counter() - self.started,
            epochs=s.epoch,
            curve=s.curve,
            chars_per_s=s.chars_seen / max(1e-9, s.train_seconds),
        )

    # -- progress ------------------------------------------------------------

    def _bar(self, initial: int):
        if not self.show_progress:
            return None
        from tqdm import tqdm

        return tqdm(
            total=self.windows_per_epoch,
            initial=initial,
            desc=f"epoch {self.s.epoch + 1}/{self.epochs}",
            unit="win",
            dynamic_ncols=True,
            leave=False,
        )

    def _report(self, bar, loss: float) -> None:
        if bar is None:
            return
        rate = self.s.chars_seen / max(1e-9, self.s.train_seconds)
        bar.set_postfix_str(f"loss {loss:.3f}, {rate:,.0f} chars/s, total ETA {self._eta()}", refresh=False)
        bar.update(1)  # redraws at most every 0.1 s, with the postfix above

    def _remaining_s(self) -> float:
        s, tc = self.s, self.tc
        done = s.epoch * self.windows_per_epoch + s.window
        remaining = s.elapsed / max(1, done) * (self.total_steps - done)
        if tc.max_steps is not None:
            remaining = min(remaining, s.elapsed / max(1, s.step) * max(0, tc.max_steps - s.step))
        if tc.time_budget_s is not None:
            remaining = min(remaining, max(0.0, tc.time_budget_s - s.elapsed))
        return remaining

    def _eta(self) -> str:
        minutes, seconds = divmod(int(self._remaining_s()), 60)
        return f"{minutes}:{seconds:02d}"

    def _tell(self, train_loss: float, *, val_bpc: float | None = None) -> None:
        """Tell the watch where training stands: at most every `every_s`, and always at an epoch's end."""
        watch, s = self.watch, self.s
        if watch is None:
            return
        now = time.perf_counter()
        if val_bpc is None and now - self.last_told < watch.every_s:
            return
        self.last_told = now
        remaining = self._remaining_s()
        fraction = 1.0 if s.stopped or s.epoch >= self.epochs else s.elapsed / max(1e-9, s.elapsed + remaining)
        watch.on_progress(
            Progress(
                epoch=s.epoch,
                epochs=self.epochs,
                step=s.step,
                fraction=round(min(1.0, max(0.0, fraction)), 4),
                chars_per_s=s.chars_seen / max(1e-9, s.train_seconds),
                eta_s=0.0 if fraction >= 1.0 else remaining,
                train_loss=train_loss,
                val_bpc=val_bpc,
                **self._sampled(val_bpc),
            )
        )

    def _sampled(self, val_bpc: float | None) -> dict:
        if val_bpc is None:
            return {}
        sample, parts = self._sample()
        return {"sample": sample, "sample_parts": parts}

    def _sample(self) -> tuple[str, tuple[str, ...]]:
        """The watch's prompt continued by the model as it is now, and what was on; the training's random state
        is left alone."""
        watch, s = self.watch, self.s
        rng = torch.get_rng_state()
        try:
            bundle = Bundle(model=s.model, config=s.config, vocab=s.vocab, copy_index=self.copy_index, names=self.names)
            return watch.sample(bundle), watch.parts(bundle)
        finally:
            torch.set_rng_state(rng)
            s.model.train()

    def _status_line(self, loss: float) -> str:
        s = self.s
        rate = s.chars_seen / max(1e-9, s.train_seconds)
        return (
            f"epoch {s.epoch + 1}/{self.epochs} window {s.window}/{self.windows_per_epoch}: "
            f"loss {loss:.3f}, {rate:,.0f} chars/s, ETA {self._eta()}"
        )


@torch.no_grad()
def evaluate_runs(
    model: GRUModel, vocab: Vocab, runs: Sequence[Run], *, batch_size: int = 32, seq_len: int = 256, max_windows=None
) -> float:
    """Bits per character of runs: all bits spent (</s> included) over the characters of the text."""
    if not runs:
        return math.nan
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    layout = make_layout(runs, batch_size, bos_ids(vocab))
    token_chars = torch.tensor(vocab.token_chars, dtype=torch.long)
    hidden = model.init_hidden(layout.batch_size)
    nats, chars = 0.0, 0
    for number, (x, y, style) in enumerate(layout.windows(seq_len)):
        if max_windows is not None and number >= max_windows:
            break
        logits, hidden, _ = model(x.to(device), hidden, style=style.to(device))
        nats += float(
            F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                y.to(device).reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
        )
        chars += int(token_chars[y.clamp(min=0)].mul_(y >= 0).sum())
    model.train(was_training)
    return nats / LN2 / max(1, chars)


def evaluate_bpc(bundle: Bundle, texts: Sequence[str], *, style: str | None = None, ngram: bool = False) -> float:
    """Bits per character of held-out texts, each read from a fresh start in the given style.

    With ``ngram`` and a bundle that has one, the GRU mixed with its n-gram: what generation uses.
    """
    texts = [text for t in texts if (text := normalize(t))]
    if ngram and bundle.ngram is not None:
        bits = chars = 0.0
        for text in texts:
            more_bits, more_chars = _continuation_bits(bundle, "", text, OFF, NO_ADAPT, style, True)
            bits, chars = bits + more_bits, chars + more_chars
        return bits / max(1, chars) if texts else math.nan
    index = bundle.vocab.style_index(style)
    runs = [text_run(bundle.vocab, t, index) for t in texts]
    return evaluate_runs(bundle.model, bundle.vocab, runs)


def continuation_bpc(
    bundle: Bundle,
    story: str,
    continuation: str,
    *,
    memory: MemorySettings = OFF,
    adapt: AdaptSettings = NO_ADAPT,
    ngram: bool = False,
    style: str | None = None,
) -> float:
    """Bits per character of ``continuation`` read after ``story``, with or without each part that generation mixes in.

    ``ngram`` mixes in the bundle's n-gram (when it has one), ``memory`` the
    story's own memory, ``adapt`` adaptation to the story. Memory and adaptation
    read the story first and then each token of the continuation once it has
    been scored, as they would have while writing it.
    """
    bits, chars = _continuation_bits(bundle, story, continuation, memory, adapt, style, ngram)
    return bits / max(1, chars)


def _continuation_bits(
    bundle: Bundle,
    story: str,
    continuation: str,
    memory: MemorySettings,
    adapt: AdaptSettings,
    style: str | None,
    ngram: bool,
) -> tuple[float, int]:
    vocab = bundle.vocab
    index = vocab.style_index(style)
    head = len(story_ids(vocab, story, index)) if story else 1
    ids = list(story_ids(vocab, story + continuation, index))
    if len(ids) <= head:
        raise GenerationError("the continuation is empty")
    store = StoryMemory.of(ids[:head], memory, len(vocab))
    counts = bundle.ngram if ngram else None
    gate = gate_of(bundle, store)
    word_start = blank_tokens(vocab) if gate is not None else None  # read by the gate only
    size = recall_size(bundle, memory)  # what writing keeps, by the same rule
    recall = bundle.new_recall(size) if size else None
    nats = 0.0
    chars = 0
    for position, logprobs, output in _scored_positions(bundle, ids, head, index, adapt, story=recall is not None):
        target = ids[position]
        if position >= head:
            context = ids[max(0, position - MEMORY_CONTEXT) : position]
            if gate is not None:
                mixer, all_counts = gate
                blank = bool(word_start[ids[position - 1]])
                recalled = recall.guess(output) if recall is not None else None
                g = guess(np.exp(logprobs), context, counts=all_counts, store=store, blank=blank, recalled=recalled)
                p = float(mixer.mix(g, ngram=counts is not None)[target])
            else:
                p = _fixed_mix(math.exp(float(logprobs[target])), counts, store, context, target)
            if store is not None:
                store.extend((target,))
            nats -= math.log(p)
            chars += vocab.token_chars[target]
        if recall is not None:
            recall.add(output[None], (target,))
    return nats / LN2, chars


def _fixed_mix(
    p_gru: float, counts: TokenNgram | None, store: StoryMemory | None, context: Sequence[int], target: int
) -> float:
    """The probability of ``target`` mixed without a gate: the n-gram's weight per match length, then the memory's."""
    p = counts.mix_prob(p_gru, context, target) if counts is not None else p_gru
    if store is not None:
        p_story, weight = store.prob(context, target)
        if weight > 0:
            p = (1 - weight) * p + weight * p_story
    return p


def _scored_positions(
    bundle: Bundle, ids: list[int], head: int, style_index: int, adapt: AdaptSettings, *, story: bool = False
) -> Iterator[tuple[int, np.ndarray, Tensor]]:
    """(position, the model's log-probabilities (V,) for the token there, the output (H,) they came from)
    for every position from head on; with ``story``, for the story's own positions (1 to head - 1) first."""
    if adapt.enabled:
        adapter = Adapter(bundle, adapt, style_index)
        for begin, end in ((0, head), (head, len(ids))):  # the story, then the continuation, as the site reads them
            position = max(begin, 1)  # the first token is read as the first input, not predicted
            for logprobs, outputs in adapter.read(ids[begin:end], score=story or begin == head):
                for row, output in zip(logprobs.cpu().numpy(), outputs.cpu(), strict=True):
                    yield position, row, output
                    position += 1
        return
    model = bundle.model
    model.eval()
    tokens = torch.tensor(ids, dtype=torch.long, device=model.head.weight.device).view(1, -1)  # (1, T)
    hidden = None
    first = 1 if story else head
    with torch.no_grad():
        for begin in range(0, len(ids) - 1, FEED_CHUNK):
            out, hidden = model.run(tokens[:, begin : begin + FEED_CHUNK], hidden, style_index)  # (T, 1, H)
            logprobs = torch.log_softmax(model.project(out[:, 0]).float(), dim=-1).cpu().numpy()  # (T, V)
            for offset, row in enumerate(logprobs):
                position = begin + offset + 1  # the token predicted
                if first <= position < len(ids):
                    yield position, row, out[offset, 0]


def unigram_bpc(train: Sequence[str], heldout: Sequence[str], *, alphabet: int) -> float:
    """Bits per character of held-out text for a guesser that knows letter frequencies alone.

    A reference point beside a model's figure: each character is guessed from
    how often it occurs in the training text (add-one smoothed over `alphabet`
    symbols), with no regard to what came before it.
    """
    counts = Counter(ch for text in train for ch in normalize(text))
    total = sum(counts.values()) + max(alphabet, len(counts) + 1)
    bits = chars = 0
    for text in heldout:
        for ch in normalize(text):
            bits -= math.log2((counts.get(ch, 0) + 1) / total)
            chars += 1
    return bits / max(1, chars)
