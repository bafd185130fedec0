"""Websocket consumers. Protocol work lives in ``YjsProtocolConsumer``; the document
consumer fills its hooks with one room call each.
"""

import logging
import time
from typing import Any

from channels.db import database_sync_to_async
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
from realtime.auth import origin_allowed
from realtime.closecodes import CloseCode
from realtime.hub import RoomLoadFailed, get_hub
from realtime.identity import user_info
from realtime.room import Room
from workspace.models import Document
from workspace.selectors import document_access, document_by_path

logger = logging.getLogger(__name__)

# An alias that names no layer: rooms use the hub's process-wide channel, so a consumer
# needs no channel of its own (and no per-connection channel-layer traffic).
NO_CHANNEL_LAYER = "troupe-consumers-have-no-channel"


class TokenBucket:
    """Per-connection message rate limit: ``burst`` at once, ``rate`` per second after."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, burst: float, rate: float) -> None:
        self.burst = burst
        self.rate = rate
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        """Spend one token; False when the connection is over its limit."""
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class ConnectionClosed(Exception):
    """Raised inside a hook to stop processing after the connection was closed."""


class YjsProtocolConsumer(AsyncWebsocketConsumer):
    """Decodes y-websocket frames and calls one hook per message kind.

    Frames that are text, oversize, over the rate limit or malformed close this
    connection alone with a documented code and reason.
    """

    channel_layer_alias = NO_CHANNEL_LAYER
    closed = False

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch hops to a thread to recycle DB connections before every
        # message; frames touch no database, so they skip it (the hot path).
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        knobs = settings.TROUPE
        self.max_message_bytes = knobs["MAX_MESSAGE_BYTES"]
        self.bucket = TokenBucket(knobs["RATE_BURST_MESSAGES"], knobs["RATE_MESSAGES_PER_SECOND"])
        await super().websocket_connect(message)

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        frame = message.get("bytes")
        if frame is None:
            await self.close_with(
                CloseCode.PROTOCOL_VIOLATION, "text frames are not part of the protocol"
            )
            return
        if len(frame) > self.max_message_bytes:
            await self.close_with(CloseCode.TOO_BIG, f"message over {self.max_message_bytes} bytes")
            return
        if not self.bucket.take():
            await self.close_with(CloseCode.RATE_LIMITED, "too many messages; slow down")
            return
        try:
            kind, sub, payload = parse_message(frame)
            if kind == MSG_SYNC:
                if sub == SYNC_STEP1:
                    await self.on_sync_step1(payload)
                elif sub == SYNC_STEP2:
                    await self.on_sync_step2(payload)
                elif sub == SYNC_UPDATE:
                    await self.on_sync_update(payload)
            elif kind == MSG_AWARENESS:
                await self.on_awareness(payload)
            elif kind == MSG_QUERY_AWARENESS:
                await self.on_query_awareness()
            elif kind == MSG_AUTH:
                raise ProtocolError("clients do not send auth messages")
        except UnknownMessage:
            return  # the protocol says unknown message types are ignored
        except MalformedMessage as exc:
            await self.close_with(CloseCode.MALFORMED, f"malformed message: {exc}")
        except ProtocolError as exc:
            await self.close_with(CloseCode.PROTOCOL_VIOLATION, f"protocol violation: {exc}")
        except ConnectionClosed:
            return

    async def refuse(self, code: CloseCode, reason: str) -> None:
        """Accept, send the auth message with the reason, close with a 44xx code."""
        await self.accept()
        await self.send_frame(encode_auth_denied(reason))
        await self.close_with(code, reason)

    def send_frame(self, frame: bytes) -> Any:
        """Write one binary frame (awaitable)."""
        return self.base_send({"type": "websocket.send", "bytes": frame})

    async def close_with(self, code: CloseCode, reason: str) -> None:
        """Close with a code and a reason (daphne forwards it; see daphne_compat)."""
        if self.closed:
            return
        self.closed = True
        metrics.CLOSES.labels(str(int(code))).inc()
        logger.info("closing websocket", extra={"code": int(code), "reason": reason})
        await self.close(code=int(code), reason=reason)

    async def on_sync_step1(self, state_vector: bytes) -> None:
        """A peer's state vector: answer with a step2."""

    async def on_sync_step2(self, update: bytes) -> None:
        """What the peer had that we lacked."""

    async def on_sync_update(self, update: bytes) -> None:
        """An incremental update."""

    async def on_awareness(self, payload: bytes) -> None:
        """An awareness update."""

    async def on_query_awareness(self) -> None:
        """A request for the full awareness state."""


