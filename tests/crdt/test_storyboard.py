"""The storyboard schema: order keys, the server's check of incoming updates."""

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from crdt.storyboard import (
    MAX_KEY_LENGTH,
    board_of,
    key_between,
    ordered_panels,
    panels_write,
    valid_order_key,
)
from crdt.storyboard_guard import BoardGuard, SchemaViolation

keys = st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1)


@settings(max_examples=300)
@given(a=st.none() | keys, b=st.none() | keys, seed=st.integers(0, 2**32))
def test_a_key_between_two_keys_sorts_between_them(a: str | None, b: str | None, seed: int) -> None:
    a = a.rstrip("0") or None if a else a
    b = b.rstrip("0") or None if b else b
    if a is not None and b is not None and a >= b:
        a, b = (b, a) if b < a else (a, None)
    key = key_between(a, b, random.Random(seed).randrange)
    assert valid_order_key(key)
    assert a is None or a < key
    assert b is None or key < b


def test_appending_a_thousand_panels_keeps_keys_short() -> None:
    # Appends draw near the low end of the room left: a digit more every ~120 panels.
    last: str | None = None
    for _ in range(1000):
        last = key_between(last, None)
    assert last is not None and len(last) <= 16 < MAX_KEY_LENGTH


def _edit(doc: Doc[Any], change: Callable[[Map[Any]], None]) -> bytes:
    before = doc.get_state()
    with doc.transaction():
        change(board_of(doc))
    return bytes(doc.get_update(before))


def _guarded_board() -> tuple[Doc[Any], BoardGuard]:
    doc: Doc[Any] = Doc(client_id=7)
    panels_write(doc, [{"id": "p1", "notes": "hello"}, {"id": "p2"}])
    guard = BoardGuard()
    guard.absorb(bytes(doc.get_update()))
    return doc, guard


def _accept(guard: BoardGuard, update: bytes) -> None:
    guard.check(update)
    guard.absorb(update)


def test_panel_edits_of_the_browser_pass() -> None:
    doc, guard = _guarded_board()
    first = ordered_panels(doc)[0][1]
    _accept(guard, _edit(doc, lambda b: b["p1"]["notes"].insert(5, ", world")))
    _accept(
        guard, _edit(doc, lambda b: b["p2"].__setitem__("order", key_between(None, first["order"])))
    )
    _accept(guard, _edit(doc, lambda b: b["p1"].__setitem__("duration_ms", 3500)))
    _accept(guard, _edit(doc, lambda b: b["p1"].__setitem__("shot_size", "ECU")))
    _accept(guard, _edit(doc, lambda b: b["p1"].__setitem__("image", "trp:rec:1:" + "a" * 64)))
    _accept(guard, _edit(doc, lambda b: b.pop("p2")))
    panels_write(doc, [{"id": "p3", "dialogue": "Hi."}])
    _accept(guard, bytes(doc.get_update()))
    assert [pid for pid, _ in ordered_panels(doc)] == ["p1", "p3"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda b: b["p1"].__setitem__("duration_ms", -1), "duration_ms"),
        (lambda b: b["p1"].__setitem__("duration_ms", "long"), "duration_ms"),
        (lambda b: b["p1"].__setitem__("shot_size", "XL"), "shot_size"),
        (lambda b: b["p1"].__setitem__("image", "http://example.com/x.png"), "image"),
        (lambda b: b["p1"].__setitem__("order", "ab0"), "order"),
        (lambda b: b["p1"].__setitem__("colour", "red"), "no field"),
        (lambda b: b["p1"].__setitem__("notes", "plain"), "Y.Text"),
        (lambda b: b.__setitem__("bad id!", Map()), "panel ids"),
        (lambda b: b.__setitem__("p9", "not a map"), "Y.Map"),
        (lambda b: b["p1"]["notes"].insert(0, "x", {"bold": True}), "plain text"),
    ],
)
def test_writes_outside_the_schema_are_refused(
    change: Callable[[Map[Any]], None], reason: str
) -> None:
    doc, guard = _guarded_board()
    with pytest.raises(SchemaViolation, match=reason):
        guard.check(_edit(doc, change))


