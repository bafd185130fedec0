"""A live document alone, step by step: load, join, change, store, relay, unload.

The hub's services are fakes (``tests.realtime.unit.fakes``): no daphne, Redis or database.
"""

import asyncio
import json
import time
from typing import Any

import pytest
from django.conf import settings
from pycrdt import Doc, Text

from crdt.awareness import decode_awareness_update, encode_awareness_update
from crdt.documents import load_document, new_document, script_text
from crdt.protocol import (
    MSG_AWARENESS,
    MSG_SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    SYNC_UPDATE,
    parse_message,
)
from realtime.closecodes import CloseCode
from realtime.live_document import EMPTY_UPDATE, LiveDocument
from tests.realtime.unit.fakes import FakeConnection, FakeRelay, FakeStore, next_turn

DOCUMENT_ID = 7


def typed(doc: Doc[Any], text: str) -> bytes:
    """Append ``text`` to a script; the update it makes."""
    before = doc.get_state()
    content = doc.get("content", type=Text)
    content.insert(len(str(content)), text)
    return bytes(doc.get_update(before))


def text_of(updates: list[bytes]) -> str:
    """The script text a fresh document holds after ``updates``."""
    return script_text(load_document("script", None, updates))


def sync_updates(conn: FakeConnection) -> list[bytes]:
    """The updates of the sync-update frames written to a connection."""
    messages = [parse_message(frame) for frame in conn.frames]
    return [m.payload for m in messages if m.kind == MSG_SYNC and m.sub == SYNC_UPDATE]


def awareness_states(conn: FakeConnection) -> dict[int, str]:
    """Client ID -> awareness state of the awareness frames written to a connection."""
    states: dict[int, str] = {}
    for frame in conn.frames:
        message = parse_message(frame)
        if message.kind == MSG_AWARENESS:
            for entry in decode_awareness_update(message.payload):
                states[entry.client_id] = entry.state_json
    return states


class Idle:
    """Records the ``on_idle`` calls."""

    def __init__(self) -> None:
        self.calls: list[LiveDocument] = []

    def __call__(self, live: LiveDocument) -> None:
        self.calls.append(live)


def make(
    *, shared: bool = False, loaded: Doc[Any] | None = None
) -> tuple[LiveDocument, FakeStore, FakeRelay, Idle]:
    store, relay, idle = FakeStore(), FakeRelay(shared=shared), Idle()
    live = LiveDocument(DOCUMENT_ID, 1, "script", store=store, relay=relay, on_idle=idle)
    live.loaded_from(loaded if loaded is not None else new_document("script"), {})
    return live, store, relay, idle


async def test_load_installs_the_stored_document_and_lets_the_joiners_go_on() -> None:
    store, relay = FakeStore(), FakeRelay()
    live = LiveDocument(DOCUMENT_ID, 1, "script", store=store, relay=relay, on_idle=Idle())
    assert not live.loaded.done()
    with pytest.raises(RuntimeError):
        live.greeting()
    stored = new_document("script")
    typed(stored, "stored text")
    live.loaded_from(stored, {5: 1})
    assert live.loaded.done()
    assert live.bindings == {5: 1}
    assert script_text(live.live_doc) == "stored text"


async def test_join_greets_with_our_step1_then_the_awareness() -> None:
    live, _, _, _ = make()
    alice = FakeConnection(user_id=1, user_info={"name": "Alice"})
    live.attach(alice)
    [step1] = live.greeting()
    message = parse_message(step1)
    assert (message.kind, message.sub) == (MSG_SYNC, SYNC_STEP1)
    assert message.payload == live.live_doc.get_state()
    live.receive_awareness(alice, encode_awareness_update([(11, 1, '{"cursor": 3}')]))
    greeting = live.greeting()
    assert len(greeting) == 2
    assert parse_message(greeting[1]).kind == MSG_AWARENESS


async def test_a_step1_is_answered_with_what_the_peer_lacks() -> None:
    stored = new_document("script")
    typed(stored, "held here")
    live, _, _, _ = make(loaded=stored)
    message = parse_message(live.step2_for(Doc().get_state()))
    assert (message.kind, message.sub) == (MSG_SYNC, SYNC_STEP2)
    assert text_of([message.payload]) == "held here"


