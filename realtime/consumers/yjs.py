"""The y-websocket protocol consumer: decodes frames and calls one hook per message kind;
the document consumer (``realtime.consumers.document``) fills the hooks.
"""

import asyncio
import logging
from collections import deque
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from crdt.encoding import MalformedMessage
from crdt.protocol import (
    MSG_AUTH,
    MSG_AWARENESS,
    MSG_QUERY_AWARENESS,
    MSG_SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    SYNC_UPDATE,
    ProtocolError,
    UnknownMessage,
    encode_auth_denied,
    parse_message,
)
from realtime import metrics
from realtime.closecodes import CloseCode
from realtime.consumers.base import NO_CHANNEL_LAYER, dispatch_without_hop
from realtime.daphne_integration import DIRECT_EXTENSION, DirectSocket
from realtime.framing import binary_frame
from realtime.limits import TokenBucket

logger = logging.getLogger(__name__)


class YjsProtocolConsumer(AsyncWebsocketConsumer):
    """Decodes y-websocket frames and calls one hook per message kind.

    Frames that are text, oversize, over the rate limit or malformed close this
    connection alone with a documented code and reason. Frame handling is synchronous:
    under daphne, frames arrive through the ``DirectSocket`` the consumer claims (once
    ``listen`` is called) and replies are written straight to the socket; under other
    servers the same handling runs from ASGI messages and replies queue in order.

    A peer that stops reading is closed with 4408 once the bytes waiting for it would
    pass ``TROUPE_MAX_SEND_BUFFER_BYTES`` (held by Twisted on the direct path, in the
    outbox on the ASGI path), instead of growing the process until the ping timeout.
    """

    channel_layer_alias = NO_CHANNEL_LAYER
    closed = False
    direct: DirectSocket | None = None
    _drainer: "asyncio.Task[None] | None" = None
    _outbox_bytes = 0
    accepted = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Frames touch no database: handled here, without even a handler lookup.
        if message["type"] == "websocket.receive":
            self.receive_frame(message.get("bytes"))
            return
        await dispatch_without_hop(self, message)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        knobs = settings.TROUPE
        self.max_message_bytes = knobs["MAX_MESSAGE_BYTES"]
        self.max_send_bytes = int(knobs["MAX_SEND_BUFFER_BYTES"])
        self.bucket = TokenBucket(knobs["RATE_BURST_MESSAGES"], knobs["RATE_MESSAGES_PER_SECOND"])
        self._outbox: deque[dict[str, Any]] = deque()
        self.direct = self.scope.get("extensions", {}).get(DIRECT_EXTENSION)
        if self.direct is not None:
            self.direct.claim(
                max_pending_frames=int(knobs["RATE_BURST_MESSAGES"]),
                max_pending_bytes=int(2 * self.max_message_bytes),
                max_send_bytes=self.max_send_bytes,
            )
        await super().websocket_connect(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if self.direct is not None:
            self.direct.release()
        await super().websocket_disconnect(message)

    def listen(self) -> None:
        """Start handling frames (after connecting); held frames are handled first."""
        if self.direct is None:
            return
        if self.direct.overflowed:
            self.close_soon(CloseCode.RATE_LIMITED, "too many messages before the sync")
            return
        self.direct.listen(self.receive_frame)

    def receive_frame(self, frame: bytes | None) -> None:
        """Handle one frame from the client (None for a text frame)."""
        if self.closed:
            return
        if frame is None:
            self.close_soon(
                CloseCode.PROTOCOL_VIOLATION, "text frames are not part of the protocol"
            )
            return
        if len(frame) > self.max_message_bytes:
            self.close_soon(CloseCode.TOO_BIG, f"message over {self.max_message_bytes} bytes")
            return
        if not self.bucket.take():
            self.close_soon(CloseCode.RATE_LIMITED, "too many messages; slow down")
            return
        try:
            kind, sub, payload = parse_message(frame)
            if kind == MSG_SYNC:
                if sub == SYNC_STEP1:
                    self.on_sync_step1(payload)
                elif sub == SYNC_STEP2:
                    self.on_sync_step2(payload)
                elif sub == SYNC_UPDATE:
                    self.on_sync_update(payload)
            elif kind == MSG_AWARENESS:
                self.on_awareness(payload)
            elif kind == MSG_QUERY_AWARENESS:
                self.on_query_awareness()
            elif kind == MSG_AUTH:
                raise ProtocolError("clients do not send auth messages")
        except UnknownMessage:
            return  # the protocol says unknown message types are ignored
        except MalformedMessage as exc:
            self.close_soon(CloseCode.MALFORMED, f"malformed message: {exc}")
        except ProtocolError as exc:
            self.close_soon(CloseCode.PROTOCOL_VIOLATION, f"protocol violation: {exc}")

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Accept the socket (once)."""
        if not self.accepted:
            self.accepted = True
            await super().accept(subprotocol, headers)

    async def refuse(self, code: CloseCode, reason: str) -> None:
        """Accept (if not yet), send the auth message with the reason, close with a code."""
        await self.accept()
        self.send_frame(encode_auth_denied(reason))
        await self.close_with(code, reason)

    def send_frame(self, frame: bytes) -> None:
        """Write one binary frame (in order with every other frame and the close)."""
        self.deliver(frame, binary_frame(frame) if self.direct is not None else b"")

    def deliver(self, frame: bytes, wire: bytes) -> None:
        """Write a frame a live document encoded once for all (``wire``: as websocket bytes)."""
        if self.closed:
            return
        if self.direct is not None:
            if not self.direct.send(wire):
                self._slow_reader()
            return
        self._outbox_bytes += len(frame)
        if self._outbox_bytes > self.max_send_bytes:
            self._slow_reader()
            return
        self._queue({"type": "websocket.send", "bytes": frame})

    def _slow_reader(self) -> None:
        # Nothing more is queued for it; the close follows the last whole frame sent.
        self.close_soon(
            CloseCode.SLOW_READER, f"not reading: over {self.max_send_bytes} bytes unsent"
        )

    def close_soon(self, code: CloseCode, reason: str) -> None:
        """Close with a code and a reason after what was sent; later frames are ignored."""
        if self.closed:
            return
        self.closed = True
        metrics.CLOSES.labels(str(int(code))).inc()
        logger.info("closing websocket", extra={"code": int(code), "reason": reason})
        if self.direct is not None:
            self.direct.close(int(code), reason)
        else:
            self._queue({"type": "websocket.close", "code": int(code), "reason": reason})

    async def close_with(self, code: CloseCode, reason: str) -> None:
        """``close_soon``, returning once the close is handed to the server."""
        self.close_soon(code, reason)
        if self._drainer is not None:
            await asyncio.shield(self._drainer)

    def _queue(self, message: dict[str, Any]) -> None:
        self._outbox.append(message)
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._outbox:
                message = self._outbox.popleft()
                await self.base_send(message)
                self._outbox_bytes -= len(message.get("bytes") or b"")
        except Exception:
            logger.debug("send failed; connection is closing", exc_info=True)
            self._outbox.clear()
            self._outbox_bytes = 0
        finally:
            self._drainer = None

    def on_sync_step1(self, state_vector: bytes) -> None:
        """A peer's state vector: answer with a step2."""

    def on_sync_step2(self, update: bytes) -> None:
        """What the peer had that we lacked."""

    def on_sync_update(self, update: bytes) -> None:
        """An incremental update."""

    def on_awareness(self, payload: bytes) -> None:
        """An awareness update."""

    def on_query_awareness(self) -> None:
        """A request for the full awareness state."""
