"""What the apps' services call to tell the browsers, once their transaction commits.

Each app builds its own payloads (novels.payloads, voting.payloads,
management.payloads) from its rows as the service writes them, and announces
them here, at the bottom of the house, as zulip's actions call send_event:
`to_novel`, `to_site`, `to_people`. Every call schedules the send with
transaction.on_commit, so nobody is told about a change that was rolled back.
Payloads carry ids, numbers and strings only.

A round's tally is not sent per vote: `tally_changed` marks it, and the tally
coalescer (relay.transport.tallies) sends at most one frame per novel per
interval. Any later event of that novel sends the waiting tally first, so the
pages see events in the order they happened (the tally before round.closed).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Any

from django.db import transaction

from relay.transport.groups import SITE_GROUP, novel_group, user_group
from relay.transport.publish import publish
from relay.transport.tallies import TallyCoalescer

_tallies: TallyCoalescer | None = None
_tallies_lock = threading.Lock()


def to_novel(novel_id: int, payload: dict[str, Any]) -> None:
    """Send to everyone watching the novel once the current transaction commits."""

    def send() -> None:
        if _tallies is not None:
            _tallies.flush(novel_id)
        publish(novel_group(novel_id), payload)

    transaction.on_commit(send)


def to_site(payload: dict[str, Any]) -> None:
    """Send to every open page (all novels, the lists) once the current transaction commits."""
    transaction.on_commit(lambda: publish(SITE_GROUP, payload))


def to_people(user_ids: set[int] | list[int], payload: dict[str, Any]) -> None:
    """Send to these people's own pages, whatever page of the site they have open, once the transaction
    commits. Each person's group alone gets it: nobody learns who else did."""
    users = sorted(set(user_ids))

    def send() -> None:
        for user_id in users:
            publish(user_group(user_id), payload)

    if users:
        transaction.on_commit(send)


def now_to_novel(novel_id: int, payload: dict[str, Any], *, hold_s: float = 0.0) -> None:
    """Send at once, outside any transaction (the AI's text as it is written); `hold_s`: the web process may
    keep it back that long to send it in one frame with the next event (relay.transport.fanout)."""
    publish(novel_group(novel_id), payload, hold_s=hold_s)


def tally_changed(novel_id: int, round_id: int, slot: str, read: Callable[[int], dict[str, Any] | None]) -> None:
    """Mark the round's tally changed once the transaction commits; the frame goes out coalesced.

    `read(round_id)` builds the tally payload when the frame is due; `slot` names the round in the keys
    web processes share (relay.transport.tally_slots)."""
    tallies = coalescer(read)
    transaction.on_commit(lambda: tallies.mark(novel_id, round_id, slot))


def coalescer(read: Callable[[int], dict[str, Any] | None]) -> TallyCoalescer:
    """This process's tally coalescer (made by the first tally marked)."""
    global _tallies
    with _tallies_lock:
        if _tallies is None:
            _tallies = TallyCoalescer(read=read, group_of=novel_group)
        return _tallies


def flush_tallies() -> None:
    """Send every tally still waiting for its window now."""
    if _tallies is not None:
        _tallies.flush_all()


# A command that exits right after a vote (relayworker --once) still sends it.
# threading's exit hooks run before concurrent.futures closes the executors
# that async_to_sync needs; a plain atexit hook would run too late.
getattr(threading, "_register_atexit", atexit.register)(flush_tallies)
