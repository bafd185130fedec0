"""Tests for crdt.updates: update v1 decoding, client clocks and stripping.

Real updates come from pycrdt; content kinds pycrdt never writes (JSON, GC, Skip, all
lib0 `any` tags...) are hand-encoded below and, where Yrs supports them, cross-checked
by letting pycrdt apply them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any

import pycrdt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from crdt.encoding import MalformedMessage, ProtocolError, write_var_int, write_var_uint
from crdt.updates import (
    MAX_ANY_DEPTH,
    Struct,
    decode_state_vector,
    decode_update,
    encode_state_vector,
    strip_clients,
    update_client_clocks,
    update_client_ranges,
)

BIG_CLIENT = 2**53 - 1
SMALL_CLIENT = 2**32 - 1

# ------------------------------------------------------------------ helpers


def new_doc(client_id: int | None = None) -> Doc[Any]:
    """A pycrdt Doc (typed for mypy: Doc is generic over its root types)."""
    return Doc() if client_id is None else Doc(client_id=client_id)


def u(n: int) -> bytes:
    return write_var_uint(n)


def s(text: str) -> bytes:
    raw = text.encode()
    return u(len(raw)) + raw


def update_of(blocks: Iterable[tuple[int, int, list[bytes]]], ds: bytes = b"\x00") -> bytes:
    """Hand-encode an update v1: blocks of (client, first clock, encoded structs)."""
    blocks = list(blocks)
    out = [u(len(blocks))]
    for client, clock, structs in blocks:
        out += [u(len(structs)), u(client), u(clock), *structs]
    return b"".join(out) + ds


def root_item(ref: int, root: str, content: bytes, key: str | None = None) -> bytes:
    """An item without origins, child of root type ``root`` (map entry if ``key``)."""
    info = ref | (0x20 if key is not None else 0)
    return bytes([info]) + u(1) + s(root) + (s(key) if key is not None else b"") + content


def u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def sv_of(doc: Doc[Any]) -> dict[int, int]:
    return decode_state_vector(doc.get_state())


def lengths(update: bytes) -> dict[int, int]:
    """Sum of struct lengths per client (Skip excluded), from the full decoder."""
    return {
        client: sum(x.length for x in structs if x.kind != "skip")
        for client, structs in decode_update(update).structs.items()
    }


def storyboard(client_id: int) -> Doc[Any]:
    """A doc with every kind of content the app writes (and a few more)."""
    doc = new_doc(client_id)
    script = doc.get("script", type=Text)
    script += "INT. 東京 — NIGHT 🌃\n"
    script.insert(4, "喫茶店 ")
    del script[0:2]
    # pycrdt 0.14 Text indices are UTF-8 byte offsets (see test_pycrdt_mid_character_...)
    script.insert(len("T.喫".encode()), "👩‍👩‍👧 fam")
    script.format(0, 5, {"bold": True})
    script.insert_embed(2, {"image": "frame.png"})
    panels = doc.get("panels", type=Array)
    panels.append(Map({"title": "Opening", "shot": 1, "done": False, "meta": {"lens": [35, 50.5]}}))
    panels.append(Map({"title": "Chase 🚗", "shot": 2, "done": True, "meta": None}))
    panels[0]["title"] = "Opening (v2)"
    panels.append(b"\x00\x01binary")
    notes = doc.get("notes", type=Map)
    notes["count"] = -3
    notes["sub"] = new_doc()
    xml = doc.get("xml", type=XmlFragment)
    xml.children.append(XmlElement("p", {"class": "lead"}, [XmlText("Hi ✨")]))
    return doc


# ------------------------------------------------------------------ state vectors


def test_state_vector_round_trip_with_pycrdt() -> None:
    doc = storyboard(BIG_CLIENT)
    other = new_doc(SMALL_CLIENT)
    other.apply_update(doc.get_update())
    other.get("script", type=Text).insert(0, "x")
    sv = decode_state_vector(other.get_state())
    assert sv == {BIG_CLIENT: lengths(doc.get_update())[BIG_CLIENT], SMALL_CLIENT: 1}
    encoded = encode_state_vector(sv)
    assert decode_state_vector(encoded) == sv
    # pycrdt understands our encoding: nothing is missing relative to it
    assert decode_update(other.get_update(encoded)).structs == {}
    assert decode_state_vector(Doc().get_state()) == {}
    with pytest.raises(MalformedMessage):
        decode_state_vector(encoded + b"\x00")
    with pytest.raises(MalformedMessage):
        decode_state_vector(encoded[:-1])


# ------------------------------------------------------------------ decode_update


@pytest.mark.parametrize("client_id", [BIG_CLIENT, SMALL_CLIENT, 1])
def test_struct_lengths_sum_to_state_vector(client_id: int) -> None:
    doc = storyboard(client_id)
    update = doc.get_update()
    assert lengths(update) == sv_of(doc)
    assert update_client_clocks(update) == sv_of(doc)
    assert update_client_ranges(update) == {client_id: (0, sv_of(doc)[client_id])}


def test_decoded_structs_describe_the_content() -> None:
    doc = storyboard(42)
    decoded = decode_update(doc.get_update())
    items = [x for x in decoded.structs[42] if x.kind == "item"]
    kinds = {x.content for x in items}
    assert {"string", "format", "embed", "type", "any", "deleted", "doc"} <= kinds
    clock = 0
    for x in decoded.structs[42]:  # contiguous clocks
        assert x.clock == clock
        clock += x.length
    types = {(x.parent, x.type_ref, x.type_name) for x in items if x.content == "type"}
    assert ("panels", "map", None) in types
    assert ("xml", "xml_element", "p") in types
    assert any(t[1] == "xml_text" for t in types)
    keys = {x.parent_sub for x in items if x.content == "any" and isinstance(x.parent, tuple)}
    assert {"title", "shot", "done", "meta"} <= keys
    assert {x.format_key for x in items if x.content == "format"} == {"bold"}
    roots = {x.parent for x in items if isinstance(x.parent, str)}
    assert roots == {"script", "panels", "notes", "xml"}
    sub = next(x for x in items if x.content == "doc")
    assert (sub.parent, sub.parent_sub) == ("notes", "sub")
    # the deleted characters appear in the delete set of the full update
    assert decoded.delete_set[42]
    deleted = sum(x.length for x in items if x.content == "deleted")
    assert deleted >= 2


def test_append_only_typing_concatenates_to_text_and_counts_utf16() -> None:
    doc = new_doc(BIG_CLIENT)
    text = doc.get("t", type=Text)
    typed = ""
    for chunk in ["Hello", " 世界", " 😀", "🎬!", " ça va", "\n", "👩‍💻"]:
        text += chunk
        typed += chunk
    update = doc.get_update()
    structs = decode_update(update).structs[BIG_CLIENT]
    assert "".join(x.text or "" for x in structs) == typed
    assert update_client_clocks(update) == {BIG_CLIENT: u16(typed)}
    assert u16(typed) > len(typed)  # the emoji really count double


def test_incremental_updates_end_clocks_unlike_pycrdt_get_state() -> None:
    doc = new_doc(SMALL_CLIENT)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("t", type=Text)
    text += "abc"
    text.insert(1, "😀")
    del text[0:1]
    assert update_client_clocks(updates[0]) == {SMALL_CLIENT: 3}
    assert update_client_ranges(updates[1]) == {SMALL_CLIENT: (3, 5)}
    # pycrdt's get_state reports nothing for structs not starting at clock 0
    assert decode_state_vector(pycrdt.get_state(updates[1])) == {}
    # delete-only update: no structs, one delete range
    assert update_client_clocks(updates[2]) == {}
    assert decode_state_vector(pycrdt.get_state(updates[2])) == {}
    assert decode_update(updates[2]).delete_set == {SMALL_CLIENT: [(0, 1)]}


def test_merged_update_with_gap_has_skip_struct() -> None:
    doc = new_doc(3)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("t", type=Text)
    for chunk in ("abcde", "fgh", "ijk"):
        text += chunk
    merged = pycrdt.merge_updates(updates[0], updates[2])
    structs = decode_update(merged).structs[3]
    assert [(x.kind, x.clock, x.length) for x in structs] == [
        ("item", 0, 5),
        ("skip", 5, 3),
        ("item", 8, 3),
    ]
    assert update_client_ranges(merged) == {3: (0, 11)}


# ------------------------------------------------------------------ hand-encoded contents


def any_values() -> tuple[bytes, list[object]]:
    """Every lib0 `any` tag, encoded, with the values pycrdt should read back."""
    encoded = b"".join(
        [
            bytes([126]),  # null
            bytes([125]) + write_var_int(-12345),
            bytes([124]) + struct.pack(">f", 1.5),
            bytes([123]) + struct.pack(">d", -0.1),
            bytes([122]) + struct.pack(">q", 2**40),
            bytes([121]),  # false
            bytes([120]),  # true
            bytes([119]) + s("文字 ✓"),
            bytes([118])
            + u(2)
            + s("k")
            + bytes([120])
            + s("n")
            + bytes([117])
            + u(1)
            + bytes([126]),
            bytes([117]) + u(2) + bytes([125]) + write_var_int(7) + bytes([119]) + s(""),
            bytes([116]) + u(3) + b"\x00\xff\x01",
        ]
    )
    expected: list[object] = [
        None,
        -12345,
        1.5,
        -0.1,
        2**40,
        False,
        True,
        "文字 ✓",
        {"k": True, "n": [None]},
        [7, ""],
        b"\x00\xff\x01",
    ]
    return encoded, expected


def test_any_content_every_tag_matches_pycrdt() -> None:
    encoded, expected = any_values()
    update = update_of([(5, 0, [root_item(8, "a", u(len(expected)) + encoded)])])
    assert update_client_clocks(update) == {5: len(expected)}
    [item] = decode_update(update).structs[5]
    assert (item.content, item.length, item.parent) == ("any", len(expected), "a")
    doc = new_doc()
    doc.apply_update(update)
    values = doc.get("a", type=Array).to_py()
    assert values == expected


def test_undefined_any_tag_is_accepted() -> None:
    update = update_of([(5, 0, [root_item(8, "a", u(1) + bytes([127]))])])
    assert update_client_clocks(update) == {5: 1}


def test_legacy_contents_json_binary_embed_format_deleted_gc() -> None:
    structs = [
        root_item(2, "a", u(3) + s('{"x":1}') + s("undefined") + s("[2]")),  # JSON, 3 values
        root_item(3, "a", s("bin")),  # Binary (a varUint8Array, length 1)
        root_item(5, "t", s('{"img":"a.png"}')),  # Embed
        root_item(6, "t", s("italic") + s("true")),  # Format
        root_item(1, "t", u(4)),  # Deleted, 4 units
        bytes([0]) + u(2),  # GC, 2 units
        bytes([10]) + u(5),  # Skip, 5 units (not counted)
        root_item(4, "t", s("é😀")),  # String, 3 UTF-16 units
    ]
    update = update_of([(9, 10, structs)], ds=u(1) + u(9) + u(1) + u(20) + u(1))
    decoded = decode_update(update)
    got = [(x.kind, x.content, x.clock, x.length) for x in decoded.structs[9]]
    assert got == [
        ("item", "json", 10, 3),
        ("item", "binary", 13, 1),
        ("item", "embed", 14, 1),
        ("item", "format", 15, 1),
        ("item", "deleted", 16, 4),
        ("gc", None, 20, 2),
        ("skip", None, 22, 5),
        ("item", "string", 27, 3),
    ]
    assert decoded.structs[9][-1].text == "é😀"
    assert decoded.structs[9][3].format_key == "italic"
    assert decoded.delete_set == {9: [(20, 1)]}
    assert update_client_clocks(update) == {9: 30}
    assert update_client_ranges(update) == {9: (10, 30)}


@pytest.mark.parametrize(
    ("type_ref", "extra", "name", "type_name"),
    [
        (0, b"", "array", None),
        (1, b"", "map", None),
        (2, b"", "text", None),
        (3, s("scene"), "xml_element", "scene"),
        (4, b"", "xml_fragment", None),
        (5, s("hook-key"), "xml_hook", "hook-key"),
        (6, b"", "xml_text", None),
        (7, bytes([1]) + u(1) + u(2) + u(1) + u(3), "weak_link", None),
        (9, b"", "doc", None),
        (15, b"", "undefined", None),
    ],
)
def test_type_refs(type_ref: int, extra: bytes, name: str, type_name: str | None) -> None:
    update = update_of([(4, 0, [root_item(7, "m", u(type_ref) + extra, key="k")])])
    [item] = decode_update(update).structs[4]
    assert (item.type_ref, item.type_name, item.parent_sub, item.length) == (
        name,
        type_name,
        "k",
        1,
    )
    assert update_client_clocks(update) == {4: 1}


def test_origins_and_parent_ids_are_reported() -> None:
    child = bytes([4 | 0x80 | 0x40]) + u(2**53 - 1) + u(7) + u(3) + u(0) + s("x")
    by_parent_id = bytes([4]) + u(0) + u(8) + u(1) + s("yz")
    update = update_of([(6, 100, [child, by_parent_id])])
    first, second = decode_update(update).structs[6]
    assert (first.origin, first.right_origin, first.parent) == ((2**53 - 1, 7), (3, 0), None)
    assert (second.parent, second.origin, second.clock, second.length) == ((8, 1), None, 101, 2)
    assert update_client_ranges(update) == {6: (100, 103)}


# ------------------------------------------------------------------ rejections


def deep_any(depth: int) -> bytes:
    nested = bytes([117, 1]) * depth + bytes([126])
    return update_of([(1, 0, [root_item(8, "m", u(1) + nested)])])


@pytest.mark.parametrize(
    "update",
    [
        b"",
        b"\x00",  # no delete set
        b"\x00\x00\x00",  # trailing byte (Yrs would ignore it)
        update_of([(1, 0, [root_item(4, "t", s("ab"))])])[:-2],  # truncated
        update_of([(1, 0, [root_item(11, "t", b"")])]),  # unknown content ref
        update_of([(1, 0, [root_item(4, "t", s(""))])]),  # zero-length string
        update_of([(1, 0, [bytes([0]) + u(0)])]),  # zero-length GC
        update_of([(1, 0, [root_item(8, "a", u(0))])]),  # zero-length any
        update_of([(1, 0, [root_item(8, "m", u(1) + bytes([115]))])]),  # unknown any tag
        update_of([(1, 0, [root_item(7, "m", u(8))])]),  # unknown type ref
        update_of([(1, 0, [root_item(4, "t", s("a"))])] * 2),  # client twice
        update_of([(1, 2**32 - 1, [root_item(4, "t", s("ab"))])]),  # beyond Yrs' u32 clocks
        update_of([(1, 0, [root_item(4, "t", b"\x02\xc3\x28")])]),  # invalid UTF-8 text
        deep_any(MAX_ANY_DEPTH + 1),
        deep_any(100_000),  # makes pycrdt 0.14 crash with SIGSEGV (stack overflow)
        b"\x01\x01" + b"\xff" * 9 + b"\x01\x00",  # client id above 2**53
        b"\x01" + u(2**40) + u(1) + u(0) + root_item(4, "t", s("a")) + b"\x00",  # lying count
    ],
)
def test_invalid_updates_raise_malformed(update: bytes) -> None:
    for fn in (decode_update, update_client_clocks, update_client_ranges):
        with pytest.raises(MalformedMessage):
            fn(update)
    with pytest.raises(MalformedMessage):
        strip_clients(update, {1})


def test_pycrdt_mid_character_insert_writes_a_zero_length_struct_we_reject() -> None:
    # pycrdt 0.14 Text indices are UTF-8 byte offsets; an index inside a character
    # appends at the end of the block and writes a zero-length string item whose ID
    # collides with the next item, which other replicas then drop for good.
    doc = new_doc(7)
    text = doc.get("t", type=Text)
    text += "喫茶店"
    text.insert(1, "X")
    assert str(text) == "喫茶店X"
    update = doc.get_update()
    fresh = new_doc()
    fresh.apply_update(update)
    assert str(fresh.get("t", type=Text)) == "喫茶店"  # "X" lost: replicas diverge
    for fn in (decode_update, update_client_clocks):
        with pytest.raises(MalformedMessage, match="zero-length"):
            fn(update)


def test_json_is_validated_only_by_full_decoder() -> None:
    update = update_of([(1, 0, [root_item(5, "t", s("{not json"))])])
    assert update_client_clocks(update) == {1: 1}
    with pytest.raises(MalformedMessage, match="JSON"):
        decode_update(update)


def test_nesting_at_the_limit_is_accepted() -> None:
    assert update_client_clocks(deep_any(MAX_ANY_DEPTH)) == {1: 1}


# ------------------------------------------------------------------ strip_clients


def two_authors() -> tuple[Doc[Any], Doc[Any], bytes]:
    """Alice writes the script, Bob the panels; Alice also deletes Bob's first char."""
    alice = new_doc(BIG_CLIENT)
    bob = new_doc(SMALL_CLIENT)
    bob.get("panels", type=Array).append(Map({"title": "Bob's panel", "n": 1}))
    bob.get("script", type=Text).insert(0, "BOB")
    alice.apply_update(bob.get_update())
    sv = alice.get_state()
    script = alice.get("script", type=Text)
    script.insert(3, " and Alice 😀")
    del script[0:1]
    alice_part = alice.get_update(sv)
    combined = pycrdt.merge_updates(bob.get_update(), alice_part)
    return alice, bob, combined


