"""The storyboard schema: panels with a stable identity, ordered by fractional keys.

A storyboard is the root ``Y.Map`` named ``board``: each key is a panel id and each value
the panel's ``Y.Map`` (fields below). Panels are shown sorted by their ``order`` key, then
by id. A move sets one value, the panel's ``order``; the panel itself, its texts and
whoever is typing in them stay where they are.

Why this and not an array of ids beside a map of panels: with an order array a move is
still a delete plus an insert (of the id), so two people moving the same panel at once
leave the id twice and every reader needs a rule to drop the copy; a key is last-writer-
wins, so concurrent moves of one panel converge on one of the two places, by
construction. Concurrent inserts into the same gap could draw the same key; the key
carries ~18 bits of jitter (``JITTER``), and equal keys still sort, by id.

The first storyboards (``panels``: a ``Y.Array`` of ``Y.Map``s, a move deleting the panel
and inserting a copy) are moved to this schema by ``crdt.storyboard_migration``.
Pure: no I/O, no Django.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from pycrdt import Array, Doc, Map, Text

BOARD: Final = "board"
LEGACY_PANELS: Final = "panels"
TEXT_FIELDS: Final = ("action", "dialogue", "notes")
SCALAR_FIELDS: Final = ("order", "duration_ms", "shot_size", "image")
SHOT_SIZES: Final = ("EWS", "WS", "MS", "MCU", "CU", "ECU")
# A day: a panel that long is a mistake, and a bound keeps running totals exact floats.
MAX_DURATION_MS: Final = 86_400_000
DEFAULT_DURATION_MS: Final = 2000
PANEL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
RECORD_ID = re.compile(r"trp:rec:1:[0-9a-f]{64}")
# The fields of a panel as snapshots and exports show them (``order`` is the position).
CONTENT_FIELDS: Final = ("id", "action", "dialogue", "notes", "duration_ms", "shot_size", "image")

DIGITS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE: Final = len(DIGITS)
MAX_KEY_LENGTH: Final = 128
# Keys are drawn from a window of JITTER values: two people inserting into the same gap at
# once draw the same key about once in 238,328 times (and then still sort by id).
JITTER: Final = BASE**3
_DIGIT_VALUE: Final = {c: n for n, c in enumerate(DIGITS)}


def valid_order_key(key: object) -> bool:
    """Whether ``key`` is a fractional order key (1-128 base-62 digits, no trailing 0)."""
    return (
        isinstance(key, str)
        and 0 < len(key) <= MAX_KEY_LENGTH
        and key[-1] != "0"
        and all(c in _DIGIT_VALUE for c in key)
    )


def _scaled(key: str, digits: int, *, up: bool) -> int:
    # floor (or ceil, ``up``) of key * BASE**digits.
    value: int = 0
    for c in key[:digits]:
        value = value * BASE + _DIGIT_VALUE[c]
    value *= BASE ** max(0, digits - len(key))
    if up and len(key) > digits:
        value += 1
    return value


def key_between(
    before: str | None, after: str | None, randbelow: Callable[[int], int] = secrets.randbelow
) -> str:
    """A random order key strictly between ``before`` (None: 0) and ``after`` (None: 1).

    The frontend's ``keyBetween`` (frontend/src/order-keys.ts) is the same rule: the
    shortest length with room for twice the jitter window, then near the low end when
    appending (so appends lengthen keys by a digit every ~120 panels), near the high end
    when prepending, around the middle otherwise.
    """
    if before is not None and after is not None and not before < after:
        raise ValueError(f"no key between {before!r} and {after!r}")
    digits = 1
    while True:
        low = (_scaled(before, digits, up=False) if before else 0) + 1
        high = (_scaled(after, digits, up=True) if after else BASE**digits) - 1
        count = high - low + 1
        if count >= 2 * JITTER:
            break
        digits += 1
    if after is None:
        value = low + randbelow(JITTER)
    elif before is None:
        value = high - randbelow(JITTER)
    else:
        value = low + (count - JITTER) // 2 + randbelow(JITTER)
    out = []
    for _ in range(digits):
        value, digit = divmod(value, BASE)
        out.append(DIGITS[digit])
    return "".join(reversed(out)).rstrip("0")


def order_keys(count: int, randbelow: Callable[[int], int] = secrets.randbelow) -> list[str]:
    """``count`` increasing keys for panels laid out in a row."""
    keys: list[str] = []
    for _ in range(count):
        keys.append(key_between(keys[-1] if keys else None, None, randbelow))
    return keys


def board_of(doc: Doc[Any]) -> Map[Any]:
    """The ``board`` root map of a storyboard."""
    board: Map[Any] = doc.get(BOARD, type=Map)
    return board


def _sort_key(panel_id: str, panel: Any) -> tuple[str, str]:
    order = panel.get("order") if isinstance(panel, Map) else None
    return (order if isinstance(order, str) else "", panel_id)


def ordered_panels(doc: Doc[Any]) -> list[tuple[str, Map[Any]]]:
    """``(id, panel map)`` of every panel, in board order."""
    board = board_of(doc)
    found = [(key, value) for key, value in board.items() if isinstance(value, Map)]
    return sorted(found, key=lambda kv: _sort_key(*kv))


def _plain(value: Any) -> Any:
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, (Map, Array)):
        return json.loads(json.dumps(value.to_py(), default=str))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def panel_content(panel_id: str, panel: Map[Any]) -> dict[str, Any]:
    """A panel as plain JSON: its id and fields, without the order key."""
    out: dict[str, Any] = {"id": panel_id}
    for key, value in panel.items():
        if key != "order":
            out[key] = _plain(value)
    return out


def legacy_panels(doc: Doc[Any]) -> list[dict[str, Any]]:
    """The panels of the first schema's ``panels`` array, as plain JSON values."""
    out: list[dict[str, Any]] = []
    for panel in doc.get(LEGACY_PANELS, type=Array):
        if isinstance(panel, Map):
            out.append(json.loads(json.dumps(panel.to_py(), default=str)))
        else:
            out.append({"value": _plain(panel)})
    return out


