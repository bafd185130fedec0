"""Reader for Yjs update format v1 (what y-websocket sends and pycrdt/Yrs produce).

Layout: ``varUint(#clients)``, then per client ``varUint(#structs), varUint(client),
varUint(first clock)`` and the structs, then the delete set ``varUint(#clients)``,
per client ``varUint(client), varUint(#ranges), (varUint(clock), varUint(len))*``.

A struct starts with an info byte: low 5 bits = content ref (0 GC, 10 Skip, 1-9 item
content), 0x80 = origin ID follows, 0x40 = right-origin ID follows, 0x20 = parent
sub (map key) follows; the parent itself is written only when neither origin is.
Clocks count UTF-16 code units for strings, 1 per element otherwise. Zero-length
structs are rejected: the next struct then shares their ID and receivers drop it, so
replicas diverge for good. pycrdt 0.14 writes one (an empty string item) when
Text.insert gets a UTF-8 byte index that falls inside a multi-byte character.

`update_client_clocks`, `update_client_ranges` and `strip_clients` run per incoming
update and use a lean scanner that checks structure but does not build objects;
`decode_update` builds a full description and also validates UTF-8 and JSON.
Everything raises MalformedMessage on truncated or invalid input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import NamedTuple

from crdt.encoding import Decoder, MalformedMessage, write_var_uint

__all__ = [
    "CONTENT_KINDS",
    "MAX_ANY_DEPTH",
    "TYPE_REFS",
    "DecodedUpdate",
    "Struct",
    "decode_state_vector",
    "decode_update",
    "encode_state_vector",
    "strip_clients",
    "update_client_clocks",
    "update_client_ranges",
]

ID = tuple[int, int]

#: Item content kind by content ref (info & 0x1F); 0 is GC and 10 is Skip.
CONTENT_KINDS: dict[int, str] = {
    1: "deleted",
    2: "json",
    3: "binary",
    4: "string",
    5: "embed",
    6: "format",
    7: "type",
    8: "any",
    9: "doc",
}

#: Shared type kind by type ref (inside "type" content). 7 is Yrs' weak link,
#: 15 Yrs' placeholder for a root type not yet defined locally.
TYPE_REFS: dict[int, str] = {
    0: "array",
    1: "map",
    2: "text",
    3: "xml_element",
    4: "xml_fragment",
    5: "xml_hook",
    6: "xml_text",
    7: "weak_link",
    9: "doc",
    15: "undefined",
}

#: Deepest nesting of lib0 `any` values accepted. Real documents stay far below; the
#: limit keeps hostile input from exhausting the stack here (or in a native decoder
#: that this check runs in front of).
MAX_ANY_DEPTH = 64

_REF_GC = 0
_REF_DELETED = 1
_REF_JSON = 2
_REF_BINARY = 3
_REF_STRING = 4
_REF_EMBED = 5
_REF_FORMAT = 6
_REF_TYPE = 7
_REF_ANY = 8
_REF_DOC = 9
_REF_SKIP = 10

_TYPE_XML_ELEMENT = 3
_TYPE_XML_HOOK = 5
_TYPE_WEAK = 7

_EMPTY = "zero-length struct (its ID collides with the next one)"
# Never written by Yjs or Yrs; pycrdt 0.14 raises PanicException (a BaseException)
# applying one for a client the document already holds.
_NO_STRUCTS = "client block without structs"

# Yrs stores clocks as u32 (and silently truncates larger values), so an update
# whose clocks go beyond cannot mean the same thing to Yrs as to this reader.
_MAX_CLOCK = 0xFFFFFFFF

# One or two IDs (varUint client, varUint clock), each varUint at most 8 bytes.
_VARUINT_RE = rb"[\x80-\xff]{0,7}[\x00-\x7f]"
_ONE_ID = re.compile(_VARUINT_RE * 2).match
_TWO_IDS = re.compile(_VARUINT_RE * 4).match
# Indexed by info >> 6: 1 = right origin only, 2 = origin only, 3 = both.
_SKIP_IDS = (_ONE_ID, _ONE_ID, _ONE_ID, _TWO_IDS)


class Struct(NamedTuple):
    """One struct of an update.

    kind is "gc", "skip" or "item"; the other fields are set for items only:
    content (a CONTENT_KINDS value); parent: root type name (str), parent item ID
    (client, clock), or None when it is implied by the origins; parent_sub: map key;
    origin / right_origin: neighbour IDs at insertion; text: the inserted string
    (content "string"); type_ref / type_name: shared type kind and XML node name or
    hook key (content "type"); format_key: attribute name (content "format").
    """

    client: int
    clock: int
    length: int
    kind: str
    content: str | None = None
    parent: str | ID | None = None
    parent_sub: str | None = None
    origin: ID | None = None
    right_origin: ID | None = None
    text: str | None = None
    type_ref: str | None = None
    type_name: str | None = None
    format_key: str | None = None


class DecodedUpdate(NamedTuple):
    """A decoded update: structs per client (in order) and the delete set.

    delete_set maps client -> list of (clock, length) ranges, as written.
    """

    structs: dict[int, list[Struct]]
    delete_set: dict[int, list[tuple[int, int]]]


class _Block(NamedTuple):
    # One client's run of structs: clock range covered by real (non-skip) structs
    # (start == end == -1 if only skips) and byte range in the update.
    client: int
    start: int
    end: int
    byte_start: int
    byte_end: int


def decode_state_vector(sv: bytes) -> dict[int, int]:
    """Decode an encoded state vector (a sync step1 payload) to {client: clock}."""
    dec = Decoder(sv)
    read = dec.read_var_uint
    count = read()
    result: dict[int, int] = {}
    for _ in range(count):
        client = read()
        result[client] = read()
    if not dec.at_end():
        raise MalformedMessage("trailing bytes after state vector")
    return result


def encode_state_vector(sv: Mapping[int, int]) -> bytes:
    """Encode {client: clock} as a state vector, highest client first (as Yjs does)."""
    parts = [write_var_uint(len(sv))]
    for client in sorted(sv, reverse=True):
        parts.append(write_var_uint(client))
        parts.append(write_var_uint(sv[client]))
    return b"".join(parts)


def _utf16_len(raw: bytes) -> int:
    # Length in UTF-16 code units (what Yjs clocks count) of UTF-8 ``raw``.
    if raw.isascii():
        return len(raw)
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise MalformedMessage("invalid UTF-8 in string content") from exc
    return _text_utf16_len(text)


def _text_utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    # Astral characters (emoji...) take two UTF-16 units; a str decoded from valid
    # UTF-8 holds no lone surrogates, so plain utf-16 encoding cannot fail.
    return len(text.encode("utf-16-le")) >> 1


def _skip_any(dec: Decoder, depth: int) -> None:
    # Skip one lib0 `any` value (tags 127 undefined .. 116 Uint8Array).
    tag = dec.read_u8()
    if tag >= 126 or tag == 121 or tag == 120:  # undefined, null, false, true
        if tag > 127:
            raise MalformedMessage(f"unknown any tag {tag}")
        return
    if tag == 125:
        dec.read_var_int()
    elif tag == 124:
        dec.skip(4)
    elif tag == 123 or tag == 122:
        dec.skip(8)
    elif tag == 119 or tag == 116:
        dec.skip_var_bytes()
    elif tag == 118 or tag == 117:
        if depth >= MAX_ANY_DEPTH:
            raise MalformedMessage("lib0 any nested too deeply")
        count = dec.read_var_uint()
        is_object = tag == 118
        depth += 1
        for _ in range(count):
            if is_object:
                dec.skip_var_bytes()
            _skip_any(dec, depth)
    else:
        raise MalformedMessage(f"unknown any tag {tag}")


def _check_any_strings(dec: Decoder, depth: int) -> None:
    # Like _skip_any but also checks that strings and object keys are UTF-8.
    tag = dec.read_u8()
    if tag == 119:
        dec.read_var_string()
    elif tag == 118 or tag == 117:
        if depth >= MAX_ANY_DEPTH:
            raise MalformedMessage("lib0 any nested too deeply")
        count = dec.read_var_uint()
        is_object = tag == 118
        for _ in range(count):
            if is_object:
                dec.read_var_string()
            _check_any_strings(dec, depth + 1)
    else:
        dec.pos -= 1
        _skip_any(dec, depth)


def _read_json(dec: Decoder, allow_undefined: bool) -> None:
    text = dec.read_var_string()
    if allow_undefined and text == "undefined":
        return
    try:
        json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedMessage("invalid JSON in content") from exc


def _scan(update: bytes) -> tuple[list[_Block], int]:
    """Walk a whole update; return its client blocks and where the delete set starts.

    Checks structure (lengths, refs, truncation, trailing bytes, duplicate clients,
    empty structs or blocks, 32-bit clocks) and decodes only string contents, whose UTF-16
    length moves the clock. Origin and parent IDs are skipped, not decoded.
    """
    dec = Decoder(update)
    read_uint = dec.read_var_uint
    buf = dec.data
    size = len(buf)
    skip_ids = _SKIP_IDS
    blocks: list[_Block] = []
    seen: set[int] = set()
    for _ in range(read_uint()):
        byte_start = dec.pos
        num_structs = read_uint()
        if not num_structs:
            raise MalformedMessage(_NO_STRUCTS)
        client = read_uint()
        if client in seen:
            raise MalformedMessage(f"client {client} has two struct blocks")
        seen.add(client)
        clock = read_uint()
        start = end = -1
        for _ in range(num_structs):
            pos = dec.pos
            if pos >= size:
                raise MalformedMessage("unexpected end of data (struct)")
            info = buf[pos]
            dec.pos = pos + 1
            ref = info & 0x1F
            if ref == _REF_GC or ref == _REF_SKIP:
                length = read_uint()
                if length == 0:
                    raise MalformedMessage(_EMPTY)
                if ref == _REF_SKIP:
                    clock += length
                    continue
            else:
                if info & 0xC0:
                    # Origin and/or right origin: skip the IDs in one regex match.
                    match = skip_ids[info >> 6](buf, pos + 1)
                    if match is None:
                        raise MalformedMessage("truncated or over-long origin ID")
                    dec.pos = match.end()
                else:
                    _skip_parent(dec, info)
                if ref == _REF_STRING:
                    # Typed text, the most common content: inline.
                    n = read_uint()
                    pos = dec.pos
                    stop = pos + n
                    if stop > size:
                        raise MalformedMessage("unexpected end of data (string)")
                    dec.pos = stop
                    length = _utf16_len(buf[pos:stop])
                else:
                    length = _skip_content(dec, ref)
                if length == 0:
                    raise MalformedMessage(_EMPTY)
            if start < 0:
                start = clock
            clock += length
            end = clock
        if clock > _MAX_CLOCK:
            raise MalformedMessage("clock beyond 32 bits")
        blocks.append(_Block(client, start, end, byte_start, dec.pos))
    ds_pos = dec.pos
    for _ in range(read_uint()):
        read_uint()  # client
        for _ in range(read_uint()):
            read_uint()  # clock
            read_uint()  # length
    if dec.pos != size:
        raise MalformedMessage("trailing bytes after update")
    return blocks, ds_pos


def _skip_parent(dec: Decoder, info: int) -> None:
    # Parent info, present when the item has neither origin: a root type name or the
    # ID of the parent item, then the map key if bit 0x20 is set.
    if dec.read_var_uint() == 1:
        dec.skip_var_bytes()
    else:
        dec.read_var_uint()
        dec.read_var_uint()
    if info & 0x20:
        dec.skip_var_bytes()


def _skip_content(dec: Decoder, ref: int) -> int:
    # Skip an item's content (any ref but GC/Skip); return its length in clock units.
    read_uint = dec.read_var_uint
    if ref == _REF_ANY:
        count = read_uint()
        for _ in range(count):
            _skip_any(dec, 0)
        return count
    if ref == _REF_STRING:
        return _utf16_len(dec.read_var_bytes())
    if ref == _REF_TYPE:
        type_ref = read_uint()
        if type_ref == _TYPE_XML_ELEMENT or type_ref == _TYPE_XML_HOOK:
            dec.skip_var_bytes()
        elif type_ref == _TYPE_WEAK:
            _skip_weak_link(dec)
        elif type_ref not in TYPE_REFS:
            raise MalformedMessage(f"unknown type ref {type_ref}")
        return 1
    if ref == _REF_DELETED:
        return read_uint()
    if ref == _REF_JSON:
        count = read_uint()
        for _ in range(count):
            dec.skip_var_bytes()
        return count
    if ref == _REF_BINARY or ref == _REF_EMBED:
        dec.skip_var_bytes()
        return 1
    if ref == _REF_FORMAT:
        dec.skip_var_bytes()
        dec.skip_var_bytes()
        return 1
    if ref == _REF_DOC:
        dec.skip_var_bytes()  # guid
        _skip_any(dec, 0)  # options
        return 1
    raise MalformedMessage(f"unknown content ref {ref}")


def _skip_weak_link(dec: Decoder) -> None:
    # Yrs weak link source: flags byte, start ID, and end ID unless flags say single.
    flags = dec.read_u8()
    dec.read_var_uint()
    dec.read_var_uint()
    if flags & 1:
        dec.read_var_uint()
        dec.read_var_uint()


def update_client_clocks(update: bytes) -> dict[int, int]:
    """Return {client: end clock} for each client the update writes structs for.

    The end clock is clock + length of the client's last struct (Skip placeholders
    of merged updates do not count). Delete-only updates give {}. Unlike
    pycrdt.get_state(update), which reports 0 for clients whose structs do not start
    at clock 0 (i.e. for every incremental update), this reads the structs.
    """
    return {b.client: b.end for b in _scan(update)[0] if b.end >= 0}


def update_reach(update: bytes) -> dict[int, int]:
    """Return {client: clock} with the highest clock (exclusive) of each client that the
    update writes structs up to or deletes up to.

    A document whose state vector reaches at least this far for every client holds the
    whole update: Yrs integrates each client's structs in clock order, and keeps a
    struct or a deletion whose dependencies it lacks pending, outside the state vector.
    """
    blocks, delete_set_at = _scan(update)
    reach = {b.client: b.end for b in blocks if b.end >= 0}
    dec = Decoder(update, delete_set_at)
    read = dec.read_var_uint
    for _ in range(read()):
        client = read()
        for _ in range(read()):
            end = read()
            end += read()
            if end > reach.get(client, 0):
                reach[client] = end
    return reach


def update_has_deletions(update: bytes) -> bool:
    """Whether the update's delete set names anything (it deletes, whatever it inserts)."""
    _, delete_set_at = _scan(update)
    return update[delete_set_at:] != b"\x00"


