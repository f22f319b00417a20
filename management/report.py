"""What people are shown about a model version, in figures they can read.

- Reference points on the same held-out text: a random guess (every symbol of
  the vocabulary equally likely), letter frequencies alone, the previous model.
- What it learned from what: each source's share of the training text and the
  model's bits per character on that source's held-out blocks.
- Before and after: every version continues the same fixed prompts with the
  same keyword and seed, so any two versions can be read side by side.

A figure in bits per character b reads as "as unsure as choosing among 2^b
equally likely characters", the sentence the pages use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from management import engine_adapter
from novels.models import Novel, SourceText
from relay.common.numbers import whole_number

# The same for every version: what changes between two versions' texts is the model alone.
PROMPTS: tuple[tuple[str, str], ...] = (
    ("안개가 짙은 아침이었다. 선착장 끝에 선 수아는 멀리 등대 쪽을 바라보았다.", "그런데"),
    ("할머니는 부엌에서 국을 끓이고 있었다. 창밖에는 눈이 소리 없이 내렸다.", "편지"),
    ("“정말 그 말을 믿어?” 도윤이 물었다. 나는 대답 대신 창밖을 보았다.", "비밀"),
)
SAMPLE_SEED = 11
SAMPLE_CHARS = 120


def choices(bpc: float | None) -> int | None:
    """2^bpc: how many equally likely characters the model is as unsure as choosing among."""
    if bpc is None or not math.isfinite(bpc):
        return None
    return max(1, round(2**bpc))


def by_style(bundle: Any, heldout: Mapping[str, Sequence[str]]) -> dict[str, tuple[float, int]]:
    """Bits per character and characters of each style's held-out blocks."""
    scores = {}
    for style, texts in heldout.items():
        n = sum(len(t) for t in texts)
        known = style if style in bundle.vocab.styles else None  # a model that never saw the style reads it plain
        scores[style] = (engine_adapter.evaluate_bpc(bundle, texts, style=known), n)
    return scores


def weighted(scores: Mapping[str, tuple[float, int]]) -> float:
    chars = sum(n for _, n in scores.values())
    return sum(bpc * n for bpc, n in scores.values()) / max(1, chars)


def source_titles(styles: Sequence[str]) -> dict[str, str]:
    """A readable name for each style: the novel's or the source text's title."""
    ids = {"novel": [], "source": []}
    for style in styles:
        kind, _, pk = style.partition("-")
        number = whole_number(pk, minimum=1)
        if kind in ids and number is not None:
            ids[kind].append(number)
    titles = {
        f"novel-{pk}": f"소설 「{title}」"
        for pk, title in Novel.objects.filter(pk__in=ids["novel"]).values_list("pk", "title")
    }
    titles.update(
        {
            f"source-{pk}": f"원문 「{title}」"
            for pk, title in SourceText.objects.filter(pk__in=ids["source"]).values_list("pk", "title")
        }
    )
    return {style: titles.get(style, style) for style in styles}


def version_report(
    *,
    new: Mapping[str, tuple[float, int]],
    previous: Mapping[str, tuple[float, int]] | None,
    trained: Mapping[str, int],
    train_texts: Sequence[str],
    heldout: Mapping[str, Sequence[str]],
    vocab_size: int,
) -> dict[str, Any]:
    """The figures stored with a version (ModelVersion.report)."""
    blocks = [t for texts in heldout.values() for t in texts]
    total = sum(trained.values())
    styles = sorted(set(trained) | set(new), key=lambda s: (-trained.get(s, 0), s))
    titles = source_titles(styles)
    return {
        "heldout_chars": sum(n for _, n in new.values()),
        "model_bpc": round(weighted(new), 4),
        "random_bpc": round(math.log2(max(2, vocab_size)), 4),
        "unigram_bpc": round(engine_adapter.unigram_bpc(train_texts, blocks, alphabet=vocab_size), 4),
        "previous_bpc": round(weighted(previous), 4) if previous else None,
        "by_source": [
            {
                "style": style,
                "title": titles[style],
                "chars": trained.get(style, 0),
                "share": round(trained.get(style, 0) / max(1, total), 4),
                "heldout_chars": new[style][1] if style in new else 0,
                "bpc": round(new[style][0], 4) if style in new else None,
                "previous_bpc": round(previous[style][0], 4) if previous and style in previous else None,
            }
            for style in styles
        ],
    }


def version_samples(bundle: Any) -> list[dict[str, str]]:
    """The fixed prompts continued by this version, with the same keyword and seed as every other version."""
    samples = []
    for story, keyword in PROMPTS:
        text = "".join(
            engine_adapter.write_plainly(
                bundle, story=story, keyword=keyword, sentences=2, max_chars=SAMPLE_CHARS, seed=SAMPLE_SEED
            )
        )
        samples.append({"story": story, "keyword": keyword, "text": text.strip()})
    return samples
