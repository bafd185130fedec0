"""The bus alone: each message kind reaches its handler, and what the bus sends in reply.

The channel layer is a fake that records sends and hands over queued messages; the live
documents are real, with a fake store. No Redis, no database.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, get_type_hints

import pytest
from pycrdt import Doc, Text

from crdt.documents import load_document, new_document, script_text
from realtime.bus import PROCESS_CHANNEL_PREFIX, Bus
from realtime.consumers.notifications import NotificationConsumer
from realtime.live_document import LiveDocument
from tests.realtime.unit.fakes import FakeStore
from workspace import events
from workspace.groups import document_group

DOCUMENT_ID = 7
PEER = "troupe.proc.peer"


class FakeLayer:
    """A channel layer with one process channel: records sends, receives from a queue."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.groups: dict[str, set[str]] = {}

    async def new_channel(self, prefix: str) -> str:
        return f"{prefix}self"

    async def group_add(self, group: str, channel: str) -> None:
        self.groups.setdefault(group, set()).add(channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.groups.get(group, set()).discard(channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message))

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self.sent.append((channel, message))

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self.inbox.get()

    def of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(target, m) for target, m in self.sent if m["type"] == kind]


@dataclass
class FakeProjects:
    """The project rooms' side of the bus: records each call."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def deliver(self, project_id: int, event: dict[str, Any]) -> None:
        self.calls.append(("deliver", (project_id, event)))

    def remote_update(self, message: dict[str, Any]) -> None:
        self.calls.append(("remote_update", message))

    def remote_alive(self, message: dict[str, Any]) -> None:
        self.calls.append(("remote_alive", message))

    def remote_hello(self, message: dict[str, Any]) -> None:
        self.calls.append(("remote_hello", message))


@dataclass
class Wiring:
    bus: Bus
    layer: FakeLayer
    store: FakeStore
    projects: FakeProjects
    live: LiveDocument
    access: list[tuple[int, int | None]]

    async def receive(self, message: dict[str, Any]) -> None:
        """Hand the bus one message and let it and its send loop run."""
        self.layer.inbox.put_nowait(message)
        for _ in range(10):
            await asyncio.sleep(0)


@pytest.fixture
async def wiring() -> AsyncIterator[Wiring]:
    layer, store, projects = FakeLayer(), FakeStore(), FakeProjects()
    access: list[tuple[int, int | None]] = []
    documents: dict[int, LiveDocument] = {}

    async def access_changed(project_id: int, user_id: int | None) -> None:
        access.append((project_id, user_id))

    bus = Bus(
        layer,
        documents=documents.get,
        access_changed=access_changed,
        marks=store,
        projects=projects,
    )
    live = LiveDocument(DOCUMENT_ID, 1, "script", store=store, relay=bus, on_idle=lambda _: None)
    live.loaded_from(new_document("script"), {})
    documents[DOCUMENT_ID] = live
    await bus.start()
    yield Wiring(bus, layer, store, projects, live, access)
    await bus.stop()


def typed(doc: Doc[Any], text: str) -> bytes:
    before = doc.get_state()
    content = doc.get("content", type=Text)
    content.insert(len(str(content)), text)
    return bytes(doc.get_update(before))


def update_message(update: bytes, seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "doc.update",
        "document_id": DOCUMENT_ID,
        "origin": "peer",
        "reply_to": PEER,
        "seq": seq,
        "update": update,
        "bindings": {"303": 3},
        "authors": [(3, None)],
        "mark": 5,
        **extra,
    }


async def test_start_opens_the_process_channel(wiring: Wiring) -> None:
    assert wiring.bus.channel == f"{PROCESS_CHANNEL_PREFIX}self"


async def test_access_changed_goes_to_the_access_handler_even_from_this_process(
    wiring: Wiring,
) -> None:
    message = {"type": "access.changed", "project_id": 1, "user_id": 4}
    await wiring.receive({**message, "origin": wiring.bus.origin})
    assert wiring.access == [(1, 4)]


async def test_a_project_event_goes_to_the_project_rooms(wiring: Wiring) -> None:
    event = {"type": "session.ended"}
    await wiring.receive({"type": "project.event", "project_id": 1, "event": event})
    assert wiring.projects.calls == [("deliver", (1, event))]


async def test_presence_messages_go_to_the_project_rooms_by_kind(wiring: Wiring) -> None:
    for kind in ("presence.update", "presence.alive", "presence.hello"):
        await wiring.receive({"type": kind, "project_id": 1, "origin": "peer"})
    assert [name for name, _ in wiring.projects.calls] == [
        "remote_update",
        "remote_alive",
        "remote_hello",
    ]


async def test_this_process_own_messages_are_ignored(wiring: Wiring) -> None:
    await wiring.receive({"type": "presence.update", "project_id": 1, "origin": wiring.bus.origin})
    update = typed(Doc(client_id=303), "echo")
    await wiring.receive(update_message(update, 1, origin=wiring.bus.origin))
    assert wiring.projects.calls == []
    assert script_text(wiring.live.live_doc) == ""


async def test_messages_about_documents_not_loaded_here_are_ignored(wiring: Wiring) -> None:
    update = typed(Doc(client_id=303), "elsewhere")
    await wiring.receive(update_message(update, 1, document_id=99))
    assert wiring.layer.sent == []
    assert script_text(wiring.live.live_doc) == ""


async def test_a_peers_update_is_applied_and_the_new_peer_greeted(wiring: Wiring) -> None:
    update = typed(Doc(client_id=303), "from the peer")
    before = wiring.live.live_doc.get_state()
    await wiring.receive(update_message(update, 1))
    assert script_text(wiring.live.live_doc) == "from the peer"
    assert wiring.live.bindings == {303: 3}
    assert wiring.bus.document_shared(wiring.live)
    [(target, greeting)] = wiring.layer.of_type("doc.peer")
    assert target == PEER
    # The greeting goes out as the message arrives, before its update is applied.
    assert greeting["state_vector"] == before


async def test_a_relayed_update_is_kept_until_its_origin_confirms_the_commit(
    wiring: Wiring,
) -> None:
    await wiring.receive(update_message(typed(Doc(client_id=303), "kept"), 1))
    await wiring.receive(
        {"type": "doc.stored", "document_id": DOCUMENT_ID, "origin": "peer", "committed": 4}
    )
    assert wiring.live.store_unconfirmed(None) == 1, "committed 4 does not cover mark 5"
    await wiring.receive(update_message(typed(Doc(client_id=304), "more"), 2))
    await wiring.receive(
        {"type": "doc.stored", "document_id": DOCUMENT_ID, "origin": "peer", "committed": 6}
    )
    assert wiring.live.store_unconfirmed(None) == 0


async def test_a_sequence_gap_asks_the_sender_for_a_sync(wiring: Wiring) -> None:
    writer: Doc[Any] = Doc(client_id=303)
    await wiring.receive(update_message(typed(writer, "one "), 1))
    assert wiring.layer.of_type("doc.sync_request") == []
    before = wiring.live.live_doc.get_state()
    await wiring.receive(update_message(typed(writer, "three"), 3))
    [(target, request)] = wiring.layer.of_type("doc.sync_request")
    assert target == PEER
    assert request["state_vector"] == before, "asked before the late update is applied"


async def test_a_sync_request_is_answered_with_what_the_peer_lacks_and_the_mark(
    wiring: Wiring,
) -> None:
    wiring.store.marks[DOCUMENT_ID] = 9
    update = typed(Doc(client_id=303), "held here")
    wiring.live.receive_remote(update, {})
    await wiring.receive(
        {
            "type": "doc.sync_request",
            "document_id": DOCUMENT_ID,
            "origin": "peer",
            "reply_to": PEER,
            "state_vector": Doc().get_state(),
        }
    )
    [(target, reply)] = wiring.layer.of_type("doc.sync_reply")
    assert target == PEER
    assert reply["mark"] == 9
    assert script_text(load_document("script", None, [reply["update"]])) == "held here"
    assert wiring.layer.of_type("doc.peer") == [], "the reply greets the requester itself"


async def test_an_announced_state_with_more_than_ours_asks_for_a_sync(wiring: Wiring) -> None:
    ahead: Doc[Any] = Doc(client_id=303)
    typed(ahead, "ahead")
    state = {"type": "doc.state", "document_id": DOCUMENT_ID, "origin": "peer", "seq": 0}
    await wiring.receive({**state, "reply_to": PEER, "state_vector": Doc().get_state()})
    assert wiring.layer.of_type("doc.sync_request") == []
    await wiring.receive({**state, "reply_to": PEER, "state_vector": ahead.get_state()})
    assert len(wiring.layer.of_type("doc.sync_request")) == 1


async def test_a_leaving_peer_is_forgotten(wiring: Wiring) -> None:
    await wiring.receive(update_message(typed(Doc(client_id=303), "x"), 1))
    assert wiring.bus.document_shared(wiring.live)
    await wiring.receive(
        {"type": "doc.leave", "document_id": DOCUMENT_ID, "origin": "peer", "reply_to": PEER}
    )
    assert not wiring.bus.document_shared(wiring.live)


async def test_commits_are_confirmed_only_for_documents_another_process_holds(
    wiring: Wiring,
) -> None:
    await wiring.receive(update_message(typed(Doc(client_id=303), "x"), 1))
    wiring.bus.confirm_stored({DOCUMENT_ID, 99}, 12)
    for _ in range(5):
        await asyncio.sleep(0)
    [(target, confirmation)] = wiring.layer.of_type("doc.stored")
    assert target == document_group(DOCUMENT_ID)
    assert confirmation["committed"] == 12 and confirmation["origin"] == wiring.bus.origin


async def test_published_updates_are_numbered_per_document(wiring: Wiring) -> None:
    for text in ("one", "two"):
        wiring.bus.publish_update(wiring.live, text.encode(), {}, [(1, None)], 3)
    for _ in range(5):
        await asyncio.sleep(0)
    sent = wiring.layer.of_type("doc.update")
    assert [m["seq"] for _, m in sent] == [1, 2]
    assert {target for target, _ in sent} == {document_group(DOCUMENT_ID)}
    assert sent[0][1]["mark"] == 3


async def test_state_announces_wait_for_the_updates_queued_after_them(wiring: Wiring) -> None:
    # The tick announces every changed room at once; an update accepted meanwhile must
    # not wait behind all of them (each send is a Redis round trip).
    for _ in range(50):
        wiring.bus.announce_state(wiring.live, wiring.live.live_doc.get_state())
    wiring.bus.publish_update(wiring.live, b"late", {}, [(1, None)], 3)
    for _ in range(60):
        await asyncio.sleep(0)
    kinds = [m["type"] for _, m in wiring.layer.sent]
    assert kinds.count("doc.state") == 50
    assert kinds.index("doc.update") <= 1, kinds[:5]


# -- the workspace's events: each has a builder, and each reaches what handles it ------------


def workspace_events() -> dict[str, events.Event]:
    """One message of each kind ``workspace.events`` builds."""
    return {
        "access.changed": events.access_changed(project_id=1, user_id=4),
        "project.event": events.project_event(project_id=1, event={"type": "session.ended"}),
        "doc.external": events.doc_external(
            document_id=DOCUMENT_ID, update=typed(Doc(), "from http "), user_id=3
        ),
        "notification.deliver": events.notification_deliver(notification={"id": 9}, unread=2),
        "notification.read": events.notification_read(unread=0),
    }


def test_every_workspace_event_kind_has_a_builder_filling_its_typed_dict() -> None:
    built = workspace_events()
    assert set(built) == set(events.EVENT_TYPES), "a kind without a builder, or one not tried"
    for kind, message in built.items():
        assert message["type"] == kind
        assert set(message) == set(get_type_hints(events.EVENT_TYPES[kind])), kind


async def test_every_workspace_event_reaches_its_handler(wiring: Wiring) -> None:
    built = workspace_events()
    handled: set[str] = set()

    await wiring.receive(dict(built["access.changed"]))
    assert wiring.access == [(1, 4)]
    handled.add("access.changed")

    await wiring.receive(dict(built["project.event"]))
    assert wiring.projects.calls == [("deliver", (1, {"type": "session.ended"}))]
    handled.add("project.event")

    await wiring.receive(dict(built["doc.external"]))
    assert str(wiring.live.live_doc.get("content", type=Text)) == "from http "
    handled.add("doc.external")

    sent: list[dict[str, Any]] = []
    inbox = NotificationConsumer()

    async def send_json(content: dict[str, Any], close: bool = False) -> None:
        sent.append(content)

    inbox.send_json = send_json
    for kind in ("notification.deliver", "notification.read"):
        # Channels calls the method named after the type, dots as underscores.
        await getattr(inbox, kind.replace(".", "_"))(dict(built[kind]))
        handled.add(kind)
    assert sent == [
        {"type": "notification", "notification": {"id": 9}, "unread": 2},
        {"type": "notifications.read", "unread": 0},
    ]
    assert handled == set(events.EVENT_TYPES)