def storyboard_panels(doc: Doc[Any]) -> list[dict[str, Any]]:
    """The panels in order as plain JSON values.

    Panels still in the first schema's array (a document not migrated yet) follow the
    board's, so that nothing is hidden before the migration runs.
    """
    panels = [panel_content(pid, panel) for pid, panel in ordered_panels(doc)]
    if LEGACY_PANELS in doc.keys():
        seen = {p["id"] for p in panels}
        panels += [p for p in legacy_panels(doc) if p.get("id") not in seen or "id" not in p]
    return panels


def panel_insert(
    board: Map[Any],
    panel_id: str,
    fields: Mapping[str, Any],
    order: str,
) -> Map[Any]:
    """Add a panel (inside the caller's transaction): text fields as ``Y.Text``."""
    panel: Map[Any] = Map()
    board[panel_id] = panel
    panel["order"] = order
    for key in TEXT_FIELDS:
        panel[key] = Text(str(fields.get(key, "")))
    panel["duration_ms"] = fields.get("duration_ms", DEFAULT_DURATION_MS)
    panel["shot_size"] = fields.get("shot_size", "")
    if fields.get("image"):
        panel["image"] = fields["image"]
    return panel


def panels_write(
    doc: Doc[Any],
    panels: Iterable[Mapping[str, Any]],
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> None:
    """Append panels in one transaction (seeding, imports and tests); each needs an id."""
    board = board_of(doc)
    with doc.transaction():
        last = ordered_panels(doc)
        before = last[-1][1].get("order") if last else None
        for fields in panels:
            before = key_between(before if isinstance(before, str) else None, None, randbelow)
            panel_insert(board, str(fields["id"]), fields, before)


def panel_problem(key: str, value: Any) -> str | None:
    """Why ``value`` may not be a panel's ``key`` (a scalar field), or None."""
    if key == "order":
        return None if valid_order_key(value) else "order must be a fractional order key"
    if key == "duration_ms":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and value == value and 0 <= value <= MAX_DURATION_MS:
            return None
        return f"duration_ms must be a number of milliseconds from 0 to {MAX_DURATION_MS}"
    if key == "shot_size":
        if value == "" or value in SHOT_SIZES:
            return None
        return f"shot_size must be empty or one of {', '.join(SHOT_SIZES)}"
    if key == "image":
        if value == "" or (isinstance(value, str) and RECORD_ID.fullmatch(value)):
            return None
        return "image must be empty or an image record id (trp:rec:1:<sha256>)"
    if key in TEXT_FIELDS:
        return f"{key} must be a Y.Text"
    return f"a panel has no field {key!r}"


def has_legacy_panels(doc: Doc[Any]) -> bool:
    """Whether the first schema's ``panels`` array still holds anything."""
    return LEGACY_PANELS in doc.keys() and len(doc.get(LEGACY_PANELS, type=Array)) > 0
