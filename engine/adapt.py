"""Adapting the model to one story before it writes (dynamic evaluation).

A model trained on other novels reads a new story as one more novel among
them. Dynamic evaluation (Krause et al., 2018) lets it learn from the story it
is continuing: the story is read in windows, and after each window the
weights take one small gradient step on what they just read, so the names,
places and turns of phrase of this story become likelier than those of the
training novels. Where training measured how large each row of weights'
gradient usually is (engine/gradients.py), each step is divided by it, as Krause et al.
do ("RMS dynamic evaluation"); a model trained before that takes plain SGD
steps. The adapted weights belong to one story and one model: the caller keeps
them per novel (``AdaptedStates``) and reads only the new turns each time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.checkpoint import Bundle
from engine.errors import GenerationError
from engine.gradients import STEP
from engine.model import GRUModel


@dataclass(frozen=True)
class AdaptSettings:
    """How the weights follow the story: ``lr`` 0 turns adaptation off."""

    lr: float = 0.0
    window: int = 32  # tokens read between two steps (32 scored 0.01 bits/char better than 64: bench/quality.py)
    decay: float = 0.0  # each step pulls the weights back toward the trained ones by this share
    span: int = 4096  # a story read afresh is read from this many tokens before its end
    # Steps divided by the gradient sizes training measured (engine/gradients.py), where the model has them;
    # False: plain SGD steps of ``lr`` (what every model took before; bench/quality.py compares the two).
    scaled: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.lr <= 1.0:
            raise GenerationError("the adaptation learning rate must be between 0 and 1")
        if not 8 <= self.window <= 1024:
            raise GenerationError("the adaptation window must be between 8 and 1024 tokens")
        if not 0.0 <= self.decay < 1.0:
            raise GenerationError("the adaptation decay must be in [0, 1)")
        if self.span < self.window:
            raise GenerationError("the adaptation span must be at least one window")

    @property
    def enabled(self) -> bool:
        return self.lr > 0


NONE = AdaptSettings()


class Adapter:
    """One story's copy of the model, learning from the story as it is read.

    With ``recall`` (positions, engine/recall.py) it also keeps the adapted
    network's outputs as it reads, so the story's recall compares like with like.
    """

    def __init__(self, bundle: Bundle, settings: AdaptSettings, style_index: int, *, recall: int = 0) -> None:
        self.settings = settings
        self.style_index = style_index
        self.recall = bundle.new_recall(recall) if recall else None
        self.model: GRUModel = bundle.model.folded()  # letter tables, if any, folded: see GRUModel.folded
        # The trained weights to decay toward; without decay, no second copy of them is kept.
        self.base = {name: p.detach().clone() for name, p in self.model.named_parameters()} if settings.decay else {}
        self.model.eval()  # dropout off: the steps follow the story, they do not regularise
        self.params = list(self.model.parameters())
        self.divisors: list[Tensor] | None = None  # what each gradient is divided by, for scaled steps
        if settings.scaled and bundle.gradients is not None:
            self.divisors = bundle.gradients.divisors(self.model)
        self.hidden: Tensor | None = None
        self.last: int | None = None  # the token read last, input of the next window
        self.tokens = 0
        self.generation = 0  # bumped by every step: the weights' own version

    def read(self, ids: list[int] | tuple[int, ...], *, score: bool = False) -> list[tuple[Tensor, Tensor]]:
        """Read tokens, one gradient step per window; with ``score``, per window, the log-probabilities (T, V)
        seen before its step and the network's outputs (T, H) they came from."""
        scored: list[tuple[Tensor, Tensor]] = []
        sequence = list(ids)
        if self.last is None:
            if not sequence:
                return scored
            self.last, sequence = sequence[0], sequence[1:]
        device = self.model.head.weight.device
        step = self.settings.window
        for begin in range(0, len(sequence), step):
            targets = sequence[begin : begin + step]
            inputs = [self.last, *targets[:-1]]
            x = torch.tensor(inputs, dtype=torch.long, device=device).view(1, -1)  # (1, T)
            y = torch.tensor(targets, dtype=torch.long, device=device).view(1, -1)
            with torch.enable_grad():
                out, hidden = self.model.run(x, self.hidden, self.style_index)  # (T, 1, H)
                logits = self.model.project(out)[:, 0]  # (T, V)
                loss = F.cross_entropy(logits, y[0])
                if score:
                    scored.append((F.log_softmax(logits.detach().float(), dim=-1), out[:, 0].detach()))
                if self.recall is not None:
                    self.recall.add(out[:, 0], targets)
                for param in self.params:
                    param.grad = None
                loss.backward()
            self._step()
            self._decay()
            self.hidden = hidden.detach()
            self.last = targets[-1]
            self.tokens += len(targets)
            self.generation += 1
        return scored

    @torch.no_grad()
    def _step(self) -> None:
        """One step on the gradients of the window just read: scaled by each row's usual gradient, or plain SGD."""
        if self.divisors is None:
            for param in self.params:
                if param.grad is not None:
                    param.add_(param.grad, alpha=-self.settings.lr)
            return
        step = self.settings.lr * STEP
        for param, divisor in zip(self.params, self.divisors, strict=True):
            if param.grad is not None:
                param.addcdiv_(param.grad, divisor, value=-step)

    def _decay(self) -> None:
        if not self.settings.decay:
            return
        with torch.no_grad():
            for name, param in self.model.named_parameters():
                param.lerp_(self.base[name], self.settings.decay)

    def bundle(self, base: Bundle, key: str) -> Bundle:
        """The adapted weights as a bundle of their own (its model id names the story and the step)."""
        meta = {**base.meta, "model_id": f"{base.model_id}+{key}@{self.generation}"}
        return replace(base, model=self.model, meta=meta)


class AdaptedStates:
    """Each story's adapter, kept per (story key, model id, style); least recently used go first."""

    def __init__(self, max_entries: int = 8) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, int], tuple[tuple[int, ...], Adapter]] = OrderedDict()
        self._lock = threading.Lock()

    def adapted(
        self,
        bundle: Bundle,
        ids: tuple[int, ...],
        *,
        key: str,
        style_index: int,
        settings: AdaptSettings,
        recall: int = 0,
    ) -> Adapter:
        """The story's adapter after reading ``ids``, keeping ``recall`` positions of its outputs:
        what was read before is not read again."""
        entry_key = (key, bundle.model_id, style_index)
        with self._lock:
            entry = self._entries.pop(entry_key, None)
        if entry is not None:
            read, adapter = entry
            kept = adapter.recall.size if adapter.recall is not None else 0
            if adapter.settings != settings or kept != recall or read != ids[: len(read)]:
                entry = None  # other settings, or the story changed (a turn was removed): start again
        if entry is None:
            # Read afresh, a long story costs its last `span` tokens only (a few seconds at most on a CPU).
            adapter = Adapter(bundle, settings, style_index, recall=recall)
            read = ids[: max(0, len(ids) - settings.span)]
        adapter.read(ids[len(read) :])
        with self._lock:
            self._entries[entry_key] = (ids, adapter)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return adapter

    def read(self, key: str, model_id: str, style_index: int) -> tuple[int, ...] | None:
        """The tokens the story's adapter has read, or None when it has none."""
        with self._lock:
            entry = self._entries.get((key, model_id, style_index))
        return entry[0] if entry is not None else None

    def __len__(self) -> int:
        return len(self._entries)