async def test_a_client_update_is_written_once_to_every_connection_in_one_frame() -> None:
    live, _, _, _ = make()
    alice, bob = FakeConnection(user_id=1), FakeConnection(user_id=2)
    live.attach(alice)
    live.attach(bob)
    writer: Doc[Any] = Doc(client_id=101)
    assert live.receive_update(alice, typed(writer, "one "))
    assert live.receive_update(alice, typed(writer, "two"))
    assert bob.frames == [], "delivery waits for the end of the event-loop turn"
    await next_turn()
    # The turn's two updates are merged into one frame; the writer's own connection gets
    # it too, as from y-websocket's server (Yjs ignores what it has).
    assert len(bob.frames) == 1 and alice.frames == bob.frames
    assert text_of(sync_updates(bob)) == "one two"
    assert script_text(live.live_doc) == "one two"


async def test_an_accepted_update_is_stored_with_the_client_ids_it_binds() -> None:
    live, store, _, _ = make()
    alice = FakeConnection(user_id=1)
    live.attach(alice)
    writer: Doc[Any] = Doc(client_id=101)
    first = typed(writer, "one ")
    second = typed(writer, "two")
    live.receive_update(alice, first)
    live.receive_update(alice, second)
    assert store.updates == [(DOCUMENT_ID, first, 1, [101]), (DOCUMENT_ID, second, 1, [])]
    assert live.bindings == {101: 1}


async def test_an_update_that_changes_nothing_is_neither_stored_nor_sent() -> None:
    live, store, _, _ = make()
    alice = FakeConnection(user_id=1)
    live.attach(alice)
    writer: Doc[Any] = Doc(client_id=101)
    update = typed(writer, "once")
    live.receive_update(alice, update)
    await next_turn()
    alice.frames.clear()
    assert live.receive_update(alice, update)
    assert live.receive_update(alice, EMPTY_UPDATE)
    await next_turn()
    assert len(store.updates) == 1
    assert alice.frames == []


async def test_structs_written_under_another_users_client_id_are_dropped() -> None:
    live, store, _, _ = make()
    alice, mallory = FakeConnection(user_id=1), FakeConnection(user_id=2)
    live.attach(alice)
    live.attach(mallory)
    alices: Doc[Any] = Doc(client_id=101)
    live.receive_update(alice, typed(alices, "mine "))
    assert not live.receive_update(mallory, typed(alices, "forged"))
    assert script_text(live.live_doc) == "mine "
    assert len(store.updates) == 1


async def test_a_shared_documents_updates_are_relayed_with_author_and_mark() -> None:
    live, store, relay, _ = make(shared=True)
    store.marks[DOCUMENT_ID] = 5
    alice = FakeConnection(user_id=1)
    live.attach(alice)
    writer: Doc[Any] = Doc(client_id=101)
    update = typed(writer, "relayed")
    live.receive_update(alice, update)
    await next_turn()
    [(document_id, whole, bindings, authors, mark)] = relay.updates
    assert (document_id, bindings, authors, mark) == (DOCUMENT_ID, {101: 1}, [(1, None)], 5)
    assert text_of([whole]) == "relayed"


async def test_a_turn_of_several_writers_is_relayed_with_each_authors_part() -> None:
    live, _, relay, _ = make(shared=True)
    alice, bob = FakeConnection(user_id=1), FakeConnection(user_id=2)
    live.attach(alice)
    live.attach(bob)
    a = typed(Doc(client_id=101), "alice ")
    b = typed(Doc(client_id=202), "bob")
    live.receive_update(alice, a)
    live.receive_update(bob, b)
    await next_turn()
    [(_, _, bindings, authors, _)] = relay.updates
    assert bindings == {101: 1, 202: 2}
    assert authors == [(1, a), (2, b)]


async def test_an_unshared_document_relays_nothing() -> None:
    live, _, relay, _ = make(shared=False)
    alice = FakeConnection(user_id=1)
    live.attach(alice)
    live.receive_update(alice, typed(Doc(client_id=101), "alone"))
    live.receive_awareness(alice, encode_awareness_update([(101, 1, "{}")]))
    await next_turn()
    assert relay.updates == [] and relay.awareness == []
    assert len(alice.frames) == 2, "the local connection still gets the update and awareness"


async def test_a_remote_update_reaches_the_local_connections_and_is_not_relayed_back() -> None:
    live, store, relay, _ = make(shared=True)
    bob = FakeConnection(user_id=2)
    live.attach(bob)
    live.receive_remote(typed(Doc(client_id=303), "from afar"), {303: 3})
    await next_turn()
    assert text_of(sync_updates(bob)) == "from afar"
    assert relay.updates == [] and store.updates == []
    assert live.bindings == {303: 3}


