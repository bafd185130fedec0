"""Minimal asyncio y-websocket client over raw `websockets`, backed by a pycrdt Doc.

Wire format (see /work/shared/protocol.md): one message per binary frame,
    sync:      0, sub, varbytes(payload)   sub 0 = step1 (state vector), 1 = step2, 2 = update
    awareness: 1, varbytes(awareness update)
    auth:      2, 0, varstring(reason)      permission denied
    query awareness: 3
varUint = 7 bits per byte, low group first, high bit = "more bytes follow".

The receive path is written for throughput (a load generator's readers must absorb
tens of thousands of frames per second): one call per frame, no intermediate objects
beyond the payload slice pycrdt needs, and updates are applied through pycrdt's
low-level transaction API (about half the cost of ``Doc.apply_update``). Once the
handshake is done, server frames are split here and unfragmented binary messages skip
websockets' parser (a paced reader's CPU per delivery: ~20 instead of ~26 us).

Usage::

    doc = Doc(); text = doc.get("content", type=Text)
    c = YClient("ws://127.0.0.1:8000/ws/yjs", "demo/doc", token="...", doc=doc)
    await c.connect(); await c.wait_synced(10)   # or: await c.synced.wait()
    await c.send_update(update_bytes)
    await c.close()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, cast
from urllib.parse import quote

from pycrdt import Doc
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

OP_BINARY = Opcode.BINARY
OP_CONT = Opcode.CONT
WS_OPEN = State.OPEN

MSG_SYNC = 0
MSG_AWARENESS = 1
MSG_AUTH = 2
MSG_QUERY_AWARENESS = 3
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2

# Awareness message `1, varbytes(update)` whose update lists zero client states
# (update = varUint(0)): our answer to "query awareness" (readers have no presence).
EMPTY_AWARENESS_MSG = b"\x01\x01\x00"


# --------------------------------------------------------------------- varuint framing
def write_varuint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]


def read_varuint(buf: bytes, pos: int) -> tuple[int, int]:
    """Return (value, position after the varuint)."""
    n = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n, pos
        shift += 7


def read_varbytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = read_varuint(buf, pos)
    end = pos + n
    if end > len(buf):
        raise ValueError("truncated message")
    return buf[pos:end], end


def sync_frame(sub: int, payload: bytes) -> bytes:
    """Encode `0, sub, varbytes(payload)`."""
    n = len(payload)
    if n < 0x80:
        return bytes((MSG_SYNC, sub, n)) + payload
    return bytes((MSG_SYNC, sub)) + write_varuint(n) + payload


def update_frame(update: bytes) -> bytes:
    return sync_frame(SYNC_UPDATE, update)


def build_url(
    base: str, room: str, token: str | None = None, params: dict[str, object] | None = None
) -> str:
    """serverUrl + "/" + room + "?" + params (room not URL-encoded, like the stock client)."""
    url = base.rstrip("/") + "/" + room.strip("/")
    q = []
    if token:
        q.append("token=" + quote(token, safe=""))
    for k, v in (params or {}).items():
        q.append(quote(str(k), safe="") + "=" + quote(str(v), safe=""))
    return url + ("?" + "&".join(q) if q else "")


# ----------------------------------------------------------------------------- client
class AuthDeniedError(Exception):
    pass


# One receive buffer shared by every connection of the process: asyncio's selector
# loop calls get_buffer/recv_into/buffer_updated back to back for one socket at a
# time, and receive_data copies the bytes out.  (A plain Protocol makes asyncio
# allocate a fresh 256 KiB bytes object per recv() call.)
_RECV_BUF = memoryview(bytearray(256 * 1024))


class _ProtoTransport(asyncio.BufferedProtocol):
    """websockets' sans-I/O ClientProtocol driven straight from an asyncio protocol.

    Frames are handed to the YClient synchronously inside buffer_updated: no queue,
    no future and no task switch per message (the websockets asyncio client costs
    several microseconds more per frame, which matters at 100k frames/s).
    Binary messages in one frame go straight to the YClient; every other frame (ping,
    close, fragments) is handed whole to the sans-I/O protocol, which answers pings.
    """

    def __init__(self, client: YClient, proto: ClientProtocol) -> None:
        self.client = client
        self.p = proto
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self._drain: asyncio.Future[None] | None = None
        self._frag: bytearray | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        # None until the handshake response is complete; then whether _frames_in runs.
        self._framing: bool | None = None
        self._partial = bytearray()

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.p.send_request(self.p.connect())
        self.flush()

    def get_buffer(self, sizehint: int) -> memoryview:
        return _RECV_BUF

    def buffer_updated(self, nbytes: int) -> None:
        chunk = _RECV_BUF[:nbytes]
        if self._framing and self.p.state is WS_OPEN:
            self._frames_in(chunk)
        elif self._framing is None:
            self._handshake_in(chunk)
        else:
            # A memoryview, not a copy: websockets' reader appends it to its own buffer.
            self.data_received(cast(bytes, chunk))

    def _handshake_in(self, chunk: memoryview) -> None:
        """Give websockets exactly the handshake response, then frame the rest here.

        The sans-I/O protocol then sits at a frame boundary, so complete frames that
        are not plain binary messages (pings, close, fragments) can be handed to it.
        """
        self._partial += chunk
        end = self._partial.find(b"\r\n\r\n")
        if end < 0:
            return
        head, rest = bytes(self._partial[: end + 4]), self._partial[end + 4 :]
        self._partial = bytearray()
        self.data_received(head)
        self._framing = self.p.state is WS_OPEN and not self.p.extensions
        if rest:
            if self._framing:
                self._frames_in(rest)
            else:
                self.data_received(bytes(rest))

    def _frames_in(self, data: memoryview | bytearray) -> None:
        """Split server frames; unfragmented binary messages go straight to the client."""
        if self._partial:
            self._partial += data
            data = self._partial
        n = len(data)
        pos = 0
        handle = self.client._handle
        while n - pos >= 2:
            ln = data[pos + 1]
            hdr = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = (data[pos + 2] << 8) | data[pos + 3]
                hdr = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(data[pos + 2 : pos + 10], "big")
                hdr = 10
            elif ln > 127:  # masked: a protocol error the protocol itself reports
                self._framing = False
                self.data_received(bytes(data[pos:]))
                pos = n
                break
            end = pos + hdr + ln
            if end > n:
                break
            if data[pos] == 0x82:  # FIN, binary, no extension bits
                handle(bytes(data[pos + hdr : end]))
            else:
                self.data_received(bytes(data[pos:end]))
            pos = end
        self._partial = bytearray(data[pos:]) if pos < n else bytearray()

    def data_received(self, data: bytes) -> None:
        p = self.p
        p.receive_data(data)
        handle = self.client._handle
        for ev in p.events_received():
            if type(ev) is Frame:
                op = ev.opcode
                if op is OP_BINARY:
                    if ev.fin:
                        d = ev.data
                        handle(d if type(d) is bytes else bytes(d))
                    else:
                        self._frag = bytearray(ev.data)
                elif op is OP_CONT and self._frag is not None:
                    self._frag += ev.data
                    if ev.fin:
                        d, self._frag = bytes(self._frag), None
                        handle(d)
                # text frames ignored; ping/pong/close handled by the protocol
            elif not self.opened.done():  # handshake Response
                if p.handshake_exc is not None:
                    self.opened.set_exception(p.handshake_exc)
                else:
                    self.opened.set_result(None)
        self.flush()

    def eof_received(self) -> None:
        self.p.receive_eof()
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("connection lost during handshake"))
        if not self.lost.done():
            self.lost.set_result(None)
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self.client._on_closed(self.p.close_code)

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # helpers
    def flush(self) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        for chunk in self.p.data_to_send():
            if chunk:
                t.write(chunk)
            elif t.can_write_eof():
                t.write_eof()
        if self.p.close_expected() and self._close_timer is None:
            self._close_timer = asyncio.get_running_loop().call_later(2.0, t.abort)

    async def send(self, frame: bytes) -> None:
        p = self.p
        if p.state is not WS_OPEN:
            raise ConnectionClosedError(None, None)
        p.send_binary(frame)
        self.flush()
        d = self._drain
        if d is not None and not d.done():
            await d

    async def close(self) -> None:
        t = self.transport
        if t is None:
            return
        if self.p.state is WS_OPEN:
            self.p.send_close(1000)
            self.flush()
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), 2.0)
        except TimeoutError:
            t.abort()


class YClient:
    """One y-websocket connection synchronising one pycrdt Doc.

    transport="proto" (default) drives websockets' sans-I/O ClientProtocol from an
    asyncio.BufferedProtocol (lowest overhead; answers pings, sends none);
    transport="asyncio" uses websockets.asyncio.client.connect (reference path: a
    queue and a task switch per message; ping_interval/max_queue apply only to it).
    `synced` is set when the server's step2 has been applied; `denied` holds the
    reason of a `2, 0, reason` refusal; wait_synced() raises AuthDeniedError for it.
    apply_remote=False makes the client drop incoming step2/update payloads once it
    is synced (a writer does not need the server's echo of its own updates).
    """

    def __init__(
        self,
        base_url: str,
        room: str,
        token: str | None = None,
        doc: Doc[Any] | None = None,
        *,
        apply_remote: bool = True,
        transport: str = "proto",
        compression: str | None = None,
        open_timeout: float = 30.0,
        ping_interval: float | None = 20.0,
        max_queue: int | None = 64,
    ) -> None:
        if transport not in ("proto", "asyncio"):
            raise ValueError("transport must be 'proto' or 'asyncio'")
        self.url = build_url(base_url, room, token)
        self.doc = doc if doc is not None else Doc()
        self.apply_remote = apply_remote
        self.transport = transport
        self.compression = compression
        self.open_timeout = open_timeout
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.denied: str | None = None
        self.close_code: int | None = None
        self.frames_in = 0
        self.ws: ClientConnection | None = None  # transport="asyncio"
        self._proto: _ProtoTransport | None = None  # transport="proto"
        self._task: asyncio.Task[None] | None = None
        self.ping_interval = ping_interval
        self.max_queue = max_queue
        self._bg: set[asyncio.Future[None]] = set()
        self._ll = getattr(self.doc, "_doc", None)  # pycrdt low-level Doc

    # -- lifecycle
    async def connect(self) -> YClient:
        step1 = sync_frame(SYNC_STEP1, self.doc.get_state())  # empty doc -> 00 00 01 00
        if self.transport == "asyncio":
            self.ws = await connect(
                self.url,
                compression=self.compression,
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=None if self.ping_interval is None else 60,
                max_size=None,
                max_queue=self.max_queue,
                close_timeout=2,
            )
            with contextlib.suppress(ConnectionClosed):  # refused: wait_synced reports it
                await self.ws.send(step1)
            self._task = asyncio.create_task(self._recv_loop())
            return self
        uri = parse_uri(self.url)
        ext = [ClientPerMessageDeflateFactory()] if self.compression == "deflate" else None
        proto = ClientProtocol(uri, extensions=ext, max_size=None)
        loop = asyncio.get_running_loop()

        async def _open() -> None:
            _, pr = await loop.create_connection(
                lambda: _ProtoTransport(self, proto),
                uri.host,
                uri.port,
                ssl=True if uri.secure else None,
            )
            self._proto = pr
            try:
                await pr.opened
            except BaseException:
                if pr.transport is not None:
                    pr.transport.abort()
                raise

        await asyncio.wait_for(_open(), self.open_timeout)
        assert self._proto is not None
        with contextlib.suppress(ConnectionClosed):  # refused: wait_synced reports it
            await self._proto.send(step1)
        return self

    async def wait_synced(self, limit_s: float | None = None) -> None:
        """Wait for the server's step2; raise if the server refused or closed first."""
        waiters = {
            asyncio.ensure_future(self.synced.wait()),
            asyncio.ensure_future(self.closed.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        if self.synced.is_set():
            return
        if self.denied is not None:
            raise AuthDeniedError(self.denied)
        if self.closed.is_set():
            raise ConnectionError(f"closed before sync (code {self.close_code})")
        raise TimeoutError("not synced within timeout")

    async def close(self) -> None:
        if self._proto is not None:
            await self._proto.close()
            return
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    def _on_closed(self, code: int | None) -> None:
        self.close_code = code
        self.closed.set()

    # -- sending
    async def send_update(self, update: bytes) -> None:
        await self.send_frame(update_frame(update))

    async def send_frame(self, frame: bytes) -> None:
        """Send one already-encoded y-websocket message; waits only for transport drain."""
        if self._proto is not None:
            await self._proto.send(frame)
        else:
            assert self.ws is not None
            await self.ws.send(frame)

    # -- receiving
    async def _recv_loop(self) -> None:
        ws = self.ws
        assert ws is not None
        handle = self._handle
        try:
            async for data in ws:
                handle(data)
        except ConnectionClosed:
            pass
        finally:
            self._on_closed(ws.close_code)

    def _apply(self, update: bytes) -> None:
        ll = self._ll
        if ll is None:
            self.doc.apply_update(update)
            return
        txn = ll.create_transaction()
        try:
            ll.apply_update(txn, update)
            txn.commit()
        finally:
            txn.drop()

    def _handle(self, data: bytes | str) -> None:
        self.frames_in += 1
        if isinstance(data, str) or not data:
            return
        kind = data[0]
        if kind == MSG_SYNC:
            sub = data[1]
            n = data[2]
            if n < 0x80:
                pos = 3
            else:
                n, pos = read_varuint(data, 2)
            if sub == SYNC_UPDATE:
                if self.apply_remote or not self.synced.is_set():
                    self._apply(data[pos : pos + n])
            elif sub == SYNC_STEP2:
                if self.apply_remote or not self.synced.is_set():
                    self._apply(data[pos : pos + n])
                self.synced.set()
            elif sub == SYNC_STEP1:
                sv = data[pos : pos + n]
                step2 = sync_frame(SYNC_STEP2, self.doc.get_update(sv))
                self._spawn(self._send_quiet(step2))
        elif kind == MSG_AWARENESS:
            pass  # content ignored
        elif kind == MSG_AUTH:
            try:
                reason, _ = read_varbytes(data, 2)
                self.denied = reason.decode("utf-8", "replace")
            except (IndexError, ValueError):
                self.denied = ""
        elif kind == MSG_QUERY_AWARENESS:
            self._spawn(self._send_quiet(EMPTY_AWARENESS_MSG))
        # other types: ignored

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        fut = asyncio.ensure_future(coro)
        self._bg.add(fut)
        fut.add_done_callback(self._bg.discard)

    async def _send_quiet(self, frame: bytes) -> None:
        try:
            await self.send_frame(frame)
        except (ConnectionClosed, ConnectionError):
            pass
