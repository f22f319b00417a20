"""The live relay of one novel over a websocket (protocol: docs/websocket.md).

`connect` finds the novel, joins its group and sends a snapshot; `receive`
guards the connection (size, JSON, flood) and dispatches to one small helper
per message type; the helpers call the same services as the HTTP views.
Group events ("relay.event") reach the socket through its process's hub
(relay.transport.fanout) and are only forwarded. SiteConsumer (/ws/site/) only listens
to the site-wide events, for the pages that list novels, sources and models.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError

from novels.models import Novel
from relay.common.errors import DomainError, InvalidField
from relay.live import training_watch
from relay.live.throttle import FloodGuard
from relay.transport import fanout, layer_watch
from relay.transport.groups import SITE_GROUP, novel_group, session_group, short_hash, user_group
from relay.transport.presence import ACTIVITIES, presence, reader_id
from relay.transport.publish import end_sockets
from relay.transport.wire import SCOPE_KEY as WIRE_KEY
from relay.transport.wire import Connection
from voting import actions
from voting.services import proposal_create, vote_withdraw
from voting.snapshot import build_snapshot

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4096
CLOSE_LOGGED_OUT = 4401  # the browser's session logged out: the page connects again, as nobody
CLOSE_NOT_FOUND = 4404
CLOSE_ABUSE = 4429
CLOSE_TOO_MANY = 4430  # this browser or address has SOCKETS_PER_SESSION / SOCKETS_PER_ADDRESS open already
CLOSE_INTERNAL_ERROR = 1011
TOO_MANY_SOCKETS = "이 브라우저(또는 주소)에서 열린 연결이 너무 많습니다. 다른 탭을 닫고 잠시 후 다시 시도해 주세요."
DATABASE_UNAVAILABLE = "데이터베이스에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요."
SERVER_ERROR = "이 요청을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요."


class BadMessage(DomainError):
    code = "bad_message"
    message = "메시지 형식이 올바르지 않습니다."


# The database side of each message, run in a thread by the consumer.

# The database work of a socket touches no state of the consumer, so it runs in
# the loop's thread pool, as the HTTP views do (relay.handler), not in Channels'
# single thread-sensitive executor: 1,000 pages connecting at once, or votes
# from many sockets, no longer queue one by one behind each other (bench/load.py
# with 90 % of the votes over sockets backed up at 200 votes/s, each daphne
# using two thirds of a core). One socket's messages still run one at a time,
# in order: the consumer awaits each before it reads the next.
in_pool = partial(database_sync_to_async, thread_sensitive=False)


def novel_exists(novel_id: int) -> bool:
    return Novel.objects.filter(pk=novel_id).exists()


def snapshot_of(novel_id: int, user: Any) -> dict[str, Any]:
    return build_snapshot(novel=Novel.objects.get(pk=novel_id), user=user)


def parse_message(text: str) -> Any:
    """The JSON of a message, or BadMessage: also for nesting too deep for the parser."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadMessage("JSON 형식이 아닙니다.") from None


def propose(*, novel_id: int, user: Any, content: dict[str, Any]) -> dict[str, Any]:
    fields = actions.proposal_fields(content)
    round = actions.taking_votes(novel_id)
    proposal_create(round=round, author=user, **fields)
    return actions.my_vote(round, user)


def vote(*, novel_id: int, user: Any, content: dict[str, Any]) -> dict[str, Any]:
    vote = actions.vote_by_id(user=user, data=content, novel_id=novel_id)
    return actions.voted_message(vote.round_id, vote.proposal_id)


def withdraw(*, novel_id: int, user: Any, content: dict[str, Any]) -> dict[str, Any]:
    round = actions.taking_votes(novel_id)
    vote_withdraw(round=round, user=user)
    return actions.voted_message(round.pk, None)


def candidate_vote_action(*, novel_id: int, user: Any, content: dict[str, Any]) -> dict[str, Any]:
    round = actions.taking_votes(novel_id)
    index = actions.candidate_vote(user=user, data=content, round=round)
    return {"type": "candidate_voted", "round": round.pk, "index": index}


ACTIONS = {"propose": propose, "vote": vote, "withdraw": withdraw, "candidate_vote": candidate_vote_action}


def own_groups(user: Any, session_key: str | None) -> tuple[str, ...]:
    """The logged-in person's own group (notices meant for them alone, novels.events.notify) and their
    browser session's (its sockets end when it logs out)."""
    if user is None or not user.is_authenticated:
        return ()
    return (user_group(user.pk), *((session_group(session_key),) if session_key else ()))


def session_key_of(scope: dict[str, Any]) -> str | None:
    """The socket's browser session, if its cookie named one that exists (a forged one is None)."""
    session = scope.get("session")
    return getattr(session, "session_key", None) if session is not None else None


