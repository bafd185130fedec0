"""Credit from the edit history: who wrote what survives in a document, and who deleted.

Pure computation over Yjs v1 bytes (no Django): the inputs are the document's full
state, the binding of Yjs client IDs to users and the attributed update log in order.

Surviving text of a script is attributed per UTF-16 unit without reimplementing Yjs's
ordering: every string item of the state is rewritten with the same number of
private-use characters, one character per owner, and the rewritten state is applied to
a fresh document; Yrs itself then puts every unit where it belongs, so the masked text
is aligned unit for unit with the real one. Its length therefore equals the document's
length in UTF-16 units, and the per-owner counts sum to it exactly.

Deletions are credited from the log: an entry's delete set lists the ranges it deleted,
but a client re-sends deletions it already knows (a reconnect's sync step 2 carries its
whole delete set), so only units not deleted by an earlier entry are credited. Two users
deleting the same text concurrently: the entry committed first gets the credit.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Array, Doc, Map, Text

from crdt.encoding import Decoder, MalformedMessage, encode_var_string
from crdt.fountain import parse
from crdt.storyboard import BOARD, LEGACY_PANELS, TEXT_FIELDS, ordered_panels
from crdt.updates import _scan, decode_update

__all__ = [
    "ID",
    "DeletionCredit",
    "IdSet",
    "Item",
    "PanelCredit",
    "PanelOwners",
    "Runs",
    "ScriptCredit",
    "StoryboardCredit",
    "delete_set_of",
    "owner_runs",
    "owners_by_unit",
    "panel_owners",
    "script_credit",
    "storyboard_credit",
    "walk_update",
]

ID = tuple[int, int]
Owner = int | None  # a user id, or None for client IDs bound to nobody

_PUA_START = 0xE000
_PUA_SIZE = 0x1900  # U+E000..U+F8FF: one UTF-16 unit each

_REF_GC, _REF_DELETED, _REF_JSON, _REF_BINARY, _REF_STRING = 0, 1, 2, 3, 4
_REF_EMBED, _REF_FORMAT, _REF_TYPE, _REF_ANY, _REF_DOC, _REF_SKIP = 5, 6, 7, 8, 9, 10
_TYPE_NAMES = {0: "array", 1: "map", 2: "text", 3: "xml_element", 4: "xml_fragment"}
_TYPE_NAMES |= {5: "xml_hook", 6: "xml_text", 7: "weak_link", 9: "doc", 15: "undefined"}


@dataclass(slots=True)
class Item:
    """One struct of an update, with what credit needs (values and string byte span)."""

    client: int
    clock: int
    length: int
    kind: str  # "gc", "skip" or "item"
    content: str | None = None  # "string", "any", "type", "deleted", ...
    parent: str | ID | None = None
    parent_sub: str | None = None
    origin: ID | None = None
    right_origin: ID | None = None
    text: str | None = None
    type_ref: str | None = None
    values: list[Any] = field(default_factory=list)
    span: tuple[int, int] | None = None  # bytes of a string content (length + UTF-8)


def _read_any(dec: Decoder, depth: int = 0) -> Any:
    if depth > 64:
        raise MalformedMessage("lib0 any nested too deeply")
    tag = dec.read_u8()
    if tag in (127, 126):
        return None
    if tag == 125:
        return dec.read_var_int()
    if tag == 124:
        return dec.read_float32()
    if tag == 123:
        return dec.read_float64()
    if tag == 122:
        return dec.read_big_int64()
    if tag in (121, 120):
        return tag == 120
    if tag == 119:
        return dec.read_var_string()
    if tag == 118:
        return {
            dec.read_var_string(): _read_any(dec, depth + 1) for _ in range(dec.read_var_uint())
        }
    if tag == 117:
        return [_read_any(dec, depth + 1) for _ in range(dec.read_var_uint())]
    if tag == 116:
        return dec.read_var_bytes()
    raise MalformedMessage(f"unknown any tag {tag}")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) >> 1


def walk_update(update: bytes) -> tuple[list[Item], dict[int, list[tuple[int, int]]]]:
    """Every struct of a v1 update in encoding order, and its delete set.

    The update is validated with ``crdt.updates.decode_update`` first; this walk then
    also keeps map/array values (lib0 ``any``) and where each string sits in the bytes.
    """
    decoded = decode_update(update)
    dec = Decoder(update)
    read = dec.read_var_uint
    items: list[Item] = []
    for _ in range(read()):
        count = read()
        client = read()
        clock = read()
        for _ in range(count):
            info = dec.read_u8()
            ref = info & 0x1F
            if ref in (_REF_GC, _REF_SKIP):
                length = read()
                items.append(Item(client, clock, length, "gc" if ref == _REF_GC else "skip"))
                clock += length
                continue
            item = Item(client, clock, 0, "item")
            item.origin = (read(), read()) if info & 0x80 else None
            item.right_origin = (read(), read()) if info & 0x40 else None
            if not info & 0xC0:
                item.parent = dec.read_var_string() if read() == 1 else (read(), read())
                if info & 0x20:
                    item.parent_sub = dec.read_var_string()
            start = dec.pos
            if ref == _REF_STRING:
                item.content = "string"
                item.text = dec.read_var_string()
                item.span = (start, dec.pos)
                item.length = _utf16_len(item.text)
            elif ref == _REF_ANY:
                item.content = "any"
                item.values = [_read_any(dec) for _ in range(read())]
                item.length = len(item.values)
            elif ref == _REF_TYPE:
                item.content = "type"
                code = read()
                item.type_ref = _TYPE_NAMES.get(code, str(code))
                if code in (3, 5):
                    dec.skip_var_bytes()
                elif code == 7:
                    flags = dec.read_u8()
                    read(), read()
                    if flags & 1:
                        read(), read()
                item.length = 1
            elif ref == _REF_DELETED:
                item.content = "deleted"
                item.length = read()
            elif ref == _REF_JSON:
                item.content = "json"
                item.length = read()
                for _ in range(item.length):
                    dec.skip_var_bytes()
            elif ref in (_REF_BINARY, _REF_EMBED):
                item.content = "binary" if ref == _REF_BINARY else "embed"
                dec.skip_var_bytes()
                item.length = 1
            elif ref == _REF_FORMAT:
                item.content = "format"
                dec.skip_var_bytes()
                dec.skip_var_bytes()
                item.length = 1
            else:  # doc
                item.content = "doc"
                dec.skip_var_bytes()
                _read_any(dec)
                item.length = 1
            items.append(item)
            clock += item.length
    return items, decoded.delete_set


class IdSet:
    """Sets of clock ranges per client (a Yjs delete set), with subtraction."""

    def __init__(self) -> None:
        self.ranges: dict[int, list[tuple[int, int]]] = {}

    def contains(self, client: int, clock: int) -> bool:
        ranges = self.ranges.get(client, [])
        i = bisect.bisect_right(ranges, (clock, float("inf"))) - 1
        return i >= 0 and ranges[i][0] <= clock < ranges[i][1]

    def add_new(self, client: int, start: int, end: int) -> list[tuple[int, int]]:
        """Add [start, end); return the sub-ranges that were not in the set yet.

        Ranges are kept sorted, disjoint and merged, so an add is a bisection plus a
        splice of the ranges it touches (re-sent delete sets cost little).
        """
        ranges = self.ranges.setdefault(client, [])
        i = bisect.bisect_left(ranges, (start,))
        if i > 0 and ranges[i - 1][1] >= start:
            i -= 1
        if i < len(ranges) and ranges[i][0] <= start and end <= ranges[i][1]:
            return []  # already deleted: the common case of a re-sent delete set
        j = i
        new: list[tuple[int, int]] = []
        cursor, low, high = start, start, end
        while j < len(ranges) and ranges[j][0] <= end:
            lo, hi = ranges[j]
            if lo > cursor:
                new.append((cursor, lo))
            cursor = max(cursor, hi)
            low, high = min(low, lo), max(high, hi)
            j += 1
        if cursor < end:
            new.append((cursor, end))
        ranges[i:j] = [(low, high)]
        return new


def _delete_set_of(ranges: Mapping[int, Sequence[tuple[int, int]]]) -> IdSet:
    ids = IdSet()
    for client, rs in ranges.items():
        for clock, length in rs:
            ids.add_new(client, clock, clock + length)
    return ids


def _pua_update(update: bytes, items: Sequence[Item], char_of: Mapping[int, str]) -> bytes:
    # The update with every string content replaced by its owner's character, one per
    # UTF-16 unit (so every clock, origin and split point stays valid).
    return rewrite_strings(update, items, lambda item: char_of[item.client] * item.length)


def rewrite_strings(update: bytes, items: Sequence[Item], text_of: Callable[[Item], str]) -> bytes:
    """``update`` with each string content replaced by ``text_of(item)``, which must have
    the same UTF-16 length (every clock, origin and split point stays valid)."""
    parts: list[bytes] = []
    pos = 0
    for item in items:
        if item.span is None:
            continue
        start, end = item.span
        parts.append(update[pos:start])
        parts.append(encode_var_string(text_of(item)))
        pos = end
    parts.append(update[pos:])
    return b"".join(parts)


def masked_document(state: bytes, bindings: Mapping[int, int]) -> tuple[Doc[Any], list[Owner]]:
    """``state`` rebuilt with every character replaced by its owner's private-use character,
    and the owners in character order (``owners[ord(c) - 0xE000]``)."""
    items, _ = walk_update(state)
    owners: list[Owner] = sorted(
        {bindings.get(i.client) for i in items if i.span is not None},
        key=lambda o: -1 if o is None else o,
    )
    if len(owners) > _PUA_SIZE:
        raise ValueError("too many distinct authors to attribute")
    char_of_owner = {owner: chr(_PUA_START + n) for n, owner in enumerate(owners)}
    char_of = {i.client: char_of_owner[bindings.get(i.client)] for i in items if i.span}
    masked: Doc[Any] = Doc()
    masked.apply_update(_pua_update(state, items, char_of))
    return masked, owners


def owners_by_unit(
    state: bytes, bindings: Mapping[int, int], text_name: str = "content"
) -> tuple[str, list[Owner]]:
    """The text of ``text_name`` and the owner (user id or None) of each UTF-16 unit."""
    masked_doc, owners = masked_document(state, bindings)
    real: Doc[Any] = Doc()
    real.apply_update(state)
    text = str(real.get(text_name, type=Text))
    masked = str(masked_doc.get(text_name, type=Text))
    if len(masked) != _utf16_len(text):
        raise ValueError("attribution mask does not align with the text")
    return text, [owners[ord(c) - _PUA_START] for c in masked]


@dataclass(slots=True)
class DeletionCredit:
    """Units a user deleted first: of their own writing and of other people's."""

    own: int = 0
    others: int = 0

    @property
    def total(self) -> int:
        return self.own + self.others


