"""Tests for crdt.awareness: codec, server-side registry semantics, user stamping."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Awareness, Doc

from crdt.awareness import (
    AwarenessEntry,
    AwarenessRegistry,
    decode_awareness_update,
    encode_awareness_update,
    stamp_user,
)
from crdt.encoding import MAX_SAFE_INTEGER, MalformedMessage, ProtocolError


def peer(client_id: int) -> Awareness:
    """A pycrdt awareness (what a Python y client would run)."""
    return Awareness(Doc(client_id=client_id))


def test_decode_pycrdt_awareness_update_and_reencode_identically() -> None:
    aw = peer(2**53 - 1)
    aw.set_local_state({"cursor": {"anchor": 3}, "name": "Zoé 😀"})
    encoded = aw.encode_awareness_update([2**53 - 1])
    entries = decode_awareness_update(encoded)
    assert len(entries) == 1
    entry = entries[0]
    assert entry.client_id == 2**53 - 1
    assert entry.clock == 1  # construction set clock 0, set_local_state bumped it
    assert json.loads(entry.state_json) == {"cursor": {"anchor": 3}, "name": "Zoé 😀"}
    assert encode_awareness_update(entries) == encoded


def test_decode_rejects_truncated_and_trailing() -> None:
    good = encode_awareness_update([(1, 2, "{}"), (3, 4, "null")])
    assert decode_awareness_update(good) == [(1, 2, "{}"), (3, 4, "null")]
    for bad in (good[:-1], good + b"\x00", b"", b"\x02\x01\x02\x02{}"):
        with pytest.raises(MalformedMessage):
            decode_awareness_update(bad)


@given(st.binary(max_size=40))
def test_decode_random_bytes_only_raises_protocol_errors(data: bytes) -> None:
    try:
        entries = decode_awareness_update(data)
    except ProtocolError:
        return
    assert decode_awareness_update(encode_awareness_update(entries)) == entries


def test_apply_follows_y_protocols_clock_rules() -> None:
    reg = AwarenessRegistry()
    first = AwarenessEntry(7, 3, '{"a":1}')
    assert reg.apply([first], now=0.0) == [first]
    # older or equal clock with a state: ignored
    assert reg.apply([AwarenessEntry(7, 2, '{"a":2}'), AwarenessEntry(7, 3, '{"a":3}')], 1.0) == []
    assert reg.states == {7: '{"a":1}'}
    # newer clock: accepted, also when the state is unchanged (a renewal)
    renew = AwarenessEntry(7, 4, '{"a":1}')
    assert reg.apply([renew], 2.0) == [renew]
    # equal clock with null: removal
    removal = AwarenessEntry(7, 4, "null")
    assert reg.apply([removal], 3.0) == [removal]
    assert len(reg) == 0
    assert 7 not in reg
    # the clock is remembered: a stale state cannot resurrect the client
    assert reg.apply([AwarenessEntry(7, 4, '{"a":9}')], 4.0) == []
    assert reg.apply([AwarenessEntry(7, 5, '{"a":9}')], 4.0) == [(7, 5, '{"a":9}')]


def test_apply_nulls_for_absent_clients_change_nothing_but_remember_clock() -> None:
    reg = AwarenessRegistry()
    assert reg.apply([AwarenessEntry(9, 5, "null")], 0.0) == []
    assert len(reg) == 0
    assert reg.clock(9) == 5
    assert reg.apply([AwarenessEntry(9, 4, "{}")], 0.0) == []
    assert reg.apply([AwarenessEntry(9, 6, "{}")], 0.0) == [(9, 6, "{}")]


def test_first_state_is_accepted_at_clock_zero() -> None:
    # Deliberate difference from y-protocols, which ignores clock 0 of unknown clients.
    reg = AwarenessRegistry()
    assert reg.apply([AwarenessEntry(1, 0, "{}")], 0.0) == [(1, 0, "{}")]


def test_remove_bumps_clock_and_pycrdt_peer_applies_it() -> None:
    reg = AwarenessRegistry()
    alice = peer(11)
    alice.set_local_state({"user": "alice"})
    reg.apply(decode_awareness_update(alice.encode_awareness_update([11])), 0.0)
    bob = peer(12)
    full = reg.full_update()
    assert full is not None
    bob.apply_awareness_update(full, "server")
    assert bob.states[11] == {"user": "alice"}

    removal = reg.remove([11, 999])
    assert removal is not None
    assert decode_awareness_update(removal) == [(11, 2, "null")]
    bob.apply_awareness_update(removal, "server")
    assert 11 not in bob.states
    assert reg.remove([11]) is None
    assert reg.full_update() is None


def test_remove_entries_at_max_clock_keeps_clock() -> None:
    reg = AwarenessRegistry()
    reg.apply([AwarenessEntry(5, MAX_SAFE_INTEGER, "{}")], 0.0)
    assert reg.remove_entries([5]) == [(5, MAX_SAFE_INTEGER, "null")]


def test_full_update_lists_only_present_states() -> None:
    reg = AwarenessRegistry()
    reg.apply([AwarenessEntry(1, 1, '{"n":1}'), AwarenessEntry(2, 1, '{"n":2}')], 0.0)
    reg.apply([AwarenessEntry(2, 1, "null")], 0.0)
    full = reg.full_update()
    assert full is not None
    assert decode_awareness_update(full) == [(1, 1, '{"n":1}')]


def test_expire_drops_unrenewed_states_then_forgets_tombstones() -> None:
    reg = AwarenessRegistry()
    reg.apply([AwarenessEntry(1, 1, "{}"), AwarenessEntry(2, 1, "{}")], now=100.0)
    reg.apply([AwarenessEntry(2, 2, "{}")], now=120.0)
    assert reg.expire(125.0, 30.0) == []
    assert reg.expire(131.0, 30.0) == [1]
    assert dict(reg.states) == {2: "{}"}
    assert reg.removal_entries([1, 2, 3]) == [(1, 1, "null")]
    # the tombstone of 1 is kept one more timeout, then forgotten
    assert reg.clock(1) == 1
    assert reg.expire(155.0, 30.0) == [2]
    assert reg.clock(1) == 1
    assert reg.expire(162.0, 30.0) == []
    assert reg.clock(1) is None
    assert reg.clock(2) == 2


def test_states_view_is_read_only() -> None:
    reg = AwarenessRegistry()
    reg.apply([AwarenessEntry(1, 1, "{}")], 0.0)
    with pytest.raises(TypeError):
        reg.states[2] = "{}"  # type: ignore[index]


def test_stamp_user_overrides_claimed_identity() -> None:
    claimed = json.dumps({"user": {"name": "mallory"}, "cursor": [1, 2], "note": "東京"})
    stamped = stamp_user(claimed, {"id": 4, "name": "Zoé"})
    assert json.loads(stamped) == {
        "user": {"id": 4, "name": "Zoé"},
        "cursor": [1, 2],
        "note": "東京",
    }
    assert "東京" in stamped  # kept as UTF-8, not \\u escapes
    assert stamp_user("null", {"id": 4}) == "null"
    assert stamp_user(" null ", {"id": 4}) == "null"


@pytest.mark.parametrize("state", ["[1]", '"x"', "3", "true", "{bad", "", "[" * 10000])
def test_stamp_user_rejects_non_objects(state: str) -> None:
    with pytest.raises(MalformedMessage):
        stamp_user(state, {"id": 1})
