from __future__ import annotations

from django.core.management.base import BaseCommand

from management.blind import blind_rounds_decide_due
from voting.generation.worker import tick_timers


class Command(BaseCommand):
    help = "Close rounds and blind rounds past their deadline and take up abandoned generation jobs, once."

    def handle(self, *args, **options) -> None:
        closed, requeued = tick_timers()
        decided = blind_rounds_decide_due()
        self.stdout.write(
            f"{closed} round(s) closed, {requeued} job(s) taken up again, {decided} blind round(s) decided"
        )
