"""Edits the server makes for people: restores and schema migrations that keep credit.

Credit is read from who wrote each struct (its client ID's binding). A restore or a
migration that re-typed text under one client ID would move every restored character to
whoever pressed Restore. Here each person's part is written under a fresh client ID
bound to *them* (``OnBehalf``): the restored characters stay with their authors, the
panels with their creators, the fields with their setters; what the edit deletes is
deleted by whoever asked for it (the log entry's user). The log keeps the edit as one
entry attributed to the person who asked, so ``typed`` (units a user sent themselves)
does not count a copy as typing.

Restores compare ``(character, owner)`` pairs, not characters: a character that is the
same letter but someone else's is replaced, so after a restore every unit of the content
has exactly the owner it had in the snapshot (the property tests check this).
"""

from __future__ import annotations

import difflib
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pycrdt import Array, Doc, Map, Text

from crdt.attribution import (
    _PUA_SIZE,
    _PUA_START,
    ID,
    Item,
    Owner,
    PanelOwners,
    Runs,
    _Index,
    masked_document,
    owner_runs,
    panel_owners,
    rewrite_strings,
    walk_update,
)
from crdt.documents import SCRIPT_TEXT, DocumentKind, apply_update, merge, state_vector_of_update
from crdt.storyboard import (
    LEGACY_PANELS,
    SCALAR_FIELDS,
    TEXT_FIELDS,
    board_of,
    key_between,
    ordered_panels,
    panel_problem,
)
from crdt.updates import decode_state_vector

__all__ = [
    "AuthoredEdit",
    "OnBehalf",
    "legacy_first_creators",
    "script_restore",
    "storyboard_migration",
    "storyboard_restore",
]


@dataclass(frozen=True, slots=True)
class AuthoredEdit:
    """One update written for several people, and the client IDs it binds to whom."""

    update: bytes
    bindings: dict[int, int]  # client ID -> user id (owners None stay unbound)


class OnBehalf:
    """Writes edits for several owners on one document, each under their own client ID.

    Every owner gets a pycrdt document of their own, synchronised from the others' edits
    before each of theirs, so edits of different owners can interleave in any order.
    """

    def __init__(
        self,
        state: bytes,
        taken: Collection[int],
        randbelow: Callable[[int], int] = secrets.randbelow,
    ) -> None:
        self.state = state
        held = decode_state_vector(state_vector_of_update(state)) if state else {}
        self.taken = set(taken) | set(held)
        self.randbelow = randbelow
        self.docs: dict[Owner, tuple[Doc[Any], int]] = {}
        self.edits: list[bytes] = []
        self.bindings: dict[int, int] = {}

    def _client_id(self) -> int:
        while True:
            client_id = self.randbelow(2**31 - 1) + 1
            if client_id not in self.taken:
                self.taken.add(client_id)
                return client_id

    def doc_for(self, owner: Owner) -> Doc[Any]:
        """The owner's document, with every edit made so far applied."""
        found = self.docs.get(owner)
        if found is None:
            client_id = self._client_id()
            doc: Doc[Any] = Doc(client_id=client_id)
            if self.state:
                apply_update(doc, self.state)
            if owner is not None:
                self.bindings[client_id] = owner
            found = (doc, 0)
        doc, seen = found
        for edit in self.edits[seen:]:
            apply_update(doc, edit)
        self.docs[owner] = (doc, len(self.edits))
        return doc

    def edit(self, owner: Owner, change: Callable[[Doc[Any]], None]) -> None:
        """Make ``change`` as ``owner``."""
        doc = self.doc_for(owner)
        before = doc.get_state()
        with doc.transaction():
            change(doc)
        self.edits.append(bytes(doc.get_update(before)))
        self.docs[owner] = (doc, len(self.edits))

    def result(self, kind: DocumentKind, remover: Owner) -> AuthoredEdit:
        """Everything edited, as one update (b"" when nothing was).

        Deletions alone do not move the state vector, and a peer that compares state
        vectors to decide whether an update is news would drop it: an edit of deletions
        only also writes one struct that changes no content (a zero-width character
        typed and deleted in a script, a panel's order key set to itself).
        """
        if not self.edits:
            return AuthoredEdit(b"", {})
        update = merge(self.edits)
        wrote = decode_state_vector(state_vector_of_update(update))
        if not wrote:
            self.edit(remover, _no_op(kind))
            update = merge(self.edits)
            wrote = decode_state_vector(state_vector_of_update(update))
        # Only the client IDs that wrote something are bound (a remover's deletes none).
        bindings = {c: u for c, u in self.bindings.items() if c in wrote}
        return AuthoredEdit(update, bindings)