def test_a_second_value_placed_only_by_its_neighbour_is_checked() -> None:
    # Setting a key again writes the new value next to the old one, naming no parent or
    # key: the guard finds them through the old value.
    doc, guard = _guarded_board()
    _accept(guard, _edit(doc, lambda b: b["p1"].__setitem__("duration_ms", 1000)))
    with pytest.raises(SchemaViolation, match="duration_ms"):
        guard.check(_edit(doc, lambda b: b["p1"].__setitem__("duration_ms", -5)))


def test_writes_to_the_first_schemas_array_are_refused() -> None:
    doc, guard = _guarded_board()
    before = doc.get_state()
    doc.get("panels", type=Array).append(Map({"id": "old"}))
    with pytest.raises(SchemaViolation, match="'panels'"):
        guard.check(bytes(doc.get_update(before)))


def test_typing_into_a_panel_deleted_meanwhile_is_not_refused() -> None:
    # bob types in p1 while alice deletes it: the server collected p1's text, and bob's
    # keystrokes land in garbage; closing bob's socket for it would be wrong.
    alice, guard = _guarded_board()
    bob: Doc[Any] = Doc(client_id=8)
    bob.apply_update(alice.get_update())
    _accept(guard, _edit(alice, lambda b: b.pop("p1")))
    guard.check(_edit(bob, lambda b: b["p1"]["notes"].insert(5, "!")))


def test_an_update_building_on_unknown_content_is_refused() -> None:
    doc, guard = _guarded_board()
    first = _edit(doc, lambda b: b["p1"]["notes"].insert(5, "a"))
    second = _edit(doc, lambda b: b["p1"]["notes"].insert(6, "b"))
    del first
    with pytest.raises(SchemaViolation, match="does not have"):
        guard.check(second)


def test_a_script_like_root_is_refused() -> None:
    doc, guard = _guarded_board()
    before = doc.get_state()
    doc.get("content", type=Text).insert(0, "INT. HOUSE")
    with pytest.raises(SchemaViolation, match="'content'"):
        guard.check(bytes(doc.get_update(before)))


def _replicas() -> tuple[Doc[Any], Doc[Any]]:
    alice: Doc[Any] = Doc(client_id=1)
    panels_write(alice, [{"id": f"p{n}"} for n in range(4)])
    bob: Doc[Any] = Doc(client_id=2)
    bob.apply_update(alice.get_update())
    return alice, bob


def _exchange(a: Doc[Any], b: Doc[Any]) -> None:
    a_missing = b.get_update(a.get_state())
    b.apply_update(a.get_update(b.get_state()))
    a.apply_update(a_missing)


def test_two_people_moving_the_same_panel_at_once_leave_one_panel() -> None:
    alice, bob = _replicas()
    keys = [p["order"] for _, p in ordered_panels(alice)]
    board_of(alice)["p3"]["order"] = key_between(None, keys[0])  # to the top
    board_of(bob)["p3"]["order"] = key_between(keys[1], keys[2])  # between p1 and p2
    _exchange(alice, bob)
    order = [pid for pid, _ in ordered_panels(alice)]
    assert order == [pid for pid, _ in ordered_panels(bob)]
    assert sorted(order) == ["p0", "p1", "p2", "p3"]
    assert order in (["p3", "p0", "p1", "p2"], ["p0", "p1", "p3", "p2"])


def test_typing_into_a_panel_while_it_moves_loses_no_keystroke() -> None:
    alice, bob = _replicas()
    note = "Hold on the gulls, then pan to the boat."
    for n, ch in enumerate(note):
        notes = board_of(bob)["p2"]["notes"]
        notes.insert(len(str(notes).encode()), ch)
        if n % 5 == 0:  # alice moves p2 and others up and down meanwhile
            keys = [p["order"] for _, p in ordered_panels(alice)]
            target = "p2" if n % 10 == 0 else "p0"
            board_of(alice)[target]["order"] = (
                key_between(None, keys[0]) if n % 20 == 0 else key_between(keys[-1], None)
            )
        if n % 3 == 0:
            _exchange(alice, bob)
    _exchange(alice, bob)
    assert str(board_of(alice)["p2"]["notes"]) == note == str(board_of(bob)["p2"]["notes"])
    assert len(board_of(alice)) == 4
