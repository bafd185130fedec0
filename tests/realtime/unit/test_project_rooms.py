"""The project rooms alone: join, move, leave, and what other processes say.

The link to the other processes is a fake that records subscriptions and sends; members
are fakes that record the events they are sent. No Redis, no database.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from realtime.presence import PresenceEntry
from realtime.project_rooms import ProjectRooms
from workspace.groups import project_access_group, project_presence_group

PROJECT = 1


class FakeLink:
    """A ``PresenceLink``: records subscriptions and sends."""

    origin = "here"
    channel = "troupe.proc.here"

    def __init__(self, *, has_peers: bool = True) -> None:
        self.has_peers = has_peers
        self.started = 0
        self.groups: set[str] = set()
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def start(self) -> None:
        self.started += 1

    async def subscribe(self, group: str) -> None:
        self.groups.add(group)

    async def unsubscribe(self, group: str) -> None:
        self.groups.discard(group)

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message))

    def send_direct(self, channel: str, message: dict[str, Any]) -> None:
        self.sent.append((channel, message))

    def of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(target, m) for target, m in self.sent if m["type"] == kind]


@dataclass(eq=False)
class FakeMember:
    """A ``RoomMember``: records the events sent to it."""

    key: str
    user_id: int
    events: list[dict[str, Any]] = field(default_factory=list)

    async def send_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def recheck_access(self) -> None:
        """Not used by the project rooms themselves (the hub calls it)."""

    def present(self) -> list[str]:
        """Names in the last ``presence.changed`` this member received."""
        changes = [e for e in self.events if e["type"] == "presence.changed"]
        return [line["user"]["name"] for line in changes[-1]["present"]] if changes else []


def entry(user_id: int, name: str, **changes: Any) -> PresenceEntry:
    return PresenceEntry(user_id=user_id, name=name, color="#123456", updated=1.0, **changes)


def rooms(*, has_peers: bool = True, watched: bool = False) -> tuple[ProjectRooms, FakeLink]:
    link = FakeLink(has_peers=has_peers)
    project_rooms = ProjectRooms(watched=lambda project_id: watched)
    project_rooms.link = link
    return project_rooms, link


async def delivered() -> None:
    """Let the send tasks ``deliver`` created run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_the_first_connection_subscribes_says_hello_and_is_listed() -> None:
    project_rooms, link = rooms()
    alice = FakeMember("a", 1)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    await delivered()
    assert link.started == 1
    assert link.groups == {project_presence_group(PROJECT), project_access_group(PROJECT)}
    assert [target for target, _ in link.of_type("presence.hello")] == [
        project_presence_group(PROJECT)
    ]
    [(_, published)] = link.of_type("presence.update")
    assert published["key"] == "a" and published["entry"]["name"] == "Alice"
    assert alice.present() == ["Alice"]


async def test_a_second_connection_joins_without_a_second_hello() -> None:
    project_rooms, link = rooms()
    alice, bob = FakeMember("a", 1), FakeMember("b", 2)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    await project_rooms.join(PROJECT, bob, entry(2, "Bob"))
    await delivered()
    assert len(link.of_type("presence.hello")) == 1
    assert alice.present() == bob.present() == ["Alice", "Bob"]


async def test_a_process_alone_publishes_nothing() -> None:
    project_rooms, link = rooms(has_peers=False)
    alice = FakeMember("a", 1)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    await delivered()
    assert link.sent == []
    assert alice.present() == ["Alice"]


async def test_a_move_is_published_and_announced() -> None:
    project_rooms, link = rooms()
    alice = FakeMember("a", 1)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    project_rooms.update(PROJECT, alice, entry(1, "Alice", document="script"))
    await delivered()
    assert link.of_type("presence.update")[-1][1]["entry"]["document"] == "script"
    assert project_rooms.listing(PROJECT)[0]["document"] == "script"
    assert alice.events[-1]["present"][0]["document"] == "script"


