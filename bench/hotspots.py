"""Where a vote's time goes, measured in one process with cProfile (bench/load.py's companion).

    VAR_DIR=var/bench/embedded .venv/bin/python bench/hotspots.py      # after a bench/load.py run
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relay_bench REDIS_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/hotspots.py

It reuses the novel, round and users that bench/load.py's setup left in that
database, and times, per call: the snapshot a websocket gets on connect, one
vote through the REST API (token auth, as the benchmark sends it), and the
tally broadcast after a vote: its read and its one group_send on the
configured channel layer (each web process then hands it to its own sockets,
relay/transport/fanout.py, which bench/load.py measures). The top functions of each by
cumulative time are printed.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relay.settings")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")


def timed(label: str, fn, n: int, *, top: int = 18) -> float:
    fn()  # warm up: imports, caches, the first connection
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for _ in range(n):
        fn()
    profile.disable()
    per_call = (time.perf_counter() - started) / n
    print(f"\n### {label}: {per_call * 1000:.1f} ms per call ({n} calls, under cProfile)")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(top)
    print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
    return per_call


def main() -> None:
    import django

    django.setup()
    from channels.layers import get_channel_layer
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from novels.models import Novel
    from relay.transport.groups import novel_group
    from relay.transport.publish import publish
    from voting import payloads
    from voting.models import Proposal, Round
    from voting.snapshot import build_snapshot

    novel = Novel.objects.get(title="벤치마크 소설")
    round_ = Round.objects.filter(novel=novel, status=Round.Status.OPEN).get()
    proposals = list(Proposal.objects.filter(round=round_).values_list("pk", flat=True))
    tokens = list(Token.objects.filter(user__username__startswith="bench-v-").values_list("key", flat=True))
    print(f"{connection.vendor}; novel {novel.pk}; round {round_.pk}; {len(tokens)} voter tokens")

    timed("snapshot on connect (build_snapshot)", lambda: build_snapshot(novel=novel, user=AnonymousUser()), 50)

    client = Client()
    voters = iter(tokens[-200:])

    def api_vote() -> None:
        token = next(voters)
        response = client.post(
            f"/api/rounds/{round_.pk}/vote/",
            {"proposal": proposals[0]},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )
        assert response.status_code == 200, response.content[:200]

    timed("one vote through the API (request to response, broadcast included)", api_vote, 100)

    layer = get_channel_layer()
    group = novel_group(novel.pk)
    timed(
        f"tally after a vote: read + group_send ({type(layer).__name__})",
        lambda: publish(group, payloads.tally_payload(round_.pk)),
        100,
        top=10,
    )


if __name__ == "__main__":
    main()