def delete_set_of(update: bytes) -> dict[int, list[tuple[int, int]]]:
    """The delete set of an update (structure checked by the fast scanner, structs skipped)."""
    _, ds_pos = _scan(update)
    dec = Decoder(update, ds_pos)
    read = dec.read_var_uint
    out: dict[int, list[tuple[int, int]]] = {}
    for _ in range(read()):
        ranges = out.setdefault(read(), [])
        for _ in range(read()):
            clock = read()
            ranges.append((clock, read()))
    return out


def _deletions(
    log: Iterable[tuple[Owner, bytes]],
    bindings: Mapping[int, int],
    count_unit: Any = None,
) -> dict[Owner, DeletionCredit]:
    seen = IdSet()
    out: dict[Owner, DeletionCredit] = {}
    for user, update in log:
        for client, ranges in delete_set_of(update).items():
            author = bindings.get(client)
            for clock, length in ranges:
                for lo, hi in seen.add_new(client, clock, clock + length):
                    n = hi - lo if count_unit is None else count_unit(client, lo, hi)
                    if not n:
                        continue
                    credit = out.setdefault(user, DeletionCredit())
                    if author is not None and author == user:
                        credit.own += n
                    else:
                        credit.others += n
    return out


@dataclass(slots=True)
class ScriptCredit:
    """Per user: surviving UTF-16 units (in total and by scene), typed and deleted units.

    Scene keys are scene indexes as strings, ``"preamble"`` for text before the first
    scene heading (title page included). ``length`` is the text's UTF-16 length; the
    surviving counts sum to it.
    """

    length: int
    surviving: dict[Owner, int]
    by_scene: dict[str, dict[Owner, int]]
    scenes: list[dict[str, Any]]
    typed: dict[Owner, int]
    deleted: dict[Owner, DeletionCredit]


