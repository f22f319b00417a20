"""``manage.py train``: the engine's ``train`` command (several novels in one run)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from engine.cli import EXPECTED_ERRORS, train_files


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
        try:
            result = train_files(
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
            )
        except EXPECTED_ERRORS as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"{result.epochs} epoch(s), {result.train_chars:,} characters in {result.seconds:.0f}s; "
            f"best validation {result.val_bpc:.3f} bits/char -> {result.best_path}"
        )
