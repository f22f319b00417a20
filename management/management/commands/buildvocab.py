"""``manage.py buildvocab``: the engine's ``vocab`` command, for people who live in manage.py."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from management.engine_adapter import cli


class Command(BaseCommand):
    help = "Build a character (or morpheme) vocabulary from novels."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--src", nargs="+", required=True, help="text files or folders of .txt files")
        parser.add_argument("--out", type=Path, required=True, help="where to write the vocabulary (JSON)")
        parser.add_argument("--mode", choices=cli.MODES, default="char")
        parser.add_argument("--min-count", type=int, default=1, help="rarer characters become <unk>")

    def handle(self, *args, **options) -> None:
        try:
            vocab = cli.build_vocab(
                options["src"], out=options["out"], mode=options["mode"], min_count=options["min_count"]
            )
        except cli.EXPECTED_ERRORS as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"{options['out']}: {len(vocab)} tokens ({vocab.mode}), {len(vocab.styles)} styles, hash {vocab.hash[:12]}"
        )
