"""What every page shows about the model: a notice while the AI is learning."""

from __future__ import annotations

from django.db import DatabaseError
from django.http import HttpRequest

from management.models import TrainingRun


def training_notice(request: HttpRequest) -> dict:
    """The run under way, if any, for the notice at the top of every page (kept live by site.js)."""
    try:
        run = TrainingRun.objects.under_way().order_by("-id").first()
    except DatabaseError:  # the page that says the database is away must still render
        run = None
    return {"training_now": run}
