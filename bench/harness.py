"""A lean websocket and HTTP/1.1 client for the load benchmark (asyncio, no dependencies).

One Python process has to hold 1,000 sockets and read tens of thousands of
frames a second on a 2-core machine that also runs the servers, so the client
does as little as it can per frame: it parses frame headers in one loop over
the bytes that arrived, answers pings, and hands each text payload (bytes,
undecoded) to a callback. Client frames are masked with a zero key, which the
protocol allows and spares the XOR. Only loopback addresses are ever used.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable

LOOPBACK = {"127.0.0.1", "localhost", "::1"}

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def require_loopback(host: str) -> None:
    if host not in LOOPBACK:
        raise ValueError(f"the benchmark only talks to this machine, not {host!r}")


def frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame (mask key 0: the payload goes as it is)."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return header + b"\0\0\0\0" + payload


class WsClient(asyncio.Protocol):
    """One websocket connection. `on_text(client, payload, t)` gets every text message."""

    def __init__(self, on_text: Callable[[WsClient, bytes, float], None], request: bytes, ident: int = 0) -> None:
        self.on_text = on_text
        self.request = request
        self.ident = ident
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = False
        loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future = loop.create_future()
        self.closed: asyncio.Future = loop.create_future()
        self.close_code: int | None = None
        self.fragments: bytearray | None = None
        self.received = 0

    # asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            status = head.split(" ", 2)[1] if " " in head else "?"
            if status != "101":
                if not self.handshake.done():
                    self.handshake.set_exception(ConnectionRefusedError(f"handshake answered {status}"))
                self.transport.close()
                return
            self.open = True
            if not self.handshake.done():
                self.handshake.set_result(True)
        self._frames()

    def connection_lost(self, exc) -> None:
        self.open = False
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionResetError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    # Frames ---------------------------------------------------------------------

    def _frames(self) -> None:
        buf = self.buffer
        pos, size = 0, len(buf)
        now = time.monotonic()
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if size - start < length:
                break
            payload = bytes(buf[start : start + length])
            pos = start + length
            self._frame(b0 & 0x0F, bool(b0 & 0x80), payload, now)
        if pos:
            del buf[:pos]

    def _frame(self, opcode: int, fin: bool, payload: bytes, now: float) -> None:
        if opcode in (OP_TEXT, OP_BIN, OP_CONT):
            if opcode != OP_CONT:
                self.fragments = None
            if not fin:
                self.fragments = (self.fragments or bytearray()) + payload
                return
            if self.fragments is not None:
                payload, self.fragments = bytes(self.fragments + payload), None
            self.received += 1
            self.on_text(self, payload, now)
        elif opcode == OP_PING:
            self.transport.write(frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if self.open:
                self.transport.write(frame(OP_CLOSE, payload[:2]))
            self.open = False
            self.transport.close()

    # Sending ----------------------------------------------------------------------

    def send_text(self, text: str) -> bool:
        if not self.open or self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(frame(OP_TEXT, text.encode("utf-8")))
        return True

    def close(self, code: int = 1000) -> None:
        if self.open and self.transport is not None:
            self.transport.write(frame(OP_CLOSE, code.to_bytes(2, "big")))
            self.open = False
        if self.transport is not None:
            asyncio.get_running_loop().call_later(1.0, self.transport.abort)


def upgrade_request(host: str, port: int, path: str, *, origin: str | None, cookie: str | None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def ws_connect(
    host: str,
    port: int,
    path: str,
    on_text: Callable[[WsClient, bytes, float], None],
    *,
    origin: str | None = None,
    cookie: str | None = None,
    ident: int = 0,
    timeout: float = 30.0,
) -> WsClient:
    require_loopback(host)
    loop = asyncio.get_running_loop()
    request = upgrade_request(host, port, path, origin=origin, cookie=cookie)
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: WsClient(on_text, request, ident), host, port), timeout
    )
    await asyncio.wait_for(client.handshake, timeout)
    return client


# --- HTTP/1.1 with keep-alive -------------------------------------------------------


class HttpError(Exception):
    pass


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; requests go one at a time."""

    def __init__(self, host: str, port: int) -> None:
        require_loopback(host)
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _ensure(self) -> None:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        await self._ensure()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        try:
            status, answer_headers, data = await self._read_response()
        except (asyncio.IncompleteReadError, ConnectionError, HttpError):
            self.drop()
            raise
        if answer_headers.get("connection", "").lower() == "close":
            self.drop()
        return status, answer_headers, data

    async def _read_response(self) -> tuple[int, dict[str, str], bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError(f"bad status line {lines[0]!r}") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
            return status, headers, bytes(data)
        length = int(headers.get("content-length", "0"))
        return status, headers, await self.reader.readexactly(length)


class HttpPool:
    """A few keep-alive connections to one server, shared by many concurrent requests."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
        for _ in range(size):
            self.idle.put_nowait(HttpConnection(host, port))

    async def request(self, method: str, path: str, **kwargs) -> tuple[int, dict[str, str], bytes]:
        connection = await self.idle.get()
        try:
            try:
                return await connection.request(method, path, **kwargs)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed an idle keep-alive connection: once more on a new one.
                return await connection.request(method, path, **kwargs)
        finally:
            self.idle.put_nowait(connection)

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().drop()