def test_strip_clients_drops_exactly_that_clients_structs() -> None:
    alice, _bob, combined = two_authors()
    assert set(update_client_clocks(combined)) == {BIG_CLIENT, SMALL_CLIENT}
    stripped = strip_clients(combined, {BIG_CLIENT})
    assert update_client_clocks(stripped) == {SMALL_CLIENT: sv_of(alice)[SMALL_CLIENT]}
    # the delete set (Alice deleting Bob's "B") is kept
    assert decode_update(stripped).delete_set == decode_update(combined).delete_set
    fresh = new_doc()
    fresh.apply_update(stripped)
    assert str(fresh.get("script", type=Text)) == "OB"
    assert fresh.get("panels", type=Array).to_py() == [{"title": "Bob's panel", "n": 1.0}]
    assert BIG_CLIENT not in sv_of(fresh)
    full = new_doc()
    full.apply_update(combined)
    assert str(full.get("script", type=Text)) == "OB and Alice 😀"


def test_strip_clients_of_dependent_structs_leaves_them_pending() -> None:
    _alice, _bob, combined = two_authors()
    stripped = strip_clients(combined, {SMALL_CLIENT})
    assert set(update_client_clocks(stripped)) == {BIG_CLIENT}
    fresh = new_doc()
    fresh.apply_update(stripped)  # Alice's text hangs on Bob's: nothing integrates
    assert str(fresh.get("script", type=Text)) == ""
    assert sv_of(fresh) == {}