async def test_a_relayed_update_is_dropped_once_its_origin_confirms_storing_it() -> None:
    live, store, _, _ = make()
    source: Doc[Any] = Doc(client_id=303)
    live.receive_remote(typed(source, "a "), {}, origin="b", mark=4, authors=[(3, None)])
    live.relay_stored("b", 4)
    assert live.store_unconfirmed(None) == 0
    assert store.relayed == []


async def test_an_unconfirmed_relayed_update_is_stored_here_once_old_enough() -> None:
    live, store, _, _ = make()
    update = typed(Doc(client_id=303), "kept ")
    live.receive_remote(update, {303: 3}, origin="b", mark=4, authors=[(3, None)])
    assert live.store_unconfirmed(time.monotonic() - 1.0) == 0, "too young: may be confirmed"
    assert store.relayed == []
    assert live.store_unconfirmed(time.monotonic() + 1.0) == 1
    assert store.relayed == [(DOCUMENT_ID, [(3, update)], {303: 3})]
    assert live.store_unconfirmed(None) == 0, "stored once"


async def test_settling_before_unload_waits_for_the_origins_confirmation() -> None:
    live, store, _, _ = make()
    live.receive_remote(typed(Doc(client_id=303), "x"), {}, origin="b", mark=4, authors=[])
    asyncio.get_running_loop().call_later(0.02, live.relay_stored, "b", 4)
    started = time.monotonic()
    await live.settle_relayed(5.0)
    assert time.monotonic() - started < 1.0, "settled on the confirmation, not the timeout"
    assert store.relayed == []


async def test_settling_before_unload_stores_what_stays_unconfirmed() -> None:
    live, store, _, _ = make()
    update = typed(Doc(client_id=303), "x")
    live.receive_remote(update, {}, origin="b", mark=4, authors=[(3, None)])
    await live.settle_relayed(0.05)
    assert store.relayed == [(DOCUMENT_ID, [(3, update)], {})]


async def test_the_last_connection_leaving_asks_for_unload_after_the_grace_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(settings.TROUPE, "IDLE_UNLOAD_SECONDS", 0.02)
    live, _, _, idle = make()
    alice, bob = FakeConnection(user_id=1), FakeConnection(user_id=2)
    live.attach(alice)
    live.attach(bob)
    live.detach(alice)
    await asyncio.sleep(0.06)
    assert idle.calls == [], "bob is still connected"
    live.detach(bob)
    await asyncio.sleep(0.06)
    assert idle.calls == [live]


async def test_a_connection_arriving_within_the_grace_period_keeps_it_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(settings.TROUPE, "IDLE_UNLOAD_SECONDS", 0.05)
    live, _, _, idle = make()
    alice = FakeConnection(user_id=1)
    live.attach(alice)
    live.detach(alice)
    live.attach(FakeConnection(user_id=2))
    await asyncio.sleep(0.1)
    assert idle.calls == []


async def test_awareness_is_stamped_fanned_out_and_removed_when_its_connection_leaves() -> None:
    live, _, relay, _ = make(shared=True)
    alice = FakeConnection(user_id=1, user_info={"id": 1, "name": "Alice"})
    bob = FakeConnection(user_id=2)
    live.attach(alice)
    live.attach(bob)
    live.receive_awareness(alice, encode_awareness_update([(101, 1, '{"cursor": 3}')]))
    await next_turn()
    state = json.loads(awareness_states(bob)[101])
    assert state["cursor"] == 3 and state["user"]["name"] == "Alice"
    assert len(relay.awareness) == 1
    live.detach(alice)
    await next_turn()
    assert awareness_states(bob)[101] == "null", "the state is removed for the others"
    assert len(relay.awareness) == 2


async def test_a_connection_cannot_speak_for_another_connections_client() -> None:
    live, _, _, _ = make()
    alice, mallory = FakeConnection(user_id=1), FakeConnection(user_id=2)
    live.attach(alice)
    live.attach(mallory)
    live.receive_awareness(alice, encode_awareness_update([(101, 1, '{"cursor": 3}')]))
    live.receive_awareness(mallory, encode_awareness_update([(101, 2, '{"cursor": 9}')]))
    await next_turn()
    assert json.loads(live.awareness.states[101])["cursor"] == 3


async def test_close_all_closes_every_local_connection() -> None:
    live, _, _, _ = make()
    alice, bob = FakeConnection(user_id=1), FakeConnection(user_id=2)
    live.attach(alice)
    live.attach(bob)
    await live.close_all(CloseCode.GOING_AWAY, "server shutting down")
    assert alice.closed == bob.closed == (CloseCode.GOING_AWAY, "server shutting down")
