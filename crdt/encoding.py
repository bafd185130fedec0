"""lib0 binary encoding, as used by Yjs, y-protocols and y-websocket.

Use `write_var_uint` / `encode_var_bytes` / `encode_var_string` to build frames and
`Decoder` to read them. Every reading error (truncated input, an over-long varint,
invalid UTF-8) raises `MalformedMessage`, a `ProtocolError`, so callers can catch
one exception family for anything a peer sent.
"""

from __future__ import annotations

import struct

__all__ = [
    "MAX_SAFE_INTEGER",
    "Decoder",
    "MalformedMessage",
    "ProtocolError",
    "encode_var_bytes",
    "encode_var_string",
    "write_var_int",
    "write_var_uint",
]

#: Largest integer lib0 reads (JavaScript's Number.MAX_SAFE_INTEGER, 2**53 - 1).
MAX_SAFE_INTEGER = 2**53 - 1

# 8 groups of 7 bits hold 53 bits; a 9th byte can only mean a value lib0 rejects.
_MAX_VARINT_BYTES = 8

_unpack_f32 = struct.Struct(">f").unpack_from
_unpack_f64 = struct.Struct(">d").unpack_from
_unpack_i64 = struct.Struct(">q").unpack_from

# One-byte varuints are by far the most common (message types, short lengths):
# hand out shared immutable objects instead of allocating each time.
_SMALL_UINTS = tuple(bytes((i,)) for i in range(0x80))


class ProtocolError(ValueError):
    """Raised when a peer sends something the Yjs protocol does not allow."""


class MalformedMessage(ProtocolError):
    """Raised when bytes cannot be decoded: truncated, over-long, or invalid."""


def write_var_uint(n: int) -> bytes:
    """Encode ``n`` (0 <= n <= 2**53 - 1) as a lib0 varUint, low 7-bit group first.

    Raises ValueError (a programming error, not a ProtocolError) when out of range:
    lib0 readers reject anything above 2**53 - 1.
    """
    if 0 <= n < 0x80:
        return _SMALL_UINTS[n]
    if n < 0 or n > MAX_SAFE_INTEGER:
        raise ValueError(f"varUint out of range: {n}")
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def write_var_int(n: int) -> bytes:
    """Encode ``n`` (|n| <= 2**53 - 1) as a lib0 signed varInt.

    The first byte holds a continuation bit (0x80), the sign (0x40) and 6 bits of the
    magnitude; following bytes hold 7 bits each. Used for integers inside lib0 `any`.
    """
    neg = n < 0
    mag = -n if neg else n
    if mag > MAX_SAFE_INTEGER:
        raise ValueError(f"varInt out of range: {n}")
    first = (mag & 0x3F) | (0x40 if neg else 0)
    mag >>= 6
    if not mag:
        return bytes((first,))
    out = bytearray((first | 0x80,))
    while mag > 0x7F:
        out.append(0x80 | (mag & 0x7F))
        mag >>= 7
    out.append(mag)
    return bytes(out)


def encode_var_bytes(data: bytes) -> bytes:
    """Encode ``data`` as lib0 varUint8Array: varUint(length) followed by the bytes."""
    return write_var_uint(len(data)) + data


def encode_var_string(text: str) -> bytes:
    """Encode ``text`` as lib0 varString: varUint(UTF-8 byte length) + UTF-8 bytes."""
    raw = text.encode()
    return write_var_uint(len(raw)) + raw


