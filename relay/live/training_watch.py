"""Open pages watch a training run live, wherever the run is (a cron job, another machine).

A run writes where it stands into its TrainingRun row (management.services.
training_run_progress), about once a second and after every epoch. While a
site page is open in this process, one task per event loop reads the newest
run every TRAINING_WATCH_S seconds and, when its row changed, hands
`training.progress` — or `training.finished` once it has ended — to this
process's own site sockets through the hub. No channel layer is involved: a
cron job has none of its own in the embedded profile, and each process tells
only its own sockets, so several daphnes send no duplicates.

In the embedded profile a cron run's `model.activated` cannot reach the pages
through the in-memory layer of another process either, so there the watcher
also tells of a change of the active model. (With Redis, makedata's own
broadcast does.)
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from management import payloads
from management.models import ModelVersion, TrainingRun
from relay.transport.groups import SITE_GROUP

log = logging.getLogger(__name__)

_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


@dataclass(frozen=True)
class Seen:
    run: int | None = None
    updated: str = ""
    active: int | None = None


def watch(hub: Any) -> None:
    """Start this loop's watcher unless it runs; it ends by itself when the last site socket has left."""
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        _tasks[loop] = loop.create_task(watch_runs(hub))


def read() -> tuple[Seen, Any, Any]:
    """The newest run and the active version, as they are in the database now."""
    run = TrainingRun.objects.order_by("-id").first()
    active = ModelVersion.objects.filter(is_active=True).first()
    seen = Seen(
        run=run.pk if run else None,
        updated=run.updated_at.isoformat() if run else "",
        active=active.pk if active else None,
    )
    return seen, run, active


def changes(before: Seen, now: Seen, run: Any, active: Any) -> list[dict[str, Any]]:
    """The events that tell a page what changed between two readings."""
    told = []
    if run is not None and (now.run, now.updated) != (before.run, before.updated):
        told.append(payloads.training_payload(run))
    if not settings.REDIS_URL and active is not None and now.active != before.active:
        told.append(payloads.model_payload(active))
    return told


async def watch_runs(hub: Any) -> None:
    reading = database_sync_to_async(read)
    try:
        seen, run, _ = await reading()
    except Exception:
        log.exception("reading the training runs failed; pages are not told of training until a page reconnects")
        return
    if run is not None and run.status == "running":
        seen = replace(seen, run=None, updated="")  # a run under way: the pages hear where it stands at once
    while hub.members.get(SITE_GROUP):
        await asyncio.sleep(settings.TRAINING_WATCH_S)
        try:
            now, run, active = await reading()
        except Exception:  # the database is away: try again at the next tick
            log.warning("reading the training runs failed", exc_info=True)
            continue
        for payload in changes(seen, now, run, active):
            hub.take(SITE_GROUP, json.dumps(payload, ensure_ascii=False), 0)
        seen = now
