"""The original tool's workflow from the command line: vocab, train, generate.

    python -m engine vocab --src novels/ --out vocab.json
    python -m engine train --src novels/ --out save/ --epochs 20
    python -m engine generate --ckpt-dir save/ --epoch 20 --prime "안녕 난 오리라고 해." --len 10
    python -m engine generate --ckpt-dir save/ --epoch 20 --prime "거위?" --len 10 --resume

The functions below do the work and are what the Django management commands
call too; ``main`` only parses arguments and turns expected errors into one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import atomic_write_bytes
from engine.errors import CheckpointError, GenerationError
from engine.text import TextDecodeError, read_text
from engine.vocab import MODES, Vocab, VocabError

if TYPE_CHECKING:
    from engine.checkpoint import Bundle
    from engine.generate import StateCache, StoryState
    from engine.memory import MemorySettings
    from engine.train import Source, TrainResult, Watch

# torch and the modules that need it are imported inside the functions that
# use them: a mistyped argument is answered at once, not after torch loads.

RESULT_PATH = Path("generate") / "result.txt"  # relative to the working directory, as in the original
STATE_NAME = "state.pt"  # beside result.txt: the text so far and the model's state after it
STATE_FORMAT = "relay-novel-generate-state"
EXIT_USAGE = 2


DEFAULT_CANDIDATES = 4  # bench/quality.py: picking among 4 brings the story's names, not the training novels'


class UsageError(ValueError):
    """Arguments the user can fix; shown as one line, never a traceback."""


# What a user can cause by what they pass in; anything else is a bug and keeps its traceback.
EXPECTED_ERRORS = (UsageError, TextDecodeError, CheckpointError, VocabError, GenerationError)


# -- the work --------------------------------------------------------------------


def source_paths(srcs: Sequence[str | Path]) -> list[Path]:
    """Text files named, or found (``*.txt``, recursively, hidden folders skipped) in folders named."""
    if not srcs:
        raise UsageError("no --src given")
    paths: list[Path] = []
    for src in srcs:
        path = Path(src)
        if path.is_dir():
            # Hidden files and folders inside the folder are skipped; the folder's own path
            # may go through hidden ones or up ("../shared/corpus").
            found = sorted(
                p
                for p in path.rglob("*.txt")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise UsageError(f"--src {path}: no .txt files in this folder")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise UsageError(f"--src {path}: no such file or folder")
    return list(dict.fromkeys(paths))


def read_sources(srcs: Sequence[str | Path]) -> list[Source]:
    """One source (and style) per file, named after the file."""
    from engine.train import Source

    sources: list[Source] = []
    seen: dict[str, Path] = {}
    for path in source_paths(srcs):
        name = path.stem
        if name in seen:
            raise UsageError(f"two sources are named {name!r}: {seen[name]} and {path}")
        seen[name] = path
        text = read_text(path)
        if text:
            sources.append(Source(name=name, text=text))
    if not sources:
        raise UsageError("the --src files hold no text")
    return sources


def build_vocab(srcs: Sequence[str | Path], *, out: Path, mode: str = "char", min_count: int = 1) -> Vocab:
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}")
    if min_count < 1:
        raise UsageError("--min-count must be at least 1")
    sources = read_sources(srcs)
    vocab = Vocab.build([s.text for s in sources], styles=[s.name for s in sources], min_count=min_count, mode=mode)
    vocab.save(out)
    return vocab


def train_files(
    srcs: Sequence[str | Path],
    *,
    out_dir: Path,
    size: str = "default",
    epochs: int | None = None,
    time_budget_s: float | None = None,
    init_from: Path | None = None,
    resume: bool = False,
    device: str = "auto",
    dry_run: bool = False,
    vocab_path: Path | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
    watch: Watch | None = None,
) -> TrainResult:
    """Train on several novels in one run (the original's multi_train.py, without the forgetting)."""
    from dataclasses import replace

    from engine.model import GRUConfig, resolve_device
    from engine.train import TrainConfig, train

    if epochs is not None and epochs < 1:
        raise UsageError("--epochs must be at least 1")
    if time_budget_s is not None and time_budget_s <= 0:
        raise UsageError("--time-budget must be positive")
    if init_from is not None and not Path(init_from).is_file():
        raise UsageError(f"--init-from {init_from}: no such checkpoint")
    if init_from is not None and resume:
        raise UsageError("--init-from and --resume exclude each other")
    try:
        model_config = GRUConfig.preset(size, 1, 1)  # train() sizes vocabulary and styles
    except ValueError as e:
        raise UsageError(str(e)) from None
    sources = read_sources(srcs)
    vocab = Vocab.load(vocab_path) if vocab_path is not None else None
    config = TrainConfig(device=device, resume=resume, dry_run=dry_run)
    if epochs is not None:
        config = replace(config, epochs=epochs)
    if time_budget_s is not None:
        config = replace(config, time_budget_s=time_budget_s)
    if seed is not None:
        config = replace(config, seed=seed)
    try:
        config = replace(config, device=str(resolve_device(device)))
    except ValueError as e:
        raise UsageError(str(e)) from None
    result = train(
        sources,
        out_dir=Path(out_dir),
        model_config=None if init_from is not None else model_config,
        train_config=config,
        vocab=vocab,
        init_from=init_from,
        progress=progress,
        log=log,
        watch=watch,
    )
    result.vocab.save(Path(out_dir) / "vocab.json")
    return result


def checkpoint_for(ckpt_dir: Path, epoch: int | str | None) -> Path:
    """``epoch-N.pt`` for a number, ``best.pt`` or ``last.pt`` by name; best when no epoch is given."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        raise UsageError(f"--ckpt-dir {ckpt_dir}: no such folder")
    if epoch is None:
        epoch = "best"
    name = f"{epoch}.pt" if epoch in ("best", "last") else f"epoch-{epoch}.pt"
    path = ckpt_dir / name
    if not path.is_file():
        have = sorted(int(p.stem.split("-")[1]) for p in ckpt_dir.glob("epoch-*.pt") if p.stem.split("-")[1].isdigit())
        listed = ", ".join(map(str, have)) or "none"
        raise UsageError(f"no checkpoint for epoch {epoch} in {ckpt_dir} (epochs saved: {listed})")
    return path


def parse_epoch(value: str) -> int | str:
    if value in ("best", "last"):
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, 'best' or 'last', got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("epochs are counted from 1")
    return number


def generate_to_file(
    *,
    ckpt_dir: Path,
    epoch: int | str | None,
    prime: str,
    sentences: int,
    resume: bool = False,
    result_path: Path = RESULT_PATH,
    style: str | None = None,
    seed: int | None = None,
    temperature: float = 0.8,
    device: str = "cpu",
    on_piece: Callable[[str], None] | None = None,
    memory_weight: float | None = None,
    copy_guard: bool = True,
    name_guard: bool = True,
    adapt_lr: float | None = None,
    candidates: int = DEFAULT_CANDIDATES,
    ngram: bool = True,
    recall: int | None = None,
) -> str:
    """Generate ``sentences`` sentences starting with ``prime``; the whole text so far goes to result_path.

    With ``resume`` the text continues the previous result, from the model
    state saved beside it (recomputed from the text if it belongs to another model).
    """
    if not prime.strip():
        raise UsageError("--prime must not be empty")
    if sentences < 1:
        raise UsageError("--len must be at least 1 (it counts sentences)")
    if candidates < 1:
        raise UsageError("--candidates must be at least 1")
    from engine.adapt import AdaptedStates, AdaptSettings
    from engine.checkpoint import load_checkpoint
    from engine.generate import DEFAULT_ADAPT, DEFAULT_MEMORY, StateCache, generate
    from engine.memory import MemorySettings
    from engine.rerank import stream_best

    weight = DEFAULT_MEMORY.weight if memory_weight is None else memory_weight
    kept = DEFAULT_MEMORY.recall if recall is None else recall
    memory = MemorySettings(order=DEFAULT_MEMORY.order, weight=weight, recall=kept)
    adapt = DEFAULT_ADAPT if adapt_lr is None else AdaptSettings(lr=adapt_lr)
    result_path = Path(result_path)
    state_path = result_path.with_name(STATE_NAME)
    if resume and not result_path.is_file():
        raise UsageError(f"nothing to resume: {result_path} does not exist yet; run once without --resume")
    bundle = load_checkpoint(checkpoint_for(ckpt_dir, epoch), device=device)
    if style is not None and style not in bundle.vocab.styles:
        raise UsageError(f"--style {style!r}: the model knows {', '.join(bundle.vocab.styles) or 'no styles'}")
    cache = StateCache(max_entries=1)
    story = ""
    if resume:
        story = _load_state(state_path, result_path, bundle, style, cache, memory)
    pieces: list[str] = []
    write = generate if candidates == 1 else functools.partial(stream_best, n=candidates)
    for piece in write(
        bundle,
        story=story,
        keyword=prime,
        sentences=sentences,
        style=style,
        seed=seed,
        temperature=temperature,
        cache=cache,
        cache_key="cli",
        memory=memory,
        copy_guard=copy_guard,
        name_guard=name_guard,
        adapt=adapt,
        adapters=AdaptedStates(max_entries=1),
        ngram=ngram,
    ):
        pieces.append(piece)
        if on_piece is not None:
            on_piece(piece)
    continuation = "".join(pieces)
    text = story + continuation
    atomic_write_bytes(result_path, (text + "\n").encode("utf-8"))
    _save_state(state_path, bundle, style, text, cache.story_state(bundle, text, key="cli", style=style, memory=memory))
    return continuation


def _load_state(
    state_path: Path, result_path: Path, bundle: Bundle, style: str | None, cache: StateCache, memory: MemorySettings
) -> str:
    import torch

    from engine.generate import StoryState, recall_size
    from engine.memory import StoryMemory

    text = result_path.read_text(encoding="utf-8").removesuffix("\n")
    try:
        saved = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception:  # missing or unreadable: the text alone is enough, only slower
        return text
    index = bundle.vocab.style_index(style)
    if (
        isinstance(saved, dict)
        and saved.get("format") == STATE_FORMAT
        and saved.get("model_id") == bundle.model_id
        and saved.get("style") == index
        and saved.get("text") == text
    ):
        device = bundle.model.head.weight.device
        ids = tuple(saved["ids"].tolist())
        store = StoryMemory.of(ids, memory, len(bundle.vocab))  # quick to count again from the text's ids
        size = recall_size(bundle, memory)
        if size and "recall_keys" not in saved:
            return text  # saved without the recall these settings keep: the text is read again
        recall = None
        if size:
            recall = bundle.new_recall(size)
            recall.add_unit(saved["recall_keys"].numpy(), saved["recall_nexts"].tolist())
        hidden, logits = saved["hidden"].to(device), saved["logits"].to(device)
        cache.put("cli", bundle.model_id, index, StoryState(ids, hidden, logits, memory=store, recall=recall))
    return text


def _save_state(path: Path, bundle: Bundle, style: str | None, text: str, state: StoryState) -> None:
    import torch

    from engine.atomic import atomic_write

    payload = {
        "format": STATE_FORMAT,
        "model_id": bundle.model_id,
        "style": bundle.vocab.style_index(style),
        "text": text,
        "ids": torch.tensor(state.ids, dtype=torch.long),
        "hidden": state.hidden.cpu(),
        "logits": state.logits.cpu(),
    }
    if state.recall is not None:
        keys, nexts = state.recall.pairs()
        payload |= {"recall_keys": torch.from_numpy(keys), "recall_nexts": torch.from_numpy(nexts)}
    atomic_write(path, lambda f: torch.save(payload, f))


# -- argument parsing ------------------------------------------------------------


def _bool_flag(value: str) -> bool:
    """``--resume`` alone, or the original's ``--resume True``."""
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not the usage block
        raise UsageError(message)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m engine", description="Relay Novel's Korean text engine.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    vocab = commands.add_parser("vocab", help="build a vocabulary from novels")
    vocab.add_argument("--src", nargs="+", required=True, help="text files or folders of .txt files")
    vocab.add_argument("--out", type=Path, required=True, help="where to write the vocabulary (JSON)")
    vocab.add_argument("--mode", choices=MODES, default="char")
    vocab.add_argument("--min-count", type=int, default=1, help="rarer characters become <unk>")

    tr = commands.add_parser("train", help="train on several novels in one run")
    tr.add_argument("--src", nargs="+", required=True, help="text files or folders of .txt files")
    tr.add_argument("--out", type=Path, required=True, help="folder for checkpoints")
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--size", choices=("tiny", "small", "default", "large"), default="default")
    tr.add_argument("--time-budget", type=float, metavar="SECONDS")
    tr.add_argument("--init-from", type=Path, metavar="CKPT", help="fine-tune from this checkpoint")
    tr.add_argument("--resume", nargs="?", const=True, default=False, type=_bool_flag, help="resume from OUT/last.pt")
    tr.add_argument("--device", default="auto", help="auto, cpu, cuda")
    tr.add_argument("--dry-run", action="store_true", help="two windows of one epoch: a smoke test")
    tr.add_argument("--vocab", type=Path, help="a vocabulary from `vocab` (default: built from --src)")
    tr.add_argument("--seed", type=int)

    gen = commands.add_parser("generate", help="continue a story from a prime text")
    gen.add_argument("--ckpt-dir", type=Path, required=True)
    gen.add_argument("--epoch", type=parse_epoch, help="epoch number, best or last (default best)")
    gen.add_argument("--prime", required=True, help="the text the continuation starts with")
    gen.add_argument("--len", type=int, default=3, dest="sentences", help="sentences to write")
    gen.add_argument(
        "--resume", nargs="?", const=True, default=False, type=_bool_flag, help="continue the previous result"
    )
    gen.add_argument("--style", help="write in the style of this source")
    gen.add_argument("--seed", type=int)
    gen.add_argument("--temperature", type=float, default=0.8)
    gen.add_argument("--device", default="cpu")
    gen.add_argument(
        "--memory",
        type=float,
        metavar="WEIGHT",
        dest="memory_weight",
        help="how much the story's own text counts against what the model read elsewhere, 0 to <1 (default 0.5; 0 off)",
    )
    gen.add_argument(
        "--recall",
        type=int,
        metavar="POSITIONS",
        help="how many of the story's last positions the model recalls moments like the present one from "
        "(default 4096; 0 off; needs the story's memory and a model trained with the recall)",
    )
    gen.add_argument(
        "--adapt",
        type=float,
        metavar="LR",
        dest="adapt_lr",
        help="how fast the model learns from the story before it writes, 0 to 1 (default 0.1; 0 off)",
    )
    gen.add_argument(
        "--candidates",
        type=int,
        default=DEFAULT_CANDIDATES,
        help="write this many side by side and keep the best (default 4; 1 streams one as it is written)",
    )
    gen.add_argument(
        "--no-copy-guard",
        action="store_false",
        dest="copy_guard",
        help="allow 40 or more characters copied verbatim from the training text",
    )
    gen.add_argument(
        "--no-name-guard",
        action="store_false",
        dest="name_guard",
        help="allow the names of the training texts' people in a story that does not have them",
    )
    gen.add_argument(
        "--no-ngram",
        action="store_false",
        dest="ngram",
        help="the network alone, without the counts of its training text mixed in",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = make_parser().parse_args(argv)
        return _run(args)
    except EXPECTED_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.command == "vocab":
        vocab = build_vocab(args.src, out=args.out, mode=args.mode, min_count=args.min_count)
        print(f"{args.out}: {len(vocab)} tokens ({vocab.mode}), {len(vocab.styles)} styles, hash {vocab.hash[:12]}")
    elif args.command == "train":
        result = train_files(
            args.src,
            out_dir=args.out,
            size=args.size,
            epochs=args.epochs,
            time_budget_s=args.time_budget,
            init_from=args.init_from,
            resume=args.resume,
            device=args.device,
            dry_run=args.dry_run,
            vocab_path=args.vocab,
            seed=args.seed,
        )
        print(
            f"{result.epochs} epoch(s), {result.train_chars:,} characters in {result.seconds:.0f}s; "
            f"best validation {result.val_bpc:.3f} bits/char -> {result.best_path}"
        )
    else:

        def show(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

        generate_to_file(
            ckpt_dir=args.ckpt_dir,
            epoch=args.epoch,
            prime=args.prime,
            sentences=args.sentences,
            resume=args.resume,
            style=args.style,
            seed=args.seed,
            temperature=args.temperature,
            device=args.device,
            on_piece=show,
            memory_weight=args.memory_weight,
            recall=args.recall,
            copy_guard=args.copy_guard,
            name_guard=args.name_guard,
            adapt_lr=args.adapt_lr,
            candidates=args.candidates,
            ngram=args.ngram,
        )
        sys.stdout.write("\n")
    return 0
