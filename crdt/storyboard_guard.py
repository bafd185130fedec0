"""Checks every update a client sends to a storyboard against the schema, before it applies.

Yrs cannot take an update back once applied, so the check reads the update's structs
(``crdt.attribution.walk_update``) and places each one: a struct names its parent only
when it has no left or right neighbour; otherwise it sits wherever its neighbour sits,
which may be in the same update or anywhere in the document. The guard therefore keeps
an index of every struct the document holds (from the loaded state and every update
applied since, relayed ones included), resolving and remembering each struct's parent
and key once.

Allowed new structs (everything else raises ``SchemaViolation``; the socket closes 4422):
- under the root ``board``: a ``Y.Map`` keyed by a panel id;
- under a panel: ``order`` / ``duration_ms`` / ``shot_size`` / ``image`` values that pass
  ``panel_problem``, and ``Y.Text`` for ``action`` / ``dialogue`` / ``notes``;
- under a panel's text field: plain text;
- deleted content anywhere, and anything placed next to garbage-collected content (it
  lands in a deleted panel and is collected in turn).

Cost, measured on a board of 200 panels typed into by three people in 20,000 edits: one
typed character is checked and indexed in 61 µs (p50; p99 208 µs); building the index of
a loaded document costs ~12 µs a struct (``BoardGuard.of``: 0.23 s for that board), which
the hub does off the event loop; an entry is ~100 bytes a struct (text typed in one
burst is one struct).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from crdt.attribution import ID, Item, walk_update
from crdt.encoding import MalformedMessage
from crdt.storyboard import BOARD, PANEL_ID, SCALAR_FIELDS, TEXT_FIELDS, panel_problem

Place = tuple[str | ID | None, str | None]


class SchemaViolation(Exception):
    """An update that writes something the storyboard schema does not allow."""


@dataclass(slots=True)
class _Struct:
    clock: int
    end: int
    gc: bool
    content: str | None
    type_ref: str | None
    parent: str | ID | None
    key: str | None
    origin: ID | None
    right_origin: ID | None
    resolved: bool


def _struct(item: Item) -> _Struct:
    explicit = item.parent is not None
    return _Struct(
        clock=item.clock,
        end=item.clock + item.length,
        gc=item.kind == "gc",
        content=item.content,
        type_ref=item.type_ref,
        parent=item.parent,
        key=item.parent_sub,
        origin=item.origin,
        right_origin=item.right_origin,
        resolved=explicit or item.kind == "gc",
    )


class _Structs:
    """Structs by client, sorted by clock, found by any clock they cover."""

    def __init__(self) -> None:
        self.starts: dict[int, list[int]] = {}
        self.structs: dict[int, list[_Struct]] = {}

    def add(self, client: int, struct: _Struct) -> None:
        starts = self.starts.setdefault(client, [])
        at = bisect.bisect_left(starts, struct.clock)
        if at < len(starts) and starts[at] == struct.clock:
            return  # known already (a re-sent or overlapping update)
        if at > 0 and self.structs[client][at - 1].end > struct.clock:
            return  # inside a struct already known (Yrs merged it with its neighbours)
        starts.insert(at, struct.clock)
        self.structs.setdefault(client, []).insert(at, struct)

    def find(self, ident: ID) -> _Struct | None:
        client, clock = ident
        starts = self.starts.get(client)
        if not starts:
            return None
        i = bisect.bisect_right(starts, clock) - 1
        if i < 0:
            return None
        found = self.structs[client][i]
        return found if found.clock <= clock < found.end else None


class BoardGuard:
    """The schema check of one storyboard's incoming updates (see the module docstring)."""

    def __init__(self) -> None:
        self._known = _Structs()

    @classmethod
    def of(cls, doc: Doc[Any], pending: Iterable[bytes] = ()) -> BoardGuard:
        """The guard of a loaded document (and the stored updates it holds pending).

        Indexing walks every struct in Python: ~12 µs a struct, 0.23 s for a board of 200
        panels typed into by three people in 20,000 separate edits (142 KB of state), so
        the hub builds it off the event loop.
        """
        guard = cls()
        guard.absorb(bytes(doc.get_update()))
        for update in pending:
            guard.absorb(update)
        return guard

    def absorb(self, update: bytes) -> None:
        """Index the structs of an update that was applied (loaded, accepted or relayed)."""
        items, _ = walk_update(update)
        for item in items:
            if item.kind != "skip":
                self._known.add(item.client, _struct(item))

    def check(self, update: bytes) -> None:
        """Raise ``SchemaViolation`` if a struct of ``update`` breaks the schema."""
        try:
            items, _ = walk_update(update)
        except MalformedMessage:
            return  # undecodable: applying it raises InvalidUpdate, closing 1007
        local = _Structs()
        fresh: list[tuple[Item, _Struct]] = []
        for item in items:
            if item.kind != "item" or item.content == "deleted":
                continue
            if self._known.find((item.client, item.clock)) is not None:
                continue  # already in the document: applying it changes nothing
            struct = _struct(item)
            local.add(item.client, struct)
            fresh.append((item, struct))
        for item, struct in fresh:
            self._check_struct(item, self._place(struct, local), local)

    def _find(self, ident: ID, local: _Structs) -> _Struct | None:
        return local.find(ident) or self._known.find(ident)

    def _place(self, struct: _Struct, local: _Structs) -> Place | None:
        """(parent, key) of a struct; None when it sits beside collected content."""
        chain: list[_Struct] = []
        current: _Struct | None = struct
        while current is not None and not current.resolved:
            chain.append(current)
            ref = current.origin or current.right_origin
            if ref is None:
                raise SchemaViolation("a struct with neither a parent nor a neighbour")
            found = self._find(ref, local)
            if found is None:
                raise SchemaViolation("the update builds on content the server does not have")
            current = found
        if current is None or current.gc:
            return None
        for link in chain:
            link.parent, link.key, link.resolved = current.parent, current.key, True
        return current.parent, current.key

    def _check_struct(self, item: Item, place: Place | None, local: _Structs) -> None:
        if place is None:
            return
        parent, key = place
        if isinstance(parent, str):
            if parent != BOARD:
                raise SchemaViolation(f"writes to {parent!r}: a storyboard lives in {BOARD!r}")
            if key is None or not PANEL_ID.fullmatch(key):
                raise SchemaViolation("board keys are panel ids ([A-Za-z0-9_-]{1,64})")
            if item.content != "type" or item.type_ref != "map":
                raise SchemaViolation("a panel is a Y.Map")
            return
        if parent is None:
            raise SchemaViolation("a struct whose parent cannot be found")
        owner = self._find(parent, local)
        if owner is None or owner.gc:
            return  # inside a collected (deleted) type: collected in turn
        if owner.content != "type":
            raise SchemaViolation("a parent that is not a shared type")
        owner_place = self._place(owner, local)
        if owner_place is None:
            return
        grand, owner_key = owner_place
        if grand == BOARD:
            self._check_panel_field(item, key)
            return
        if isinstance(grand, tuple) and owner.type_ref == "text" and owner_key in TEXT_FIELDS:
            if item.content != "string":
                raise SchemaViolation(f"{owner_key} holds plain text only")
            return
        raise SchemaViolation("content nested where the storyboard schema has none")

    @staticmethod
    def _check_panel_field(item: Item, key: str | None) -> None:
        if key is None:
            raise SchemaViolation("a panel holds named fields, not a list")
        if key in TEXT_FIELDS:
            if item.content != "type" or item.type_ref != "text":
                raise SchemaViolation(f"{key} must be a Y.Text")
            return
        if key not in SCALAR_FIELDS:
            raise SchemaViolation(f"a panel has no field {key!r}")
        if item.content != "any" or len(item.values) != 1:
            raise SchemaViolation(f"{key} must be a plain value")
        problem = panel_problem(key, item.values[0])
        if problem is not None:
            raise SchemaViolation(problem)