class DocumentConsumer(YjsProtocolConsumer):
    """``/ws/yjs/<project>/<document>``: one connection to a live document."""

    room: Room | None = None
    document: Document
    user_id: int
    user_info: dict[str, Any]
    can_write = False
    forgeries = 0

    async def connect(self) -> None:
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        if user is None or not user.is_authenticated:
            reason = self.scope.get("auth_error", "sign in or pass ?token=")
            await self.refuse(CloseCode.UNAUTHENTICATED, reason)
            return
        if self.scope.get("auth_via") == "session" and not origin_allowed(self.scope):
            await self.refuse(CloseCode.FORBIDDEN, "cross-site websocket refused (Origin)")
            return
        document = await database_sync_to_async(document_by_path)(
            project_slug=kwargs["project"], document_slug=kwargs["document"]
        )
        if document is None:
            await self.refuse(CloseCode.NOT_FOUND, "no such project or document")
            return
        can_read, can_write = await database_sync_to_async(document_access)(
            user=user, document=document
        )
        if not can_read:
            await self.refuse(CloseCode.FORBIDDEN, "you have no access to this project")
            return
        self.document = document
        self.user_id = user.pk
        self.user_info = user_info(user)
        self.can_write = can_write
        await self.accept()
        hub = get_hub()
        existing = hub.rooms.get(document.pk)
        if existing and len(existing.connections) >= settings.TROUPE["MAX_CONNECTIONS_PER_ROOM"]:
            await self.close_with(CloseCode.ROOM_FULL, "this document has too many connections")
            return
        try:
            room = await hub.join(document, self)
        except RoomLoadFailed:
            await self.close_with(CloseCode.INTERNAL_ERROR, "the document could not be loaded")
            return
        if self.closed:
            room.detach(self)
            return
        self.room = room
        metrics.OPEN_CONNECTIONS.inc()
        for frame in room.greeting():
            await self.send_frame(frame)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self.room is not None:
            self.room.detach(self)
            self.room = None
            metrics.OPEN_CONNECTIONS.dec()

    async def on_sync_step1(self, state_vector: bytes) -> None:
        if self.room is not None:
            await self.send_frame(self.room.step2_for(state_vector))

    async def on_sync_step2(self, update: bytes) -> None:
        await self.on_sync_update(update)

    async def on_sync_update(self, update: bytes) -> None:
        if self.room is None or not self.can_write:
            return  # read-only connections' writes are dropped, never stored
        if not self.room.receive_update(self, update):
            self.forgeries += 1
            if self.forgeries >= settings.TROUPE["FORGERY_CLOSE_AFTER"]:
                await self.close_with(CloseCode.FORGED_CLIENT_ID, "updates written as another user")
                raise ConnectionClosed

    async def on_awareness(self, payload: bytes) -> None:
        if self.room is not None:
            self.room.receive_awareness(self, payload)

    async def on_query_awareness(self) -> None:
        if self.room is not None:
            frame = self.room.awareness_frame()
            if frame is not None:
                await self.send_frame(frame)

    async def recheck_access(self) -> None:
        """Apply a role change now: lose write access, or be closed when removed."""
        from django.contrib.auth import get_user_model

        user = await database_sync_to_async(
            get_user_model().objects.filter(pk=self.user_id).first
        )()
        if user is None or not user.is_active:
            await self.close_with(CloseCode.FORBIDDEN, "account disabled")
            return
        can_read, can_write = await database_sync_to_async(document_access)(
            user=user, document=self.document
        )
        if not can_read:
            await self.close_with(CloseCode.FORBIDDEN, "your access to this project was removed")
        else:
            self.can_write = can_write
