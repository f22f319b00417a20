"""``manage.py generate``: the engine's ``generate`` command (the original generate.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from management.engine_adapter import cli


class Command(BaseCommand):
    help = "Continue a story from --prime; the text so far is kept in generate/result.txt."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ckpt-dir", type=Path, required=True)
        parser.add_argument("--epoch", type=cli.parse_epoch, help="epoch number, best or last (default best)")
        parser.add_argument("--prime", required=True, help="the text the continuation starts with")
        parser.add_argument("--len", type=int, default=3, dest="sentences", help="sentences to write")
        parser.add_argument("--resume", action="store_true", help="continue the previous result")
        parser.add_argument("--style", help="write in the style of this source")
        parser.add_argument("--seed", type=int)
        parser.add_argument("--temperature", type=float, default=0.8)
        parser.add_argument("--device", default="cpu")
        parser.add_argument("--result", type=Path, default=cli.RESULT_PATH, help="where the text so far is kept")
        parser.add_argument(
            "--memory",
            type=float,
            metavar="WEIGHT",
            help="how much the story's own text counts, 0 to <1 (default: ENGINE_STORY_MEMORY; 0 off)",
        )
        parser.add_argument(
            "--recall",
            type=int,
            metavar="POSITIONS",
            help="how many of the story's last positions the model recalls similar moments from "
            "(default: ENGINE_STORY_RECALL; 0 off)",
        )
        parser.add_argument(
            "--adapt",
            type=float,
            metavar="LR",
            help="how fast the model learns from the story before it writes, 0 to 1 (default: ENGINE_STORY_ADAPT; 0 off)",
        )
        parser.add_argument(
            "--candidates",
            type=int,
            help="write this many side by side and keep the best (default: ENGINE_CANDIDATES; 1 streams one)",
        )
        parser.add_argument(
            "--no-copy-guard",
            action="store_true",
            help="allow 40 or more characters copied verbatim from the training text (default: ENGINE_COPY_GUARD)",
        )
        parser.add_argument(
            "--no-ngram",
            action="store_true",
            help="the network alone, without the counts of its training text mixed in (default: ENGINE_NGRAM)",
        )

    def handle(self, *args, **options) -> None:
        def show(piece: str) -> None:
            self.stdout.write(piece, ending="")
            self.stdout.flush()

        try:
            continuation = cli.generate_to_file(
                ckpt_dir=options["ckpt_dir"],
                epoch=options["epoch"],
                prime=options["prime"],
                sentences=options["sentences"],
                resume=options["resume"],
                result_path=options["result"],
                style=options["style"],
                seed=options["seed"],
                temperature=options["temperature"],
                device=options["device"],
                on_piece=show,
                memory_weight=settings.ENGINE_STORY_MEMORY if options["memory"] is None else options["memory"],
                recall=settings.ENGINE_STORY_RECALL if options["recall"] is None else options["recall"],
                copy_guard=settings.ENGINE_COPY_GUARD and not options["no_copy_guard"],
                adapt_lr=settings.ENGINE_STORY_ADAPT if options["adapt"] is None else options["adapt"],
                candidates=settings.ENGINE_CANDIDATES if options["candidates"] is None else options["candidates"],
                ngram=settings.ENGINE_NGRAM and not options["no_ngram"],
            )
        except cli.EXPECTED_ERRORS as error:
            raise CommandError(str(error)) from None
        self.stdout.write("")
        self.stdout.write(f"({len(continuation)} characters; the whole text is in {options['result']})")
