"""makedata: retrain the story model from approved text and switch to it without a restart.

The original chatbot's `manage.py makedata` rebuilt its training files from the
reviewed conversations, trained, and pointed the service at the new model. Here
the same idea is made safe for cron:

- one run at a time (an OS file lock on MODEL_DIR/makedata.lock);
- nothing happens when no approved text changed since the last run;
- the new model is trained into MODEL_DIR/.tmp-<run>, compared with the active
  one on the same held-out text, renamed into place and only then activated
  with one database change; web processes pick it up at their next generation;
- a failed or killed run leaves the active model alone, and the next run
  removes whatever the dead one left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from management import engine_adapter, model_cache, model_store, report
from management.blind import blind_round_open, blind_round_prompt
from management.models import ModelVersion, TrainingRun
from management.services import (
    model_files_prune,
    model_version_activate,
    model_version_create,
    training_run_finish,
    training_run_phase,
    training_run_start,
    training_run_watch,
    training_runs_mark_interrupted,
)
from novels.selectors import approved_sources, training_passages
from relay.common.locks import try_lock

# Exit codes of `manage.py makedata` (docs/makedata.md explains them).
EXIT_ACTIVATED = 0  # a new model is live (a dry run that would train also exits 0)
EXIT_FAILED = 1  # something went wrong; nothing was activated
EXIT_BAD_ARGUMENTS = 2
EXIT_LOCKED = 3  # another makedata run holds the lock
EXIT_NOTHING_NEW = 4  # no approved text changed since the last run
EXIT_KEPT = 5  # a new model was trained but it was worse, so the active one stays
EXIT_TOO_LITTLE_HELDOUT = 6  # too little held-out text to judge a new model: nothing trained, the active one stays
EXIT_AWAITING_VERDICT = 7  # a new model passed; with BLIND_ROUND_WAIT it waits for the readers' verdict

TOLERANCE_BPC = 0.02
LOCK_NAME = "makedata.lock"
TMP_PREFIX = ".tmp-"
VERSION_DIR = re.compile(r"^v\d+-\d{8}-\d{6}$")
# One block in HELDOUT_SHARE is held out, chosen by a hash of its text alone, so
# the same block stays held out from run to run and no model ever trains on it.
HELDOUT_SHARE = 10
SOURCE_BLOCK_CHARS = 600
SIZES = ("tiny", "small", "default", "large")
BLIND_SEED = 5


class BadArguments(ValueError):
    """Options that make no sense (together); the command exits with EXIT_BAD_ARGUMENTS."""


@dataclass(frozen=True)
class Options:
    initial: bool = False
    time_budget_s: float | None = None
    epochs: int | None = None
    max_steps: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    threads: int | None = None  # CPU threads for torch; None leaves torch's default
    device: str | None = None
    size: str | None = None  # None: "default" from scratch, the active model's when fine-tuning
    dry_run: bool = False
    force: bool = False
    tolerance: float = TOLERANCE_BPC
    seed: int = 1234
    progress: bool | None = None  # None: a progress bar only on a terminal
    keep: int | None = None  # versions whose files stay; None: settings.MODEL_KEEP, 0: all

    def validate(self) -> None:
        if self.size is not None and self.size not in SIZES:
            raise BadArguments(f"--size must be one of {', '.join(SIZES)}")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise BadArguments("--time-budget must be a positive number of seconds")
        if self.epochs is not None and self.epochs < 1:
            raise BadArguments("--epochs must be 1 or more")
        if self.max_steps is not None and self.max_steps < 1:
            raise BadArguments("--max-steps must be 1 or more")
        for name in ("lr", "batch_size", "seq_len", "threads"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise BadArguments(f"--{name.replace('_', '-')} must be positive")
        if self.tolerance < 0:
            raise BadArguments("--tolerance must be 0 or more")
        if self.keep is not None and self.keep < 0:
            raise BadArguments("--keep must be 0 (keep every version) or more")
        if self.device is not None:
            try:
                engine_adapter.check_device(self.device)
            except ValueError as error:
                raise BadArguments(f"--device: {error}") from None

    def recorded(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("progress", "dry_run")}


@dataclass
class TrainingData:
    """What a run trains on and what it holds out, and the figures recorded about both."""

    sources: list[Any]  # engine.train.Source: one per novel, one per source text
    heldout: dict[str, list[str]]  # style name -> held-out blocks
    passages: int = 0
    novels: int = 0
    source_texts: int = 0
    characters: int = 0
    heldout_characters: int = 0
    fingerprint: str = ""

    def trained_on(self) -> dict[str, Any]:
        return {
            "passages": self.passages,
            "novels": self.novels,
            "source_texts": self.source_texts,
            "characters": self.characters,
            "heldout_characters": self.heldout_characters,
            "fingerprint": self.fingerprint,
        }

    def summary(self) -> str:
        return (
            f"이어쓰기 {self.passages}편(소설 {self.novels}편), 원문 {self.source_texts}편: "
            f"학습 {self.characters:,}자, 검증용 {self.heldout_characters:,}자"
        )


@dataclass
class Outcome:
    exit_code: int
    status: str  # activated | kept | nothing_new | locked | failed | bad_arguments | dry_run
    message: str  # one line, for the log
    run: TrainingRun | None = None
    version: ModelVersion | None = None
    details: dict[str, Any] = field(default_factory=dict)


# -- the training data ---------------------------------------------------------


def approved_text() -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    """(novel id, passage) of every approved turn in story order, and (id, style, text) of every approved source."""
    sources = [(s.pk, s.style_name, s.text) for s in approved_sources().order_by("pk")]
    return training_passages(), sources


def fingerprint(passages: list[tuple[int, str]], sources: list[tuple[int, str, str]]) -> str:
    """sha256 over the approved text as it would be trained on; equal fingerprints mean nothing new."""
    digest = hashlib.sha256(b"makedata-1\n")
    for novel_id, text in passages:
        digest.update(f"turn\0{novel_id}\0{text}\0".encode())
    for pk, _, text in sources:
        digest.update(f"source\0{pk}\0{text}\0".encode())
    return digest.hexdigest()


def block_hash(block: str) -> int:
    return int.from_bytes(hashlib.sha256(block.encode()).digest()[:8], "big")


def is_heldout(block: str) -> bool:
    """Whether a block belongs to the held-out text; depends on its text only, so it is stable."""
    return block_hash(block) % HELDOUT_SHARE == 0


def source_blocks(text: str) -> list[str]:
    """Runs of whole sentences of about SOURCE_BLOCK_CHARS characters, counted from the start."""
    blocks: list[str] = []
    current = ""
    for segment in engine_adapter.segments(text):
        current += (segment.sep if current else "") + segment.text
        if len(current) >= SOURCE_BLOCK_CHARS:
            blocks.append(current)
            current = ""
    if current:
        blocks.append(current)
    return blocks


def collect_training_data() -> TrainingData:
    """Read the approved text; split it into one training text per novel and source, and held-out blocks."""
    passages, sources = approved_text()
    texts: dict[str, list[str]] = {}  # style name -> the text's blocks in order
    for novel_id, passage in passages:
        clean = engine_adapter.normalize(passage)
        if clean:  # a novel's blocks are its passages
            texts.setdefault(f"novel-{novel_id}", []).append(clean)
    for _, style, text in sources:
        blocks = source_blocks(engine_adapter.normalize(text))
        if blocks:
            texts[style] = blocks

    held = {block for blocks in texts.values() for block in blocks if is_heldout(block)}
    for style, blocks in texts.items():
        # Every source text of two blocks or more is part of the comparison, so a
        # new model is judged on all it should know and not only on the newest
        # passages. A source text never changes, so its smallest-hash block is as
        # stable a choice as the hash's own. (A novel grows: its smallest-hash
        # passage could change and move text already trained on into the
        # held-out set, so novels keep the hash's choice alone.)
        if not style.startswith("novel-") and len(blocks) >= 2 and not held.intersection(blocks):
            held.add(min(blocks, key=block_hash))
    if not held and texts:
        # Too little text for the hash to pick anything: hold out the one block
        # with the smallest hash, so there is always something to compare on.
        held = {min((b for blocks in texts.values() for b in blocks), key=block_hash)}

    data = TrainingData(
        sources=[],
        heldout={},
        passages=len(passages),
        novels=sum(1 for style in texts if style.startswith("novel-")),
        source_texts=len(sources),
        fingerprint=fingerprint(passages, sources),
    )
    for style, blocks in texts.items():
        kept = [b for b in blocks if b not in held]
        if kept:
            text = "\n".join(kept)
            data.sources.append(engine_adapter.training_source(name=style, text=text))
            data.characters += len(text)
        for block in blocks:
            if block in held:
                data.heldout.setdefault(style, []).append(block)
                data.heldout_characters += len(block)
    return data


# -- the lock and what dead runs left behind -----------------------------------


# A web process that starts a run takes the lock itself and hands it to the child in this variable
# (management.launch): a second start a moment later then finds it taken.
HELD_LOCK_ENV = "MAKEDATA_HELD_LOCK_FD"


def take_makedata_lock(root: Path) -> BinaryIO | None:
    """MODEL_DIR/makedata.lock, taken: an open file whose last copy, closed, lets it go; None when it is held."""
    return try_lock(root / LOCK_NAME)


def inherited_lock(root: Path) -> BinaryIO | None:
    """The lock the starting web process took for this run (HELD_LOCK_ENV), if it is that lock file's."""
    fd = os.environ.pop(HELD_LOCK_ENV, "")
    if not fd.isascii() or not fd.isdigit():
        return None
    try:
        given, ours = os.fstat(int(fd)), os.stat(root / LOCK_NAME)
    except OSError:
        return None
    if (given.st_dev, given.st_ino) != (ours.st_dev, ours.st_ino):
        return None
    return os.fdopen(int(fd), "a+b")


