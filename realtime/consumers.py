"""Websocket consumers. Protocol work lives in ``YjsProtocolConsumer``; the document
consumer fills its hooks with one room call each.
"""

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from dataclasses import replace
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError

from crdt.awareness import largest_state_bytes
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
from realtime.daphne_compat import DIRECT_EXTENSION, FLOODED, DirectSocket, binary_frame
from realtime.hub import RoomLoadFailed, get_hub
from realtime.limits import DocumentLimitExceeded, RoomFull, TokenBucket
from realtime.presence import PresenceEntry
from realtime.room import Room
from workspace.access import document_access, project_role
from workspace.documents.selectors import document_for_connection
from workspace.groups import user_group
from workspace.identity import user_colour, user_info
from workspace.live_sessions.services import (
    SessionRefused,
    room_state,
    session_end,
    session_join,
    session_spotlight,
    session_start,
)
from workspace.models import Document, Role
from workspace.notifications.selectors import inbox_snapshot
from workspace.projects.selectors import project_room_access, user_invisible
from workspace.projects.services import user_invisible_set

logger = logging.getLogger(__name__)

# An alias that names no layer: rooms use the hub's process-wide channel, so a consumer
# needs no channel of its own (and no per-connection channel-layer traffic).
NO_CHANNEL_LAYER = "troupe-consumers-have-no-channel"
# The reason sent with 1011 when the database cannot be reached at connect.
STORAGE_UNAVAILABLE = "storage is unavailable; retry later"


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

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch hops to a thread to recycle DB connections before every
        # message; frames touch no database, so they skip it.
        if message["type"] == "websocket.receive":
            self.receive_frame(message.get("bytes"))
        else:
            await super().dispatch(message)

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

    async def refuse(self, code: CloseCode, reason: str) -> None:
        """Accept, send the auth message with the reason, close with a 44xx code."""
        await self.accept()
        self.send_frame(encode_auth_denied(reason))
        await self.close_with(code, reason)

    def send_frame(self, frame: bytes) -> None:
        """Write one binary frame (in order with every other frame and the close)."""
        self.deliver(frame, binary_frame(frame) if self.direct is not None else b"")

    def deliver(self, frame: bytes, wire: bytes) -> None:
        """Write a frame a room encoded once for all: ``wire`` is it as websocket bytes."""
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
        if self.scope.get("storage_error"):
            await self.refuse(CloseCode.INTERNAL_ERROR, STORAGE_UNAVAILABLE)
            return
        if user is None or not user.is_authenticated:
            reason = self.scope.get("auth_error", "sign in or pass ?token=")
            await self.refuse(CloseCode.UNAUTHENTICATED, reason)
            return
        if self.scope.get("auth_via") == "session" and not origin_allowed(self.scope):
            await self.refuse(CloseCode.FORBIDDEN, "cross-site websocket refused (Origin)")
            return
        try:
            found = await database_sync_to_async(document_for_connection)(
                user=user, project_slug=kwargs["project"], document_slug=kwargs["document"]
            )
        except DatabaseError:
            await self.refuse(CloseCode.INTERNAL_ERROR, STORAGE_UNAVAILABLE)
            return
        if found is None:
            await self.refuse(CloseCode.NOT_FOUND, "no such project or document")
            return
        document, can_read, can_write = found
        if not can_read:
            await self.refuse(CloseCode.FORBIDDEN, "you have no access to this project")
            return
        self.document = document
        self.user_id = user.pk
        self.user_info = user_info(user)
        self.can_write = can_write
        self.max_awareness_bytes = int(settings.TROUPE["MAX_AWARENESS_BYTES"])
        await self.accept()
        hub = get_hub()
        try:
            # The hub admits at most the cap, counting joins still waiting for the load.
            room = await hub.join(document, self)
        except RoomFull:
            await self.close_with(CloseCode.ROOM_FULL, "this document has too many connections")
            return
        except RoomLoadFailed:
            await self.close_with(CloseCode.INTERNAL_ERROR, "the document could not be loaded")
            return
        if self.closed:
            room.detach(self)
            return
        self.room = room
        metrics.OPEN_CONNECTIONS.inc()
        for frame in room.greeting():
            self.send_frame(frame)
        self.listen()

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self.room is not None:
            self.room.detach(self)
            self.room = None
            metrics.OPEN_CONNECTIONS.dec()

    def on_sync_step1(self, state_vector: bytes) -> None:
        if self.room is not None:
            self.send_frame(self.room.step2_for(state_vector))

    def on_sync_step2(self, update: bytes) -> None:
        self.on_sync_update(update)

    def on_sync_update(self, update: bytes) -> None:
        if self.room is None or not self.can_write:
            return  # read-only connections' writes are dropped, never stored
        try:
            accepted = self.room.receive_update(self, update)
        except DocumentLimitExceeded as exc:
            # Nothing of the update was applied, stored or broadcast.
            self.close_soon(CloseCode.TOO_LARGE, str(exc))
            return
        if not accepted:
            self.forgeries += 1
            if self.forgeries >= settings.TROUPE["FORGERY_CLOSE_AFTER"]:
                self.close_soon(CloseCode.FORGED_CLIENT_ID, "updates written as another user")

    def on_awareness(self, payload: bytes) -> None:
        if self.room is None:
            return
        limit = self.max_awareness_bytes
        # Only a payload over the limit can hold a state over it: one comparison for the
        # rest. A larger state would be kept and sent to every joiner; refused unread.
        if len(payload) > limit and largest_state_bytes(payload) > limit:
            self.close_soon(
                CloseCode.TOO_LARGE,
                f"awareness state over {limit} bytes (TROUPE_MAX_AWARENESS_BYTES)",
            )
            return
        self.room.receive_awareness(self, payload)

    def on_query_awareness(self) -> None:
        if self.room is not None:
            frame = self.room.awareness_frame()
            if frame is not None:
                self.send_frame(frame)

    async def recheck_access(self) -> None:
        """Apply a role change now: lose write access, or be closed when removed."""
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


