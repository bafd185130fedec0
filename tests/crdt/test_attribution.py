"""Credit from edit history (crdt.attribution) and snapshot helpers (crdt.snapshots).

Documents are pycrdt docs with fixed client IDs; the "log" is what each edit produced,
attributed to a user, as the server stores it.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from crdt.attribution import (
    IdSet,
    delete_set_of,
    owners_by_unit,
    script_credit,
    storyboard_credit,
)
from crdt.authored import script_restore, storyboard_restore
from crdt.documents import content_of, load_document
from crdt.snapshots import (
    normalise_panels,
    script_diff,
    state_contains,
    storyboard_diff,
)
from crdt.storyboard import board_of, key_between, ordered_panels, panels_write
from crdt.updates import decode_state_vector

ALICE, BOB = 10, 20
BINDINGS = {1: ALICE, 2: BOB}


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class Editor:
    """A replica whose every edit is logged as (user, update)."""

    def __init__(self, client_id: int, user: int, log: list[tuple[int | None, bytes]]) -> None:
        self.doc: Doc[Any] = Doc(client_id=client_id)
        self.text = self.doc.get("content", type=Text)
        self.user = user
        self.log = log

    def edit(self, fn: Any) -> None:
        before = self.doc.get_state()
        with self.doc.transaction():
            fn()
        self.log.append((self.user, bytes(self.doc.get_update(before))))

    def insert(self, index: int, text: str) -> None:
        # index in characters; pycrdt indexes Text in UTF-8 bytes
        at = len(str(self.text)[:index].encode())
        self.edit(lambda: self.text.insert(at, text))

    def delete(self, index: int, length: int) -> None:
        current = str(self.text)
        lo = len(current[:index].encode())
        hi = len(current[: index + length].encode())
        self.edit(lambda: self.text.__delitem__(slice(lo, hi)))

    def sync_from(self, other: Editor) -> None:
        self.doc.apply_update(other.doc.get_update(self.doc.get_state()))


def test_two_writers_concurrent_inserts_and_deletions() -> None:
    log: list[tuple[int | None, bytes]] = []
    a, b = Editor(1, ALICE, log), Editor(2, BOB, log)
    a.insert(0, "INT. HOUSE - DAY\n\nAlice walks in.\n")
    b.sync_from(a)
    # concurrent: both type without seeing each other
    a.insert(0, "Title: Pilot\n\n")
    b.insert(len(str(b.text)), "\nEXT. GARDEN - NIGHT\n\nBob runs 😀.\n")
    a.sync_from(b)
    b.sync_from(a)
    assert str(a.text) == str(b.text)
    # Bob deletes "Alice " (Alice's text), Alice deletes "runs " (Bob's text) and her own "in"
    text = str(a.text)
    b.delete(text.index("Alice "), len("Alice "))
    a.sync_from(b)
    text = str(a.text)
    a.delete(text.index("runs "), len("runs "))
    text = str(a.text)
    a.delete(text.index(" in."), len(" in"))
    b.sync_from(a)
    final = str(a.text)
    credit = script_credit(bytes(a.doc.get_update()), BINDINGS, log)
    alice_typed = utf16("INT. HOUSE - DAY\n\nAlice walks in.\n") + utf16("Title: Pilot\n\n")
    bob_typed = utf16("\nEXT. GARDEN - NIGHT\n\nBob runs 😀.\n")
    assert credit.typed == {ALICE: alice_typed, BOB: bob_typed}
    assert credit.surviving == {
        ALICE: alice_typed - len("Alice ") - len(" in"),
        BOB: bob_typed - len("runs "),
    }
    assert sum(credit.surviving.values()) == credit.length == utf16(final)
    assert credit.deleted[BOB].others == len("Alice ") and credit.deleted[BOB].own == 0
    assert credit.deleted[ALICE].others == len("runs ")
    assert credit.deleted[ALICE].own == len(" in")
    # by scene: the preamble (title page) and the first scene are Alice's; the garden
    # scene is Bob's except nothing of Alice's.
    assert set(credit.by_scene) == {"preamble", "0", "1"}
    assert credit.by_scene["preamble"] == {ALICE: utf16("Title: Pilot\n\n")}
    assert credit.by_scene["1"] == {BOB: bob_typed - len("runs ") - 1}
    assert sum(sum(c.values()) for c in credit.by_scene.values()) == credit.length


def test_resent_delete_sets_are_credited_once_to_the_first_deleter() -> None:
    log: list[tuple[int | None, bytes]] = []
    a, b = Editor(1, ALICE, log), Editor(2, BOB, log)
    a.insert(0, "hello world")
    b.sync_from(a)
    a.delete(0, 6)
    b.delete(0, 6)  # concurrently deletes the same text
    # a reconnect's sync step 2 carries the whole delete set again
    log.append((BOB, bytes(b.doc.get_update(a.doc.get_state()))))
    a.sync_from(b)
    credit = script_credit(bytes(a.doc.get_update()), BINDINGS, log)
    assert credit.deleted[ALICE].own == 6
    assert BOB not in credit.deleted
    assert credit.surviving == {ALICE: 5}


def test_unbound_clients_are_counted_as_unattributed() -> None:
    log: list[tuple[int | None, bytes]] = []
    a, c = Editor(1, ALICE, log), Editor(3, 0, log)
    a.insert(0, "abc")
    c.sync_from(a)
    c.insert(1, "XY")
    a.sync_from(c)
    text, owners = owners_by_unit(bytes(a.doc.get_update()), {1: ALICE})
    assert text == "aXYbc"
    assert owners == [ALICE, None, None, ALICE, ALICE]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_concurrent_sessions_sum_to_the_length(seed: int) -> None:
    rng = random.Random(seed)
    log: list[tuple[int | None, bytes]] = []
    editors = [Editor(cid, cid * 10, log) for cid in (1, 2, 3)]
    alphabet = "abc \né😀"
    expected_typed: dict[int, int] = {1: 0, 2: 0, 3: 0}
    for _ in range(30):
        ed = rng.choice(editors)
        current = str(ed.text)
        if current and rng.random() < 0.3:
            i = rng.randrange(len(current))
            ed.delete(i, rng.randint(1, min(4, len(current) - i)))
        else:
            piece = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5)))
            ed.insert(rng.randint(0, len(current)), piece)
            expected_typed[ed.doc.client_id] += utf16(piece)
        if rng.random() < 0.5:
            other = rng.choice(editors)
            other.sync_from(ed)
    for ed in editors:
        for other in editors:
            ed.sync_from(other)
    bindings = {1: 10, 2: 20, 3: 30}
    credit = script_credit(bytes(editors[0].doc.get_update()), bindings, log)
    assert credit.length == utf16(str(editors[0].text))
    assert sum(credit.surviving.values()) == credit.length
    assert credit.typed == {bindings[c]: n for c, n in expected_typed.items() if n}
    deleted = sum(d.total for d in credit.deleted.values())
    assert sum(credit.typed.values()) - deleted == credit.length


def random_session(rng: random.Random) -> tuple[bytes, list[tuple[int | None, bytes]]]:
    """Three writers typing, deleting and syncing at random: the state and the log."""
    log: list[tuple[int | None, bytes]] = []
    editors = [Editor(cid, cid * 10, log) for cid in (1, 2, 3)]
    for _ in range(25):
        ed = rng.choice(editors)
        current = str(ed.text)
        if current and rng.random() < 0.35:
            i = rng.randrange(len(current))
            ed.delete(i, rng.randint(1, min(4, len(current) - i)))
        else:
            piece = "".join(rng.choice("ab \nINT. é") for _ in range(rng.randint(1, 6)))
            ed.insert(rng.randint(0, len(current)), piece)
        if rng.random() < 0.5:
            rng.choice(editors).sync_from(ed)
    for ed in editors:
        for other in editors:
            ed.sync_from(other)
    return bytes(editors[0].doc.get_update()), log


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), copies=st.lists(st.integers(0, 10**6), max_size=12))
def test_a_second_copy_of_a_stored_update_moves_no_credit(seed: int, copies: list[int]) -> None:
    """A holder storing a relayed update its origin also committed, or a journal replayed
    after a commit that did finish, puts a second copy of an update in the log, under the
    same author. Stored after the first copy, it changes no credit at all; stored before it
    (the holder's commit won), the same units are credited, typed and deleted, and each
    deletion is still counted once."""
    rng = random.Random(seed)
    state, log = random_session(rng)
    bindings = {1: 10, 2: 20, 3: 30}
    before = script_credit(state, bindings, log)
    later, anywhere = list(log), list(log)
    for pick in copies:
        if not log:
            break
        original = pick % len(log)
        entry = log[original]
        # After the first copy (``later``: its position among the entries that follow).
        at = later.index(entry) + 1
        later.insert(at + pick % (len(later) - at + 1), entry)
        anywhere.insert(pick % (len(anywhere) + 1), entry)
    assert script_credit(state, bindings, later) == before
    moved = script_credit(state, bindings, anywhere)
    assert (moved.length, moved.surviving, moved.by_scene, moved.typed) == (
        before.length,
        before.surviving,
        before.by_scene,
        before.typed,
    )
    total = sum(d.total for d in moved.deleted.values())
    assert total == sum(d.total for d in before.deleted.values())


def _board_edit(editor: Editor, change: Any) -> None:
    editor.edit(lambda: change(board_of(editor.doc)))


def test_storyboard_credit_panels_text_fields_and_deletions() -> None:
    log: list[tuple[int | None, bytes]] = []
    a, b = Editor(1, ALICE, log), Editor(2, BOB, log)
    a.edit(lambda: panels_write(a.doc, [{"id": "p1", "action": "Wide"}, {"id": "p2"}]))
    b.sync_from(a)
    b.edit(lambda: panels_write(b.doc, [{"id": "p3", "action": "Pan"}]))
    _board_edit(b, lambda board: board["p1"]["notes"].insert(0, "slow push"))
    _board_edit(b, lambda board: board["p1"].__setitem__("shot_size", "EWS"))
    _board_edit(b, lambda board: board.pop("p2"))  # Bob deletes Alice's p2
    a.sync_from(b)
    credit = storyboard_credit(bytes(a.doc.get_update()), BINDINGS, log)
    panels = {p.panel: p for p in credit.panels}
    assert list(panels) == ["p1", "p3"]
    assert panels["p1"].created_by == ALICE
    assert panels["p1"].text == {"action": {ALICE: 4}, "dialogue": {}, "notes": {BOB: 9}}
    assert panels["p1"].fields == {"shot_size": BOB, "duration_ms": ALICE}
    assert panels["p3"].created_by == BOB
    assert credit.surviving == {ALICE: 4, BOB: 12}
    assert credit.length == 16
    assert credit.typed == {ALICE: 4, BOB: 12}
    assert credit.panels_created == {ALICE: 1, BOB: 1}
    assert credit.fields_set == {ALICE: 1, BOB: 3}
    assert credit.panels_deleted == {BOB: 1}


def test_moves_credit_nobody() -> None:
    log: list[tuple[int | None, bytes]] = []
    a, b = Editor(1, ALICE, log), Editor(2, BOB, log)
    a.edit(lambda: panels_write(a.doc, [{"id": f"p{n}", "notes": "x" * n} for n in range(5)]))
    b.sync_from(a)
    before = storyboard_credit(bytes(b.doc.get_update()), BINDINGS, log)
    for _ in range(3):  # Bob presses the down button on the first panel three times
        order = [p.get("order") for _, p in ordered_panels(b.doc)]
        first = ordered_panels(b.doc)[0][0]
        key = key_between(order[1], order[2] if len(order) > 2 else None)
        _board_edit(b, lambda board, pid=first, key=key: board[pid].__setitem__("order", key))
    after = storyboard_credit(bytes(b.doc.get_update()), BINDINGS, log)
    assert [p.panel for p in after.panels] != [p.panel for p in before.panels]
    assert (after.surviving, after.panels_created, after.fields_set, after.deleted) == (
        before.surviving,
        before.panels_created,
        before.fields_set,
        before.deleted,
    )
    assert after.panels_deleted == before.panels_deleted == {}


def test_state_contains_and_restore_script_keeps_the_authors() -> None:
    log: list[tuple[int | None, bytes]] = []
    a, b = Editor(1, ALICE, log), Editor(2, BOB, log)
    a.insert(0, "INT. A - DAY\n\nHello é😀.\n\nEXT. B - NIGHT\n\nBye.\n")
    b.sync_from(a)
    b.insert(14, "Bob: ")
    a.sync_from(b)
    old = bytes(a.doc.get_update())
    old_credit = script_credit(old, BINDINGS, log)
    a.insert(len(str(a.text)), "More.\n")
    a.delete(0, 3)
    a.delete(14, 3)
    new = bytes(a.doc.get_update())
    assert state_contains(new, old)
    assert not state_contains(old, new)
    assert state_contains(new, new)
    old_text = str(load_document("script", old, []).get("content", type=Text))
    edit = script_restore(new, old, BINDINGS, restorer=BOB)
    restored = load_document("script", new, [edit.update])
    assert content_of(restored, "script") == old_text
    assert set(edit.bindings.values()) == {ALICE, BOB}
    typed_before = script_credit(new, BINDINGS, log).typed
    credit = script_credit(
        bytes(restored.get_update()), {**BINDINGS, **edit.bindings}, [*log, (BOB, edit.update)]
    )
    # Bob pressed Restore: Alice's "INT" and Bob's "Bob" go back to who wrote them, and
    # the copy written for Alice is not her typing (Bob's own "Bo" put back is his).
    assert credit.surviving == old_credit.surviving
    assert credit.typed == {ALICE: typed_before[ALICE], BOB: typed_before[BOB] + 2}
    assert script_restore(old, old, BINDINGS, restorer=BOB).update == b""


def test_deletion_only_restore_still_moves_the_state_vector() -> None:
    a = Editor(1, ALICE, [])
    a.insert(0, "keep")
    old = bytes(a.doc.get_update())
    a.insert(4, " and drop")
    new = bytes(a.doc.get_update())
    edit = script_restore(new, old, BINDINGS, restorer=ALICE)
    restored = load_document("script", new, [edit.update])
    assert content_of(restored, "script") == "keep"
    assert decode_state_vector(restored.get_state()) != decode_state_vector(
        load_document("script", new, []).get_state()
    )
    assert state_contains(bytes(restored.get_update()), old)


def test_restore_storyboard_and_panel_diff() -> None:
    log: list[tuple[int | None, bytes]] = []
    a, b = Editor(1, ALICE, log), Editor(2, BOB, log)
    a.edit(lambda: panels_write(a.doc, [{"id": "p1", "duration_ms": 2000}, {"id": "p2"}]))
    b.sync_from(a)
    _board_edit(b, lambda board: board["p2"]["dialogue"].insert(0, "Hi there"))
    a.sync_from(b)
    old = bytes(a.doc.get_update())
    old_credit = storyboard_credit(old, BINDINGS, log)
    _board_edit(a, lambda board: board["p1"].__setitem__("duration_ms", 3))
    a.edit(lambda: panels_write(a.doc, [{"id": "p3"}]))
    _board_edit(a, lambda board: board.pop("p2"))
    new = bytes(a.doc.get_update())
    before = normalise_panels(content_of(load_document("storyboard", old, []), "storyboard"))  # type: ignore[arg-type]
    after = normalise_panels(content_of(load_document("storyboard", new, []), "storyboard"))  # type: ignore[arg-type]
    changes = {c["panel"]: c for c in storyboard_diff(before, after)}
    assert changes["p1"]["status"] == "changed"
    assert changes["p1"]["fields"] == {"duration_ms": {"before": 2000, "after": 3}}
    assert changes["p2"]["status"] == "removed"
    assert changes["p3"]["status"] == "added"
    edit = storyboard_restore(new, before, old, BINDINGS, restorer=ALICE)
    restored = load_document("storyboard", new, [edit.update])
    assert normalise_panels(content_of(restored, "storyboard")) == before  # type: ignore[arg-type]
    credit = storyboard_credit(bytes(restored.get_update()), {**BINDINGS, **edit.bindings}, [])
    # Alice restored Bob's deleted panel text: it is Bob's again.
    assert credit.surviving == old_credit.surviving == {BOB: 8}
    assert credit.panels_created == old_credit.panels_created


def test_script_diff_by_scene() -> None:
    old = "Title: X\n\nINT. A - DAY\n\nHello.\n\nEXT. B - NIGHT\n\nBye.\n"
    new = "Title: X\n\nINT. A - DAY\n\nHello there.\n\nINT. C - DAY\n\nNew.\n"
    diff = {d["scene"]: d for d in script_diff(old, new)}
    assert diff["preamble"]["status"] == "unchanged"
    assert diff["INT. A - DAY"]["status"] == "changed"
    assert "+Hello there." in diff["INT. A - DAY"]["diff"]
    assert diff["INT. C - DAY"]["status"] == "added"
    assert diff["EXT. B - NIGHT"]["status"] == "removed"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), st.integers(1, 15)), max_size=30))
def test_id_set_reports_exactly_the_new_units(adds: list[tuple[int, int]]) -> None:
    ids = IdSet()
    seen: set[int] = set()
    for start, length in adds:
        new = ids.add_new(7, start, start + length)
        got = [x for lo, hi in new for x in range(lo, hi)]
        assert sorted(got) == sorted(set(range(start, start + length)) - seen)
        assert len(got) == len(set(got))
        seen |= set(range(start, start + length))
    assert all(ids.contains(7, x) == (x in seen) for x in range(130))
    assert delete_set_of(b"\x00\x01\x07\x01\x02\x03") == {7: [(2, 3)]}
