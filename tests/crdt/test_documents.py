"""Rebuilding documents from a stored state and a log (merged in runs)."""

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from crdt import documents
from crdt.documents import InvalidUpdate, load_document


def _log(edits: int, seed: int) -> tuple[str, list[bytes]]:
    """A script edited by three clients (inserts and deletes), one log entry per edit."""
    rng = random.Random(seed)
    docs: list[Doc[Any]] = [Doc(client_id=n + 1) for n in range(3)]
    log: list[bytes] = []
    for doc in docs:
        doc.observe(lambda event: log.append(event.update))
    for _ in range(edits):
        doc = rng.choice(docs)
        for other in docs:
            if other is not doc:
                doc.apply_update(other.get_update(doc.get_state()))
        text = doc.get("content", type=Text)
        if len(text) > 3 and rng.random() < 0.3:
            start = rng.randrange(len(text) - 2)
            del text[start : start + 2]
        else:
            text.insert(rng.randrange(len(text) + 1), rng.choice("abc "))
    final: Doc[Any] = Doc()
    for update in log:
        final.apply_update(update)
    return str(final.get("content", type=Text)), log


@pytest.mark.parametrize(("run", "per_transaction"), [(1, 1), (2, 3), (32, 16), (64, 1)])
def test_a_log_loads_to_the_same_text_whatever_the_merge_run(
    run: int, per_transaction: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected, log = _log(500, seed=run)
    monkeypatch.setattr(documents, "LOAD_MERGE_RUN", run)
    monkeypatch.setattr(documents, "LOAD_RUNS_PER_TRANSACTION", per_transaction)
    assert str(load_document("script", None, log).get("content", type=Text)) == expected


def test_a_log_after_a_state_applies_on_top_of_it() -> None:
    expected, log = _log(300, seed=7)
    state = load_document("script", None, log[:100]).get_update()
    assert str(load_document("script", state, log[100:]).get("content", type=Text)) == expected


def test_storyboard_panels_survive_merged_runs() -> None:
    doc: Doc[Any] = Doc()
    log: list[bytes] = []
    doc.observe(lambda event: log.append(event.update))
    panels = doc.get("panels", type=Array)
    for n in range(100):
        panels.append(Map({"id": f"p{n}", "caption": f"panel {n}"}))
    loaded = load_document("storyboard", None, log).get("panels", type=Array)
    assert [p["caption"] for p in loaded.to_py()] == [f"panel {n}" for n in range(100)]


def test_a_corrupt_entry_in_a_run_is_reported() -> None:
    _, log = _log(100, seed=3)
    with pytest.raises(InvalidUpdate):
        load_document("script", None, [*log[:10], b"\x01\x05garbage", *log[10:]])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), shuffle=st.randoms(use_true_random=False))
def test_a_log_out_of_causal_order_loads_whole(seed: int, shuffle: random.Random) -> None:
    # Two processes commit in their own order, so the log is not causal. Yrs alone loses
    # pending structs applying such a log (checked: one at a time, 190 of 300 shuffles).
    expected, log = _log(60, seed)
    shuffle.shuffle(log)
    doc, pending = documents.load_document_checked("script", None, log)
    assert (documents.script_text(doc), pending) == (expected, [])


def test_updates_whose_dependencies_are_missing_are_reported_and_kept_in_the_state() -> None:
    first: Doc[Any] = Doc(client_id=1)
    second: Doc[Any] = Doc(client_id=2)
    log: list[bytes] = []
    for i in range(12):
        writer, reader = (first, second) if i % 2 else (second, first)
        before = writer.get_state()
        writer.get("content", type=Text).insert(len(str(writer.get("content", type=Text))), f"{i} ")
        log.append(writer.get_update(before))
        reader.apply_update(log[-1])
    expected = str(first.get("content", type=Text))
    missing = log.pop(3)
    doc, pending = documents.load_document_checked("script", None, log)
    assert pending, "what builds on the missing entry is reported"
    assert documents.not_integrated(doc, log) != []
    state = documents.state_with_pending(doc, pending)
    assert len(state) > len(doc.get_update()), "the pending updates ride along"
    # Once the missing entry arrives, the state written with its pending part loads whole.
    whole, left = documents.load_document_checked("script", state, [missing])
    assert (documents.script_text(whole), left) == (expected, [])
    # Dropping the pending part (what compaction did before) loses everything after it.
    lossy = load_document("script", doc.get_update(), [missing])
    assert documents.script_text(lossy) != expected