def script_credit(
    state: bytes, bindings: Mapping[int, int], log: Iterable[tuple[Owner, bytes]]
) -> ScriptCredit:
    """Credit for a script: who wrote each surviving unit, by scene, and who deleted."""
    log = list(log)
    text, owners = owners_by_unit(state, bindings)
    script = parse(text)
    by_scene: dict[str, dict[Owner, int]] = {}
    first = script.scenes[0].start if script.scenes else len(owners)
    if first:
        by_scene["preamble"] = dict(Counter(owners[:first]))
    scenes = []
    for scene in script.scenes:
        by_scene[str(scene.index)] = dict(Counter(owners[scene.start : scene.end]))
        scenes.append({"index": scene.index, "heading": scene.heading, "start": scene.start})
    typed = _typed(log, bindings)
    return ScriptCredit(
        length=len(owners),
        surviving=dict(Counter(owners)),
        by_scene=by_scene,
        scenes=scenes,
        typed=typed,
        deleted=_deletions(log, bindings),
    )


class _Index:
    """Items by ID, resolving each item's parent and map key through its origins."""

    def __init__(self, items: Iterable[Item]) -> None:
        self.starts: dict[int, list[int]] = {}
        self.items: dict[int, list[Item]] = {}
        for item in items:
            if item.kind == "skip":
                continue
            starts = self.starts.setdefault(item.client, [])
            at = bisect.bisect_left(starts, item.clock)
            if at < len(starts) and starts[at] == item.clock:
                if item.kind == "item":  # keep the most informative version
                    self.items[item.client][at] = item
                continue
            starts.insert(at, item.clock)
            self.items.setdefault(item.client, []).insert(at, item)

    def find(self, ident: ID) -> Item | None:
        client, clock = ident
        starts = self.starts.get(client, [])
        i = bisect.bisect_right(starts, clock) - 1
        if i < 0:
            return None
        item = self.items[client][i]
        return item if item.clock <= clock < item.clock + item.length else None

    def parent(self, item: Item) -> tuple[str | ID | None, str | None]:
        seen = 0
        current: Item | None = item
        while current is not None and seen < 10_000:
            if current.parent is not None:
                return current.parent, current.parent_sub
            ref = current.origin or current.right_origin
            current = self.find(ref) if ref else None
            seen += 1
        return None, None


