"""Compaction folds the log into the state row from storage alone, linearly."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from crdt.documents import InvalidUpdate, load_document, script_text
from workspace.documents.selectors import LOG_STREAM_CHUNK_ROWS, document_loaded, document_stored
from workspace.documents.services import (
    PendingUpdate,
    document_compact,
    document_create,
    document_updates_append,
)
from workspace.models import DocumentKind, DocumentState, DocumentUpdate
from workspace.projects.services import project_create

pytestmark = [pytest.mark.django_db]


def test_compaction_keeps_content_and_history_and_is_idempotent() -> None:
    user = get_user_model().objects.create_user(username="compactor")
    project = project_create(slug="compaction", title="C", created_by=user)
    document = document_create(project=project, slug="s", title="S", kind=DocumentKind.SCRIPT)
    source: Doc[Any] = Doc()
    text = source.get("content", type=Text)
    now = timezone.now()

    def typed(count: int) -> list[PendingUpdate]:
        out = []
        for i in range(count):
            before = source.get_state()
            text.insert(0 if i % 5 == 0 else len(text), "é" if i % 3 else "x")
            if i % 11 == 0 and len(text) > 2:
                del text[1:2]
            out.append(PendingUpdate(document.pk, source.get_update(before), user.pk, now))
        return out

    document_updates_append(updates=typed(3000), bindings=[])
    assert document_compact(document_id=document.pk).merged == 3000
    assert document_compact(document_id=document.pk).merged == 0
    document_updates_append(updates=typed(200), bindings=[])
    assert document_compact(document_id=document.pk).merged == 200
    state = DocumentState.objects.get(document=document)
    assert (
        state.through_update_id == DocumentUpdate.objects.filter(document=document).latest("id").pk
    )
    assert DocumentUpdate.objects.filter(document=document).count() == 3200, "history is kept"
    stored = document_stored(document_id=document.pk)
    assert stored.updates == []
    assert script_text(load_document("script", stored.state, [])) == str(text)


def _logged_document(slug: str, count: int) -> tuple[int, str, list[bytes]]:
    """A script whose log holds ``count`` single-character appends; (id, text, updates)."""
    user = get_user_model().objects.create_user(username=f"writer-{slug}")
    project = project_create(slug=slug, title="L", created_by=user)
    document = document_create(project=project, slug="s", title="S", kind=DocumentKind.SCRIPT)
    source: Doc[Any] = Doc()
    text = source.get("content", type=Text)
    now = timezone.now()
    pending = []
    for i in range(count):
        before = source.get_state()
        text.insert(len(text), "abc\n"[i % 4])
        pending.append(PendingUpdate(document.pk, source.get_update(before), user.pk, now))
    document_updates_append(updates=pending, bindings=[])
    return document.pk, str(text), [p.update for p in pending]


def test_stored_log_is_read_in_order_after_the_state_row() -> None:
    document_id, expected, updates = _logged_document("ordered", 700)
    rows = DocumentUpdate.objects.filter(document_id=document_id).order_by("id")
    assert [bytes(r.update) for r in rows] == updates, "appended in order"
    writer = get_user_model().objects.get(username="writer-ordered")
    assert {(r.user_id, r.created_at) for r in rows} == {(writer.pk, rows[0].created_at)}
    stored = document_stored(document_id=document_id)
    assert stored.state is None
    assert stored.updates == updates
    assert all(type(u) is bytes for u in stored.updates)
    assert stored.last_update_id == DocumentUpdate.objects.latest("id").pk
    document_compact(document_id=document_id)
    assert document_stored(document_id=document_id).updates == []
    assert (
        script_text(load_document("script", document_stored(document_id=document_id).state, []))
        == expected
    )


def test_a_loaded_document_replays_the_log_streamed_in_chunks_after_the_state() -> None:
    count = 2 * LOG_STREAM_CHUNK_ROWS + 300
    document_id, expected, _ = _logged_document("streamed", count)
    loaded = document_loaded(document_id=document_id, kind="script")
    assert script_text(loaded.doc) == expected
    assert loaded.log_entries_replayed == count
    assert loaded.last_update_id == DocumentUpdate.objects.latest("id").pk
    document_compact(document_id=document_id)
    loaded = document_loaded(document_id=document_id, kind="script")
    assert (script_text(loaded.doc), loaded.log_entries_replayed) == (expected, 0)


def test_a_corrupt_log_entry_fails_the_load_and_leaves_the_connection_usable() -> None:
    from django.db import connection

    document_id, _, updates = _logged_document("corrupt", 100)
    writer = get_user_model().objects.get(username="writer-corrupt")
    now = timezone.now()
    DocumentUpdate.objects.create(
        document_id=document_id, update=b"\xff\xff\x00", user=writer, created_at=now
    )
    # Chunks of re-sent (idempotent) entries follow, so the load stops mid-stream.
    resent = [PendingUpdate(document_id, u, writer.pk, now) for u in updates]
    for _ in range(3 * LOG_STREAM_CHUNK_ROWS // len(updates)):
        document_updates_append(updates=resent, bindings=[])
    with pytest.raises(InvalidUpdate):
        document_loaded(document_id=document_id, kind="script")
    # The abandoned query was ended: the same connection reads the whole log again at once.
    stored = document_stored(document_id=document_id)
    assert stored.updates[:101] == [*updates, b"\xff\xff\x00"]
    assert len(stored.updates) == 101 + 3 * LOG_STREAM_CHUNK_ROWS // 100 * 100
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.postgres_only
def test_reading_the_log_inside_a_transaction_leaves_the_planner_as_it_was() -> None:
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("planner settings are PostgreSQL's (its run covers this)")
    document_id, _, updates = _logged_document("planner", 50)
    with transaction.atomic(), connection.cursor() as cursor:
        assert document_stored(document_id=document_id).updates == updates
        cursor.execute("SHOW enable_sort")
        assert cursor.fetchone() == ("on",)
        cursor.execute("SHOW enable_bitmapscan")
        assert cursor.fetchone() == ("on",)


def test_updates_posted_over_http_are_compacted_as_the_log_grows(
    settings: Any,
) -> None:
    from workspace.documents.services import document_update_post

    settings.TROUPE = {**settings.TROUPE, "COMPACT_EVERY_UPDATES": 5}
    user = get_user_model().objects.create_user(username="poster")
    project = project_create(slug="posted", title="P", created_by=user)
    document = document_create(project=project, slug="s", title="S", kind=DocumentKind.SCRIPT)
    source: Doc[Any] = Doc()
    text = source.get("content", type=Text)
    for ch in "abcdefghijkl":
        before = source.get_state()
        text.insert(len(text), ch)
        document_update_post(document=document, update=source.get_update(before), user=user)
    stored = document_stored(document_id=document.pk)
    assert len(stored.updates) == 2, "compacted after the 5th and the 10th post"
    assert script_text(load_document("script", stored.state, stored.updates)) == "abcdefghijkl"
    assert DocumentUpdate.objects.filter(document=document).count() == 12, "history is kept"


def _two_writers(count: int) -> tuple[str, list[bytes]]:
    """Two clients appending in turn to one text, each update building on the last one
    (as in a live session): the final text and the updates in the order they were made."""
    first: Doc[Any] = Doc()
    second: Doc[Any] = Doc()
    updates: list[bytes] = []
    for i in range(count):
        writer, reader = (first, second) if i % 2 == 0 else (second, first)
        text = writer.get("content", type=Text)
        before = writer.get_state()
        text.insert(len(text), f"t{i:03} ")
        if i % 7 == 6:
            del text[0:2]
        update = writer.get_update(before)
        reader.apply_update(update)
        updates.append(update)
    return str(first.get("content", type=Text)), updates


def test_compaction_keeps_an_entry_whose_dependency_is_committed_later() -> None:
    # Process A commits entry 2 (built on entry 1) before process B commits entry 1,
    # and A compacts in between: entry 2 is pending then and must not be dropped.
    user = get_user_model().objects.create_user(username="racer")
    project = project_create(slug="race", title="R", created_by=user)
    document = document_create(project=project, slug="s", title="S", kind=DocumentKind.SCRIPT)
    expected, updates = _two_writers(3)
    now = timezone.now()

    def commit(*indexes: int) -> None:
        document_updates_append(
            updates=[PendingUpdate(document.pk, updates[i], user.pk, now) for i in indexes],
            bindings=[],
        )

    commit(0, 2)
    compaction = document_compact(document_id=document.pk)
    assert (compaction.merged, compaction.pending) == (2, 1)
    commit(1)
    loaded = document_loaded(document_id=document.pk, kind="script")
    assert script_text(loaded.doc) == expected
    assert document_compact(document_id=document.pk) == type(compaction)(1, 0)
    stored = document_stored(document_id=document.pk)
    assert script_text(load_document("script", stored.state, stored.updates)) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_commit_order_and_compaction_points_load_the_whole_text(data: st.DataObject) -> None:
    # Property: however two processes interleave their commits and compactions, storage
    # loads exactly what the clients hold, and nothing is left pending at the end.
    expected, updates = _two_writers(24)
    order = data.draw(st.permutations(range(len(updates))), label="commit order")
    compact_after = data.draw(
        st.sets(st.integers(0, len(updates) - 1), max_size=8), label="compact after"
    )
    user, _ = get_user_model().objects.get_or_create(username="property")
    slug = f"prop-{DocumentState.objects.count()}-{DocumentUpdate.objects.count()}"
    project = project_create(slug=slug, title="P", created_by=user)
    document = document_create(project=project, slug="s", title="S", kind=DocumentKind.SCRIPT)
    now = timezone.now()
    for position, index in enumerate(order):
        document_updates_append(
            updates=[PendingUpdate(document.pk, updates[index], user.pk, now)], bindings=[]
        )
        if position in compact_after:
            document_compact(document_id=document.pk)
    assert script_text(document_loaded(document_id=document.pk, kind="script").doc) == expected
    assert document_compact(document_id=document.pk).pending == 0
    stored = document_stored(document_id=document.pk)
    assert stored.updates == []
    assert script_text(load_document("script", stored.state, [])) == expected


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_compaction_waits_for_an_append_still_in_flight() -> None:
    # Process A has inserted entry 0 (its id taken from the sequence) but not committed;
    # process B commits entry 1, which gets a higher id; a compaction now must not move
    # its mark past entry 0, or entry 0 appears below the mark and is never loaded.
    import threading

    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")
    user = get_user_model().objects.create_user(username="inflight")
    project = project_create(slug="inflight", title="I", created_by=user)
    document = document_create(project=project, slug="s", title="S", kind=DocumentKind.SCRIPT)
    expected, updates = _two_writers(2)
    now = timezone.now()
    inserted, release = threading.Event(), threading.Event()

    def slow_append() -> None:
        try:
            with transaction.atomic():
                document_updates_append(
                    updates=[PendingUpdate(document.pk, updates[0], user.pk, now)], bindings=[]
                )
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    def compact() -> None:
        try:
            document_compact(document_id=document.pk)
        finally:
            connection.close()

    appender = threading.Thread(target=slow_append)
    appender.start()
    assert inserted.wait(10)
    document_updates_append(
        updates=[PendingUpdate(document.pk, updates[1], user.pk, now)], bindings=[]
    )
    compactor = threading.Thread(target=compact)
    compactor.start()
    compactor.join(0.5)
    still_waiting = compactor.is_alive()
    release.set()
    appender.join(10)
    compactor.join(10)
    assert still_waiting, "compaction read the log while an append was in flight"
    stored = document_stored(document_id=document.pk)
    assert script_text(load_document("script", stored.state, stored.updates)) == expected
