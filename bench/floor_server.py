"""The floor for bench/load.py: a bare ASGI websocket server that only broadcasts.

Run under daphne (`daphne -p 8100 bench.floor_server:application`; bench/load.py binds a free port and hands it over). It speaks
just enough of Relay Novel's protocol for the same client harness: a vote (over
the socket, `{"type": "vote", "proposal": P}`, or over HTTP, `POST /vote/` with
`proposal=P`) adds one to P's count, and a tally shaped like ours goes to every
open socket at once. No database, no channel layer, no authentication: whatever
latency this shows is daphne's and the harness's, the least ours can have.
"""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import parse_qs

clients: set = set()
counts: Counter = Counter()


def tally_message() -> str:
    tallies = [{"proposal": p, "votes": n} for p, n in sorted(counts.items())]
    return json.dumps({"type": "tally", "round": 1, "tallies": tallies, "total": sum(counts.values())})


async def broadcast() -> None:
    message = {"type": "websocket.send", "text": tally_message()}
    for send in list(clients):
        try:
            await send(message)
        except Exception:  # a socket closing mid-broadcast; the others still get it
            clients.discard(send)


async def vote(proposal: int) -> None:
    counts[proposal] += 1
    await broadcast()


async def websocket(scope, receive, send) -> None:
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            clients.add(send)
            await send({"type": "websocket.send", "text": json.dumps({"type": "snapshot", "tally": tally_message()})})
        elif event["type"] == "websocket.receive":
            try:
                message = json.loads(event.get("text") or "")
                proposal = int(message["proposal"])
            except (ValueError, KeyError, TypeError):
                continue
            if message.get("type") == "vote":
                await vote(proposal)
        elif event["type"] == "websocket.disconnect":
            clients.discard(send)
            return


async def http(scope, receive, send) -> None:
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    status, answer = 404, b"not found"
    if scope["method"] == "POST" and scope["path"] == "/vote/":
        try:
            proposal = int(parse_qs(body.decode())["proposal"][0])
        except (KeyError, ValueError, IndexError):
            status, answer = 400, b"bad proposal"
        else:
            await vote(proposal)
            status, answer = 200, b"ok"
    elif scope["path"] == "/reset/":
        counts.clear()
        status, answer = 200, b"ok"
    elif scope["path"] == "/":
        status, answer = 200, json.dumps({"clients": len(clients), "total": sum(counts.values())}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": answer})


async def application(scope, receive, send) -> None:
    if scope["type"] == "websocket":
        await websocket(scope, receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)
    elif scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