class LimitedJsonConsumer(AsyncJsonWebsocketConsumer):
    """A JSON socket whose client messages pass a token bucket before anything else.

    Until ``admitted`` (set once the connection is authorised and joined), and after it
    is closed, client messages are dropped unread: a refused socket's messages cost a
    flag test. Channels' own dispatch hops to a thread to recycle database connections
    before every message; client messages skip that hop (handlers that use the database
    go through ``database_sync_to_async``, which recycles them itself), so a message
    over the limit costs no thread, no parsing and no query before the 4429.
    """

    admitted = False

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        knobs = settings.TROUPE
        burst = float(knobs["PROJECT_RATE_BURST_MESSAGES"])
        rate = float(knobs["PROJECT_RATE_MESSAGES_PER_SECOND"])
        direct: DirectSocket | None = self.scope.get("extensions", {}).get(DIRECT_EXTENSION)
        if direct is not None:
            # Under daphne the limit acts where frames are parsed (see DirectSocket.gate).
            direct.gate(burst=burst, rate=rate)
            self.bucket: TokenBucket | None = None
        else:
            self.bucket = TokenBucket(burst, rate)
        await super().websocket_connect(message)

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] != "websocket.receive":
            await super().dispatch(message)
        elif not self.admitted:
            return
        elif FLOODED in message or (self.bucket is not None and not self.bucket.take()):
            await self.close_limited(CloseCode.RATE_LIMITED, "too many messages; slow down")
        else:
            await self.websocket_receive(message)

    async def close_limited(self, code: CloseCode, reason: str) -> None:
        """Say why, leave, close; messages still queued are dropped unread."""
        self.admitted = False
        metrics.CLOSES.labels(str(int(code))).inc()
        logger.info("closing websocket", extra={"code": int(code), "reason": reason})
        await self.send_json({"type": "error", "code": int(code), "error": reason})
        await self.disconnect(int(code))
        await self.close(code=int(code), reason=reason)


