"""Frozen document states: normalised content, lineage proofs, diffs and restore updates.

Pure (no Django). A snapshot's normalised content is the Fountain text of a script or
the canonical JSON of a storyboard's panels; its hash is SHA-256 of those UTF-8 bytes.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any

from pycrdt import Doc, Text

from crdt.documents import (
    SCRIPT_TEXT,
    DocumentKind,
    apply_update,
    content_of,
    new_document,
)
from crdt.fountain import parse
from crdt.storyboard import TEXT_FIELDS, board_of, key_between, ordered_panels, panel_insert
from crdt.updates import decode_state_vector, decode_update

__all__ = [
    "normalise_panels",
    "normalised_content",
    "restore_update",
    "script_diff",
    "state_contains",
    "storyboard_diff",
]


def _normal(value: Any) -> Any:
    # JSON numbers: Yjs writes integers from JS as varints and pycrdt reads some back as
    # floats; an integral float is written as an integer so both give the same bytes.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def normalise_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Panels as plain JSON values with integral numbers as integers."""
    return [_normal(p) for p in panels]


def normalised_content(doc: Doc[Any], kind: DocumentKind) -> tuple[str, str, str]:
    """``(media type, normalised content, sha256 hex)`` of a document."""
    content = content_of(doc, kind)
    if isinstance(content, str):
        text, media_type = content, "text/x-fountain; charset=utf-8"
    else:
        text = json.dumps(
            {"panels": normalise_panels(content)},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        media_type = "application/json"
    return media_type, text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def _ranges(ds: dict[int, list[tuple[int, int]]]) -> dict[int, list[tuple[int, int]]]:
    out: dict[int, list[tuple[int, int]]] = {}
    for client, ranges in ds.items():
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted((c, c + n) for c, n in ranges):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        out[client] = merged
    return out


def state_contains(new_state: bytes, old_state: bytes) -> bool:
    """Whether ``new_state`` includes everything of ``old_state``.

    Every insert (state-vector dominance: each client's clock is at least the old one)
    and every deletion (the old delete set is covered by the new one).
    """
    new_sv = decode_state_vector(_state_vector(new_state))
    old_sv = decode_state_vector(_state_vector(old_state))
    if any(new_sv.get(client, 0) < clock for client, clock in old_sv.items()):
        return False
    new_ds = _ranges(decode_update(new_state).delete_set)
    for client, ranges in _ranges(decode_update(old_state).delete_set).items():
        covering = new_ds.get(client, [])
        for lo, hi in ranges:
            if not any(a <= lo and hi <= b for a, b in covering):
                return False
    return True


def _state_vector(state: bytes) -> bytes:
    doc: Doc[Any] = Doc()
    if state:
        apply_update(doc, state)
    return bytes(doc.get_state())


def _scene_chunks(text: str) -> list[tuple[str, str]]:
    # (key, text) per scene: "preamble" before the first heading, then each heading
    # (numbered by occurrence so that two identical headings stay distinct).
    script = parse(text)
    units = text.encode("utf-16-le")

    def cut(start: int, end: int) -> str:
        return units[start * 2 : end * 2].decode("utf-16-le")

    chunks: list[tuple[str, str]] = []
    first = script.scenes[0].start if script.scenes else len(units) // 2
    if first:
        chunks.append(("preamble", cut(0, first)))
    seen: dict[str, int] = {}
    for scene in script.scenes:
        n = seen[scene.heading] = seen.get(scene.heading, 0) + 1
        key = scene.heading if n == 1 else f"{scene.heading} #{n}"
        chunks.append((key, cut(scene.start, scene.end)))
    return chunks


def script_diff(old: str, new: str) -> list[dict[str, Any]]:
    """Scene-by-scene diff: each scene added, removed, changed (with a unified diff) or same."""
    old_chunks = dict(_scene_chunks(old))
    new_chunks = _scene_chunks(new)
    out: list[dict[str, Any]] = []
    for key, text in new_chunks:
        before = old_chunks.pop(key, None)
        if before is None:
            out.append({"scene": key, "status": "added", "diff": _unified("", text)})
        elif before == text:
            out.append({"scene": key, "status": "unchanged"})
        else:
            out.append({"scene": key, "status": "changed", "diff": _unified(before, text)})
    for key, text in old_chunks.items():
        out.append({"scene": key, "status": "removed", "diff": _unified(text, "")})
    return out


def _unified(a: str, b: str) -> list[str]:
    return list(
        difflib.unified_diff(a.splitlines(), b.splitlines(), "before", "after", lineterm="")
    )


def _panel_key(panel: dict[str, Any], index: int) -> str:
    ident = panel.get("id")
    return str(ident) if ident is not None else f"#{index}"


def storyboard_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Panel-by-panel diff keyed by panel ``id``: added, removed, changed fields, moved."""
    old_by = {_panel_key(p, i): (i, p) for i, p in enumerate(old)}
    out: list[dict[str, Any]] = []
    for i, panel in enumerate(new):
        key = _panel_key(panel, i)
        found = old_by.pop(key, None)
        if found is None:
            out.append({"panel": key, "status": "added", "index": i, "fields": panel})
            continue
        j, before = found
        changes = {
            k: {"before": before.get(k), "after": panel.get(k)}
            for k in sorted(set(before) | set(panel))
            if before.get(k) != panel.get(k)
        }
        status = "changed" if changes else ("moved" if i != j else "unchanged")
        entry: dict[str, Any] = {"panel": key, "status": status, "index": i}
        if changes:
            entry["fields"] = changes
        if i != j:
            entry["from_index"] = j
        out.append(entry)
    for key, (j, before) in old_by.items():
        out.append({"panel": key, "status": "removed", "from_index": j, "fields": before})
    return out


def _utf8_offsets(text: str) -> list[int]:
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + len(ch.encode("utf-8")))
    return offsets


def _restore_text(text: Text, target: str) -> None:
    current = str(text)
    at = _utf8_offsets(current)  # pycrdt indexes Text in UTF-8 bytes
    # The common prefix and suffix stay untouched (difflib alone may re-type a character
    # next to a cut, moving its credit to the restorer), then difflib edits the middle.
    head = 0
    limit = min(len(current), len(target))
    while head < limit and current[head] == target[head]:
        head += 1
    tail = 0
    while tail < limit - head and current[-1 - tail] == target[-1 - tail]:
        tail += 1
    middle_a, middle_b = current[head : len(current) - tail], target[head : len(target) - tail]
    ops = difflib.SequenceMatcher(None, middle_a, middle_b, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag in ("replace", "delete"):
            del text[at[head + i1] : at[head + i2]]
        if tag in ("replace", "insert"):
            text.insert(at[head + i1], middle_b[j1:j2])


def _restore_script(doc: Doc[Any], target: str) -> None:
    _restore_text(doc.get(SCRIPT_TEXT, type=Text), target)


def _restore_storyboard(doc: Doc[Any], target: list[dict[str, Any]]) -> None:
    # Stopgap for schema v2 (sb-workspace): panels not in the target are deleted, kept
    # panels are edited field by field (text minimally, so surviving text keeps its
    # writer), missing ones are inserted; a panel is re-keyed only when it is out of order.
    board = board_of(doc)
    current = dict(ordered_panels(doc))
    wanted_ids = {str(p.get("id")) for p in target}
    for panel_id in [k for k in board.keys() if k not in wanted_ids]:
        del board[panel_id]
    existing_keys = {pid: p.get("order") for pid, p in current.items()}
    previous: tuple[str, str] | None = None
    for position, wanted in enumerate(target):
        panel_id = str(wanted.get("id"))
        panel = current.get(panel_id)
        order = existing_keys.get(panel_id)
        if not isinstance(order, str) or (previous is not None and (order, panel_id) <= previous):
            low = previous[0] if previous else None
            # Below the next target panel's key that still lies above ``low``, if any.
            later = (existing_keys.get(str(p.get("id"))) for p in target[position + 1 :])
            high = next((k for k in later if isinstance(k, str) and (low is None or k > low)), None)
            order = key_between(low, high)
        if panel is None:
            panel_insert(board, panel_id, wanted, order)
            panel = board[panel_id]
            for key in [k for k in panel.keys() if k != "order" and k not in wanted]:
                del panel[key]
        else:
            if panel.get("order") != order:
                panel["order"] = order
            for key in [k for k in panel.keys() if k not in wanted and k not in ("order", "id")]:
                del panel[key]
            for key, value in wanted.items():
                if key == "id":
                    continue
                existing = panel.get(key)
                if key in TEXT_FIELDS and isinstance(existing, Text):
                    if str(existing) != value:
                        _restore_text(existing, str(value))
                elif _normal(existing) != value:
                    panel[key] = Text(str(value)) if key in TEXT_FIELDS else value
        previous = (order, panel_id)


def restore_update(
    kind: DocumentKind,
    state: bytes,
    target: str | list[dict[str, Any]],
    client_id: int,
) -> bytes:
    """An update, written by ``client_id``, that makes the document's content ``target``.

    Only what differs is edited (unchanged text and panels keep their authors). Raises
    ValueError if the result does not equal ``target``. Returns b"" when nothing differs.
    """
    doc: Doc[Any] = Doc(client_id=client_id)
    scratch = new_document(kind)
    if state:
        apply_update(scratch, state)
    apply_update(doc, bytes(scratch.get_update()))
    if kind == "script":
        doc.get(SCRIPT_TEXT, type=Text)
    else:
        board_of(doc)
    wanted: Any = target if kind == "script" else normalise_panels(target)  # type: ignore[arg-type]

    def now() -> Any:
        got = content_of(doc, kind)
        return got if isinstance(got, str) else normalise_panels(got)

    if now() == wanted:
        return b""
    before = doc.get_state()
    with doc.transaction():
        if kind == "script":
            if not isinstance(target, str):
                raise ValueError("a script restores to text")
            _restore_script(doc, target)
        else:
            if not isinstance(target, list):
                raise ValueError("a storyboard restores to a panel list")
            _restore_storyboard(doc, normalise_panels(target))
    if now() != wanted:
        raise ValueError("restore did not reproduce the snapshot content")
    if bytes(doc.get_state()) == bytes(before):
        # Deletions alone do not move the state vector, and a peer that compares state
        # vectors to decide whether an update is news would drop it: write one unit and
        # delete it again so the update always carries a struct.
        with doc.transaction():
            if kind == "script":
                text = doc.get(SCRIPT_TEXT, type=Text)
                text.insert(0, "\u2060")
                del text[0 : len("\u2060".encode())]
            else:
                # Re-setting a panel's order key to itself is a write that changes nothing.
                panels = ordered_panels(doc)
                if panels:
                    _, panel = panels[0]
                    panel["order"] = panel.get("order")
    return bytes(doc.get_update(before))