def test_strip_clients_without_match_returns_same_object() -> None:
    _alice, _bob, combined = two_authors()
    assert strip_clients(combined, {12345}) is combined
    everything = strip_clients(combined, {BIG_CLIENT, SMALL_CLIENT})
    assert decode_update(everything).structs == {}
    assert everything.startswith(b"\x00")
    Doc().apply_update(everything)


# ------------------------------------------------------------------ fuzzing

FUZZ = settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
DECODERS: list[Callable[[bytes], object]] = [
    decode_update,
    update_client_clocks,
    lambda b: strip_clients(b, {1}),
]


def sample_updates() -> list[bytes]:
    return [storyboard(BIG_CLIENT).get_update(), two_authors()[2], any_values()[0]]


@FUZZ
@given(st.binary(max_size=80))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    for fn in DECODERS:
        try:
            fn(data)
        except ProtocolError:
            pass


@FUZZ
@given(
    st.sampled_from(sample_updates()),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(min_value=0),
)
def test_mutated_updates_raise_only_protocol_errors_and_decoders_agree(
    base: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(base)
    for where, value in edits:
        data[where % len(data)] = value
    candidates = [bytes(data), bytes(data[: cut % (len(data) + 1)])]
    for update in candidates:
        try:
            decoded = decode_update(update)
        except ProtocolError:
            decoded = None
        try:
            clocks = update_client_clocks(update)
        except ProtocolError:
            assert decoded is None  # the lean scanner is never stricter
            continue
        if decoded is not None:
            assert clocks == end_clocks(decoded.structs)


def end_clocks(structs: dict[int, list[Struct]]) -> dict[int, int]:
    """End clock of each client's last non-skip struct, from the full decoder."""
    ends = {}
    for client, items in structs.items():
        real = [x for x in items if x.kind != "skip"]
        if real:
            ends[client] = real[-1].clock + real[-1].length
    return ends