def update_client_ranges(update: bytes) -> dict[int, tuple[int, int]]:
    """Return {client: (first clock, end clock)} of the structs the update writes.

    The range is what the update claims to insert for each client ID (clocks of Skip
    placeholders excluded at both ends); use it to attribute content to the sender.
    """
    return {b.client: (b.start, b.end) for b in _scan(update)[0] if b.end >= 0}


def strip_clients(update: bytes, clients: Collection[int]) -> bytes:
    """Return ``update`` without the struct blocks of ``clients`` (delete set kept).

    The other clients' blocks are copied byte for byte. When no block belongs to
    ``clients`` the same object is returned. Items of other clients that were
    inserted next to stripped ones stay pending when applied (missing dependency).
    """
    blocks, ds_pos = _scan(update)
    kept = [b for b in blocks if b.client not in clients]
    if len(kept) == len(blocks):
        return update
    parts = [write_var_uint(len(kept))]
    parts.extend(update[b.byte_start : b.byte_end] for b in kept)
    parts.append(update[ds_pos:])
    return b"".join(parts)


def decode_update(update: bytes) -> DecodedUpdate:
    """Decode an update v1 completely (structs of every client and the delete set).

    Slower than the scanners above: meant for inspection, auditing and tests. Also
    validates UTF-8 in every string and the JSON of json/embed/format contents.
    """
    dec = Decoder(update)
    read_uint = dec.read_var_uint
    read_string = dec.read_var_string
    structs: dict[int, list[Struct]] = {}
    for _ in range(read_uint()):
        num_structs = read_uint()
        if not num_structs:
            raise MalformedMessage(_NO_STRUCTS)
        client = read_uint()
        if client in structs:
            raise MalformedMessage(f"client {client} has two struct blocks")
        clock = read_uint()
        out: list[Struct] = []
        structs[client] = out
        for _ in range(num_structs):
            info = dec.read_u8()
            ref = info & 0x1F
            if ref == _REF_GC or ref == _REF_SKIP:
                length = read_uint()
                if length == 0:
                    raise MalformedMessage(_EMPTY)
                out.append(Struct(client, clock, length, "gc" if ref == _REF_GC else "skip"))
                clock += length
                continue
            content = CONTENT_KINDS.get(ref)
            if content is None:
                raise MalformedMessage(f"unknown content ref {ref}")
            origin = (read_uint(), read_uint()) if info & 0x80 else None
            right_origin = (read_uint(), read_uint()) if info & 0x40 else None
            parent: str | ID | None = None
            parent_sub: str | None = None
            if not info & 0xC0:
                parent = read_string() if read_uint() == 1 else (read_uint(), read_uint())
                if info & 0x20:
                    parent_sub = read_string()
            text = type_ref = type_name = format_key = None
            if ref == _REF_STRING:
                text = read_string()
                length = _text_utf16_len(text)
            elif ref == _REF_TYPE:
                code = read_uint()
                type_ref = TYPE_REFS.get(code)
                if type_ref is None:
                    raise MalformedMessage(f"unknown type ref {code}")
                if code == _TYPE_XML_ELEMENT or code == _TYPE_XML_HOOK:
                    type_name = read_string()
                elif code == _TYPE_WEAK:
                    _skip_weak_link(dec)
                length = 1
            elif ref == _REF_ANY:
                length = read_uint()
                for _ in range(length):
                    _check_any_strings(dec, 0)
            elif ref == _REF_DELETED:
                length = read_uint()
            elif ref == _REF_JSON:
                length = read_uint()
                for _ in range(length):
                    _read_json(dec, allow_undefined=True)
            elif ref == _REF_BINARY:
                dec.skip_var_bytes()
                length = 1
            elif ref == _REF_EMBED:
                _read_json(dec, allow_undefined=False)
                length = 1
            elif ref == _REF_FORMAT:
                format_key = read_string()
                _read_json(dec, allow_undefined=False)
                length = 1
            else:  # _REF_DOC
                read_string()  # guid
                _check_any_strings(dec, 0)
                length = 1
            if length == 0:
                raise MalformedMessage(_EMPTY)
            out.append(
                Struct(
                    client,
                    clock,
                    length,
                    "item",
                    content,
                    parent,
                    parent_sub,
                    origin,
                    right_origin,
                    text,
                    type_ref,
                    type_name,
                    format_key,
                )
            )
            clock += length
        if clock > _MAX_CLOCK:
            raise MalformedMessage("clock beyond 32 bits")
    delete_set: dict[int, list[tuple[int, int]]] = {}
    for _ in range(read_uint()):
        client = read_uint()
        ranges = delete_set.setdefault(client, [])
        for _ in range(read_uint()):
            ds_clock = read_uint()
            ranges.append((ds_clock, read_uint()))
    if not dec.at_end():
        raise MalformedMessage("trailing bytes after update")
    return DecodedUpdate(structs, delete_set)