@contextmanager
def makedata_lock(root: Path) -> Iterator[bool]:
    """Hold MODEL_DIR/makedata.lock, and on PostgreSQL the site's lock, for the run; yields False when another
    process has either."""
    handle = inherited_lock(root) or take_makedata_lock(root)
    if handle is None:
        yield False
        return
    with handle, site_lock() as held:
        yield held


# makedata runs on any host (deploy/README.md, "Several hosts"): the file lock keeps one run per host, and a
# PostgreSQL advisory lock, held by the run's database session, one per site. The key is "makedata" in ASCII.
SITE_LOCK_KEY = int.from_bytes(b"makedata", "big") & (2**63 - 1)


@contextmanager
def site_lock() -> Iterator[bool]:
    """One makedata run at a time on every host that shares the database; yields False when another holds it.
    On SQLite (one host) the file lock is all there is."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SITE_LOCK_KEY])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [SITE_LOCK_KEY])
            except DatabaseError:  # the session is gone, and its lock with it
                pass


def clean_leftovers(root: Path, say: Callable[[str], None]) -> None:
    """Remove what dead runs left behind; only safe while holding the lock."""
    for path in sorted(root.glob(f"{TMP_PREFIX}*")):
        shutil.rmtree(path, ignore_errors=True)
        say(f"지난 실행이 남긴 임시 폴더를 지웠습니다: {path.name}")
    for name in remove_unrecorded_versions(root):
        say(f"기록되지 않은 모델 폴더를 지웠습니다: {name}")
    interrupted = training_runs_mark_interrupted()
    if interrupted:
        say(f"중단된 학습 실행 {interrupted}건을 실패(interrupted)로 표시했습니다.")


def prune_old_versions(options: Options, say: Callable[[str], None]) -> None:
    """Keep MODEL_DIR from growing with every run; a failure here never undoes the run."""
    keep = settings.MODEL_KEEP if options.keep is None else options.keep
    try:
        pruned = model_files_prune(keep=keep)
    except Exception as error:  # the run itself is done and recorded
        say(f"오래된 모델 파일을 지우지 못했습니다: {first_line(error)}")
        return
    if pruned:
        labels = ", ".join(version.label for version in pruned)
        say(f"오래된 모델 {len(pruned)}개의 파일을 지웠습니다 (최근 {keep}개와 사용 중인 모델은 남김): {labels}")


def remove_unrecorded_versions(root: Path) -> list[str]:
    """Version folders no ModelVersion names: a run died between the rename and the database change."""
    known = set(ModelVersion.objects.values_list("directory", flat=True))
    removed = []
    for path in sorted(root.iterdir()):
        if path.is_dir() and VERSION_DIR.match(path.name) and path.name not in known:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


# -- deciding what to do ---------------------------------------------------------


@dataclass
class Plan:
    mode: str  # "initial", "finetune", "nothing" or "too_little" (held-out text)
    reason: str = ""
    active: ModelVersion | None = None
    active_bundle: Any = None  # engine Bundle of the active model, when it loads
    size: str = "default"


def last_trained_fingerprint() -> str:
    run = (
        TrainingRun.objects.filter(
            status__in=[TrainingRun.Status.ACTIVATED, TrainingRun.Status.KEPT, TrainingRun.Status.AWAITING]
        )
        .exclude(data_fingerprint="")
        .order_by("-started_at", "-id")
        .first()
    )
    return run.data_fingerprint if run else ""


def load_active(device: str, say: Callable[[str], None]) -> tuple[ModelVersion | None, Any]:
    """The active version and its model loaded afresh on `device`; the bundle is None when it will not load."""
    active = engine_adapter.active_version()
    if active is None:
        return None, None
    try:
        model_cache.fetch(active)  # makedata runs on any host: the active version may have been trained elsewhere
        return active, engine_adapter.load(engine_adapter.checkpoint_path(active), device=device)
    except (engine_adapter.CheckpointError, model_store.ModelStoreError, OSError) as error:
        say(f"지금 모델({active.label})을 읽을 수 없습니다: {first_line(error)}")
        return active, None


def size_of(config: Any) -> str | None:
    for size in SIZES:
        preset = engine_adapter.model_preset(size, config.vocab_size, config.n_styles)
        if (preset.embed, preset.hidden, preset.layers) == (config.embed, config.hidden, config.layers):
            return size
    return None


def make_plan(options: Options, data: TrainingData, *, device: str, say: Callable[[str], None]) -> Plan:
    """Fine-tune the active model, train from scratch, or do nothing."""
    if not data.sources and not data.heldout:
        return Plan("nothing", "학습할 승인된 글이 없습니다.")
    if not data.sources:
        return Plan("nothing", "승인된 글이 너무 적어 학습용과 검증용으로 나눌 수 없습니다.")
    if not options.initial and not options.force and data.fingerprint == last_trained_fingerprint():
        return Plan("nothing", "지난 학습 이후 새로 승인된 글이 없습니다.")
    active, bundle = load_active(device, say)
    if options.initial or bundle is None:
        plan = Plan("initial", active=active, active_bundle=bundle, size=options.size or "default")
    else:
        active_size = size_of(bundle.config)
        if options.size is not None and options.size != active_size:
            raise BadArguments(
                f"지금 모델의 크기는 {active_size or '사용자 지정'}입니다; "
                f"--size {options.size}로 바꾸려면 --initial을 붙이세요."
            )
        plan = Plan("finetune", active=active, active_bundle=bundle, size=active_size or "custom")
    floor = settings.MAKEDATA_MIN_HELDOUT_CHARS
    if bundle is not None and data.heldout_characters < floor and not options.force:
        # A comparison on a few dozen characters is noise: a worse model can win it.
        return Plan(
            "too_little",
            f"검증용 글이 {data.heldout_characters:,}자뿐이라 새 모델이 더 나은지 판단할 수 없습니다 "
            f"(최소 {floor:,}자, MAKEDATA_MIN_HELDOUT_CHARS). 지금 모델을 유지합니다; "
            "승인된 글이 더 모이면 다시 학습합니다.",
            active=active,
        )
    return plan


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


# -- the run -----------------------------------------------------------------------


def run_makedata(options: Options, *, say: Callable[[str], None] = print) -> Outcome:
    """One makedata run, start to finish; an ordinary failure comes back as an Outcome, not an exception."""
    try:
        options.validate()
    except BadArguments as error:
        return Outcome(EXIT_BAD_ARGUMENTS, "bad_arguments", str(error))
    try:
        if options.dry_run:
            return dry_run(options, say=say)
        root = engine_adapter.model_root()
        with makedata_lock(root) as locked:
            if not locked:
                return Outcome(
                    EXIT_LOCKED, "locked", "다른 makedata 실행이 진행 중입니다 (잠금 사용 중); 이번에는 건너뜁니다."
                )
            clean_leftovers(root, say)
            outcome = train_and_maybe_activate(options, root=root, say=say)
            prune_old_versions(options, say)
            return outcome
    except Exception as error:  # before a run is recorded: the model folder, the database, reading the text
        return Outcome(EXIT_FAILED, "failed", first_line(error))


def dry_run(options: Options, *, say: Callable[[str], None]) -> Outcome:
    """Report what a run would train on; takes no lock and writes nothing."""
    data = collect_training_data()
    try:
        plan = make_plan(options, data, device="cpu", say=say)
    except BadArguments as error:
        return Outcome(EXIT_BAD_ARGUMENTS, "bad_arguments", str(error))
    details = {"mode": plan.mode, **data.trained_on(), "styles": [s.name for s in data.sources]}
    say(f"[dry-run] {data.summary()}, 스타일 {len(data.sources)}개")
    if plan.mode == "nothing":
        return Outcome(EXIT_NOTHING_NEW, "dry_run", f"[dry-run] {plan.reason}", details=details)
    if plan.mode == "too_little":
        return Outcome(EXIT_TOO_LITTLE_HELDOUT, "dry_run", f"[dry-run] {plan.reason}", details=details)
    if plan.mode == "finetune":
        how = f"{plan.active.label} 모델에서 이어 학습"
    else:
        how = f"처음부터 학습(크기 {plan.size})"
    return Outcome(
        EXIT_ACTIVATED, "dry_run", f"[dry-run] {how}할 예정입니다. 아무것도 바꾸지 않았습니다.", details=details
    )


def train_and_maybe_activate(options: Options, *, root: Path, say: Callable[[str], None]) -> Outcome:
    """Under the lock: train a candidate into a temp folder, compare, put it in place, maybe activate it."""
    device = options.device or engine_adapter.device()
    data = collect_training_data()
    try:
        plan = make_plan(options, data, device=device, say=say)
    except BadArguments as error:
        return Outcome(EXIT_BAD_ARGUMENTS, "bad_arguments", str(error))
    if plan.mode == "nothing":
        return Outcome(EXIT_NOTHING_NEW, "nothing_new", plan.reason)
    run = training_run_start(
        options={
            **options.recorded(),
            "mode": plan.mode,
            "device": device,
            "pid": os.getpid(),  # staff may stop it from the site (management.launch)
            "host": socket.gethostname(),
        },
        data_fingerprint=data.fingerprint,
    )
    if plan.mode == "too_little":
        # Recorded with the fingerprint, so cron does not retry until more text is approved.
        say(data.summary())
        training_run_finish(
            run=run, status=TrainingRun.Status.KEPT, exit_code=EXIT_TOO_LITTLE_HELDOUT, reason=plan.reason
        )
        return Outcome(EXIT_TOO_LITTLE_HELDOUT, "too_little_heldout", plan.reason, run=run)
    tmp = root / f"{TMP_PREFIX}{run.pk}"
    try:
        return train_candidate(options, data=data, plan=plan, device=device, run=run, tmp=tmp, root=root, say=say)
    except Exception as error:
        message = first_line(error)
        training_run_finish(run=run, status=TrainingRun.Status.FAILED, exit_code=EXIT_FAILED, reason=message)
        return Outcome(EXIT_FAILED, "failed", message, run=run)
    except BaseException:  # Ctrl-C, or cron's SIGTERM turned into KeyboardInterrupt by the command
        training_run_finish(run=run, status=TrainingRun.Status.FAILED, exit_code=EXIT_FAILED, reason="interrupted")
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_unrecorded_versions(root)


def train_config_for(options: Options, device: str) -> Any:
    config: dict[str, Any] = {"device": device, "seed": options.seed}
    if options.epochs is not None:
        config["epochs"] = options.epochs
    if options.time_budget_s is not None:
        config["time_budget_s"] = options.time_budget_s
    for name in ("max_steps", "lr", "batch_size", "seq_len"):
        if getattr(options, name) is not None:
            config[name] = getattr(options, name)
    config["num_threads"] = options.threads or default_threads()
    return engine_adapter.train_config(**config)


def default_threads() -> int:
    """MAKEDATA_THREADS, or half the cores (at least one): the other half stays with the site."""
    if settings.MAKEDATA_THREADS > 0:
        return settings.MAKEDATA_THREADS
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // 2)


def lower_priority(nice: int) -> int:
    """Lower this process's CPU priority by `nice` (0: leave it); returns the niceness it runs at.

    With a positive `nice` on Linux the process also takes the SCHED_IDLE
    policy: it runs only on a core nothing else wants, and a web process that
    wakes takes the core back at once. Niceness alone only shares the cores
    out by weight, and a vote's tally waited behind training's time slices
    (bench/results/load-20-training.txt). Only for a process of its own (the
    command): a process can lower its priority but never raise it back.
    """
    if nice <= 0:
        return os.nice(0)
    niceness = os.nice(nice)
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:  # not allowed here: niceness alone
            pass
    return niceness


def blind_texts(candidate: Any, plan: Plan) -> tuple[Any, str, str, tuple[str, str]] | None:
    """(novel, story, keyword, (the active model's text, the candidate's)) for a blind round, or None.

    Both write from the same story, keyword and seed; no round without a model
    in service to compare with, a novel to continue, or BLIND_ROUNDS.
    """
    if not settings.BLIND_ROUNDS or plan.active is None or plan.active_bundle is None:
        return None
    prompt = blind_round_prompt()
    if prompt is None:
        return None
    novel, story, keyword = prompt
    texts = tuple(
        "".join(
            engine_adapter.write_plainly(bundle, story=story, keyword=keyword, sentences=3, seed=BLIND_SEED)
        ).strip()
        for bundle in (plan.active_bundle, candidate)
    )
    return novel, story, keyword, texts


def readable_by_the_web(directory: Path) -> None:
    """Checkpoints are written through mkstemp (mode 0600); web processes may run as another user."""
    umask = os.umask(0)
    os.umask(umask)
    for path in directory.iterdir():
        path.chmod(0o666 & ~umask)
    directory.chmod(0o777 & ~umask)


def evaluate(bundle: Any, heldout: dict[str, list[str]]) -> float:
    """Bits per character over every held-out block; each style weighted by its characters."""
    return report.weighted(report.by_style(bundle, heldout))


def train_candidate(
    options: Options,
    *,
    data: TrainingData,
    plan: Plan,
    device: str,
    run: TrainingRun,
    tmp: Path,
    root: Path,
    say: Callable[[str], None],
) -> Outcome:
    say(data.summary())
    if plan.mode == "finetune":
        say(f"{plan.active.label} 모델에서 이어 학습합니다.")
        init_from, model_config = engine_adapter.checkpoint_path(plan.active), None
    else:
        say(f"처음부터 학습합니다 (크기 {plan.size}).")
        init_from, model_config = None, engine_adapter.model_preset(plan.size)  # train() sizes the vocabulary
    train_config = train_config_for(options, device)
    tmp.mkdir(parents=True)
    result = engine_adapter.train(
        data.sources,
        out_dir=tmp,
        model_config=model_config,
        train_config=train_config,
        init_from=init_from,
        heldout=[t for texts in data.heldout.values() for t in texts],
        progress=options.progress,
        log=say,
        watch=training_run_watch(run=run),
    )
    training_run_phase(run=run, phase=TrainingRun.Phase.EVALUATING)
    candidate = engine_adapter.load(result.best_path, device=device)
    new_scores = report.by_style(candidate, data.heldout)
    old_scores = report.by_style(plan.active_bundle, data.heldout) if plan.active_bundle is not None else None
    new_bpc = report.weighted(new_scores)
    old_bpc = report.weighted(old_scores) if old_scores is not None else None
    figures = report.version_report(
        new=new_scores,
        previous=old_scores,
        trained={source.name: len(source.text) for source in data.sources},
        train_texts=[source.text for source in data.sources],
        heldout=data.heldout,
        vocab_size=len(candidate.vocab),
    )
    samples = report.version_samples(candidate)
    better = old_bpc is None or new_bpc <= old_bpc + options.tolerance
    activate = better or options.force
    if old_bpc is None:
        comparison = f"새 모델 {new_bpc:.3f} bpc"
    else:
        comparison = f"새 모델 {new_bpc:.3f} bpc, 지금 모델 {old_bpc:.3f} bpc"
    say(f"같은 검증용 글에서: {comparison}")
    blind = blind_texts(candidate, plan) if better and not options.force else None
    awaiting = blind is not None and settings.BLIND_ROUND_WAIT
    activate = activate and not awaiting

    directory = f"v{run.pk}-{timezone.now():%Y%m%d-%H%M%S}"
    for leftover in ("last.pt", *(p.name for p in tmp.glob("epoch-*.pt"))):
        (tmp / leftover).unlink(missing_ok=True)  # only best.pt is served; the rest is resume state
    readable_by_the_web(tmp)
    training_run_phase(run=run, phase=TrainingRun.Phase.ACTIVATING if activate else TrainingRun.Phase.EVALUATING)
    os.rename(tmp, root / directory)  # the files are in place before the database hears of them
    with transaction.atomic():
        version = model_version_create(
            label=f"v{run.pk}",
            directory=directory,
            checkpoint=result.best_path.name,
            vocab_hash=candidate.vocab.hash,
            vocab_size=len(candidate.vocab),
            config={**asdict(candidate.config), "size": plan.size, "mode": plan.mode, "train": asdict(train_config)},
            trained_on=data.trained_on(),
            val_bpc=new_bpc,
            parent_val_bpc=old_bpc,
            train_seconds=round(result.seconds, 1),
            curve=list(result.curve),
            report=figures,
            samples=samples,
            parent=plan.active,
            notes="" if activate or awaiting else f"적용하지 않음: {comparison}",
        )
        if blind is not None:
            novel, story, keyword, texts = blind
            blind_round_open(
                candidate=version, incumbent=plan.active, novel=novel, story=story, keyword=keyword, texts=texts
            )
        if awaiting:
            status, code = TrainingRun.Status.AWAITING, EXIT_AWAITING_VERDICT
            message = (
                f"{version.label} 모델이 검증을 통과했습니다 ({comparison}). 독자들의 블라인드 비교 판정을 "
                f"기다린 뒤 적용합니다 (투표 {settings.BLIND_ROUND_QUORUM}표, 최대 {settings.BLIND_ROUND_HOURS}시간)."
            )
        elif activate:
            model_version_activate(version=version)
            status, code = TrainingRun.Status.ACTIVATED, EXIT_ACTIVATED
            forced = "" if better else ", --force"
            message = f"{version.label} 모델을 적용했습니다 ({comparison}{forced})."
        else:
            status, code = TrainingRun.Status.KEPT, EXIT_KEPT
            message = f"새 모델이 더 나빠서 지금 모델을 유지합니다 ({comparison}, 허용 오차 {options.tolerance})."
        training_run_finish(run=run, status=status, exit_code=code, reason=message, version=version)
    return Outcome(
        code,
        status,
        message,
        run=run,
        version=version,
        details={"val_bpc": new_bpc, "parent_val_bpc": old_bpc, "seconds": result.seconds},
    )
