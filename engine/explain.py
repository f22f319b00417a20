"""Why the AI wrote that: how sure the model was of each character of a passage, and what else it weighed.

The model reads the story and then the passage, and at each token of the
passage records the chance it gave to the token that is there and its few
most likely alternatives. This is the trained model's distribution: the GRU
mixed with its n-gram of the training text (engine.ngram) when it has one.
The story's character cache and the per-story adaptation, which also shaped
the sampling (engine.memory, engine.adapt), are left out, so the figures say
what the trained model itself expected.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.checkpoint import Bundle
from engine.generate import story_ids
from engine.text import normalize
from engine.vocab import UNK

CONTEXT_CHARS = 3000  # how much of the story before the passage the model reads first
TOP = 5


@torch.no_grad()
def explain(
    bundle: Bundle,
    *,
    story: str,
    passage: str,
    style_index: int = 0,
    top: int = TOP,
    separator: str = "\n",
) -> list[dict[str, Any]]:
    """Per token of the passage: {"t": its text, "p": the model's chance of it, "top": [[text, chance], ...]}.

    The tokens' texts put together are the passage as the model read it (normalised), leading space aside."""
    vocab, model = bundle.vocab, bundle.model
    context = normalize(story)[-CONTEXT_CHARS:]
    before = story_ids(vocab, context, style_index) if context else story_ids(vocab, "", style_index)
    whole = story_ids(vocab, context + separator + normalize(passage) if context else normalize(passage), style_index)
    start = 0
    while start < min(len(before), len(whole)) and before[start] == whole[start]:
        start += 1
    start = max(start, 1)  # the first token (the style's start) is never predicted
    device = model.head.weight.device
    ids = torch.tensor(whole, dtype=torch.long, device=device).view(1, -1)
    out, _ = model.run(ids, None, style_index)  # (T, 1, H)
    probs = torch.softmax(model.project(out[:, 0]).float(), dim=-1)  # (T, V): row i predicts token i + 1
    wanted = list(range(start, len(whole)))
    rows = probs[[i - 1 for i in wanted]]
    if bundle.ngram is not None:
        grams, gru = bundle.ngram, rows.cpu().numpy()
        mixed = [grams.mix_probs(gru[n], whole[max(0, i - grams.order + 1) : i]) for n, i in enumerate(wanted)]
        rows = torch.tensor(np.array(mixed), dtype=torch.float32)
    chances = rows[torch.arange(len(wanted)), torch.tensor([whole[i] for i in wanted])].tolist()
    best_p, best_ids = rows.topk(min(top + 4, rows.shape[1]), dim=-1)  # a few spare: special tokens are dropped
    steps = []
    for n, i in enumerate(wanted):
        token = whole[i]
        if token == UNK:
            text = None  # a character the vocabulary lacks: found in the passage below
        elif vocab.is_special(token):
            continue  # the end-of-sentence marker: no character to show
        else:
            text = vocab.tokens[token]
        alternatives = [
            [vocab.tokens[j], float(f"{p:.4g}")]
            for j, p in zip(best_ids[n].tolist(), best_p[n].tolist(), strict=True)
            if not vocab.is_special(j)
        ][:top]
        steps.append({"t": text, "p": float(f"{chances[n]:.4g}"), "top": alternatives})
    _name_unknown(steps, separator + normalize(passage))
    while steps and not steps[0]["t"].strip():
        steps.pop(0)  # the space or line break that joined the passage to the story
    return steps


def _name_unknown(steps: list[dict[str, Any]], text: str) -> None:
    """Give each unknown token the character of the passage it stands for (a vocabulary's <unk> is one character)."""
    at = 0
    for step in steps:
        if step["t"] is None:
            step["t"] = text[at] if at < len(text) else "?"
            at += 1
            continue
        found = text.find(step["t"], at)
        if found != -1 and found - at <= 2:  # (segmenting may have dropped a space)
            at = found + len(step["t"])
