"""`manage.py buildbook <novel>`: write the files (EPUB, PDF, text) of a finished novel's book."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from novels.book import files
from relay.common.errors import DomainError


class Command(BaseCommand):
    help = "Write the files of a finished novel's book as it stands (novels/book/files.py)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("novel", type=int, help="the novel's id")

    def handle(self, *args, **opts) -> None:
        try:
            book = files.build(opts["novel"], say=self.stdout.write)
        except DomainError as error:
            raise CommandError(f"novel {opts['novel']}: {error.message}") from None
        if book is None:
            self.stdout.write(f"novel {opts['novel']}: another build is under way")
        else:
            self.stdout.write(f"novel {opts['novel']}: the book's files are ready ({book.digest})")
