"""y-websocket message framing (y-protocols sync, awareness, auth, query-awareness).

`parse_message` is called once per incoming websocket frame; the ``encode_*``
functions build outgoing frames. A frame holds exactly one message (the y-websocket
3.x client reads only the first message of a frame), so trailing bytes are an error.
"""

from __future__ import annotations

from typing import NamedTuple

from crdt.encoding import (
    Decoder,
    MalformedMessage,
    ProtocolError,
    encode_var_string,
    write_var_uint,
)

__all__ = [
    "AUTH_PERMISSION_DENIED",
    "MSG_AUTH",
    "MSG_AWARENESS",
    "MSG_QUERY_AWARENESS",
    "MSG_SYNC",
    "SYNC_STEP1",
    "SYNC_STEP2",
    "SYNC_UPDATE",
    "MalformedMessage",
    "Message",
    "ProtocolError",
    "UnknownMessage",
    "encode_auth_denied",
    "encode_awareness",
    "encode_query_awareness",
    "encode_sync_step1",
    "encode_sync_step2",
    "encode_sync_update",
    "parse_message",
]

MSG_SYNC = 0
MSG_AWARENESS = 1
MSG_AUTH = 2
MSG_QUERY_AWARENESS = 3

SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2

AUTH_PERMISSION_DENIED = 0

_STEP1_PREFIX = bytes((MSG_SYNC, SYNC_STEP1))
_STEP2_PREFIX = bytes((MSG_SYNC, SYNC_STEP2))
_UPDATE_PREFIX = bytes((MSG_SYNC, SYNC_UPDATE))
_AWARENESS_PREFIX = bytes((MSG_AWARENESS,))
_AUTH_DENIED_PREFIX = bytes((MSG_AUTH, AUTH_PERMISSION_DENIED))
_QUERY_AWARENESS_FRAME = bytes((MSG_QUERY_AWARENESS,))


class UnknownMessage(ProtocolError):
    """Raised for a well-framed message of a type (or sync subtype) this server ignores.

    The protocol says unknown message types are ignored, so callers usually drop the
    frame and carry on. ``kind`` and ``sub`` tell what was received (``sub`` is None
    when the unknown part is the message type itself).
    """

    def __init__(self, kind: int, sub: int | None = None) -> None:
        """Record the unknown ``kind`` (and ``sub`` for an unknown sync/auth subtype)."""
        what = f"message type {kind}" if sub is None else f"subtype {sub} of type {kind}"
        super().__init__(f"unknown {what}")
        self.kind = kind
        self.sub = sub


class Message(NamedTuple):
    """One parsed frame.

    kind: MSG_SYNC, MSG_AWARENESS, MSG_AUTH or MSG_QUERY_AWARENESS.
    sub: the sync subtype (SYNC_STEP1/2/UPDATE) or the auth subtype; 0 otherwise.
    payload: for sync, the state vector (step1) or update (step2/update); for awareness,
    the awareness update; for auth, the UTF-8 reason; empty for query-awareness.
    """

    kind: int
    sub: int
    payload: bytes


def parse_message(frame: bytes) -> Message:
    """Parse one websocket frame into a Message.

    Raises MalformedMessage for empty/truncated frames or bytes after the message, and
    UnknownMessage for message types or sync/auth subtypes the protocol does not define.
    """
    n = len(frame)
    if n >= 3 and frame[0] == MSG_SYNC and frame[1] <= SYNC_UPDATE:
        # Hot path (sync step1/step2/update, by far the most frequent): parse inline.
        length = frame[2]
        if length < 0x80:
            if 3 + length != n:
                raise MalformedMessage(
                    "truncated sync message" if 3 + length > n else "trailing bytes after message"
                )
            return Message(MSG_SYNC, frame[1], frame[3:])
    if n == 0:
        raise MalformedMessage("empty frame")
    dec = Decoder(frame)
    kind = dec.read_var_uint()
    if kind == MSG_SYNC:
        sub = dec.read_var_uint()
        if sub > SYNC_UPDATE:
            raise UnknownMessage(kind, sub)
        payload = dec.read_var_bytes()
    elif kind == MSG_AWARENESS:
        sub = 0
        payload = dec.read_var_bytes()
    elif kind == MSG_AUTH:
        sub = dec.read_var_uint()
        if sub != AUTH_PERMISSION_DENIED:
            raise UnknownMessage(kind, sub)
        payload = dec.read_var_bytes()
        try:
            payload.decode()
        except UnicodeDecodeError as exc:
            raise MalformedMessage("invalid UTF-8 in auth reason") from exc
    elif kind == MSG_QUERY_AWARENESS:
        sub = 0
        payload = b""
    else:
        raise UnknownMessage(kind)
    if not dec.at_end():
        raise MalformedMessage("trailing bytes after message")
    return Message(kind, sub, payload)


def encode_sync_step1(state_vector: bytes) -> bytes:
    """Frame a sync step1 (our encoded state vector), sent on connect."""
    return b"".join((_STEP1_PREFIX, write_var_uint(len(state_vector)), state_vector))


def encode_sync_step2(update: bytes) -> bytes:
    """Frame a sync step2 (the update the peer lacks), the answer to its step1."""
    return b"".join((_STEP2_PREFIX, write_var_uint(len(update)), update))


def encode_sync_update(update: bytes) -> bytes:
    """Frame a sync update, broadcast to every connection of a room."""
    return b"".join((_UPDATE_PREFIX, write_var_uint(len(update)), update))


def encode_awareness(update: bytes) -> bytes:
    """Frame an encoded awareness update (see crdt.awareness.encode_awareness_update)."""
    return b"".join((_AWARENESS_PREFIX, write_var_uint(len(update)), update))


def encode_auth_denied(reason: str) -> bytes:
    """Frame an auth permission-denied message, sent just before closing with 44xx."""
    return _AUTH_DENIED_PREFIX + encode_var_string(reason)


def encode_query_awareness() -> bytes:
    """Frame a query-awareness message (the peer answers with its full awareness)."""
    return _QUERY_AWARENESS_FRAME
