"""Benchmark: engine variants trained side by side, judged on novels none of them saw.

    .venv/bin/python bench/variants.py                       # the default preset with and without letter tables, 600 s each
    .venv/bin/python bench/variants.py --quick               # a smoke test, about 2 minutes
    .venv/bin/python bench/variants.py --variant 'tied:{"tie_weights": true}' --budget 600
    .venv/bin/python bench/variants.py --keep /tmp/variants                    # each engine kept, for bench/quality.py --engine

On bench/quality.py's split (every tenth novel of ../shared/corpus/koconovel
held out whole), each variant is the default preset (engine/model.py) with some
model settings changed (and training settings, after a second colon). All
variants train at the same time, one process and one thread each, for the same
wall-clock budget: on a shared machine they share its noise, and the figures
are compared within one run. Then, on the held-out novels, each read from its
start: bits per character of the GRU alone, of the GRU mixed with its n-gram,
and as the site writes (n-gram, the story's memory and recall, adaptation),
beside a Kneser-Ney character 4-gram of the same training text; and the
training's throughput and best validation.

It prints figures, not the pass/fail of a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import CORPUS, Report, kneser_ney_bpc  # noqa: E402
from bench.quality import NGRAM, PLAIN, STREAM, heldout_bpc, split  # noqa: E402
from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.model import GRUConfig  # noqa: E402
from engine.text import normalize, read_text  # noqa: E402
from engine.train import Source, TrainConfig, train  # noqa: E402

DEFAULT_VARIANTS = ('letters:{"jamo": true}', 'no letters:{"jamo": false}')
MODES = (("GRU alone", PLAIN), ("GRU + n-gram", NGRAM), ("as the site writes", STREAM))


def held_out_texts(corpus: Path) -> tuple[list[Source], list[str]]:
    """bench/quality.py's split: the training sources and the held-out novels (normalised)."""
    sources, heldout = split(corpus)
    return sources, [normalize(read_text(p)) for p in heldout]


def parse_variant(text: str) -> tuple[str, dict, dict]:
    """'NAME:{model settings}' or 'NAME:{model settings}:{training settings}'."""
    name, _, rest = text.partition(":")
    if not name or not rest:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME:{{model settings as JSON}}[:{{training settings}}]")
    decoder = json.JSONDecoder()
    try:
        model, end = decoder.raw_decode(rest)
        training = json.loads(rest[end + 1 :]) if rest[end:].startswith(":") else {}
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None
    if rest[end:] and not rest[end:].startswith(":"):
        raise argparse.ArgumentTypeError(f"{text!r}: unexpected {rest[end:]!r} after the model settings")
    return name, model, training


def train_one(args: argparse.Namespace) -> None:
    """In a child process: train one variant, judge it, write its figures as JSON."""
    torch.set_num_threads(1)
    name, model_settings, train_settings = parse_variant(args.one)
    sources, heldout = held_out_texts(args.corpus)
    if args.quick:
        heldout = [text[:2000] for text in heldout]
    out = Path(args.work) / f"variant-{args.index}"
    model_config = replace(GRUConfig.default(1), **model_settings)
    train_config = TrainConfig(
        epochs=1000, time_budget_s=args.budget, device="cpu", num_threads=1, save_epochs=False, **train_settings
    )
    result = train(sources, out_dir=out, model_config=model_config, train_config=train_config, log=lambda _: None)
    bundle = load_checkpoint(result.best_path)
    figures = {
        "name": name,
        "settings": args.one,
        "parameters": bundle.model.num_parameters(),
        "chars": result.train_chars,
        "chars_per_s": result.chars_per_s,
        "epochs": result.epochs,
        "validation": result.val_bpc,
    }
    for label, mode in MODES:
        figures[label] = heldout_bpc(bundle, heldout, mode)
    Path(args.result).write_text(json.dumps(figures), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per variant (default 600)")
    parser.add_argument(
        "--variant",
        action="append",
        help="NAME:{model settings}[:{training settings}], JSON; repeat it (default: with and without letter tables)",
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds of training, a little held-out text")
    parser.add_argument("--keep", type=Path, help="keep each variant's engine in DIR/variant-N (N from 0, in order)")
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.budget = min(args.budget, 10.0)
    if args.one is not None:
        train_one(args)
        return
    variants = args.variant or list(DEFAULT_VARIANTS)
    for text in variants:
        try:
            parse_variant(text)
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
    report = Report(args.out)
    say = report.say
    sources, heldout = held_out_texts(args.corpus)
    if args.quick:
        heldout = [text[:2000] for text in heldout]
    train_text = "\n".join(normalize(s.text) for s in sources)
    say(f"# Relay Novel engine variants ({time.strftime('%Y-%m-%d %H:%M')})")
    say(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, CPU only")
    say(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    say(
        f"training: {len(sources)} novels ({len(train_text):,} chars); held out whole: {len(heldout)} novels "
        f"({sum(map(len, heldout)):,} chars); {args.budget:.0f} s of training per variant, all at once, "
        "one thread each"
    )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.nullcontext(str(args.keep))
        if args.keep
        else tempfile.TemporaryDirectory(prefix="bench-variants-") as work
    ):
        children = []
        for index, text in enumerate(variants):
            result = Path(work) / f"result-{index}.json"
            command = [sys.executable, __file__, "--one", text, "--index", str(index), "--work", work]
            command += ["--result", str(result), "--budget", str(args.budget), "--corpus", str(args.corpus)]
            children.append((subprocess.Popen([*command, *(["--quick"] if args.quick else [])]), result))
        ngram = kneser_ney_bpc(train_text, "\n".join(heldout))  # while they train
        failed = [child.args[3] for child, _ in children if child.wait() != 0]
        if failed:
            raise SystemExit(f"variants failed: {', '.join(failed)}")
        rows = [json.loads(result.read_text(encoding="utf-8")) for _, result in children]
    say(f"4-gram (Kneser-Ney): held-out {ngram:.3f} bits/char")
    say()
    header = f"{'variant':<16} {'parameters':>10} {'chars/s':>8} {'epochs':>6} {'validation':>10}"
    header += "".join(f" {label:>22}" for label, _ in MODES)
    say(header)
    for row in rows:
        line = f"{row['name']:<16} {row['parameters']:>10,} {row['chars_per_s']:>8,.0f} {row['epochs']:>6}"
        line += f" {row['validation']:>10.3f}"
        line += "".join(f" {row[label]:>7.3f} ({row[label] / ngram:.3f}x)".rjust(23) for label, _ in MODES)
        say(line)
    say()
    for row in rows:
        say(f"{row['name']}: {row['settings']}")
    report.close()


if __name__ == "__main__":
    main()