class ProjectConsumer(LimitedJsonConsumer):
    """``/ws/projects/<slug>``: the project room (JSON messages, each with a ``type``).

    On join the client receives ``room.snapshot``; then ``presence.changed`` and room
    events. Bad messages get an ``error`` naming the problem; the socket stays usable.
    """

    channel_layer_alias = NO_CHANNEL_LAYER
    project_id = 0
    joined = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        slug = self.scope["url_route"]["kwargs"]["project"]
        code, reason = await self._authorise(user, slug)
        await self.accept()
        if code is not None or user is None:
            code = code or CloseCode.UNAUTHENTICATED
            await self.send_json({"type": "error", "code": int(code), "error": reason})
            metrics.CLOSES.labels(str(int(code))).inc()
            await self.close(code=int(code), reason=reason)
            return
        self.key = uuid.uuid4().hex
        self.user = user
        self.user_id = user.pk
        self.session_id: int | None = None
        self.spotlight: dict[str, Any] | None = None
        self.following: dict[str, Any] | None = None
        self.entry = PresenceEntry(
            user_id=user.pk,
            name=user_info(user)["name"],
            color=user_colour(user.pk),
            invisible=await database_sync_to_async(user_invisible)(user=user),
            updated=time.time(),
        )
        hub = get_hub()
        hub.start_ticker()
        state = await database_sync_to_async(room_state)(project_id=self.project_id)
        await hub.projects.join(self.project_id, self, self.entry)
        self.joined = self.admitted = True
        await self.send_json(
            {
                "type": "room.snapshot",
                "project": slug,
                "you": {
                    "id": user.pk,
                    "name": self.entry.name,
                    "color": self.entry.color,
                    "invisible": self.entry.invisible,
                    "role": self.role,
                },
                "present": hub.projects.listing(self.project_id),
                "documents": self.documents,
                "calls": state["calls"],
                "session": state["session"],
            }
        )

    async def _authorise(self, user: Any, slug: str) -> tuple[CloseCode | None, str]:
        if self.scope.get("storage_error"):
            return CloseCode.INTERNAL_ERROR, STORAGE_UNAVAILABLE
        if user is None or not user.is_authenticated:
            return CloseCode.UNAUTHENTICATED, self.scope.get(
                "auth_error", "sign in or pass ?token="
            )
        if self.scope.get("auth_via") == "session" and not origin_allowed(self.scope):
            return CloseCode.FORBIDDEN, "cross-site websocket refused (Origin)"
        try:
            found = await database_sync_to_async(project_room_access)(user=user, project_slug=slug)
        except DatabaseError:
            return CloseCode.INTERNAL_ERROR, STORAGE_UNAVAILABLE
        if found is None:
            return CloseCode.NOT_FOUND, "no such project"
        if not found.can_read:
            return CloseCode.FORBIDDEN, "you have no access to this project"
        self.project_id = found.project_id
        self.role = found.role
        self.documents = found.documents
        return None, ""

    async def disconnect(self, code: int) -> None:
        self.admitted = False
        if self.joined:
            self.joined = False
            await get_hub().projects.leave(self.project_id, self)

    async def recheck_access(self) -> None:
        """Apply a role or visibility change now: a user who lost access is closed (4403)."""
        slug = self.scope["url_route"]["kwargs"]["project"]
        user = await database_sync_to_async(
            get_user_model().objects.filter(pk=self.user_id, is_active=True).first
        )()
        found = None
        if user is not None:
            found = await database_sync_to_async(project_room_access)(user=user, project_slug=slug)
        if found is None or not found.can_read:
            reason = "your access to this project was removed"
            await self.send_json(
                {"type": "error", "code": int(CloseCode.FORBIDDEN), "error": reason}
            )
            metrics.CLOSES.labels(str(int(CloseCode.FORBIDDEN))).inc()
            await self.disconnect(int(CloseCode.FORBIDDEN))
            await self.close(code=int(CloseCode.FORBIDDEN), reason=reason)
        else:
            self.role = found.role

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.error("send JSON text frames", None)
            return
        try:
            content = json.loads(text_data)
        except ValueError as exc:
            await self.error(f"malformed JSON: {exc}", None)
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.error("each message is a JSON object with a string 'type'", None)
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content["type"]
        project = content.get("project")
        if project is not None and project != self.scope["url_route"]["kwargs"]["project"]:
            await self.error(
                f"this socket is for project {self.scope['url_route']['kwargs']['project']!r}", kind
            )
            return
        handler = self.HANDLERS.get(kind)
        if handler is None:
            await self.error(f"unknown message type {kind!r}", kind)
            return
        await handler(self, content)

    async def on_presence_set(self, content: dict[str, Any]) -> None:
        """``{"type": "presence.set", "document": slug | null, "anchor": {...} | null}``."""
        document = content.get("document")
        anchor = content.get("anchor")
        if document is not None and document not in self.documents:
            await self.error(f"no document {document!r} in this project", "presence.set")
            return
        if anchor is not None and not valid_anchor(anchor):
            await self.error('anchor is {"scene": int} or {"panel": str}', "presence.set")
            return
        self.entry = self.entry.moved(document, anchor)
        get_hub().projects.update(self.project_id, self, self.entry)
        if self.following is not None:
            self.following = None
            await self.send_json(
                {"type": "session.follow_ended", "session": self.session_id, "reason": "navigated"}
            )

    async def on_presence_invisible(self, content: dict[str, Any]) -> None:
        """``{"type": "presence.invisible", "invisible": bool}``: your own setting, kept."""
        invisible = content.get("invisible")
        if not isinstance(invisible, bool):
            await self.error("'invisible' must be true or false", "presence.invisible")
            return
        await database_sync_to_async(user_invisible_set)(user_id=self.user_id, invisible=invisible)
        self.entry = replace(self.entry, invisible=invisible, updated=time.time())
        get_hub().projects.update(self.project_id, self, self.entry)
        await self.send_json({"type": "presence.invisible", "invisible": invisible})

    async def on_ping(self, content: dict[str, Any]) -> None:
        """``{"type": "ping"}`` is answered with ``pong``."""
        await self.send_json({"type": "pong"})

    async def _lead(self, kind: str) -> bool:
        role = await database_sync_to_async(project_role)(
            user=self.user, project_id=self.project_id
        )
        if role != Role.LEAD:
            await self.error(f"only leads can do {kind} (your role: {role})", kind)
            return False
        return True

    async def on_session_start(self, content: dict[str, Any]) -> None:
        """``{"type": "session.start", "title": str, "agenda": str}`` (leads)."""
        if not await self._lead("session.start"):
            return
        title, agenda = content.get("title"), content.get("agenda", "")
        if not isinstance(title, str) or not isinstance(agenda, str):
            await self.error("'title' and 'agenda' are strings", "session.start")
            return
        try:
            session = await database_sync_to_async(session_start)(
                project=self.project_id, lead=self.user, title=title, agenda=agenda
            )
        except SessionRefused as exc:
            await self.error(str(exc), "session.start")
            return
        self.session_id = session.pk

    async def on_session_join(self, content: dict[str, Any]) -> None:
        """``{"type": "session.join"}``: join the running session."""
        try:
            session = await database_sync_to_async(session_join)(
                project_id=self.project_id, user=self.user
            )
        except SessionRefused as exc:
            await self.error(str(exc), "session.join")
            return
        self.session_id = session.pk
        await self.send_json({"type": "session.joined", "session": session.pk, "you": True})

    async def on_session_spotlight(self, content: dict[str, Any]) -> None:
        """``{"type": "session.spotlight", "document": slug, "anchor": {...} | null}`` (leads)."""
        if not await self._lead("session.spotlight"):
            return
        document, anchor = content.get("document"), content.get("anchor")
        if not isinstance(document, str) or document not in self.documents:
            await self.error(f"no document {document!r} in this project", "session.spotlight")
            return
        if anchor is not None and not valid_anchor(anchor):
            await self.error('anchor is {"scene": int} or {"panel": str}', "session.spotlight")
            return
        try:
            await database_sync_to_async(session_spotlight)(
                project_id=self.project_id, lead=self.user, document=document, anchor=anchor
            )
        except SessionRefused as exc:
            await self.error(str(exc), "session.spotlight")

    async def on_session_follow(self, content: dict[str, Any]) -> None:
        """``{"type": "session.follow", "accept": bool}``: answer the last follow request."""
        accept = content.get("accept")
        if not isinstance(accept, bool):
            await self.error("'accept' must be true or false", "session.follow")
            return
        if self.spotlight is None:
            await self.error("there is no follow request to answer", "session.follow")
            return
        spot, self.spotlight = self.spotlight, None
        if not accept:
            await self.send_json({"type": "session.follow_declined", "session": self.session_id})
            return
        self.following = spot
        self._move(spot)
        await self.send_json(
            {
                "type": "session.following",
                "session": self.session_id,
                "document": spot["document"],
                "anchor": spot["anchor"],
            }
        )

    async def on_session_end(self, content: dict[str, Any]) -> None:
        """``{"type": "session.end"}`` (leads)."""
        if not await self._lead("session.end"):
            return
        try:
            await database_sync_to_async(session_end)(project_id=self.project_id)
        except SessionRefused as exc:
            await self.error(str(exc), "session.end")

    def _move(self, spot: dict[str, Any]) -> None:
        self.entry = self.entry.moved(spot["document"], spot["anchor"])
        get_hub().projects.update(self.project_id, self, self.entry)

    HANDLERS = {
        "presence.set": on_presence_set,
        "presence.invisible": on_presence_invisible,
        "ping": on_ping,
        "session.start": on_session_start,
        "session.join": on_session_join,
        "session.spotlight": on_session_spotlight,
        "session.follow": on_session_follow,
        "session.end": on_session_end,
    }

    async def error(self, message: str, for_type: str | None) -> None:
        """Tell the client what was wrong with its message; the socket stays open."""
        await self.send_json({"type": "error", "error": message, "for": for_type})

    async def send_event(self, event: dict[str, Any]) -> None:
        """A presence change or room event from the process's project rooms."""
        if not self.joined:
            return
        kind = event.get("type")
        if kind == "session.started" and event["session"]["lead_id"] == self.user_id:
            self.session_id = event["session"]["id"]
        elif kind == "session.joined" and event["user_id"] == self.user_id:
            self.session_id = event["session"]
        elif kind == "session.follow_request":
            if self.session_id != event["session"] or event["by_id"] == self.user_id:
                return
            spot = {"document": event["document"], "anchor": event["anchor"]}
            if self.following is not None:
                # Already following: move along, and say so.
                self.following = spot
                self._move(spot)
                event = {**event, "following": True}
            else:
                self.spotlight = spot
        elif kind == "session.ended":
            self.session_id = self.spotlight = self.following = None
        await self.send_json(event)


