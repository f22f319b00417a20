"""Benchmark: this engine side by side with the original tool's plain GRU loop.

    .venv/bin/python bench/engine.py --budget 240            # about 20 minutes on 2 cores
    .venv/bin/python bench/engine.py --quick                 # a smoke test, about 3 minutes
    python3 bench/engine.py --device cuda --large --budget 120   # on a GPU, both sides there

Whole novels of ../shared/corpus/koconovel are held out for validation. It
reports figures, not pass/fail of a test: training speed in the original's
configuration, held-out bits per character after the same wall-clock budget
(each side in its default configuration; the engine in both vocabulary modes),
generation latency and speed, repetition and keyword inclusion. With
``--device cuda`` both sides train, evaluate and generate on the GPU;
``--large`` adds the engine's large preset (meant for a GPU) in character mode.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.reference_gru import (  # noqa: E402
    ReferenceConfig,
    evaluate_reference,
    greedy,
    prime_state,
    train_reference,
)
from engine.checkpoint import Bundle, load_checkpoint  # noqa: E402
from engine.generate import StateCache, generate, generate_candidates  # noqa: E402
from engine.model import GRUConfig, resolve_device  # noqa: E402
from engine.rerank import repeated_share  # noqa: E402
from engine.text import read_text, split_sentences  # noqa: E402
from engine.train import Source, TrainConfig, evaluate_bpc, train  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "koconovel"


@dataclass
class Row:
    figure: str
    engine: str
    reference: str
    target: str
    verdict: str


def default_threads() -> int:
    # What train() picks by itself: on 2 cores one thread is much faster (see engine/train.py).
    return 1 if (os.cpu_count() or 1) <= 2 else torch.get_num_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where both sides run (default cpu)")
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per side (default 600)")
    parser.add_argument("--quick", action="store_true", help="small budget, few prompts: a smoke test")
    parser.add_argument(
        "--threads",
        type=int,
        default=default_threads(),
        help="torch threads for training, both sides (default: 1 on 2 cores)",
    )
    parser.add_argument("--gen-threads", type=int, default=1, help="torch threads for generation")
    parser.add_argument(
        "--speed-steps", type=int, help="windows timed in the speed comparison (default 6 on the CPU, 100 on a GPU)"
    )
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--no-morph", action="store_true", help="skip the morpheme-mode run")
    parser.add_argument("--large", action="store_true", help="also train the large preset (char mode; for a GPU)")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    try:
        args.device = resolve_device(args.device)
    except ValueError as e:
        parser.error(str(e))
    if args.speed_steps is None:
        args.speed_steps = 100 if args.device.type == "cuda" else 6
    if args.quick:
        args.budget = min(args.budget, 30.0)
        args.speed_steps = min(args.speed_steps, 2)
        args.prompts = min(args.prompts, 5)
    report = Report(args.out)
    Bench(args, report).run()
    report.close()


class Report:
    def __init__(self, out: Path | None) -> None:
        self.lines: list[str] = []
        self.out = out

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def close(self) -> None:
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.out.write_text("\n".join(self.lines) + "\n", encoding="utf-8")


class Bench:
    def __init__(self, args: argparse.Namespace, report: Report) -> None:
        self.args = args
        self.say = report.say
        self.rows: list[Row] = []
        self.device: torch.device = args.device
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
        paths = sorted(args.corpus.glob("*.txt"), key=lambda p: int(p.stem.split("_")[0]))
        if not paths:
            raise SystemExit(f"no novels in {args.corpus}")
        # Every tenth novel is held out whole: validation text no side has seen.
        self.heldout = [p for i, p in enumerate(paths) if i % 10 == 5]
        self.train_paths = [p for p in paths if p not in self.heldout]
        self.sources = [Source(p.stem, read_text(p)) for p in self.train_paths]
        self.heldout_texts = [read_text(p) for p in self.heldout]
        self.train_text = "\n".join(s.text for s in self.sources)

    def run(self) -> None:
        try:
            self._run()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)  # checkpoints of the 2 x 1024 model are large

    def _run(self) -> None:
        self.header()
        torch.set_num_threads(self.args.threads)
        self.speed_same_config()
        reference = self.reference_default()
        engine, engine_result = self.engine_default("char")
        self.quality(engine, reference)
        morph = None
        if not self.args.no_morph:
            morph, _ = self.engine_default("morph")
            self.heldout_row(morph, "morph")
        if self.args.large:
            large, _ = self.engine_default("char", GRUConfig.large(1))
            self.heldout_row(large, "char, large preset")
            del large  # its weights no longer hold GPU memory during the generation timings
        torch.set_num_threads(self.args.gen_threads)
        self.generation_speed(engine, reference, morph)
        self.repetition_and_keywords(engine, reference)
        self.table()

    def clock(self) -> float:
        """perf_counter, once the GPU has finished what was queued, so a timing holds all of its work."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    # -- parts -------------------------------------------------------------------

    def header(self) -> None:
        say = self.say
        say(f"# Relay Novel engine benchmark ({time.strftime('%Y-%m-%d %H:%M')})")
        say(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
        )
        if self.device.type == "cuda":
            say(
                f"device: {torch.cuda.get_device_name(self.device)} (CUDA {torch.version.cuda}, "
                f"cuDNN {torch.backends.cudnn.version()}): both sides train, evaluate and generate on it"
            )
        elif torch.cuda.is_available():
            say(f"device: cpu; GPU {torch.cuda.get_device_name(0)} present but unused (--device cuda uses it)")
        else:
            say("device: cpu. CUDA is not available in this session, so every figure is a CPU figure.")
        say(f"threads: {self.args.threads} for training, {self.args.gen_threads} for generation (CPU side)")
        try:
            say(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        except OSError:
            pass
        say(
            f"corpus: {len(self.train_paths) + len(self.heldout)} novels; training on {len(self.train_paths)} "
            f"({len(self.train_text):,} chars), held out whole: {', '.join(p.stem for p in self.heldout)} "
            f"({sum(len(t) for t in self.heldout_texts):,} chars)"
        )
        say(f"budget: {self.args.budget:.0f} s of training per side{' (--quick)' if self.args.quick else ''}")
        say()

    def speed_same_config(self) -> None:
        """Training characters per second, both sides in the original's configuration."""
        steps = self.args.speed_steps
        if self.device.type == "cuda":
            self.speed_pair(2)  # CUDA context, cuDNN and cuBLAS set up outside the timed runs
        result, reference = self.speed_pair(steps)
        ratio = result.chars_per_s / reference.chars_per_s
        self.say(
            f"speed (2x1024 GRU, seq 200, batch 8, {steps} windows): engine {result.chars_per_s:,.0f} chars/s, "
            f"reference {reference.chars_per_s:,.0f} chars/s"
        )
        self.rows.append(
            Row(
                "training chars/s, original config",
                f"{result.chars_per_s:,.0f}",
                f"{reference.chars_per_s:,.0f}",
                ">= 1.0x reference",
                f"{'met' if ratio >= 1.0 else 'NOT met'} ({ratio:.2f}x)",
            )
        )

    def speed_pair(self, steps: int):
        """Both sides for a few windows of the original's configuration: (engine result, reference run)."""
        subset = [Source(s.name, s.text[:15000]) for s in self.sources[:4]]  # speed does not depend on size
        reference = train_reference("\n".join(s.text for s in subset), max_steps=steps, device=self.device)
        config = ReferenceConfig()
        result = train(
            subset,
            out_dir=self.tmp / "speed",
            model_config=GRUConfig(1, embed=config.embed, hidden=config.hidden, layers=config.layers, dropout=0.0),
            train_config=TrainConfig(
                batch_size=config.batch_size,
                seq_len=config.seq_len,
                lr=config.lr,
                warmup_steps=0,
                max_steps=steps,
                val_fraction=0.01,
                style_dropout=0.0,
                save_epochs=False,
                device=str(self.device),
                num_threads=self.args.threads,
            ),
            log=lambda line: None,
        )
        return result, reference

    def reference_default(self):
        start = time.perf_counter()
        run = train_reference(self.train_text, budget_s=self.args.budget, device=self.device)
        bpc = evaluate_reference(run, self.heldout_texts)
        self.say(
            f"reference: {run.steps} windows, {run.chars:,} chars in {run.seconds:.0f} s "
            f"({run.chars_per_s:,.0f} chars/s); held-out {bpc:.3f} bits/char "
            f"[{time.perf_counter() - start:.0f} s with evaluation]"
        )
        run.heldout_bpc = bpc
        return run

    def engine_default(self, mode: str, model_config: GRUConfig | None = None) -> tuple[Bundle, object]:
        """The engine in its default training settings; the default model unless model_config says otherwise."""
        start = time.perf_counter()
        config = TrainConfig(
            epochs=1000,
            time_budget_s=self.args.budget,
            vocab_mode=mode,
            min_count=3 if mode == "morph" else 1,  # morphemes seen once or twice fall back to characters
            device=str(self.device),
            num_threads=self.args.threads,
        )
        name = mode if model_config is None else f"{mode}-{model_config.hidden}x{model_config.layers}"
        result = train(
            self.sources, out_dir=self.tmp / name, model_config=model_config, train_config=config, log=self.say
        )
        bundle = load_checkpoint(result.best_path, device=self.device)
        self.say(
            f"engine ({name}, {bundle.model.num_parameters():,} parameters, vocabulary {len(bundle.vocab)}): "
            f"{result.train_chars:,} chars in {result.seconds:.0f} s ({result.chars_per_s:,.0f} chars/s), "
            f"{len(result.curve)} validations, best validation {result.val_bpc:.3f} bits/char "
            f"[{time.perf_counter() - start:.0f} s]"
        )
        return bundle, result

    def heldout_row(self, bundle: Bundle, label: str) -> None:
        bpc = evaluate_bpc(bundle, self.heldout_texts)
        self.rows.append(
            Row(f"held-out bits/char after {self.args.budget:.0f} s, {label}", f"{bpc:.3f}", "-", "(reported)", "")
        )

    def quality(self, engine: Bundle, reference) -> None:
        bpc = evaluate_bpc(engine, self.heldout_texts)
        ref = reference.heldout_bpc
        ratio = bpc / ref
        met = ratio <= 0.9 and bpc < 4.2
        ngram = kneser_ney_bpc(self.train_text, "\n".join(self.heldout_texts))
        self.say(f"held-out bits/char: engine {bpc:.3f}, reference {ref:.3f} ({ratio:.2f}x), 4-gram {ngram:.3f}")
        self.rows.append(
            Row(
                f"held-out bits/char after {self.args.budget:.0f} s, char",
                f"{bpc:.3f}",
                f"{ref:.3f}",
                "<= 0.9x ref and < 4.2",
                f"{'met' if met else 'NOT met'} ({ratio:.2f}x)",
            )
        )
        self.rows.append(
            Row("held-out bits/char, character 4-gram (Kneser-Ney)", "-", f"{ngram:.3f}", "(a yardstick)", "")
        )

    def generation_speed(self, engine: Bundle, reference, morph: Bundle | None) -> None:
        story = self.heldout_texts[0][:600]
        cache = StateCache()
        list(generate(engine, story=story, sentences=1, cache=cache, cache_key="bench", seed=0))  # state ready
        firsts = []
        for seed in range(20):
            start = self.clock()
            stream = generate(engine, story=story, cache=cache, cache_key="bench", seed=seed)
            next(stream)
            firsts.append(self.clock() - start)
            stream.close()
        first_ms = statistics.median(firsts) * 1000

        logits, h = prime_state(reference, story)
        ref_firsts = []
        for _ in range(20):
            start = self.clock()
            next(greedy(reference, logits, h, 1))
            ref_firsts.append(self.clock() - start)
        ref_first_ms = statistics.median(ref_firsts) * 1000
        self.rows.append(
            Row(
                "time to first character (ms)",
                f"{first_ms:.1f}",
                f"{ref_first_ms:.1f}",
                "< 20 ms",
                "met" if first_ms < 20 else "NOT met",
            )
        )

        single = self._chars_per_s(
            lambda: generate(
                engine, story=story, sentences=10_000, max_chars=3000, seed=1, cache=cache, cache_key="bench"
            )
        )
        start = self.clock()
        n = sum(len(c) for c in greedy(reference, logits, h, 400))
        ref_single = n / (self.clock() - start)
        self.rows.append(
            Row(
                "generation chars/s, one stream",
                f"{single:,.0f}",
                f"{ref_single:,.0f}",
                ">= 1,000",
                "met" if single >= 1000 else "NOT met",
            )
        )
        start = self.clock()
        texts = generate_candidates(
            engine, n=8, story=story, sentences=10_000, max_chars=600, seed=2, cache=cache, cache_key="bench"
        )
        batch = sum(len(t) for t in texts) / (self.clock() - start)
        self.rows.append(
            Row(
                "generation chars/s, 8 candidates in all",
                f"{batch:,.0f}",
                "-",
                ">= 4,000",
                "met" if batch >= 4000 else "NOT met",
            )
        )
        if morph is not None:
            morph_speed = self._chars_per_s(
                lambda: generate(morph, story=story, sentences=10_000, max_chars=3000, seed=1)
            )
            self.rows.append(Row("generation chars/s, one stream, morph", f"{morph_speed:,.0f}", "-", "(reported)", ""))

    def _chars_per_s(self, make_stream) -> float:
        start = self.clock()
        n = sum(len(piece) for piece in make_stream())
        return n / (self.clock() - start)

    def prompts(self) -> list[tuple[str, str]]:
        """(story, keyword) pairs from the held-out novels: three sentences, then the next one's first word."""
        prompts: list[tuple[str, str]] = []
        per_novel = -(-self.args.prompts // len(self.heldout_texts))
        for text in self.heldout_texts:
            sentences = split_sentences(text)
            step = max(4, len(sentences) // (per_novel + 1))
            for k in range(1, per_novel + 1):
                i = k * step
                if i >= len(sentences):
                    break
                words = [w.strip("\"'.,?!…") for w in sentences[i].split()]
                keyword = next((w for w in words if len(w) >= 2), words[0] if words else "그")
                prompts.append(("\n".join(sentences[i - 3 : i]), keyword))
        return prompts[: self.args.prompts]

    def repetition_and_keywords(self, engine: Bundle, reference) -> None:
        prompts = self.prompts()
        rep_engine, rep_reference, kw_engine, kw_reference = [], [], 0, 0
        for seed, (story, keyword) in enumerate(prompts):
            text = "".join(generate(engine, story=story, keyword=keyword, sentences=100, max_chars=300, seed=seed))
            rep_engine.append(repeated_share(text))
            kw_engine += keyword in text
            logits, h = prime_state(reference, story + "\n" + keyword)
            greedy_text = "".join(greedy(reference, logits, h, 300))
            rep_reference.append(repeated_share(greedy_text))
            kw_reference += keyword in greedy_text
        share = 100 * statistics.mean(rep_engine)
        ref_share = 100 * statistics.mean(rep_reference)
        self.rows.append(
            Row(
                f"repetition, 10-char windows, {len(prompts)} prompts (%)",
                f"{share:.1f}",
                f"{ref_share:.1f} (greedy)",
                "< 5%",
                "met" if share < 5 else "NOT met",
            )
        )
        engine_kw = 100 * kw_engine / len(prompts)
        self.rows.append(
            Row(
                "keyword inclusion (%)",
                f"{engine_kw:.0f}",
                f"{100 * kw_reference / len(prompts):.0f} (prime fed, not kept)",
                "100%",
                "met" if engine_kw == 100 else "NOT met",
            )
        )
        sample_story, sample_keyword = prompts[0]
        sample = "".join(generate(engine, story=sample_story, keyword=sample_keyword, sentences=3, seed=0))
        logits, h = prime_state(reference, sample_story + "\n" + sample_keyword)
        self.say()
        self.say(f"sample, story ending {sample_story[-40:]!r}, keyword {sample_keyword!r}:")
        self.say(f"  engine:    {sample!r}")
        self.say(f"  reference: {''.join(greedy(reference, logits, h, 120))!r}")

    def table(self) -> None:
        widths = [
            max(len(getattr(r, f)) for r in self.rows + [HEAD]) for f in ("figure", "engine", "reference", "target")
        ]
        self.say()
        for row in [HEAD, None, *self.rows]:
            if row is None:
                self.say("-" * (sum(widths) + 6 * 3 + 8))
                continue
            cells = [
                getattr(row, f).ljust(w)
                for f, w in zip(("figure", "engine", "reference", "target"), widths, strict=True)
            ]
            self.say(" | ".join(cells) + " | " + row.verdict)


HEAD = Row("figure", "engine", "reference", "target", "verdict")


def kneser_ney_bpc(train: str, test: str, order: int = 4, discount: float = 0.75) -> float:
    """Interpolated Kneser-Ney character n-gram: bits per character of test."""
    vocab = set(train)
    counts = [Counter() for _ in range(order + 1)]  # counts[n][ngram of length n]
    for n in range(1, order + 1):
        counts[n].update(train[i : i + n] for i in range(len(train) - n + 1))
    # Lower orders use continuation counts: in how many contexts does the n-gram follow something.
    cont = [Counter() for _ in range(order + 1)]
    for n in range(2, order + 1):
        for gram in counts[n]:
            cont[n - 1][gram[1:]] += 1
    stats = [dict() for _ in range(order + 1)]  # context -> (total, distinct followers)
    for n in range(1, order + 1):
        table = counts[n] if n == order else cont[n]
        total, distinct = Counter(), Counter()
        for gram, c in table.items():
            total[gram[:-1]] += c
            distinct[gram[:-1]] += 1
        stats[n] = (table, total, distinct)
    uniform = 1 / (len(vocab) + 1)

    def prob(history: str, ch: str) -> float:
        p = uniform
        for n in range(1, order + 1):
            if len(history) < n - 1:
                break
            ctx = history[len(history) - (n - 1) :] if n > 1 else ""
            table, total, distinct = stats[n]
            t = total.get(ctx, 0)
            if t == 0:
                continue
            c = table.get(ctx + ch, 0)
            p = max(c - discount, 0) / t + discount * distinct[ctx] / t * p
        return p

    bits = 0.0
    for i, ch in enumerate(test):
        bits -= math.log2(prob(test[max(0, i - order + 1) : i], ch))
    return bits / len(test)


if __name__ == "__main__":
    main()