async def test_invisible_members_are_not_listed() -> None:
    project_rooms, _ = rooms()
    alice, bob = FakeMember("a", 1), FakeMember("b", 2)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    await project_rooms.join(PROJECT, bob, entry(2, "Bob", invisible=True))
    await delivered()
    assert alice.present() == ["Alice"]


async def test_the_last_connection_leaving_unsubscribes_and_is_unlisted() -> None:
    project_rooms, link = rooms(watched=False)
    alice, bob = FakeMember("a", 1), FakeMember("b", 2)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    await project_rooms.join(PROJECT, bob, entry(2, "Bob"))
    await project_rooms.leave(PROJECT, bob)
    await delivered()
    assert alice.present() == ["Alice"]
    assert link.of_type("presence.update")[-1][1] == {
        "type": "presence.update",
        "project_id": PROJECT,
        "origin": "here",
        "key": "b",
        "entry": None,
    }
    await project_rooms.leave(PROJECT, alice)
    assert link.groups == set()
    assert PROJECT not in project_rooms.members


async def test_the_access_group_is_kept_while_a_live_document_of_the_project_is_open() -> None:
    project_rooms, link = rooms(watched=True)
    alice = FakeMember("a", 1)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    await project_rooms.leave(PROJECT, alice)
    assert link.groups == {project_access_group(PROJECT)}


async def test_another_processes_connection_is_listed_until_it_leaves() -> None:
    project_rooms, _ = rooms()
    alice = FakeMember("a", 1)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    remote = {"type": "presence.update", "project_id": PROJECT, "origin": "there", "key": "c"}
    project_rooms.remote_update({**remote, "entry": entry(3, "Carol").to_message()})
    await delivered()
    assert alice.present() == ["Alice", "Carol"]
    project_rooms.remote_update({**remote, "entry": None})
    await delivered()
    assert alice.present() == ["Alice"]


async def test_a_heartbeat_drops_the_connections_it_does_not_name() -> None:
    project_rooms, _ = rooms()
    alice = FakeMember("a", 1)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    for key, user_id, name in (("c", 3, "Carol"), ("d", 4, "Dan")):
        project_rooms.remote_update(
            {
                "type": "presence.update",
                "project_id": PROJECT,
                "origin": "there",
                "key": key,
                "entry": entry(user_id, name).to_message(),
            }
        )
    project_rooms.remote_alive({"project_id": PROJECT, "origin": "there", "keys": ["c"]})
    await delivered()
    assert alice.present() == ["Alice", "Carol"]


async def test_a_hello_is_answered_with_every_local_connection() -> None:
    project_rooms, link = rooms()
    await project_rooms.join(PROJECT, FakeMember("a", 1), entry(1, "Alice"))
    await project_rooms.join(PROJECT, FakeMember("b", 2), entry(2, "Bob"))
    link.sent.clear()
    project_rooms.remote_hello({"project_id": PROJECT, "origin": "there", "reply_to": "them"})
    answers = link.of_type("presence.update")
    assert {target for target, _ in answers} == {"them"}
    assert sorted(m["key"] for _, m in answers) == ["a", "b"]


async def test_a_room_event_reaches_every_local_connection_of_the_project() -> None:
    project_rooms, _ = rooms()
    alice, bob = FakeMember("a", 1), FakeMember("b", 2)
    await project_rooms.join(PROJECT, alice, entry(1, "Alice"))
    await project_rooms.join(PROJECT + 1, bob, entry(2, "Bob"))
    project_rooms.deliver(PROJECT, {"type": "session.ended"})
    await delivered()
    assert alice.events[-1] == {"type": "session.ended"}
    assert {"type": "session.ended"} not in bob.events


async def test_the_tick_sends_a_heartbeat_naming_the_local_connections() -> None:
    project_rooms, link = rooms()
    await project_rooms.join(PROJECT, FakeMember("a", 1), entry(1, "Alice"))
    project_rooms.tick()
    [(target, beat)] = link.of_type("presence.alive")
    assert target == project_presence_group(PROJECT)
    assert beat["keys"] == ["a"] and beat["origin"] == "here"
    project_rooms.tick()
    assert len(link.of_type("presence.alive")) == 1, "at most one heartbeat per period"
