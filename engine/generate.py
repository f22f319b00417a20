"""Generation: continue a story from a keyword, a few sentences at a time, streaming characters.

The model's state is computed from the story text itself (cached per novel and
model in a ``StateCache``), never read from one global state file. The
continuation starts with the keyword (the original tool's "prime"), so the
keyword is in it every time, and it stops right after the model closes its
last sentence. Sampling is temperature + top-k + top-p with a repetition
penalty: greedy decoding, the original's habit, loops.
"""

from __future__ import annotations

import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from engine.adapt import NONE as NO_ADAPT
from engine.adapt import AdaptedStates, AdaptSettings
from engine.cast import NameGuard, Words, cached_cast
from engine.checkpoint import Bundle
from engine.copyguard import SPAN, CopyIndex, canonical
from engine.data import encode_stream
from engine.errors import GenerationError
from engine.memory import MemorySettings, StoryMemory, log_softmax
from engine.mixer import Mixer, blank_tokens, guess, softmax
from engine.ngram import TokenNgram
from engine.recall import Recall, Recalled, RowRecall
from engine.text import ends_sentence, normalize, segments
from engine.vocab import EOS, Vocab

FEED_CHUNK = 2048  # tokens per forward pass when reading a long story
PENALTY_WINDOW = 64  # the repetition penalty looks this many tokens back
COPY_TRIES = 20  # fresh draws for a character that would copy the training text, before giving up on it
CAST_PULL = 1.5  # added to the score of a name of the story's cast where a word starts, and of its next letter
CAST_NAMES = 6  # the story's most named people that pull
DEFAULT_MEMORY = MemorySettings()
DEFAULT_ADAPT = AdaptSettings(lr=0.1)  # bench/quality.py: what adaptation buys on top of the memory
MEMORY_CONTEXT = 16  # tokens each row keeps for the story's memory (its order is at most this)


@dataclass(frozen=True)
class StoryState:
    """The model after reading a story: its token ids, hidden state (L, 1, H), next-token logits (V,),
    the story's memory and its recall (None when generation runs without them)."""

    ids: tuple[int, ...]
    hidden: Tensor
    logits: Tensor
    memory: StoryMemory | None = None
    recall: Recall | None = None


class StateCache:
    """Hidden states after each novel's story so far, so a new turn reads only the new text.

    Keyed by (cache_key, model id, style). When the story has grown, only the
    new suffix is fed; when it changed otherwise (a rejected turn was removed),
    the state is computed again from the start. Thread-safe; least recently
    used entries go first once ``max_entries`` is reached.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, int], StoryState] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.extensions = self.misses = 0
        self.last_fed = 0  # tokens fed by the latest lookup: 0 on an exact hit

    def get(self, key: str, model_id: str, style: int) -> StoryState | None:
        with self._lock:
            state = self._entries.get((key, model_id, style))
            if state is not None:
                self._entries.move_to_end((key, model_id, style))
            return state

    def put(self, key: str, model_id: str, style: int, state: StoryState) -> None:
        with self._lock:
            self._entries[(key, model_id, style)] = state
            self._entries.move_to_end((key, model_id, style))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def story_state(
        self, bundle: Bundle, story: str, *, key: str, style: str | None = None, memory: MemorySettings = DEFAULT_MEMORY
    ) -> StoryState:
        """The state after ``story``, reusing (and updating) this cache's entry for ``key``."""
        index = bundle.vocab.style_index(style)
        return _story_state(bundle, story_ids(bundle.vocab, story, index), index, self, key, memory)

    def _count(self, fed: int, kind: str) -> None:
        with self._lock:
            self.last_fed = fed
            if kind == "hit":
                self.hits += 1
            elif kind == "extend":
                self.extensions += 1
            else:
                self.misses += 1


def story_ids(vocab: Vocab, story: str, style_index: int) -> tuple[int, ...]:
    """What the model reads for a story: the style's start token, then the text with </s> after each sentence."""
    bos = EOS if style_index == 0 else vocab.style_id(vocab.styles[style_index - 1])
    return (bos, *encode_stream(vocab, normalize(story), close_last=False))


