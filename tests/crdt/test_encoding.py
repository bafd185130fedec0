"""Tests for crdt.encoding: lib0 varUint/varInt/strings/floats and the Decoder."""

from __future__ import annotations

import struct

import pycrdt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.encoding import (
    MAX_SAFE_INTEGER,
    Decoder,
    MalformedMessage,
    ProtocolError,
    encode_var_bytes,
    encode_var_string,
    write_var_int,
    write_var_uint,
)


def test_exception_hierarchy() -> None:
    assert issubclass(MalformedMessage, ProtocolError)
    assert issubclass(ProtocolError, ValueError)


@pytest.mark.parametrize(
    ("value", "hex_bytes"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (16384, "808001"),
        (2**32 - 1, "ffffffff0f"),
        (MAX_SAFE_INTEGER, "ffffffffffffff0f"),
    ],
)
def test_var_uint_known_vectors(value: int, hex_bytes: str) -> None:
    assert write_var_uint(value).hex() == hex_bytes
    dec = Decoder(bytes.fromhex(hex_bytes))
    assert dec.read_var_uint() == value
    assert dec.at_end()


@given(st.integers(min_value=0, max_value=MAX_SAFE_INTEGER))
def test_var_uint_round_trip_and_matches_pycrdt(value: int) -> None:
    encoded = write_var_uint(value)
    assert encoded == pycrdt.write_var_uint(value)
    dec = Decoder(encoded + b"\x2a")
    assert dec.read_var_uint() == value
    assert dec.pos == len(encoded)
    assert dec.read_u8() == 0x2A
    assert dec.at_end()


@pytest.mark.parametrize("value", [-1, MAX_SAFE_INTEGER + 1, 2**64])
def test_write_var_uint_rejects_out_of_range(value: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        write_var_uint(value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80",
        b"\xff\xff",
        b"\xff" * 7,
        # nine bytes: longer than lib0 reads
        b"\x80" * 8 + b"\x00",
        # eight bytes but 56 bits: above 2**53 - 1
        b"\xff" * 7 + b"\x7f",
        # eight bytes, exactly 2**53
        b"\x80" * 7 + b"\x10",
    ],
)
def test_read_var_uint_rejects_truncated_or_oversized(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        Decoder(data).read_var_uint()


def test_read_var_uint_accepts_non_canonical_padding_like_lib0() -> None:
    # lib0 does not insist on the shortest form; neither do we.
    assert Decoder(b"\x81\x80\x00").read_var_uint() == 1


@pytest.mark.parametrize(
    ("value", "hex_bytes"),
    [
        (0, "00"),
        (1, "01"),
        (63, "3f"),
        (-1, "41"),
        (-63, "7f"),
        (64, "8001"),
        (-64, "c001"),
        (-(2**53 - 1), "ffffffffffffff1f"),
    ],
)
def test_var_int_known_vectors(value: int, hex_bytes: str) -> None:
    assert write_var_int(value).hex() == hex_bytes
    dec = Decoder(bytes.fromhex(hex_bytes))
    assert dec.read_var_int() == value
    assert dec.at_end()


@given(st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER))
def test_var_int_round_trip(value: int) -> None:
    dec = Decoder(write_var_int(value))
    assert dec.read_var_int() == value
    assert dec.at_end()


def test_read_var_int_rejects_truncated_and_too_long() -> None:
    for data in (b"", b"\x80", b"\xc0\x80", b"\xbf" + b"\xff" * 7 + b"\x01"):
        with pytest.raises(MalformedMessage):
            Decoder(data).read_var_int()


def test_strings_are_length_prefixed_in_utf8_bytes() -> None:
    assert encode_var_string("é") == b"\x02\xc3\xa9"
    emoji = "a😀"
    encoded = encode_var_string(emoji)
    assert encoded[0] == 5
    assert Decoder(encoded).read_var_string() == emoji
    assert encode_var_bytes(b"\x00\x01") == b"\x02\x00\x01"


def test_read_var_string_rejects_invalid_utf8_and_truncation() -> None:
    with pytest.raises(MalformedMessage, match="UTF-8"):
        Decoder(b"\x02\xc3\x28").read_var_string()
    with pytest.raises(MalformedMessage):
        Decoder(b"\x05abc").read_var_string()


def test_read_var_bytes_and_skip() -> None:
    dec = Decoder(bytearray(b"\x03abc\x02de\x07"))
    assert dec.read_var_bytes() == b"abc"
    dec.skip_var_bytes()
    assert dec.remaining() == 1
    with pytest.raises(MalformedMessage):
        dec.skip(2)
    with pytest.raises(MalformedMessage):
        dec.read_var_bytes()


def test_fixed_width_numbers_are_big_endian() -> None:
    data = struct.pack(">f", 1.5) + struct.pack(">d", -2.25) + struct.pack(">q", -(2**40))
    dec = Decoder(memoryview(data))
    assert dec.read_float32() == 1.5
    assert dec.read_float64() == -2.25
    assert dec.read_big_int64() == -(2**40)
    assert dec.at_end()
    for reader in (Decoder.read_float32, Decoder.read_float64, Decoder.read_big_int64):
        with pytest.raises(MalformedMessage):
            reader(Decoder(b"\x00\x00\x00"))
    with pytest.raises(MalformedMessage):
        Decoder(b"").read_u8()
