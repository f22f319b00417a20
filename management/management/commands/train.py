"""``manage.py train``: the engine's ``train`` command (several novels in one run)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from management.engine_adapter import cli
from management.models import TrainingRun
from management.services import training_run_finish, training_run_start, training_run_watch

# The options a run's record keeps (what was trained on and how).
RECORDED = ("src", "out", "epochs", "size", "time_budget", "init_from", "resume", "device", "dry_run", "seed")


class Command(BaseCommand):
    help = "Train the GRU on several novels at once; checkpoints go to --out."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--src", nargs="+", required=True, help="text files or folders of .txt files")
        parser.add_argument("--out", type=Path, required=True, help="folder for checkpoints")
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--size", choices=("tiny", "small", "default", "large"), default="default")
        parser.add_argument("--time-budget", type=float, metavar="SECONDS")
        parser.add_argument("--init-from", type=Path, metavar="CKPT", help="fine-tune from this checkpoint")
        parser.add_argument("--resume", action="store_true", help="resume from OUT/last.pt")
        parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
        parser.add_argument("--dry-run", action="store_true", help="two windows of one epoch: a smoke test")
        parser.add_argument("--vocab", type=Path, help="a vocabulary from buildvocab (default: built from --src)")
        parser.add_argument("--seed", type=int)

    def handle(self, *args, **options) -> None:
        recorded = {k: str(v) if isinstance(v, Path) else v for k, v in options.items() if k in RECORDED}
        try:
            run = training_run_start(options={"command": "train", **recorded})
        except DatabaseError as error:  # the engine needs no database: train, unrecorded
            self.stdout.write(f"학습 기록은 남기지 않습니다 (데이터베이스: {str(error).splitlines()[0]}).")
            run = None
        watch = training_run_watch(run=run) if run is not None else None
        try:
            result = cli.train_files(
                options["src"],
                out_dir=options["out"],
                size=options["size"],
                epochs=options["epochs"],
                time_budget_s=options["time_budget"],
                init_from=options["init_from"],
                resume=options["resume"],
                device=options["device"],
                dry_run=options["dry_run"],
                vocab_path=options["vocab"],
                seed=options["seed"],
                log=self.stdout.write,
                watch=watch,
            )
        except cli.EXPECTED_ERRORS as error:
            _finish(run, TrainingRun.Status.FAILED, 1, str(error))
            raise CommandError(str(error)) from None
        except BaseException as error:  # Ctrl-C, or a failure: the run is over either way
            reason = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
            _finish(run, TrainingRun.Status.FAILED, 1, reason)
            raise
        reason = f"{result.best_path}: 검증 {result.val_bpc:.3f} bits/char (사이트의 모델은 바꾸지 않음)"
        _finish(run, TrainingRun.Status.TRAINED, 0, reason)
        self.stdout.write(
            f"{result.epochs} epoch(s), {result.train_chars:,} characters in {result.seconds:.0f}s; "
            f"best validation {result.val_bpc:.3f} bits/char -> {result.best_path}"
        )


def _finish(run: TrainingRun | None, status: str, exit_code: int, reason: str) -> None:
    if run is not None:
        training_run_finish(run=run, status=status, exit_code=exit_code, reason=reason)