@dataclass(slots=True)
class PanelCredit:
    """A surviving panel: its id, creator, who wrote its text and who set its fields."""

    panel: str
    created_by: Owner
    # field -> owner -> surviving UTF-16 units of that field they wrote
    text: dict[str, dict[Owner, int]]
    # shot_size / duration_ms / image -> who set the surviving value
    fields: dict[str, Owner]
    image: str | None


@dataclass(slots=True)
class StoryboardCredit:
    """Per user: panel text written (surviving, typed, deleted), panels made and deleted,
    fields set. ``length`` is the UTF-16 length of all panel text; ``surviving`` sums to it.
    Moves (``order`` values) count for nobody."""

    length: int
    panels: list[PanelCredit]
    surviving: dict[Owner, int]
    typed: dict[Owner, int]
    deleted: dict[Owner, DeletionCredit]
    panels_created: dict[Owner, int]
    fields_set: dict[Owner, int]
    panels_deleted: dict[Owner, int]


CREDITED_FIELDS = ("shot_size", "duration_ms", "image")


Runs = list[tuple[str, Owner]]  # (character, owner) per code point


def owner_runs(text: str, owners: Sequence[Owner]) -> Runs:
    # Owners come per UTF-16 unit; pair them with code points (an astral character's
    # two units are written together, so they share an owner).
    out: Runs = []
    unit = 0
    for ch in text:
        out.append((ch, owners[unit]))
        unit += 2 if ord(ch) > 0xFFFF else 1
    return out


