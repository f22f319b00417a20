"""Wall time of one `makedata --initial` run on the KoCoNovel corpus, default model, on the CPU.

    .venv/bin/python bench/training_time.py                      # --time-budget 600
    .venv/bin/python bench/training_time.py --time-budget 300 --threads 1 | tee bench/results/makedata-cpu.txt

A throwaway SQLite database and MODEL_DIR live in a temporary folder; the 40
novels of ../shared/corpus/koconovel are read from there (never copied into the
repository), proposed and approved as source texts through the services, and
one makedata run trains a model from scratch. It prints the wall time of the
run and the held-out bits per character the model reached.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "koconovel"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-budget", type=float, default=600.0, help="seconds of training (default 600)")
    parser.add_argument("--size", default="default", choices=("tiny", "small", "default", "large"))
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 1

    scratch = Path(tempfile.mkdtemp(prefix="makedata-bench-"))
    try:
        return bench(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def bench(args: argparse.Namespace, scratch: Path) -> int:
    os.environ.update(VAR_DIR=str(scratch), MODEL_DIR=str(scratch / "models"), ENGINE_DEVICE="cpu")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relay.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import torch

    from management.retraining import Options, run_makedata

    sources = load_corpus(args.corpus)
    started_load = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    )
    print("device: cpu (no GPU is lent in this session; ENGINE_DEVICE=cpu)")
    print(f"load average before the run: {started_load[0]:.2f} (the machine is shared)")
    print(f"corpus: {args.corpus.name}, {len(sources)} source texts, {sum(sources):,} characters")
    print(f"makedata --initial --size {args.size} --time-budget {args.time_budget:g} --device cpu", end="")
    print(f" --threads {args.threads}" if args.threads else "")

    options = Options(
        initial=True, size=args.size, time_budget_s=args.time_budget, device="cpu", threads=args.threads, progress=False
    )
    started = time.perf_counter()
    outcome = run_makedata(
        options, say=lambda line: print(f"  {time.perf_counter() - started:7.1f}s  {line}", flush=True)
    )
    wall = time.perf_counter() - started

    print(f"outcome: exit {outcome.exit_code} ({outcome.status}) {outcome.message}")
    if outcome.version is None:
        return 1
    version = outcome.version
    last = version.curve[-1] if version.curve else {}
    rate = f", {last['chars_per_s']:,.0f} characters/s in training steps" if "chars_per_s" in last else ""
    print(
        f"wall time of the makedata run: {wall:.1f} s "
        f"(training {version.train_seconds:.1f} s, {last.get('step', 0)} steps{rate})"
    )
    print(
        f"held-out bits per character: {version.val_bpc:.3f}  ({version.trained_on['heldout_characters']:,} characters)"
    )
    print(
        f"model: {version.config['layers']}x{version.config['hidden']} GRU, embed {version.config['embed']}, "
        f"vocabulary {version.vocab_size}; trained on {version.trained_on['characters']:,} characters"
    )
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")
    return 0


def load_corpus(corpus: Path) -> list[int]:
    """Propose and approve every novel of the corpus as a source text; returns their lengths."""
    from django.contrib.auth import get_user_model

    from engine.text import read_text
    from novels.services import source_text_propose, source_text_review

    User = get_user_model()
    editor = User.objects.create_user(username="editor", password="bench-editor-1", is_staff=True)
    lengths = []
    for path in sorted(corpus.glob("*.txt"), key=lambda p: int(p.name.split("_", 1)[0])):
        title = path.stem.split("_", 1)[1].replace("_", " ")
        source = source_text_propose(title=title, text=read_text(path), proposed_by=editor)
        source_text_review(source=source, reviewer=editor, action="approve")
        lengths.append(len(source.text))
    return lengths


if __name__ == "__main__":
    sys.exit(main())