@torch.no_grad()
def feed(
    bundle: Bundle,
    ids: list[int] | tuple[int, ...],
    hidden: Tensor | None,
    style_index: int,
    *,
    recall: Recall | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the model over ids from hidden; returns the new hidden (L, B, H) and the last logits (B, V).

    With ``recall`` (one row only), each output but the last is kept there with the token that came after it.
    """
    model = bundle.model
    device = bundle.model.head.weight.device
    tokens = torch.tensor(ids, dtype=torch.long, device=device).view(1, -1)  # (1, T)
    last = None
    for begin in range(0, tokens.shape[1], FEED_CHUNK):
        out, hidden = model.run(tokens[:, begin : begin + FEED_CHUNK], hidden, style_index)  # (T, 1, H)
        if recall is not None:
            if last is not None:  # the previous chunk's last output, and this chunk's first token
                recall.add(last, ids[begin : begin + 1])
            recall.add(out[:-1, 0], ids[begin + 1 : begin + out.shape[0]])
        last = out[-1]
    assert last is not None, "feed needs at least one token"
    return hidden, model.project(last)


def _story_state(
    bundle: Bundle,
    ids: tuple[int, ...],
    style_index: int,
    cache: StateCache | None,
    key: str | None,
    memory: MemorySettings = DEFAULT_MEMORY,
) -> StoryState:
    cached = cache.get(key, bundle.model_id, style_index) if cache is not None and key is not None else None
    if cached is not None and not _same_memory(cached.memory, memory):
        cached = None  # asked with other memory settings: read the story afresh
    if cached is not None and cached.ids == ids:
        cache._count(0, "hit")
        return cached
    if cached is not None and len(cached.ids) < len(ids) and ids[: len(cached.ids)] == cached.ids:
        suffix = ids[len(cached.ids) :]
        recall = None
        if cached.recall is not None:
            recall = cached.recall.copy()  # a generation may still be reading the cached one
            recall.add(cached.hidden[-1], suffix[:1])  # the story's last output, and what came after it
        hidden, logits = feed(bundle, suffix, cached.hidden, style_index, recall=recall)
        store = None
        if cached.memory is not None:
            store = cached.memory.copy()
            store.extend(suffix)
        kind = "extend"
    else:
        suffix = ids
        recall = _new_recall(bundle, memory)
        hidden, logits = feed(bundle, ids, None, style_index, recall=recall)
        store = StoryMemory.of(ids, memory, len(bundle.vocab))
        kind = "miss"
    state = StoryState(ids=ids, hidden=hidden, logits=logits[0], memory=store, recall=recall)
    if cache is not None and key is not None:
        cache._count(len(suffix), kind)
        cache.put(key, bundle.model_id, style_index, state)
    return state


def recall_size(bundle: Bundle, memory: MemorySettings) -> int:
    """Positions of the story its recall keeps (engine/recall.py) for this model and these settings:
    0 unless the settings ask for it and the model's gate weighs it."""
    if not memory.recalls or bundle.mixer is None or not bundle.mixer.recalls:
        return 0
    return memory.recall


def _new_recall(bundle: Bundle, memory: MemorySettings) -> Recall | None:
    size = recall_size(bundle, memory)
    return bundle.new_recall(size) if size else None


def _copy(items: list[int] | None) -> list[int] | None:
    return None if items is None else list(items)


def _same_memory(store: StoryMemory | None, memory: MemorySettings) -> bool:
    if store is None:
        return not memory.enabled
    return store.settings == memory


class _Tables:
    """Per-vocabulary masks for the sampler, computed once per vocabulary."""

    _lock = threading.Lock()
    _cache: dict[str, _Tables] = {}

    def __init__(self, vocab: Vocab) -> None:
        texts = vocab.tokens
        special = np.array([vocab.is_special(i) for i in range(len(vocab))])
        banned = special.copy()
        banned[EOS] = False  # never write <unk> or a style token; </s> is how sentences end
        newline = np.array(["\n" in t for t in texts]) & ~special
        terminal = np.array([ends_sentence(t) for t in texts]) & ~special
        blank = np.array([not t.strip() for t in texts]) & ~special
        # The sampler's rules name tokens by index: a few dozen, not a mask over the whole vocabulary.
        self.banned_ids = np.flatnonzero(banned)
        self.newline_ids = np.flatnonzero(newline)
        self.terminal_ids = np.flatnonzero(terminal)
        self.blank_ids = np.flatnonzero(blank)
        self.word_start = blank_tokens(vocab)  # what the mixer asks: does a new word start after this token?
        # Spaces and punctuation recur by nature; only tokens with letters are penalised.
        self.penalised = np.array([any(c.isalnum() for c in t) for t in texts]) & ~special
        self.texts = [("" if special[i] else t) for i, t in enumerate(texts)]
        self.period = vocab.id(".")
        self.quote = vocab.id('"')

    @classmethod
    def of(cls, vocab: Vocab) -> _Tables:
        with cls._lock:
            tables = cls._cache.get(vocab.hash)
            if tables is None:
                tables = cls._cache[vocab.hash] = cls(vocab)
            return tables


@dataclass
class _Row:
    """One candidate's progress through its sentences."""

    sentence: str = ""  # the sentence being written, for "may it end here?"
    after_eos: bool = False
    produced: int = 0  # characters sampled so far (the keyword not counted)
    sentences: int = 0
    done: bool = False
    capped: bool = False  # it ended a sentence too near the character cap to begin another
    forced: list[int] | None = None  # tokens to write regardless, to close a sentence at the cap
    canon: str = ""  # the end of the passage as the copy index sees it
    context: list[int] | None = None  # the last tokens, for the story's memory
    logprob: float = 0.0  # of the tokens sampled, under the distribution they were drawn from
    sampled: int = 0

    def may_end(self) -> bool:
        return ends_sentence(self.sentence) and self.sentence.count('"') % 2 == 0


def _check_args(
    n: int,
    sentences: int,
    max_chars: int | None,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    repetition_penalty: float,
) -> None:
    if n < 1:
        raise GenerationError("the number of candidates must be at least 1")
    if sentences < 1:
        raise GenerationError("the length must be at least one sentence")
    if max_chars is not None and max_chars < 8:
        raise GenerationError("the character cap must be at least 8")
    if temperature < 0:
        raise GenerationError("the temperature must not be negative")
    if top_k is not None and top_k < 1:
        raise GenerationError("top_k must be at least 1")
    if top_p is not None and not 0 < top_p <= 1:
        raise GenerationError("top_p must be in (0, 1]")
    if repetition_penalty <= 0:
        raise GenerationError("the repetition penalty must be positive")


def _open_sentence(text: str) -> str:
    """The unfinished last sentence of a text, or "" when it ends with a finished one."""
    segs = segments(normalize(text))
    return segs[-1].text if segs and not segs[-1].closed else ""


def _opening(story: str, keyword: str) -> str:
    """What the passage starts with before the model reads anything: the keyword itself (after a space if the story
    needs one), not its decoding, since a character the vocabulary lacks must still show. It goes out first, before
    the story is read, so that a reader sees the passage begin at once even when the story must be read afresh."""
    keyword = normalize(keyword)
    return _separator(story, keyword) + keyword if keyword else ""


_CHECKED = ("max_chars", "temperature", "top_k", "top_p", "repetition_penalty")  # _check_args's, after n and sentences


def _separator(story: str, keyword: str) -> str:
    """A space between story and keyword, unless one of them already brings whitespace."""
    if not story.strip() or not keyword or story[-1].isspace():
        return ""
    return " "


@dataclass
class _Kept:
    """One row as it stood when it finished the round's sentence: what `_Batch.restore` puts in every row."""

    row: _Row
    layers: list[Tensor]  # L x (H,)
    scores: np.ndarray  # (V,): the next token's scores
    counts: np.ndarray  # (V,): recent uses of each token
    recent: list[int]
    recall: tuple[np.ndarray, np.ndarray, int] | None  # its own pairs in the RowRecall, and how many


class _Batch:
    """n rows written side by side from one story and keyword: the sampler's state, one token per `step`.

    generate() reads one row, generate_scored() n to the end; generate_by_sentence() ends each row after
    a sentence, keeps each row as it stood then, and continues every row from the one chosen.
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        n: int,
        story: str,
        keyword: str,
        max_chars: int | None,
        sentences: int,
        style: str | None,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        repetition_penalty: float,
        seed: int | None,
        cache: StateCache | None,
        cache_key: str | None,
        memory: MemorySettings,
        copy_guard: bool,
        name_guard: bool,
        cast: tuple[str, ...] | None,
        cast_pull: float,
        adapt: AdaptSettings,
        adapters: AdaptedStates | None,
        ngram: bool,
        scored: bool,
    ) -> None:
        _check_args(n, sentences, max_chars, temperature, top_k, top_p, repetition_penalty)
        vocab, model = bundle.vocab, bundle.model
        model.eval()
        self.device = model.head.weight.device
        self.tables = _Tables.of(vocab)
        self.style_index = style_index = vocab.style_index(style)
        self.cap = max_chars if max_chars is not None else 200 * sentences
        self.sampling = (temperature, top_k, top_p)
        self.penalty = repetition_penalty
        self.rng = np.random.default_rng(seed)  # per call, so concurrent generations never share a stream
        self.scored = scored  # only a caller choosing among rows needs their fluency; a stream skips the work

        state = _story_state(bundle, story_ids(vocab, story, style_index), style_index, cache, cache_key, memory)
        self.guard = bundle.copy_index if copy_guard else None
        self.names = None
        if name_guard and bundle.names is not None:
            self.names = NameGuard.of(bundle.names, story=story, keyword=keyword, cast=cast or ())
        people = cast if cast is not None else story_cast(bundle, story)
        self.pull = _CastPull.of(self.tables, people[:CAST_NAMES], cast_pull) if cast_pull and people else None
        self.grams = bundle.ngram if ngram else None
        if adapt.enabled and adapters is not None and cache_key is not None:
            bundle, state = _adapted(
                bundle, state, style_index, adapters, cache_key, adapt, recall_size(bundle, memory)
            )
        self.state = state
        self.recall = RowRecall(state.recall, n) if state.recall is not None else None
        hidden, logits = state.hidden, state.logits.unsqueeze(0)  # (L, 1, H), (1, V)
        start = _Row(after_eos=state.ids[-1] == EOS and len(state.ids) > 1, sentence=_open_sentence(story))
        keyword = normalize(keyword)
        recent: list[int] = []
        forced: list[int] = []
        self.lead = ""
        if keyword:
            self.lead = lead = _separator(story, keyword)
            forced = encode_stream(vocab, keyword, close_last=False, lead=lead)
            if self.recall is not None:
                _recall_keyword(bundle, self.recall, forced, hidden, style_index)
            hidden, logits = feed(bundle, forced, hidden, style_index)
            recent = forced[-PENALTY_WINDOW:]
            tail = _open_sentence(keyword)
            if forced[-1] == EOS:
                start = _Row(after_eos=True)
            elif len(segments(keyword)) == 1 and not start.after_eos:
                start = _Row(sentence=start.sentence + lead + tail)  # the keyword goes on with the story's sentence
            else:
                start = _Row(sentence=tail)
        self.keyword = keyword
        self.mixing = state.memory is not None or self.grams is not None
        self.gate = gate_of(bundle, state.memory)
        context = [*state.ids[-MEMORY_CONTEXT:], *forced][-MEMORY_CONTEXT:] if self.mixing else None
        canon = canonical(self.lead + keyword)
        self.rows = [
            _Row(after_eos=start.after_eos, sentence=start.sentence, canon=canon, context=_copy(context))
            for _ in range(n)
        ]
        self.step_model = bundle.model.stepper(style_index)
        self.layers = [h.expand(n, -1).contiguous() for h in hidden.unbind(0)]  # L x (n, H)
        self.scores = np.repeat(logits.float().cpu().numpy(), n, axis=0)  # (n, V)
        self.counts = np.zeros((n, len(vocab)), dtype=np.int32)  # recent uses of each token, per row
        self.everyone = np.arange(n)
        self.window = [np.full(n, token) for token in recent]
        for tokens in self.window:
            self.counts[self.everyone, tokens] += 1

    def step(self, sentences: int) -> list[str]:
        """One token for every row still writing, toward `sentences` sentences (the cap counts the whole passage);
        each row's new text ("" for a row that has finished)."""
        rows, tables = self.rows, self.tables
        scores = self.scores
        if self.mixing:
            recalled = self.recall.guesses(self.layers[-1]) if self.recall is not None else None
            scores = _mix(scores, rows, self.grams, self.state.memory, self.gate, tables, recalled)
        adjusted = _adjust(scores, rows, tables, self.counts, self.penalty, self.cap)
        if self.pull is not None:
            self.pull.apply(adjusted, rows)
        tokens = _sample(adjusted, *self.sampling, self.rng)
        if self.guard is not None:
            guard = self.guard
            _redraw(tokens, adjusted, rows, lambda row, text: _would_copy(row.canon, text, guard), self)
        if self.names is not None:
            names = self.names
            _redraw(tokens, adjusted, rows, lambda row, text: names.completes(row.sentence, text), self)
        _apply_forced(tokens, rows)
        if self.scored:
            _tally_logprobs(scores, tokens, rows)
        writing = [not row.done for row in rows]
        pieces = _advance(rows, tokens.tolist(), tables, sentences, self.cap)
        self.finished = [was and row.done for was, row in zip(writing, rows, strict=True)]
        # The model reads the tokens even after the last row has finished: a row kept now (`keep`) must stand
        # where its next sentence would start.
        if self.recall is not None:
            self.recall.add(None, tokens)  # each row's output, asked about above, and the token it led to
        self.counts[self.everyone, tokens] += 1
        self.window.append(tokens)
        if len(self.window) > PENALTY_WINDOW:
            self.counts[self.everyone, self.window.pop(0)] -= 1
        logits, self.layers = self.step_model(torch.from_numpy(tokens).to(self.device), self.layers)
        self.scores = logits.float().cpu().numpy()
        return pieces

    @property
    def done(self) -> bool:
        return all(row.done for row in self.rows)

    def fluency(self) -> list[float]:
        """Each row's mean log-probability per token of what it sampled (since the last `restore`)."""
        return [row.logprob / max(1, row.sampled) for row in self.rows]

    def keep(self, i: int) -> _Kept:
        """Row i as it stands now (call it right after the step in which it finished)."""
        recall = None
        if self.recall is not None:
            length = self.recall.length
            recall = (self.recall.keys[i, :length].copy(), self.recall.nexts[i, :length].copy(), length)
        return _Kept(
            row=replace(self.rows[i], context=_copy(self.rows[i].context), forced=_copy(self.rows[i].forced)),
            layers=[layer[i].clone() for layer in self.layers],
            scores=self.scores[i].copy(),
            counts=self.counts[i].copy(),
            recent=[int(tokens[i]) for tokens in self.window],
            recall=recall,
        )

    def restore(self, kept: _Kept) -> None:
        """Every row as the kept one stood, writing again: the next round starts from it."""
        n = len(self.rows)
        self.rows = [
            replace(kept.row, done=False, context=_copy(kept.row.context), forced=_copy(kept.row.forced), logprob=0.0,
                    sampled=0)
            for _ in range(n)
        ]  # fmt: skip
        self.layers = [layer.expand(n, -1).contiguous() for layer in kept.layers]
        self.scores = np.repeat(kept.scores[None, :], n, axis=0)
        self.counts = np.repeat(kept.counts[None, :], n, axis=0)
        self.window = [np.full(n, token) for token in kept.recent]
        if self.recall is not None and kept.recall is not None:
            keys, nexts, length = kept.recall
            self.recall.length = length
            self.recall.keys[:, :length] = keys
            self.recall.nexts[:, :length] = nexts
            self.recall.asked = None


@torch.no_grad()
def _generate_rows(
    bundle: Bundle,
    *,
    n: int,
    story: str,
    keyword: str,
    sentences: int,
    fluency: list[float] | None = None,
    **options,
) -> Iterator[list[str]]:
    """Yields, step by step, the new text of each of n rows ("" for rows with nothing new)."""
    opening = _opening(story, keyword)
    if opening:
        _check_args(n, sentences, *(options[name] for name in _CHECKED))
        yield [opening] * n
    batch = _Batch(
        bundle, n=n, story=story, keyword=keyword, sentences=sentences, scored=fluency is not None, **options
    )
    while not batch.done:
        yield batch.step(sentences)
    if fluency is not None:  # each row's mean log-probability per token, for whoever chooses among them
        fluency[:] = batch.fluency()


# choose(sentences, fluencies, passage so far) -> (the index of the one to keep, whether it is good enough):
# when it is not, the n rows write the sentence once more and the better of the two rounds' choices is kept.
Chooser = Callable[[list[str], list[float], str], tuple[int, bool]]


@torch.no_grad()
def generate_by_sentence(
    bundle: Bundle, *, n: int, story: str, keyword: str = "", sentences: int = 3, choose: Chooser, **kwargs
) -> Iterator[str]:
    """The passage sentence by sentence, each the best of n written side by side: yielded as soon as it is chosen.

    n rows write the next sentence from the same state; each is kept as it stood when it ended the sentence;
    ``choose(sentences, fluencies, passage_so_far)`` picks one (see Chooser; when none is good enough, the n
    rows write it once more and it chooses among all 2n); every row then goes on from the one chosen. The
    keyword comes first, at once.
    """
    options = _with_defaults({"story": story, "keyword": keyword, "sentences": sentences, **kwargs})
    for given in ("story", "keyword", "sentences"):
        options.pop(given)
    passage = _opening(story, keyword)
    if passage:
        _check_args(n, sentences, *(options[name] for name in _CHECKED))
        yield passage
    batch = _Batch(bundle, n=n, story=story, keyword=keyword, sentences=sentences, scored=True, **options)
    for target in range(1, sentences + 1):
        start = batch.keep(0)
        texts: list[str] = []
        kept: list[_Kept | None] = []
        fluency: list[float] = []
        for attempt in range(2):
            if attempt:
                batch.restore(start)  # every row wrote something unwanted: all of them write it again
            round_texts, round_kept = ["" for _ in batch.rows], [None] * len(batch.rows)
            while not batch.done:
                pieces = batch.step(target)
                for i, piece in enumerate(pieces):
                    round_texts[i] += piece
                for i, finished in enumerate(batch.finished):
                    if finished:
                        round_kept[i] = batch.keep(i)
            texts, kept, fluency = texts + round_texts, kept + round_kept, fluency + batch.fluency()
            chosen, good = choose(texts, fluency, passage)
            if good:
                break
        best = kept[chosen]
        passage += texts[chosen]
        if texts[chosen]:
            yield texts[chosen]
        if best.row.capped:
            return
        batch.restore(best)


def prepare(
    bundle: Bundle,
    *,
    story: str,
    style: str | None = None,
    cache: StateCache,
    cache_key: str,
    memory: MemorySettings = DEFAULT_MEMORY,
    adapt: AdaptSettings = NO_ADAPT,
    adapters: AdaptedStates | None = None,
) -> None:
    """Read a story ahead of its next turn: its state in ``cache`` and, with ``adapt``, its adapted copy."""
    style_index = bundle.vocab.style_index(style)
    state = _story_state(bundle, story_ids(bundle.vocab, story, style_index), style_index, cache, cache_key, memory)
    if adapt.enabled and adapters is not None:
        recall = recall_size(bundle, memory)
        adapters.adapted(bundle, state.ids, key=cache_key, style_index=style_index, settings=adapt, recall=recall)


def _adapted(
    bundle: Bundle,
    state: StoryState,
    style_index: int,
    adapters: AdaptedStates,
    key: str,
    adapt: AdaptSettings,
    recall: int,
) -> tuple[Bundle, StoryState]:
    """The story's own copy of the model, brought up to date, and its state after the story.

    Its recall holds the adapted network's outputs, which the adapted network's own are compared with.
    """
    adapter = adapters.adapted(bundle, state.ids, key=key, style_index=style_index, settings=adapt, recall=recall)
    adapted = adapter.bundle(bundle, key)
    # The adapter has read every token but the last as an input; reading it gives the next guess.
    hidden, logits = feed(adapted, state.ids[-1:], adapter.hidden, style_index)
    kept = adapter.recall.copy() if adapter.recall is not None else None  # the worker may read on meanwhile
    return adapted, replace(state, hidden=hidden, logits=logits[0], recall=kept)


def _recall_keyword(bundle: Bundle, recall: RowRecall, forced: list[int], hidden: Tensor, style_index: int) -> None:
    """Keep the keyword's pairs in every row's recall: the story's last output with its first token, and so on."""
    rows = recall.keys.shape[0]
    outputs = [hidden[-1]]  # (1, H): the story's last output
    if len(forced) > 1:
        out, _ = bundle.model.run(torch.tensor([forced[:-1]], device=hidden.device), hidden, style_index)
        outputs.append(out[:, 0])
    for output, token in zip(torch.cat(outputs), forced, strict=True):
        recall.add(output.expand(rows, -1), np.full(rows, token))


def _tally_logprobs(scores: np.ndarray, tokens: np.ndarray, rows: list[_Row]) -> None:
    """Add each row's log-probability of its token (before the sampler's rules): how fluent it finds its text."""
    logprobs = log_softmax(scores)[np.arange(len(rows)), tokens]
    for row, value in zip(rows, logprobs.tolist(), strict=True):
        if not row.done:
            row.logprob += value
            row.sampled += 1


def gate_of(bundle: Bundle, store: StoryMemory | None) -> tuple[Mixer, TokenNgram] | None:
    """The learned gate and the counts it reads, where it applies: a fitted gate and the story's memory in use.

    The counts are the model's n-gram even when mixing it in is turned off:
    the gate reads its match to weigh the other two.
    """
    if store is None or bundle.mixer is None or bundle.ngram is None:
        return None
    return bundle.mixer, bundle.ngram


def _mix(
    logits: np.ndarray,
    rows: list[_Row],
    grams: TokenNgram | None,
    store: StoryMemory | None,
    gate: tuple[Mixer, TokenNgram] | None,
    tables: _Tables,
    recalled: list[Recalled | None] | None = None,
) -> np.ndarray:
    """Log-probabilities (n, V): the model's, mixed with the n-gram's, the story's memory after each row's tokens
    and, where it is kept, each row's recall.

    With a learned gate (engine/mixer.py, ``gate_of``) they are mixed by its weights;
    without one, the n-gram by its weight per match length, then the memory by its own.
    """
    logits = logits.astype(np.float64)
    logprobs = np.empty_like(logits)
    for i, row in enumerate(rows):
        if row.done:
            logprobs[i] = logits[i]  # not read: the row has finished
            continue
        if gate is not None:
            mixer, counts = gate
            probs, summary = softmax(logits[i])
            blank = bool(tables.word_start[row.context[-1]])
            recall = recalled and recalled[i]
            g = guess(probs, row.context, counts=counts, store=store, blank=blank, recalled=recall, gru_summary=summary)
            probs = mixer.mix(g, ngram=grams is not None)
        else:
            probs = np.exp(log_softmax(logits[i]))
            if grams is not None:
                probs = grams.mix_probs(probs, row.context)
            prediction = store.predict(row.context) if store is not None else None
            if prediction is not None:
                story, weight = prediction
                probs = (1.0 - weight) * probs + weight * story
        with np.errstate(divide="ignore"):
            logprobs[i] = np.log(probs)
    return logprobs


class _CastPull:
    """Where a word starts, the story's people are a little likelier to be the word, and a name once begun is
    likelier to be finished: the model alone names someone a third as often as a writer does (bench/quality.py)."""

    def __init__(self, starts: np.ndarray, nexts: dict[str, np.ndarray], weight: float) -> None:
        self.starts, self.nexts, self.weight = starts, nexts, weight
        self.longest = max(map(len, nexts), default=0)

    @classmethod
    def of(cls, tables: _Tables, names: tuple[str, ...], weight: float) -> _CastPull | None:
        texts = tables.texts  # "" for the special tokens
        starts: set[int] = set()
        nexts: dict[str, set[int]] = {}
        for name in names:
            for i, text in enumerate(texts):
                letters = text.lstrip()
                if letters and text == letters and name.startswith(letters):  # a token with no space before it
                    starts.add(i)
            for end in range(1, len(name)):
                nexts.setdefault(name[:end], set()).update(
                    i for i, text in enumerate(texts) if text and name[end:].startswith(text)
                )
        if not starts:
            return None
        return cls(np.array(sorted(starts)), {k: np.array(sorted(v)) for k, v in nexts.items() if v}, weight)

    def apply(self, scores: np.ndarray, rows: list[_Row]) -> None:
        for i, row in enumerate(rows):
            if row.done or row.forced:
                continue
            sentence = row.sentence
            if not sentence or not _is_letter(sentence[-1]):
                scores[i, self.starts] += self.weight  # a word starts here
                continue
            run = _last_word(sentence, self.longest)
            ids = self.nexts.get(run) if run else None
            if ids is not None:
                scores[i, ids] += self.weight


def _is_letter(ch: str) -> bool:
    return ch.isalnum()


def _last_word(text: str, longest: int) -> str | None:
    """The letters after the last non-letter of ``text``; None when there are more than ``longest``."""
    run = ""
    for ch in reversed(text):
        if not _is_letter(ch):
            break
        run = ch + run
        if len(run) > longest:
            return None
    return run


def story_cast(bundle: Bundle, story: str) -> tuple[str, ...]:
    """The story's people, most named first, as engine/cast.py finds them with the training texts' words."""
    return cached_cast(bundle.names.words if bundle.names is not None else Words(), story)


def _redraw(
    tokens: np.ndarray, scores: np.ndarray, rows: list[_Row], unwanted: Callable[[_Row, str], bool], batch: _Batch
) -> None:
    """Draw again, per row, a token whose text is unwanted after what the row wrote: one that would complete a
    span the training text already has (the copy guard), or another novel's name (the name guard)."""
    texts = batch.tables.texts
    for i, row in enumerate(rows):
        if row.done or row.forced:
            continue
        tries = 0
        while unwanted(row, texts[tokens[i]]) and tries < COPY_TRIES:
            scores[i, tokens[i]] = -np.inf
            if not np.isfinite(scores[i]).any():
                break
            tokens[i] = _sample(scores[i : i + 1], *batch.sampling, batch.rng)[0]
            tries += 1


def _would_copy(canon: str, text: str, index: CopyIndex) -> bool:
    joined = _append_canonical(canon, text)
    span = index.span
    return any(index.has(joined[end - span : end]) for end in range(max(len(canon) + 1, span), len(joined) + 1))


def _append_canonical(canon: str, text: str) -> str:
    for ch in text:
        if ch.isspace():
            if canon and not canon.endswith(" "):
                canon += " "
        else:
            canon += ch
    return canon


def _adjust(
    logits: np.ndarray, rows: list[_Row], tables: _Tables, counts: np.ndarray, penalty: float, cap: int
) -> np.ndarray:
    """Scores (n, V) with the rules applied: what may not be written now, the repetition penalty, the cap.

    Row by row, on the few tokens each rule names: at every character, a pass over the whole vocabulary per rule
    would cost more than the rules.
    """
    scores = logits.astype(np.float64)
    for i, row in enumerate(rows):
        line = scores[i]
        if penalty != 1.0:
            seen = np.flatnonzero(counts[i])
            seen = seen[tables.penalised[seen]]
            values = line[seen]
            line[seen] = np.where(values > 0, values / penalty, values * penalty)
        left = cap - row.produced
        if left < 40 and not row.after_eos:
            # Running out of room: steer toward ending the sentence, harder as the cap nears.
            push = 6.0 * (1 - max(left, 0) / 40)
            line[tables.terminal_ids] += push
            line[EOS] += push
            if row.sentence.count('"') % 2 == 1 and tables.quote is not None:
                line[tables.quote] += push  # close the quotation too
                if ends_sentence(row.sentence):
                    line[tables.blank_ids] = -np.inf  # not another sentence inside it: its closing quote next
        # A new line starts only a new sentence; </s> only after a finished one.
        line[tables.banned_ids] = -np.inf
        if not row.after_eos:
            line[tables.newline_ids] = -np.inf
        if not row.may_end():
            line[EOS] = -np.inf
    return scores


def _sample(
    scores: np.ndarray, temperature: float, top_k: int | None, top_p: float | None, rng: np.random.Generator
) -> np.ndarray:
    """One token per row: temperature, then top-k, then top-p (nucleus) sampling."""
    if temperature == 0:
        return scores.argmax(axis=1)  # greedy: only when asked for explicitly
    draws = rng.random(len(scores))
    return np.array(
        [_sample_row(line, temperature, top_k, top_p, draw) for line, draw in zip(scores, draws, strict=True)]
    )


def _sample_row(scores: np.ndarray, temperature: float, top_k: int | None, top_p: float | None, draw: float) -> int:
    """One token from scores (V,), given a uniform draw in [0, 1)."""
    size = len(scores)
    k = min(top_k or size, size)
    candidates = np.argpartition(scores, size - k)[size - k :] if k < size else np.arange(size)
    values = scores[candidates]
    order = np.argsort(-values, kind="stable")  # largest first
    candidates, values = candidates[order], values[order] / temperature
    probs = np.exp(values - values[0])
    if top_p is not None and top_p < 1:
        # Keep the smallest set of tokens whose probability reaches top_p (the first always stays).
        probs /= probs.sum()
        probs[probs.cumsum() - probs > top_p] = 0.0
    cumulative = probs.cumsum()
    choice = min(int(np.searchsorted(cumulative, draw * cumulative[-1])), k - 1)  # the first reaching the draw
    return int(candidates[choice])


def _apply_forced(tokens: np.ndarray, rows: list[_Row]) -> None:
    for i, row in enumerate(rows):
        if row.forced:
            tokens[i] = row.forced.pop(0)


def _advance(rows: list[_Row], tokens: list[int], tables: _Tables, sentences: int, cap: int) -> list[str]:
    pieces = []
    for row, token in zip(rows, tokens, strict=True):
        if row.done:
            pieces.append("")
            continue
        if row.context is not None:
            row.context.append(token)
            del row.context[:-MEMORY_CONTEXT]
        if token == EOS:
            row.sentences += 1
            row.sentence = ""
            row.after_eos = True
            row.capped = cap - row.produced < 8  # too near the cap for another sentence: the passage ends here
            row.done = row.sentences >= sentences or row.capped
            pieces.append("")
            continue
        text = tables.texts[token]
        row.sentence += text
        row.after_eos = False
        row.produced += len(text)
        row.canon = _append_canonical(row.canon, text)[-2 * SPAN :]
        if cap - row.produced <= 2 and not row.forced:
            row.forced = _closing_tokens(row, tables)
        pieces.append(text)
    return pieces


def _closing_tokens(row: _Row, tables: _Tables) -> list[int]:
    """Tokens that end the current sentence now: a period, a closing quote, then </s>."""
    tokens: list[int] = []
    sentence = row.sentence
    if not ends_sentence(sentence.replace('"', "")) and tables.period is not None:
        tokens.append(tables.period)
    if sentence.count('"') % 2 == 1 and tables.quote is not None:
        tokens.append(tables.quote)
    tokens.append(EOS)
    return tokens


def generate(
    bundle: Bundle,
    *,
    story: str,
    keyword: str = "",
    sentences: int = 3,
    max_chars: int | None = None,
    style: str | None = None,
    temperature: float = 0.8,
    top_k: int | None = 40,
    top_p: float | None = 0.95,
    repetition_penalty: float = 1.1,
    seed: int | None = None,
    cache: StateCache | None = None,
    cache_key: str | None = None,
    memory: MemorySettings = DEFAULT_MEMORY,
    copy_guard: bool = True,
    name_guard: bool = True,
    cast: tuple[str, ...] | None = None,
    cast_pull: float = CAST_PULL,
    adapt: AdaptSettings = NO_ADAPT,
    adapters: AdaptedStates | None = None,
    ngram: bool = True,
) -> Iterator[str]:
    """Yield the continuation of ``story`` piece by piece (characters, or morphemes in morph mode).

    It starts with ``keyword`` (after a space if the story needs one) and ends
    after ``sentences`` sentences, or sooner at a sentence end near
    ``max_chars`` (default 200 per sentence) characters after the keyword.
    ``memory`` mixes in what the story itself wrote (engine/memory.py);
    ``copy_guard`` keeps 40 characters of the training text from being written
    verbatim when the model has a copy index (engine/copyguard.py); ``name_guard``
    keeps the people of the training texts out of a story that does not have them
    (engine/cast.py), ``cast`` naming the story's people (found in the story when
    None); ``cast_pull`` makes them likelier where a word starts. ``adapt``
    with ``adapters`` and a ``cache_key`` lets the weights learn from the story
    first (engine/adapt.py), kept per story in ``adapters``. ``ngram`` mixes in
    the counts of the training text when the model has them (engine/ngram.py).
    """
    for pieces in _generate_rows(
        bundle,
        n=1,
        story=story,
        keyword=keyword,
        sentences=sentences,
        max_chars=max_chars,
        style=style,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        seed=seed,
        cache=cache,
        cache_key=cache_key,
        memory=memory,
        copy_guard=copy_guard,
        name_guard=name_guard,
        cast=cast,
        cast_pull=cast_pull,
        adapt=adapt,
        adapters=adapters,
        ngram=ngram,
    ):
        if pieces[0]:
            yield pieces[0]


def generate_candidates(bundle: Bundle, *, n: int, **kwargs) -> list[str]:
    """n continuations of the same story and keyword, sampled side by side in one batch."""
    return [text for text, _ in generate_scored(bundle, n=n, **kwargs)]


def generate_scored(bundle: Bundle, *, n: int, **kwargs) -> list[tuple[str, float]]:
    """n continuations sampled in one batch, each with the mean log-probability per token of what it sampled."""
    texts = [""] * n
    fluency: list[float] = []
    for pieces in _generate_rows(bundle, n=n, fluency=fluency, **_with_defaults(kwargs)):
        texts = [text + piece for text, piece in zip(texts, pieces, strict=True)]
    return list(zip(texts, fluency, strict=True))


def _with_defaults(kwargs: dict) -> dict:
    """The keyword arguments of generate() with its defaults filled in: one source for both (its signature).

    TypeError, as for any call, for an argument generate() does not take or a missing story."""
    bound = inspect.signature(generate).bind(None, **kwargs)
    bound.apply_defaults()
    return {name: value for name, value in bound.arguments.items() if name != "bundle"}