@dataclass(slots=True)
class PanelOwners:
    """A panel's content and who made each part of it."""

    panel: str
    created_by: Owner
    text: dict[str, Runs]
    values: dict[str, Any]  # scalar fields (order excluded)
    setters: dict[str, Owner]
    ident: ID = (-1, -1)  # the ID of the panel's map in the state


def panel_owners(
    state: bytes,
    bindings: Mapping[int, int],
    *,
    legacy: bool | None = None,
    masked: tuple[Doc[Any], list[Owner]] | None = None,
) -> list[PanelOwners]:
    """Every panel of a storyboard state in order, with its owners: the board's, or with
    ``legacy`` the first schema's array (None: the array when the board is empty).
    ``masked`` replaces the state's owner mask (``legacy_masked``)."""
    if not state:
        return []
    real: Doc[Any] = Doc()
    real.apply_update(state)
    mask, owners = masked if masked is not None else masked_document(state, bindings)
    items, delete_set = walk_update(state)
    deleted = _delete_set_of(delete_set)
    index = _Index(items)
    made: dict[ID, Owner] = {}
    set_by: dict[tuple[ID, str], Owner] = {}
    ident_of: dict[str, ID] = {}
    legacy_maps: set[ID] = set()
    for item in items:
        if item.kind != "item" or deleted.contains(item.client, item.clock):
            continue
        parent, key = index.parent(item)
        if item.content == "type" and parent in (BOARD, LEGACY_PANELS):
            made[(item.client, item.clock)] = bindings.get(item.client)
            if parent == BOARD and key is not None:
                ident_of[key] = (item.client, item.clock)
            else:
                legacy_maps.add((item.client, item.clock))
        elif isinstance(parent, tuple) and key is not None and item.content == "any":
            set_by[(parent, key)] = bindings.get(item.client)
            if key == "id" and parent in legacy_maps and item.values:
                ident_of.setdefault(str(item.values[-1]), parent)
    panels = _board_or_legacy(real, legacy)
    masked_panels = dict(_board_or_legacy(mask, legacy))
    out: list[PanelOwners] = []
    for panel_id, panel in panels:
        masked_panel = masked_panels.get(panel_id)
        ident = ident_of.get(panel_id, (-1, -1))
        text: dict[str, Runs] = {}
        values: dict[str, Any] = {}
        setters: dict[str, Owner] = {}
        for key, value in panel.items():
            if key in TEXT_FIELDS and isinstance(value, Text):
                shadow = masked_panel.get(key) if isinstance(masked_panel, Map) else None
                units = [owners[ord(c) - _PUA_START] for c in str(shadow or "")]
                text[key] = owner_runs(str(value), units)
            elif key in TEXT_FIELDS and isinstance(value, str):
                text[key] = [(ch, made.get(ident)) for ch in value]
            elif key not in ("order", "id"):
                values[key] = value
                setters[key] = set_by.get((ident, key), made.get(ident))
        out.append(PanelOwners(panel_id, made.get(ident), text, values, setters, ident))
    return out


def _board_or_legacy(doc: Doc[Any], legacy: bool | None) -> list[tuple[str, Map[Any]]]:
    if not legacy:
        panels = ordered_panels(doc)
        if legacy is False or panels or LEGACY_PANELS not in doc.keys():
            return panels
    out: list[tuple[str, Map[Any]]] = []
    seen: set[str] = set()
    for n, panel in enumerate(doc.get(LEGACY_PANELS, type=Array)):
        if not isinstance(panel, Map):
            continue
        ident = panel.get("id")
        panel_id = ident if isinstance(ident, str) and ident else f"panel-{n + 1}"
        if panel_id in seen:
            continue  # a copy left by two concurrent moves: the first one is the panel
        seen.add(panel_id)
        out.append((panel_id, panel))
    return out