def valid_anchor(anchor: Any) -> bool:
    """An anchor points at a scene (index) or a panel (id) of the document."""
    if not isinstance(anchor, dict) or len(anchor) != 1:
        return False
    ((key, value),) = anchor.items()
    return (
        key == "scene" and isinstance(value, int) and not isinstance(value, bool) and value >= 0
    ) or (key == "panel" and isinstance(value, str) and 0 < len(value) <= 100)


class NotificationConsumer(LimitedJsonConsumer):
    """``/ws/notifications``: the signed-in user's inbox, live, in every tab on any process.

    On connect: ``notifications.snapshot`` (unread count, recent entries); then one
    ``notification`` per new or grouped entry, and ``notifications.read`` (the unread
    count) when entries are read in any tab. Entries are stored before delivery, so a
    socket that dropped finds them in the next snapshot.
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            reason = self.scope.get("auth_error", "sign in or pass ?token=")
            await self.send_json(
                {"type": "error", "code": int(CloseCode.UNAUTHENTICATED), "error": reason}
            )
            await self.close(code=int(CloseCode.UNAUTHENTICATED), reason=reason)
            return
        if self.scope.get("auth_via") == "session" and not origin_allowed(self.scope):
            reason = "cross-site websocket refused (Origin)"
            await self.send_json(
                {"type": "error", "code": int(CloseCode.FORBIDDEN), "error": reason}
            )
            await self.close(code=int(CloseCode.FORBIDDEN), reason=reason)
            return
        self.user_id = user.pk
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(await database_sync_to_async(inbox_snapshot)(user.pk))
        self.admitted = True

    async def disconnect(self, code: int) -> None:
        self.admitted = False
        group = getattr(self, "group", None)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "error": "only ping is accepted", "for": None})

    async def notification_deliver(self, message: dict[str, Any]) -> None:
        """A stored notification, from the user's group."""
        await self.send_json(
            {
                "type": "notification",
                "notification": message["notification"],
                "unread": message["unread"],
            }
        )

    async def notification_read(self, message: dict[str, Any]) -> None:
        """Entries were read (in this tab or another): the new unread count."""
        await self.send_json({"type": "notifications.read", "unread": message["unread"]})