class Decoder:
    """Sequential reader over one bytes object, mirroring lib0's decoding module.

    ``pos`` is the offset of the next unread byte; it may be read (e.g. to slice the
    input between two positions) and set. Every ``read_*`` raises MalformedMessage
    instead of reading past the end.
    """

    __slots__ = ("_buf", "_end", "pos")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0) -> None:
        """Wrap ``data`` (copied once unless it already is ``bytes``), reading from ``pos``."""
        buf = data if type(data) is bytes else bytes(data)
        self._buf: bytes = buf
        self._end: int = len(buf)
        self.pos: int = pos

    @property
    def data(self) -> bytes:
        """The whole underlying buffer (not only the unread part)."""
        return self._buf

    def at_end(self) -> bool:
        """Tell whether every byte has been read."""
        return self.pos >= self._end

    def remaining(self) -> int:
        """Number of bytes not read yet."""
        return self._end - self.pos

    def read_u8(self) -> int:
        """Read one unsigned byte."""
        pos = self.pos
        if pos >= self._end:
            raise MalformedMessage("unexpected end of data (u8)")
        self.pos = pos + 1
        return self._buf[pos]

    def read_var_uint(self) -> int:
        """Read a lib0 varUint (at most 8 bytes and 2**53 - 1, like lib0)."""
        pos = self.pos
        if pos >= self._end:
            raise MalformedMessage("unexpected end of data (varUint)")
        byte = self._buf[pos]
        if byte < 0x80:
            # Fast path: single-byte values dominate (counts, kinds, short lengths).
            self.pos = pos + 1
            return byte
        return self._read_var_uint_long(pos)

    def _read_var_uint_long(self, pos: int) -> int:
        buf = self._buf
        end = self._end
        num = 0
        shift = 0
        limit = pos + _MAX_VARINT_BYTES
        while True:
            if pos >= end:
                raise MalformedMessage("unexpected end of data (varUint)")
            if pos >= limit:
                raise MalformedMessage("varUint longer than 8 bytes")
            byte = buf[pos]
            pos += 1
            num |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        if num > MAX_SAFE_INTEGER:
            raise MalformedMessage("varUint larger than 2**53 - 1")
        self.pos = pos
        return num

    def read_var_int(self) -> int:
        """Read a lib0 signed varInt (sign in bit 0x40 of the first byte)."""
        buf = self._buf
        end = self._end
        pos = self.pos
        if pos >= end:
            raise MalformedMessage("unexpected end of data (varInt)")
        byte = buf[pos]
        pos += 1
        num = byte & 0x3F
        negative = byte & 0x40
        shift = 6
        limit = pos + _MAX_VARINT_BYTES - 1
        while byte & 0x80:
            if pos >= end:
                raise MalformedMessage("unexpected end of data (varInt)")
            if pos >= limit:
                raise MalformedMessage("varInt longer than 8 bytes")
            byte = buf[pos]
            pos += 1
            num |= (byte & 0x7F) << shift
            shift += 7
        if num > MAX_SAFE_INTEGER:
            raise MalformedMessage("varInt magnitude larger than 2**53 - 1")
        self.pos = pos
        return -num if negative else num

    def read_bytes(self, n: int) -> bytes:
        """Read exactly ``n`` raw bytes."""
        pos = self.pos
        end = pos + n
        if n < 0 or end > self._end:
            raise MalformedMessage("unexpected end of data (bytes)")
        self.pos = end
        return self._buf[pos:end]

    def skip(self, n: int) -> None:
        """Advance over ``n`` bytes without copying them."""
        end = self.pos + n
        if n < 0 or end > self._end:
            raise MalformedMessage("unexpected end of data (skip)")
        self.pos = end

    def read_var_bytes(self) -> bytes:
        """Read a lib0 varUint8Array: varUint length, then that many bytes."""
        n = self.read_var_uint()
        pos = self.pos
        end = pos + n
        if end > self._end:
            raise MalformedMessage("unexpected end of data (varUint8Array)")
        self.pos = end
        return self._buf[pos:end]

    def skip_var_bytes(self) -> None:
        """Advance over a lib0 varUint8Array / varString without copying it."""
        n = self.read_var_uint()
        end = self.pos + n
        if end > self._end:
            raise MalformedMessage("unexpected end of data (varUint8Array)")
        self.pos = end

    def read_var_string(self) -> str:
        """Read a lib0 varString (length in UTF-8 bytes); invalid UTF-8 is malformed."""
        raw = self.read_var_bytes()
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            raise MalformedMessage("invalid UTF-8 in string") from exc

    def read_float32(self) -> float:
        """Read a big-endian IEEE 754 float32 (lib0's byte order)."""
        pos = self.pos
        if pos + 4 > self._end:
            raise MalformedMessage("unexpected end of data (float32)")
        self.pos = pos + 4
        return float(_unpack_f32(self._buf, pos)[0])

    def read_float64(self) -> float:
        """Read a big-endian IEEE 754 float64 (lib0's byte order)."""
        pos = self.pos
        if pos + 8 > self._end:
            raise MalformedMessage("unexpected end of data (float64)")
        self.pos = pos + 8
        return float(_unpack_f64(self._buf, pos)[0])

    def read_big_int64(self) -> int:
        """Read a big-endian signed 64-bit integer (lib0's BigInt64)."""
        pos = self.pos
        if pos + 8 > self._end:
            raise MalformedMessage("unexpected end of data (bigint64)")
        self.pos = pos + 8
        return int(_unpack_i64(self._buf, pos)[0])