def storyboard_credit(
    state: bytes, bindings: Mapping[int, int], log: Iterable[tuple[Owner, bytes]]
) -> StoryboardCredit:
    """Credit for a storyboard at field level, from its state and attributed log.

    Text is attributed per UTF-16 unit as in scripts (``panel_owners`` reads the masked
    document through the same panel maps). A panel's creator is whoever wrote the ``Y.Map``
    now under its id; a field's setter whoever wrote its surviving value. ``typed``
    counts only units a user sent themselves (a restore's or migration's copy, written
    for the original authors, is not typing).
    """
    log = list(log)
    owned = panel_owners(state, bindings, legacy=False)
    panels: list[PanelCredit] = []
    surviving: Counter[Owner] = Counter()
    for panel in owned:
        text: dict[str, dict[Owner, int]] = {}
        for name in TEXT_FIELDS:
            counts: Counter[Owner] = Counter()
            for ch, owner in panel.text.get(name, []):
                counts[owner] += _utf16_len(ch)
            surviving.update(counts)
            text[name] = dict(counts)
        image = panel.values.get("image")
        panels.append(
            PanelCredit(
                panel=panel.panel,
                created_by=panel.created_by,
                text=text,
                fields={k: panel.setters[k] for k in CREDITED_FIELDS if k in panel.setters},
                image=image if isinstance(image, str) and image else None,
            )
        )
    length = sum(surviving.values())
    history = _Index(i for _, update in log for i in walk_update(update)[0])

    alive_panels = {panel.ident for panel in owned}

    def in_alive_panel(found: Item) -> bool:
        # Text deleted with its panel counts under panels_deleted: a panel's deletion
        # also deletes text typed into it concurrently, which the next entry of whoever
        # deleted it re-sends in its delete set, however little that entry does.
        text_id = history.parent(found)[0]
        text_item = history.find(text_id) if isinstance(text_id, tuple) else None
        panel_id = history.parent(text_item)[0] if text_item is not None else None
        return panel_id in alive_panels

    def text_units(client: int, lo: int, hi: int) -> int:
        return _units_of(
            history,
            client,
            lo,
            hi,
            lambda found: found.content == "string" and in_alive_panel(found),
        )

    def panel_units(client: int, lo: int, hi: int) -> int:
        return _units_of(
            history,
            client,
            lo,
            hi,
            lambda found: found.content == "type" and history.parent(found)[0] == BOARD,
        )

    typed = _typed(log, bindings)
    # Entries of no user are the server's own edits (a schema migration emptying the
    # first schema's array): nobody's deletions.
    panels_deleted: dict[Owner, int] = {
        user: credit.total
        for user, credit in _deletions(log, bindings, count_unit=panel_units).items()
        if user is not None
    }
    text_deleted = _deletions(log, bindings, count_unit=text_units)
    text_deleted.pop(None, None)
    return StoryboardCredit(
        length=length,
        panels=panels,
        surviving=dict(surviving),
        typed=typed,
        deleted=text_deleted,
        panels_created=dict(Counter(p.created_by for p in panels)),
        fields_set=dict(Counter(o for p in panels for o in p.fields.values())),
        panels_deleted=panels_deleted,
    )


def _typed(log: Iterable[tuple[Owner, bytes]], bindings: Mapping[int, int]) -> dict[Owner, int]:
    """UTF-16 units of text each user sent themselves: string structs of log entries
    attributed to the user their client ID is bound to, each unit once however often it
    was re-sent. A restore's or migration's copy, written under a client ID bound to the
    original author but attributed to whoever asked for it, is not the author's typing
    (what restorers put back of their own counts as theirs again)."""
    seen = IdSet()
    typed: Counter[Owner] = Counter()
    for user, update in log:
        if user is None:
            continue
        for item in walk_update(update)[0]:
            if item.content != "string" or bindings.get(item.client) != user:
                continue
            for lo, hi in seen.add_new(item.client, item.clock, item.clock + item.length):
                typed[user] += hi - lo
    return dict(typed)


def _units_of(
    history: _Index, client: int, lo: int, hi: int, counted: Callable[[Item], bool]
) -> int:
    # How many units of [lo, hi) of ``client`` belong to items that ``counted`` accepts;
    # only the first unit of a non-string item counts (a panel is one unit).
    count = 0
    clock = lo
    while clock < hi:
        found = history.find((client, clock))
        if found is None:
            clock += 1
            continue
        end = min(hi, found.clock + found.length)
        if counted(found):
            count += end - clock if found.content == "string" else 1
        clock = end
    return count
