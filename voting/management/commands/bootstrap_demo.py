from __future__ import annotations

from django.core.management.base import BaseCommand

from voting.demo import ensure_demo


class Command(BaseCommand):
    help = "On first start: create a demo admin, a demo novel and a small demo model (idempotent)."

    def handle(self, *args, **options) -> None:
        ensure_demo(say=lambda line: self.stdout.write(line))