def _no_op(kind: DocumentKind) -> Callable[[Doc[Any]], None]:
    def change(doc: Doc[Any]) -> None:
        if kind == "script":
            text = doc.get(SCRIPT_TEXT, type=Text)
            text.insert(0, "\u2060")
            del text[0 : len("\u2060".encode())]
            return
        panels = ordered_panels(doc)
        if panels:
            panels[0][1]["order"] = panels[0][1].get("order")
        else:
            board_of(doc)["-"] = Map()
            del board_of(doc)["-"]

    return change


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _text_edits(
    writer: OnBehalf,
    locate: Callable[[Doc[Any]], Text],
    current: Runs,
    target: Runs,
    remover: Owner,
) -> None:
    """Make a text's (character, owner) runs ``target``: deletions by ``remover``,
    insertions by each inserted character's owner. Pycrdt indexes text in UTF-8 bytes."""
    head = 0
    limit = min(len(current), len(target))
    while head < limit and current[head] == target[head]:
        head += 1
    tail = 0
    while tail < limit - head and current[-1 - tail] == target[-1 - tail]:
        tail += 1
    middle_a = current[head : len(current) - tail]
    middle_b = target[head : len(target) - tail]
    if not middle_a and not middle_b:
        return
    offsets = [0]
    for ch, _ in current:
        offsets.append(offsets[-1] + _utf8_len(ch))
    ops = difflib.SequenceMatcher(None, middle_a, middle_b, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        at = offsets[head + i1]
        if tag in ("replace", "delete"):
            end = offsets[head + i2]
            writer.edit(remover, _cut(locate, at, end))
        if tag in ("replace", "insert"):
            for piece, owner in _owner_runs(middle_b[j1:j2]):
                writer.edit(owner, _paste(locate, at, piece))
                at += _utf8_len(piece)


def _cut(locate: Callable[[Doc[Any]], Text], start: int, end: int) -> Callable[[Doc[Any]], None]:
    def change(doc: Doc[Any]) -> None:
        del locate(doc)[start:end]

    return change


def _paste(locate: Callable[[Doc[Any]], Text], at: int, piece: str) -> Callable[[Doc[Any]], None]:
    return lambda doc: locate(doc).insert(at, piece)


def _owner_runs(runs: Runs) -> list[tuple[str, Owner]]:
    out: list[tuple[str, Owner]] = []
    for ch, owner in runs:
        if out and out[-1][1] == owner:
            out[-1] = (out[-1][0] + ch, owner)
        else:
            out.append((ch, owner))
    return out


def _script_runs(state: bytes, bindings: Mapping[int, int]) -> Runs:
    if not state:
        return []
    masked, owners = masked_document(state, bindings)
    real: Doc[Any] = Doc()
    apply_update(real, state)
    text = str(real.get(SCRIPT_TEXT, type=Text))
    units = [owners[ord(c) - _PUA_START] for c in str(masked.get(SCRIPT_TEXT, type=Text))]
    return owner_runs(text, units)


def script_restore(
    state: bytes,
    snapshot_state: bytes,
    bindings: Mapping[int, int],
    *,
    restorer: int,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> AuthoredEdit:
    """The edit that makes a script's text, and the owner of every unit, the snapshot's."""
    writer = OnBehalf(state, bindings, randbelow)
    _text_edits(
        writer,
        lambda doc: doc.get(SCRIPT_TEXT, type=Text),
        _script_runs(state, bindings),
        _script_runs(snapshot_state, bindings),
        restorer,
    )
    return writer.result("script", restorer)


def _create_panel(panel_id: str, order: str) -> Callable[[Doc[Any]], None]:
    def change(doc: Doc[Any]) -> None:
        panel: Map[Any] = Map()
        board_of(doc)[panel_id] = panel
        panel["order"] = order
        for key in TEXT_FIELDS:
            panel[key] = Text()

    return change


def _set_field(panel_id: str, key: str, value: Any) -> Callable[[Doc[Any]], None]:
    return lambda doc: board_of(doc)[panel_id].__setitem__(key, value)


def _drop_panel(panel_id: str) -> Callable[[Doc[Any]], None]:
    return lambda doc: board_of(doc).pop(panel_id)


def _reorder(keys: Mapping[str, str]) -> Callable[[Doc[Any]], None]:
    def change(doc: Doc[Any]) -> None:
        board = board_of(doc)
        for panel_id, key in keys.items():
            board[panel_id]["order"] = key

    return change


def _drop_field(panel_id: str, key: str) -> Callable[[Doc[Any]], None]:
    return lambda doc: board_of(doc)[panel_id].pop(key)


def _locate(panel_id: str, key: str) -> Callable[[Doc[Any]], Text]:
    def find(doc: Doc[Any]) -> Text:
        value = board_of(doc)[panel_id][key]
        if not isinstance(value, Text):
            raise ValueError(f"panel {panel_id}: {key} is not a Y.Text")
        return value

    return find


def _write_panel(
    writer: OnBehalf,
    want: PanelOwners,
    have: PanelOwners | None,
    order: str,
    remover: Owner,
) -> None:
    """Make the board's panel ``want.panel`` hold ``want``'s content by ``want``'s people."""
    pid = want.panel
    if have is not None and have.created_by != want.created_by:
        writer.edit(remover, lambda doc: board_of(doc).pop(pid))
        have = None
    if have is None:
        writer.edit(want.created_by, _create_panel(pid, order))
        have = PanelOwners(pid, want.created_by, {k: [] for k in TEXT_FIELDS}, {}, {})
    for key in TEXT_FIELDS:
        if key not in have.text:
            writer.edit(want.created_by, _set_field(pid, key, Text()))
        _text_edits(
            writer, _locate(pid, key), have.text.get(key, []), want.text.get(key, []), remover
        )
    for key, value in want.values.items():
        if have.values.get(key) != value or have.setters.get(key) != want.setters.get(key):
            writer.edit(want.setters.get(key, remover), _set_field(pid, key, value))
    for key in have.values:
        if key not in want.values:
            writer.edit(remover, _drop_field(pid, key))


def _target_owners(
    panels: Sequence[Mapping[str, Any]], owners: Sequence[PanelOwners], restorer: Owner
) -> list[PanelOwners]:
    """The snapshot's panels (its content) with their owners (read from its state); a part
    whose owner cannot be read is the restorer's."""
    by_id = {p.panel: p for p in owners}
    out: list[PanelOwners] = []
    for panel in panels:
        pid = str(panel.get("id", ""))
        known = by_id.get(pid)
        created_by = known.created_by if known else restorer
        text: dict[str, Runs] = {}
        values: dict[str, Any] = {}
        setters: dict[str, Owner] = {}
        for key, value in panel.items():
            if key == "id":
                continue
            if key in TEXT_FIELDS:
                runs = known.text.get(key) if known else None
                if runs is None or "".join(ch for ch, _ in runs) != value:
                    runs = [(ch, restorer) for ch in str(value)]
                text[key] = runs
            else:
                values[key] = value
                setters[key] = known.setters.get(key, restorer) if known else restorer
        out.append(PanelOwners(pid, created_by, text, values, setters))
    return out


def storyboard_restore(
    state: bytes,
    panels: Sequence[Mapping[str, Any]],
    snapshot_state: bytes,
    bindings: Mapping[int, int],
    *,
    restorer: int,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> AuthoredEdit:
    """The edit that makes a storyboard's panels the snapshot's ``panels`` (its content),
    each part by the person who made it in the snapshot (``snapshot_state``)."""
    for panel in panels:
        for key, value in panel.items():
            if key != "id" and key not in TEXT_FIELDS and panel_problem(key, value):
                raise ValueError(f"panel {panel.get('id')}: {panel_problem(key, value)}")
            if key in TEXT_FIELDS and not isinstance(value, str):
                raise ValueError(f"panel {panel.get('id')}: {key} is not text")
    writer = OnBehalf(state, bindings, randbelow)
    current = {p.panel: p for p in panel_owners(state, bindings, legacy=False)}
    wanted = _target_owners(panels, panel_owners(snapshot_state, bindings), restorer)
    ids = [p.panel for p in wanted]
    for pid in current:
        if pid not in ids:
            writer.edit(restorer, _drop_panel(pid))
    for want in wanted:
        _write_panel(writer, want, current.get(want.panel), key_between(None, None), restorer)
    doc = writer.doc_for(restorer)
    if [pid for pid, _ in ordered_panels(doc)] != ids:
        keys: list[str] = []
        for _ in ids:
            keys.append(key_between(keys[-1] if keys else None, None, randbelow))
        writer.edit(restorer, _reorder(dict(zip(ids, keys, strict=True))))
    return writer.result("storyboard", restorer)


def storyboard_migration(
    state: bytes,
    bindings: Mapping[int, int],
    log: Sequence[bytes],
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> AuthoredEdit | None:
    """The forward edit moving a storyboard of the first schema to the board, or None
    when the ``panels`` array is empty (migrated already, or never used).

    Each panel keeps its id; it is created for whoever first created a panel with that id
    (read from the ``log``: a move used to re-create the panel under the mover's client
    ID), its text for whoever wrote each character (traced through those copies,
    ``legacy_masked``) and its fields for who set them. Fields the schema has no place
    for, with text values, are kept at the end of the panel's notes (by their setter);
    the array is then emptied (by nobody).
    Idempotent: panels already on the board are left as they are.
    """
    first_creators = legacy_first_creators(log, bindings)
    legacy = panel_owners(state, bindings, legacy=True, masked=legacy_masked(log, bindings))
    real: Doc[Any] = Doc()
    apply_update(real, state)
    if LEGACY_PANELS not in real.keys() or not len(real.get(LEGACY_PANELS, type=Array)):
        return None
    writer = OnBehalf(state, bindings, randbelow)
    on_board = {pid for pid, _ in ordered_panels(real)}
    last = ordered_panels(real)[-1][1].get("order") if on_board else None
    for panel in legacy:
        if panel.panel in on_board:
            continue
        creator = first_creators.get(panel.panel, panel.created_by)
        values: dict[str, Any] = {}
        setters: dict[str, Owner] = {}
        notes = list(panel.text.get("notes", []))
        for key, value in panel.values.items():
            if key in SCALAR_FIELDS and panel_problem(key, value) is None:
                values[key] = value
                setters[key] = panel.setters.get(key)
            elif isinstance(value, str) and value:
                owner = panel.setters.get(key)
                line = f"{chr(10) if notes else ''}{key}: {value}"
                notes += [(ch, owner) for ch in line]
        text = {**panel.text, "notes": notes}
        want = PanelOwners(panel.panel, creator, text, values, setters)
        last = key_between(last if isinstance(last, str) else None, None, randbelow)
        _write_panel(writer, want, None, last, None)
    writer.edit(None, lambda doc: doc.get(LEGACY_PANELS, type=Array).clear())
    return writer.result("storyboard", None)


def legacy_first_creators(
    updates: Iterable[bytes], bindings: Mapping[int, int]
) -> dict[str, Owner]:
    """For each panel id of the first schema, who first wrote a panel with it (in log order).

    That schema moved a panel by deleting it and inserting a copy under the mover's
    client ID, so the surviving copy names the last mover; the first ``id`` value
    written names the panel's creator.
    """
    out: dict[str, Owner] = {}
    for update in updates:
        for item in walk_update(update)[0]:
            if item.content == "any" and item.parent_sub == "id" and isinstance(item.parent, tuple):
                value = item.values[-1] if item.values else None
                if isinstance(value, str):
                    out.setdefault(value, bindings.get(item.client))
    return out


def legacy_masked(
    log: Iterable[bytes], bindings: Mapping[int, int]
) -> tuple[Doc[Any], list[Owner]] | None:
    """The first schema's storyboard replayed from its log with every character replaced
    by its true owner's private-use character, and the owners (as ``masked_document``).

    That schema moved a panel by deleting it and inserting a copy in one transaction, so
    the copy's text was written under the mover's client ID. Replaying the log, a panel
    created in the same entry that removes the panel with its id, holding the same text,
    is a move: its text keeps the owners the original's had. None when the replay does
    not line up with the state (a log out of causal order): the caller then reads owners
    from the state, as Yrs wrote them.
    """
    entries = list(log)
    walked = [walk_update(update)[0] for update in entries]
    owners: list[Owner] = sorted(
        {bindings.get(i.client) for items in walked for i in items if i.span is not None},
        key=lambda o: -1 if o is None else o,
    )
    if len(owners) > _PUA_SIZE:
        return None
    char_of = {owner: chr(_PUA_START + n) for n, owner in enumerate(owners)}
    real: Doc[Any] = Doc()
    masked: Doc[Any] = Doc()
    for update, items in zip(entries, walked, strict=True):
        copies = _copied_text(real, masked, items)
        apply_update(masked, rewrite_strings(update, items, _masker(copies, char_of, bindings)))
        apply_update(real, update)
    if bytes(real.get_state()) != bytes(masked.get_state()):
        return None
    return masked, owners


def _masker(
    copies: Mapping[ID, str], char_of: Mapping[Owner, str], bindings: Mapping[int, int]
) -> Callable[[Item], str]:
    def text_of(item: Item) -> str:
        found = copies.get((item.client, item.clock))
        return found if found is not None else char_of[bindings.get(item.client)] * item.length

    return text_of


def _copied_text(real: Doc[Any], masked: Doc[Any], items: Sequence[Item]) -> dict[ID, str]:
    """For the string items of panels an entry re-creates (a move of the first schema),
    the masked text their original held."""
    index = _Index(items)
    new_panels: dict[ID, str] = {}
    for item in items:
        if item.content == "any" and item.parent_sub == "id" and isinstance(item.parent, tuple):
            value = item.values[-1] if item.values else None
            parent = index.find(item.parent)
            # A new map holding the id of a panel already in the array (its place in the
            # array is given by its neighbours, often in earlier entries: not checked).
            if isinstance(value, str) and parent is not None and parent.type_ref == "map":
                new_panels[item.parent] = value
    if not new_panels:
        return {}
    before_real = {
        p.get("id"): p for p in real.get(LEGACY_PANELS, type=Array) if isinstance(p, Map)
    }
    before_masked = [p for p in masked.get(LEGACY_PANELS, type=Array) if isinstance(p, Map)]
    masked_by_id = dict(zip(before_real, before_masked, strict=False))
    fields: dict[tuple[ID, str], ID] = {}
    for item in items:
        if item.content == "type" and isinstance(item.parent, tuple):
            if item.parent in new_panels and item.parent_sub in TEXT_FIELDS:
                fields[(item.parent, item.parent_sub)] = (item.client, item.clock)
    out: dict[ID, str] = {}
    for (panel_ident, name), text_ident in fields.items():
        panel_id = new_panels[panel_ident]
        original = before_real.get(panel_id)
        shadow = masked_by_id.get(panel_id)
        if original is None or shadow is None:
            continue
        strings = sorted(
            (i for i in items if i.span is not None and i.parent == text_ident),
            key=lambda i: i.clock,
        )
        copied = "".join(i.text or "" for i in strings)
        old_text, old_mask = original.get(name), shadow.get(name)
        if str(old_text) != copied or not isinstance(old_mask, Text):
            continue
        mask = str(old_mask)
        at = 0
        for i in strings:
            out[(i.client, i.clock)] = mask[at : at + i.length]
            at += i.length
    return out
