"""Tests for crdt.protocol: frame parsing and encoders, checked against pycrdt."""

from __future__ import annotations

from typing import Any

import pycrdt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc, Text

from crdt.encoding import MalformedMessage, ProtocolError
from crdt.protocol import (
    MSG_AUTH,
    MSG_AWARENESS,
    MSG_QUERY_AWARENESS,
    MSG_SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    SYNC_UPDATE,
    Message,
    UnknownMessage,
    encode_auth_denied,
    encode_awareness,
    encode_query_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
    parse_message,
)


def new_doc(client_id: int | None = None) -> Doc[Any]:
    """A pycrdt Doc (typed for mypy: Doc is generic over its root types)."""
    return Doc() if client_id is None else Doc(client_id=client_id)


def test_protocol_md_examples() -> None:
    assert encode_sync_step1(Doc().get_state()) == bytes.fromhex("00000100")
    assert encode_sync_step2(b"\x00\x00") == bytes.fromhex("0001020000")
    assert parse_message(bytes.fromhex("00000100")) == Message(MSG_SYNC, SYNC_STEP1, b"\x00")


def test_encoders_match_pycrdt_helpers() -> None:
    doc = new_doc()
    text = doc.get("content", type=Text)
    text += "x" * 300  # long enough for a multi-byte length prefix
    update = doc.get_update()
    assert len(update) > 127
    assert encode_sync_step1(doc.get_state()) == pycrdt.create_sync_message(doc)
    assert encode_sync_update(update) == pycrdt.create_update_message(update)
    assert encode_awareness(b"\x00") == pycrdt.create_awareness_message(b"\x00")
    frame = encode_sync_update(update)
    assert pycrdt.read_message(frame[2:]) == update
    assert parse_message(frame) == Message(MSG_SYNC, SYNC_UPDATE, update)


def test_step1_answered_by_pycrdt_parses_as_step2() -> None:
    server = new_doc()
    server.get("content", type=Text).insert(0, "hello 😀")
    client = new_doc()
    step1 = encode_sync_step1(client.get_state())
    reply = pycrdt.handle_sync_message(step1[1:], server)
    assert reply is not None
    kind, sub, payload = parse_message(reply)
    assert (kind, sub) == (MSG_SYNC, SYNC_STEP2)
    assert reply == encode_sync_step2(payload)
    client.apply_update(payload)
    assert str(client.get("content", type=Text)) == "hello 😀"


def test_parse_each_message_kind() -> None:
    assert parse_message(encode_sync_step2(b"\x00\x00")) == Message(MSG_SYNC, SYNC_STEP2, b"\0\0")
    assert parse_message(encode_awareness(b"\x01\x02")) == Message(MSG_AWARENESS, 0, b"\x01\x02")
    assert parse_message(encode_query_awareness()) == Message(MSG_QUERY_AWARENESS, 0, b"")
    denied = encode_auth_denied("pas autorisé")
    assert denied[:2] == b"\x02\x00"
    kind, sub, payload = parse_message(denied)
    assert (kind, sub, payload.decode()) == (MSG_AUTH, 0, "pas autorisé")


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00",
        b"\x00\x02",
        b"\x00\x02\x05abc",  # payload shorter than announced
        b"\x00\x02\x80",  # truncated length
        b"\x00\x02\x81\x01" + b"x" * 128,  # long form, one byte short
        b"\x00\x02\x01ab",  # trailing byte after the message
        b"\x00\x02\x01a" + encode_sync_update(b"a"),  # two messages in one frame
        b"\x01",
        b"\x01\x03ab",
        b"\x03\x00",  # query-awareness carries nothing
        b"\x02\x00\x02\xc3\x28",  # auth reason not UTF-8
        b"\x80",  # truncated message type
    ],
)
def test_parse_rejects_malformed(frame: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_message(frame)


@pytest.mark.parametrize(
    ("frame", "kind", "sub"),
    [
        (b"\x04", 4, None),
        (b"\x64\x01\x02", 100, None),  # custom types >= 100
        (b"\xc8\x01", 200, None),  # multi-byte type
        (b"\x00\x03\x00", MSG_SYNC, 3),
        (b"\x02\x01\x00", MSG_AUTH, 1),
    ],
)
def test_parse_flags_unknown_types(frame: bytes, kind: int, sub: int | None) -> None:
    with pytest.raises(UnknownMessage) as info:
        parse_message(frame)
    assert (info.value.kind, info.value.sub) == (kind, sub)
    assert isinstance(info.value, ProtocolError)


@given(st.binary(max_size=64))
def test_parse_random_bytes_only_raises_protocol_errors(frame: bytes) -> None:
    try:
        message = parse_message(frame)
    except ProtocolError:
        return
    assert message.kind in (MSG_SYNC, MSG_AWARENESS, MSG_AUTH, MSG_QUERY_AWARENESS)


@given(st.sampled_from([0, 1, 2]), st.binary(max_size=300))
def test_sync_frames_round_trip(sub: int, payload: bytes) -> None:
    encoder = (encode_sync_step1, encode_sync_step2, encode_sync_update)[sub]
    frame = encoder(payload)
    assert parse_message(frame) == Message(MSG_SYNC, sub, payload)
    assert pycrdt.read_message(frame[2:]) == payload
    with pytest.raises(MalformedMessage):
        parse_message(frame[:-1] if payload else frame + b"\x00")
