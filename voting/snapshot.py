"""The state of one novel as a page needs it, built from the database.

The websocket sends it on connect (so a client that reconnects is in step at
once) and the novel page renders from the same dictionaries, so the server's
first paint and the script's later updates agree. Its pieces are the events'
own: novels.payloads, voting.payloads and management.payloads.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from management.payloads import active_model_payload
from novels import payloads as novel_payloads
from novels.models import Novel
from novels.payloads import User
from voting import payloads
from voting.selectors import current_round, latest_round


def build_snapshot(*, novel: Novel, user: User) -> dict[str, Any]:
    """Everything a page needs to be in step with the novel right now."""
    round = current_round(novel) or latest_round(novel)
    return {
        "type": "snapshot",
        "now": timezone.now().isoformat(),
        "novel": novel_payloads.novel_payload(novel),
        "me": novel_payloads.me_payload(user),
        "story": novel_payloads.story_payload(novel),
        "round": payloads.round_state_payload(round, user) if round else None,
        "generation": payloads.generation_payload(novel),
        "model": active_model_payload(),
    }
