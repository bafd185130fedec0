"""Project rooms in this process: local connections, presence replicas, room events.

Vocabulary: in ``realtime`` a *room* is always a project room, what ``/ws/projects/<slug>``
joins: who is where in the project (presence) and the project's events. A document held
in memory is a *live document* (``realtime.live_document``), never a room.

A project room connection announces where its user is; the process relays that to the
other processes holding the project and tells its local connections whenever the
listing changes. Domain events sent to the project's group after a commit (calls,
sessions) are delivered to every local connection of the project.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from realtime.presence import HEARTBEAT_SECONDS, PresenceEntry, ProjectPresence
from workspace.groups import project_access_group, project_presence_group


class RoomMember(Protocol):
    """What a project room needs of a connection (the project consumer)."""

    key: str
    user_id: int

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send one JSON event to the socket."""

    async def recheck_access(self) -> None:
        """Re-read the user's access after a role or visibility change."""


class PresenceLink(Protocol):
    """What the project rooms send and subscribe through (the process's ``Bus``)."""

    origin: str
    channel: str
    has_peers: bool

    async def start(self) -> None:
        """Open the process channel (once)."""

    async def subscribe(self, group: str) -> None:
        """Receive a group's messages."""

    async def unsubscribe(self, group: str) -> None:
        """Stop receiving a group's messages."""

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        """Queue a message to every process in a group."""

    def send_direct(self, channel: str, message: dict[str, Any]) -> None:
        """Queue a message to one process."""


class ProjectRooms:
    """Every project with local room connections in this process.

    It talks to the other processes through ``link`` (set by the hub once the bus, which
    delivers their messages here, exists) and asks ``watched`` whether a live document of
    a project is still open here before leaving the project's access group.
    """

    link: PresenceLink

    def __init__(self, watched: Callable[[int], bool]) -> None:
        self.watched = watched
        self.members: dict[int, dict[RoomMember, PresenceEntry]] = {}
        self.presence: dict[int, ProjectPresence] = {}
        self._listings: dict[int, list[dict[str, Any]]] = {}
        self._last_heartbeat = 0.0

    async def join(self, project_id: int, member: RoomMember, entry: PresenceEntry) -> None:
        """Add a connection; the first of a project subscribes to its group and says hello."""
        await self.link.start()
        first = project_id not in self.members
        self.members.setdefault(project_id, {})[member] = entry
        self.presence.setdefault(project_id, ProjectPresence())
        if first:
            await self.link.subscribe(project_presence_group(project_id))
            await self.link.subscribe(project_access_group(project_id))
        if first and self.link.has_peers:
            self.link.send_group(
                project_presence_group(project_id),
                {
                    "type": "presence.hello",
                    "project_id": project_id,
                    "origin": self.link.origin,
                    "reply_to": self.link.channel,
                },
            )
        self._local_changed(project_id, member, entry)

    def update(self, project_id: int, member: RoomMember, entry: PresenceEntry) -> None:
        """A connection moved, or changed its visibility."""
        if member in self.members.get(project_id, {}):
            self.members[project_id][member] = entry
            self._local_changed(project_id, member, entry)

    async def leave(self, project_id: int, member: RoomMember) -> None:
        """Remove a connection; the last of a project leaves its group."""
        local = self.members.get(project_id)
        if local is None or member not in local:
            return
        del local[member]
        self._local_changed(project_id, member, None)
        if not local:
            del self.members[project_id]
            self.presence.pop(project_id, None)
            self._listings.pop(project_id, None)
            await self.link.unsubscribe(project_presence_group(project_id))
            if not self.watched(project_id):
                await self.link.unsubscribe(project_access_group(project_id))

    def listing(self, project_id: int) -> list[dict[str, Any]]:
        """Who is visibly present in the project, across processes."""
        presence = self.presence.get(project_id)
        return presence.listing() if presence else []

    def _local_changed(
        self, project_id: int, member: RoomMember, entry: PresenceEntry | None
    ) -> None:
        presence = self.presence.get(project_id)
        if presence is None:
            return
        presence.put(self.link.origin, member.key, entry, time.monotonic())
        if self.link.has_peers:
            self._publish(project_id, member, entry)
        self._announce_if_changed(project_id)

    def _publish(self, project_id: int, member: RoomMember, entry: PresenceEntry | None) -> None:
        self.link.send_group(
            project_presence_group(project_id),
            {
                "type": "presence.update",
                "project_id": project_id,
                "origin": self.link.origin,
                "key": member.key,
                "entry": entry.to_message() if entry else None,
            },
        )

    # -- from the bus --------------------------------------------------------------------------

    def remote_update(self, message: dict[str, Any]) -> None:
        """Another process's connection joined, moved or left."""
        project_id = message["project_id"]
        presence = self.presence.get(project_id)
        if presence is None:
            return
        data = message["entry"]
        entry = PresenceEntry.from_message(data) if data else None
        if presence.put(message["origin"], message["key"], entry, time.monotonic()):
            self._announce_if_changed(project_id)

    def remote_alive(self, message: dict[str, Any]) -> None:
        """A heartbeat: the origin's live connections in the project."""
        presence = self.presence.get(message["project_id"])
        if presence is not None and presence.renew(
            message["origin"], message["keys"], time.monotonic()
        ):
            self._announce_if_changed(message["project_id"])

    def remote_hello(self, message: dict[str, Any]) -> None:
        """A process started holding the project: tell it who is here."""
        project_id = message["project_id"]
        for member, entry in self.members.get(project_id, {}).items():
            self.link.send_direct(
                message["reply_to"],
                {
                    "type": "presence.update",
                    "project_id": project_id,
                    "origin": self.link.origin,
                    "key": member.key,
                    "entry": entry.to_message(),
                },
            )

    def deliver(self, project_id: int, event: dict[str, Any]) -> None:
        """A room event (after a commit): to every local connection of the project."""
        for member in list(self.members.get(project_id, {})):
            asyncio.get_running_loop().create_task(member.send_event(event))

    # -- periodic ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Heartbeats for our entries; expiry of entries of processes that went silent."""
        now = time.monotonic()
        beat = now - self._last_heartbeat >= HEARTBEAT_SECONDS
        if beat:
            self._last_heartbeat = now
        for project_id, local in self.members.items():
            if beat and self.link.has_peers:
                self.link.send_group(
                    project_presence_group(project_id),
                    {
                        "type": "presence.alive",
                        "project_id": project_id,
                        "origin": self.link.origin,
                        "keys": [m.key for m in local],
                    },
                )
            presence = self.presence.get(project_id)
            if presence is not None and presence.expire(now, self.link.origin):
                self._announce_if_changed(project_id)

    def _announce_if_changed(self, project_id: int) -> None:
        listing = self.listing(project_id)
        if self._listings.get(project_id) == listing:
            return
        self._listings[project_id] = listing
        self.deliver(project_id, {"type": "presence.changed", "present": listing})
