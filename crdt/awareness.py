"""y-protocols awareness: update codec and a server-side replica of a room's presence.

An awareness update is ``n, {clientID, clock, string(JSON state or "null")} * n``.
JSON states stay strings here (the server forwards them, it does not read them);
`stamp_user` is the one place that parses a state, to overwrite its "user" key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from crdt.encoding import (
    MAX_SAFE_INTEGER,
    Decoder,
    MalformedMessage,
    encode_var_string,
    write_var_uint,
)

__all__ = [
    "NULL_STATE",
    "OUTDATED_TIMEOUT",
    "AwarenessEntry",
    "AwarenessRegistry",
    "decode_awareness_update",
    "encode_awareness_update",
    "largest_state_bytes",
    "stamp_user",
]

#: The JSON text of a removed state.
NULL_STATE = "null"

#: y-protocols' outdatedTimeout: a state not renewed for this long is dropped (seconds).
OUTDATED_TIMEOUT = 30.0


class AwarenessEntry(NamedTuple):
    """One client's awareness record; ``state_json == "null"`` means removed."""

    client_id: int
    clock: int
    state_json: str


def decode_awareness_update(payload: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update (the payload of a MSG_AWARENESS frame).

    The JSON of each state is not validated (use `stamp_user` for that). Raises
    MalformedMessage if truncated, if a string is not UTF-8, or on trailing bytes.
    """
    dec = Decoder(payload)
    count = dec.read_var_uint()
    entries: list[AwarenessEntry] = []
    append = entries.append
    read_uint = dec.read_var_uint
    read_string = dec.read_var_string
    # Every entry takes at least 3 bytes, so a lying count runs out of data quickly.
    for _ in range(count):
        client_id = read_uint()
        clock = read_uint()
        append(AwarenessEntry(client_id, clock, read_string()))
    if not dec.at_end():
        raise MalformedMessage("trailing bytes after awareness update")
    return entries


def largest_state_bytes(payload: bytes) -> int:
    """The size in bytes of the largest JSON state in an awareness update.

    Walks the entries without decoding their strings, so checking a 7 MiB state costs
    no copy. Raises MalformedMessage if the payload is truncated.
    """
    dec = Decoder(payload)
    largest = 0
    for _ in range(dec.read_var_uint()):
        dec.read_var_uint()  # client id
        dec.read_var_uint()  # clock
        size = dec.read_var_uint()
        dec.skip(size)
        largest = max(largest, size)
    return largest


def encode_awareness_update(entries: Iterable[tuple[int, int, str]]) -> bytes:
    """Encode entries ``(client_id, clock, state_json)`` as an awareness update."""
    parts: list[bytes] = []
    for client_id, clock, state_json in entries:
        parts.append(write_var_uint(client_id))
        parts.append(write_var_uint(clock))
        parts.append(encode_var_string(state_json))
    return write_var_uint(len(parts) // 3) + b"".join(parts)


def stamp_user(state_json: str, user: Mapping[str, Any]) -> str:
    """Return ``state_json`` with its "user" key set to ``user`` (server-side identity).

    Called on every awareness state a connection sends, so a client cannot pose as
    someone else. "null" (a removal) is returned unchanged; JSON that does not parse,
    or that is not an object, raises MalformedMessage.
    """
    if state_json == NULL_STATE:
        return state_json
    try:
        state = json.loads(state_json)
    except (ValueError, RecursionError) as exc:
        raise MalformedMessage("awareness state is not valid JSON") from exc
    if state is None:
        # Spaced variants of null ("null " etc.) mean removal too; normalise them.
        return NULL_STATE
    if type(state) is not dict:
        raise MalformedMessage("awareness state is not a JSON object")
    state["user"] = dict(user)
    return json.dumps(state, ensure_ascii=False, separators=(",", ":"))


class AwarenessRegistry:
    """The server's replica of one room's awareness states.

    Semantics follow y-protocols' applyAwarenessUpdate: an entry is accepted if its
    clock is newer than the known one, or equal with state "null" while a state is
    present (removal). One deliberate difference: a client never seen before is
    accepted at any clock, including 0, so the server's snapshot for newcomers does
    not miss a client's first state. Clocks of removed clients are kept (so a stale
    update cannot resurrect them) until `expire` prunes them.
    Times (``now``) are seconds from any monotonic clock.
    """

    __slots__ = ("_clocks", "_states", "_updated")

    def __init__(self) -> None:
        """Create an empty registry."""
        self._states: dict[int, str] = {}
        # client id -> last accepted clock; also holds removed clients (tombstones).
        self._clocks: dict[int, int] = {}
        # client id -> time of the last accepted entry (state or removal).
        self._updated: dict[int, float] = {}

    def __len__(self) -> int:
        """Number of clients with a (non-null) state."""
        return len(self._states)

    def __contains__(self, client_id: object) -> bool:
        """Tell whether ``client_id`` currently has a state."""
        return client_id in self._states

    @property
    def states(self) -> Mapping[int, str]:
        """Read-only live view: client id -> JSON state, for present clients only."""
        return MappingProxyType(self._states)

    def clock(self, client_id: int) -> int | None:
        """Last accepted clock of ``client_id`` (also for removed clients), or None."""
        return self._clocks.get(client_id)

    def apply(self, entries: Iterable[AwarenessEntry], now: float) -> list[AwarenessEntry]:
        """Apply decoded entries received at time ``now``; return those accepted.

        Accepted means added, updated, renewed (same state, newer clock) or removed;
        the result is what the rest of the room has to learn. Entries that are stale
        or remove an unknown/already removed client are dropped.
        """
        states = self._states
        clocks = self._clocks
        updated = self._updated
        accepted: list[AwarenessEntry] = []
        for entry in entries:
            client_id, clock, state_json = entry
            known = clocks.get(client_id)
            if state_json == NULL_STATE:
                if client_id not in states:
                    if known is None or clock > known:
                        # Nothing to remove, but remember the clock as y-protocols
                        # does, so an older state arriving late stays rejected.
                        clocks[client_id] = clock
                        updated[client_id] = now
                    continue
                if clock < clocks[client_id]:
                    continue
                del states[client_id]
            else:
                if known is not None and clock <= known:
                    continue
                states[client_id] = state_json
            clocks[client_id] = clock
            updated[client_id] = now
            accepted.append(entry)
        return accepted

    def remove_entries(
        self, client_ids: Iterable[int], now: float | None = None
    ) -> list[AwarenessEntry]:
        """Remove present clients (e.g. a closed connection's); return the removals.

        Each removal carries clock + 1 and state "null", so every peer applies it even
        if it missed the last renewal (at 2**53 - 1 the clock stays: an equal-clock
        null still removes). Ids without a state are skipped.
        """
        states = self._states
        clocks = self._clocks
        removed: list[AwarenessEntry] = []
        for client_id in client_ids:
            if client_id not in states:
                continue
            del states[client_id]
            clock = clocks[client_id]
            if clock < MAX_SAFE_INTEGER:
                clock += 1
            clocks[client_id] = clock
            if now is not None:
                self._updated[client_id] = now
            removed.append(AwarenessEntry(client_id, clock, NULL_STATE))
        return removed

    def remove(self, client_ids: Iterable[int], now: float | None = None) -> bytes | None:
        """Like `remove_entries`, but return the encoded update (None if nothing removed)."""
        removed = self.remove_entries(client_ids, now)
        return encode_awareness_update(removed) if removed else None

    def full_update(self) -> bytes | None:
        """Encode every present state (for a newly connected client), or None if empty."""
        states = self._states
        if not states:
            return None
        clocks = self._clocks
        return encode_awareness_update(
            (client_id, clocks[client_id], state) for client_id, state in states.items()
        )

    def expire(self, now: float, timeout_seconds: float = OUTDATED_TIMEOUT) -> list[int]:
        """Drop states not renewed for ``timeout_seconds``; return the dropped ids.

        Like y-protocols' outdatedTimeout check. Also forgets tombstones of clients
        removed longer ago than the timeout, so the registry does not grow forever.
        Announce them with `removal_entries` ("null" at the last clock).
        """
        deadline = now - timeout_seconds
        states = self._states
        clocks = self._clocks
        updated = self._updated
        expired: list[int] = []
        forgotten: list[int] = []
        for client_id, last in updated.items():
            if last > deadline:
                continue
            if client_id in states:
                expired.append(client_id)
            else:
                forgotten.append(client_id)
        for client_id in expired:
            del states[client_id]
            # Restart the timer: the tombstone is itself forgotten one timeout later.
            updated[client_id] = now
        for client_id in forgotten:
            del clocks[client_id]
            del updated[client_id]
        return expired

    def removal_entries(self, client_ids: Iterable[int]) -> list[AwarenessEntry]:
        """Entries announcing already dropped clients (e.g. `expire`'s result).

        Each is "null" at the last known clock: an equal-clock null removes the state
        at every peer that still has it, which is how y-protocols announces timeouts.
        Ids that still have a state, or are unknown, are skipped.
        """
        states = self._states
        clocks = self._clocks
        return [
            AwarenessEntry(client_id, clocks[client_id], NULL_STATE)
            for client_id in client_ids
            if client_id not in states and client_id in clocks
        ]