def address_of(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def reader_of(scope: dict[str, Any]) -> str:
    """Who reads, for the counts: the browser session, or the address of a socket without one."""
    return reader_id(session_key_of(scope), address_of(scope))


def end_sockets_of_session(sender: Any, request: Any, **kwargs: Any) -> None:
    """A browser session logged out (user_logged_out): its sockets end on every process, and its page
    connects again as nobody, no longer hearing that person's notices."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        end_sockets(session_group(key))


NO_CHANNEL_LAYER = "no-layer"  # never a key of settings.CHANNEL_LAYERS (tests/relay/test_settings.py)


class HubListener(AsyncJsonWebsocketConsumer):
    """A socket that hears broadcasts through its process's hub (relay.transport.fanout), counted against
    its browser's and its address's open sockets."""

    # No channel of its own: broadcasts come through the process's hub, and
    # nothing is sent to one socket through the layer. This spares a channel, a
    # Redis subscription and a waiting task per socket. Channels' public way to
    # say so: an alias CHANNEL_LAYERS does not configure, for which
    # get_channel_layer() returns None ("None if it is not configured").
    channel_layer_alias = NO_CHANNEL_LAYER
    # Set once broadcasts may bypass send() (relay.transport.wire): daphne serves the
    # socket and nothing is held back for it any more.
    wire: Connection | None = None

    counted: list[str] = []  # the keys this socket is counted against (relay.transport.presence)

    async def forward(self, text: str) -> None:
        """A broadcast an app announced (relay.transport.announce), handed over by the hub: pass on its JSON, encoded once for all sockets."""
        await self.send(text_data=text)

    async def end(self) -> None:
        """The socket's browser session logged out: close; the page connects again as nobody."""
        await self.close(code=CLOSE_LOGGED_OUT)

    async def admit(self) -> bool:
        """Count this socket against its browser and its address; over either cap it is told why and closed."""
        keys = [f"address:{short_hash(address_of(self.scope))}"]
        caps = [settings.SOCKETS_PER_ADDRESS]
        session_key = session_key_of(self.scope)
        if session_key:
            keys.append(f"session:{short_hash(session_key)}")
            caps.append(settings.SOCKETS_PER_SESSION)
        try:
            admitted = await presence().open_socket(keys, caps)
        except Exception:  # the count is the store's trouble (Redis away): let the socket in
            log.warning("counting the sockets of a browser failed; letting it in", exc_info=True)
            return True
        if not admitted:
            await self.send_json({"type": "error", "code": "too_many_sockets", "message": TOO_MANY_SOCKETS})
            await self.close(code=CLOSE_TOO_MANY)
            return False
        self.counted = keys
        return True

    async def release(self) -> None:
        counted, self.counted = self.counted, []
        if counted:
            try:
                await presence().close_socket(counted)
            except Exception:
                log.warning("uncounting a socket failed", exc_info=True)

    @classmethod
    async def encode_json(cls, content: dict[str, Any]) -> str:
        return json.dumps(content, ensure_ascii=False)


class NovelConsumer(HubListener):
    """One browser tab watching one novel."""

    async def connect(self) -> None:
        """Accept, then close with 4404 for an unknown novel (1011 with an error if the database
        is down), else join and send the snapshot."""
        self.novel_id = int(self.scope["url_route"]["kwargs"]["novel_id"])
        self.user = self.scope.get("user") or AnonymousUser()
        self.guard = FloodGuard()
        self.joined: list[str] = []
        # Broadcasts that arrive before the snapshot is sent wait here: the
        # page must get the snapshot first, as the protocol promises.
        self.held: list[str] | None = []
        # Accept first: a close before accepting is a bare HTTP 403, and the
        # page could not tell "no such novel" from "refused".
        await self.accept()
        if not await self.admit():
            return
        try:
            if not await in_pool(novel_exists)(self.novel_id):
                await self.close(code=CLOSE_NOT_FOUND)
                return
            # Join before reading the snapshot, so no event falls between the two.
            own = own_groups(self.user, session_key_of(self.scope))
            for group in (novel_group(self.novel_id), SITE_GROUP, *own):
                await fanout.hub().join(group, self)
                self.joined.append(group)
        except (OperationalError, InterfaceError):
            await self.database_unavailable()
            return
        if await self.send_snapshot():
            layer_watch.watch(self)
            self.reader = reader_of(self.scope)
            presence().join(self.novel_id, self.reader)
            self.present = True

    async def send_snapshot(self) -> bool:
        """Send the novel as it is now; False (the page told, the socket closed) if the database is down."""
        try:
            snapshot = await in_pool(snapshot_of)(self.novel_id, self.user)
        except (OperationalError, InterfaceError):
            await self.database_unavailable()
            return False
        await self.send_json(snapshot)
        while self.held:
            held, self.held = self.held, []
            for text in held:
                await self.send(text_data=text)
        self.held = None
        self.wire = self.scope.get(WIRE_KEY)
        return True

    async def resync(self) -> None:
        """A fresh snapshot: events broadcast while Redis was away never arrived."""
        await self.send_snapshot()

    async def database_unavailable(self) -> None:
        # Say why before closing: a bare 1011 looks like a crash to the page.
        log.warning("websocket of novel %s: database unavailable", self.novel_id, exc_info=True)
        await self.send_error("database_unavailable", DATABASE_UNAVAILABLE)
        await self.close(code=CLOSE_INTERNAL_ERROR, reason="database_unavailable")

    async def disconnect(self, code: int) -> None:
        layer_watch.unwatch(self)
        for group in getattr(self, "joined", []):
            await fanout.hub().leave(group, self)
        if getattr(self, "present", False):
            self.present = False
            try:
                await presence().leave(self.novel_id, self.reader)
            except Exception:  # the count is the store's trouble; the socket is gone either way
                log.warning("presence of novel %s: leaving failed", self.novel_id, exc_info=True)
        await self.release()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Refuse floods, binary frames, oversized and non-JSON messages without closing."""
        if not self.guard.allow():
            if self.guard.abusive:
                log.warning("closing websocket of novel %s: flooding", self.novel_id)
                await self.close(code=CLOSE_ABUSE)
                return
            await self.send_error("rate_limited", "메시지를 너무 빨리 보내고 있습니다. 잠시 후 다시 시도해 주세요.")
            return
        if text_data is None:
            await self.send_error("bad_message", "텍스트(JSON) 메시지만 받습니다.")
            return
        if len(text_data.encode("utf-8")) > MAX_MESSAGE_BYTES:
            await self.send_error("too_large", f"메시지가 너무 깁니다 (최대 {MAX_MESSAGE_BYTES}바이트).")
            return
        try:
            content = parse_message(text_data)
        except BadMessage as error:
            await self.send_error("bad_json", error.message)
            return
        if not isinstance(content, dict):
            await self.send_error("bad_message", "메시지는 JSON 객체여야 합니다.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
            return
        if kind == "typing":
            await self.typing(content.get("what"))
            return
        action = ACTIONS.get(kind) if isinstance(kind, str) else None
        if action is None:
            await self.send_error("unknown_type", "알 수 없는 메시지 종류입니다.")
            return
        if not self.user.is_authenticated:
            await self.send_error("not_authenticated", "로그인한 사람만 제안하고 투표할 수 있습니다.")
            return
        try:
            reply = await in_pool(action)(novel_id=self.novel_id, user=self.user, content=content)
        except InvalidField as error:  # the socket's name for a field it cannot read
            await self.send_error(BadMessage.code, error.message)
            return
        except DomainError as error:
            await self.send_error(error.code, error.message)
            return
        except (OperationalError, InterfaceError):
            log.warning("websocket of novel %s: database unavailable", self.novel_id, exc_info=True)
            await self.send_error("database_unavailable", DATABASE_UNAVAILABLE)
            return
        except Exception:
            # Whatever a message caused, the page keeps its live connection and is told.
            log.exception("websocket of novel %s: a %r message failed", self.novel_id, kind)
            await self.send_error("server_error", SERVER_ERROR)
            return
        if reply:
            await self.send_json(reply)

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    async def typing(self, what: Any) -> None:
        """Someone is writing a keyword or a passage here: counted, never named (relay.transport.presence)."""
        if not self.user.is_authenticated:
            await self.send_error("not_authenticated", "로그인한 사람만 제안하고 글을 쓸 수 있습니다.")
            return
        if what not in ACTIVITIES:
            await self.send_error(BadMessage.code, "'what' 값은 proposing 또는 writing이어야 합니다.")
            return
        try:
            await presence().active(self.novel_id, what, f"user:{self.user.pk}")
        except Exception:
            log.warning("presence of novel %s: a typing report failed", self.novel_id, exc_info=True)

    async def forward(self, text: str) -> None:
        """Passed on, or held until the snapshot has gone."""
        if self.held is not None:
            self.held.append(text)
            return
        await super().forward(text)


class SiteConsumer(HubListener):
    """One page that lists what the whole site holds (novels, source texts, models): it only listens.

    It gets the site-wide events (novel.created, source.*, model.activated, and
    training.* from relay.live.training_watch) and
    the page brings its list up to date (static/relay/site.js); nothing it
    sends does anything but ping.
    """

    async def connect(self) -> None:
        self.guard = FloodGuard()
        self.joined = []
        await self.accept()
        if not await self.admit():
            return
        self.wire = self.scope.get(WIRE_KEY)
        for group in (SITE_GROUP, *own_groups(self.scope.get("user"), session_key_of(self.scope))):
            await fanout.hub().join(group, self)
            self.joined.append(group)
        training_watch.watch(fanout.hub())

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await fanout.hub().leave(group, self)
        await self.release()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Answer a ping; refuse anything else, and close a connection that floods."""
        if not self.guard.allow():
            if self.guard.abusive:
                await self.close(code=CLOSE_ABUSE)
            return
        try:
            content = parse_message(text_data) if text_data and len(text_data) <= MAX_MESSAGE_BYTES else None
        except BadMessage:
            content = None
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
            return
        await self.send_json({"type": "error", "code": "unknown_type", "message": "이 연결은 알림을 받기만 합니다."})
