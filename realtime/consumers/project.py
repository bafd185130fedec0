"""``/ws/projects/<slug>``: one connection to a project room."""

import json
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from realtime import metrics
from realtime.auth import admitted_user, connection_user, origin_allowed
from realtime.closecodes import CloseCode
from realtime.consumers.base import NO_CHANNEL_LAYER, LimitedJsonConsumer
from realtime.db_threads import on_connect_thread
from realtime.hub import get_hub
from realtime.presence import PresenceEntry
from workspace.access import project_role
from workspace.identity import user_colour, user_info
from workspace.live_sessions.services import (
    SessionRefused,
    room_state,
    session_end,
    session_join,
    session_spotlight,
    session_start,
)
from workspace.models import Role
from workspace.projects.selectors import RoomAccess, project_room_access, user_invisible
from workspace.projects.services import user_invisible_set


class ProjectConsumer(LimitedJsonConsumer):
    """``/ws/projects/<slug>``: the project room (JSON messages, each with a ``type``).

    On join the client receives ``room.snapshot``; then ``presence.changed`` and room
    events. Bad messages get an ``error`` naming the problem; the socket stays usable.
    """

    channel_layer_alias = NO_CHANNEL_LAYER
    project_id = 0
    joined = False

    async def admit(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["project"]
        user, via, error, room = await on_connect_thread(
            _room_connection,
            scope=self.scope,
            project_slug=slug,
            origin_ok=origin_allowed(self.scope),
        )
        admitted = admitted_user(self.scope, user, via, error)
        if isinstance(admitted, tuple):
            await self.refuse(*admitted)
            return
        user = admitted
        if room is None:
            await self.refuse(CloseCode.NOT_FOUND, "no such project")
            return
        if not room.access.can_read or room.state is None:
            await self.refuse(CloseCode.FORBIDDEN, "you have no access to this project")
            return
        state = room.state
        self.project_id = room.access.project_id
        self.role = room.access.role
        self.documents = room.access.documents
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
            invisible=room.invisible,
            updated=time.time(),
        )
        hub = get_hub()
        hub.start_ticker()
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


@dataclass(frozen=True, slots=True)
class RoomJoin:
    """What a project-room connection needs from storage: access, presence, the room."""

    access: RoomAccess
    invisible: bool
    # Open calls and the live session (``room_state``); None without read access.
    state: dict[str, Any] | None


def _room_connection(
    *, scope: dict[str, Any], project_slug: str, origin_ok: bool
) -> tuple[User | None, str | None, str | None, RoomJoin | None]:
    """The user, how they authenticated, why not, and what joining the room needs: one
    turn on a set-up thread (it was five turns of Channels' one database thread). A
    session socket from another site learns nothing more (``origin_ok``)."""
    user, via, error = connection_user(
        raw_token=scope.get("raw_token"), session_key=scope.get("session_key")
    )
    if user is None or (via == "session" and not origin_ok):
        return user, via, error, None
    access = project_room_access(user=user, project_slug=project_slug)
    if access is None:
        return user, via, error, None
    if not access.can_read:
        return user, via, error, RoomJoin(access, invisible=False, state=None)
    invisible = user_invisible(user=user)
    return user, via, error, RoomJoin(access, invisible, room_state(project_id=access.project_id))
