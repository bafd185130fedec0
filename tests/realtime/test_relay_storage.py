"""The store step with fakes: what other processes relayed, the shutdown journal, when to compact.

The live versions (a process killed with -9, SIGTERM during a database outage) are in
``test_faults.py``; these pin each step: the store step's mark, a holder's copy kept
until its origin confirms the commit, and what is left uncommitted at stop journaled and
replayed.
"""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.test import override_settings
from django.utils import timezone
from pycrdt import Doc, Text

from crdt.documents import load_document, merge, new_document, script_text
from realtime import persistence
from realtime.journal import journal_pending, journal_read, journal_replay, journal_write
from realtime.live_document import LiveDocument
from realtime.persistence import Persister
from tests.realtime.unit.fakes import FakeRelay, FakeStore
from workspace.documents.selectors import document_stored
from workspace.documents.services import PendingBinding, PendingUpdate, document_create
from workspace.models import DocumentKind
from workspace.projects.services import project_create


def typed(doc: Doc[Any], text: str) -> bytes:
    """Append ``text`` to a script; the update it makes."""
    before = doc.get_state()
    content = doc.get("content", type=Text)
    content.insert(len(str(content)), text)
    return bytes(doc.get_update(before))


async def loaded_document() -> tuple[LiveDocument, FakeStore]:
    store = FakeStore()
    live = LiveDocument(7, 1, "script", store=store, relay=FakeRelay(), on_idle=lambda _: None)
    live.loaded_from(new_document("script"), {})
    return live, store


async def test_a_relayed_update_is_dropped_once_its_origin_confirms_the_commit() -> None:
    live, persister = await loaded_document()
    source: Doc[Any] = Doc()
    live.receive_remote(typed(source, "one "), {11: 3}, origin="b", mark=5, authors=[(3, None)])
    live.receive_remote(typed(source, "two "), {}, origin="b", mark=6, authors=[(3, None)])
    live.relay_stored("b", 5)
    live.relay_stored("c", 99)  # another origin's confirmation covers nothing of b's
    assert live.store_unconfirmed(None) == 1, "mark 6 was not confirmed"
    assert persister.relayed[0][1][0][0] == 3
    assert script_text(load_document("script", None, [persister.relayed[0][1][0][1]])) == ""
    live.receive_remote(typed(source, "three "), {}, origin="b", mark=7, authors=[(3, None)])
    live.relay_stored("b", 7)
    assert live.store_unconfirmed(None) == 0


async def test_an_unconfirmed_update_is_stored_by_the_holder_under_each_author() -> None:
    live, persister = await loaded_document()
    alice: Doc[Any] = Doc()
    bob: Doc[Any] = Doc()
    a = typed(alice, "alice ")
    b = typed(bob, "bob ")
    whole = merge([a, b])
    live.receive_remote(whole, {1: 10, 2: 20}, origin="b", mark=3, authors=[(10, a), (20, b)])
    # Not yet old enough: the origin may still confirm.
    assert live.store_unconfirmed(time.monotonic() - 3.0) == 0
    assert live.store_unconfirmed(time.monotonic() + 1.0) == 2
    [(document_id, parts, bindings)] = persister.relayed
    assert document_id == 7
    assert parts == [(10, a), (20, b)]
    assert bindings == {1: 10, 2: 20}


async def test_stored_or_unstored_origins_leave_nothing_to_keep() -> None:
    live, _ = await loaded_document()
    source: Doc[Any] = Doc()
    live.receive_remote(typed(source, "stored "), {}, origin="b", mark=0)
    live.receive_remote(typed(source, "bench "), {}, origin="b", mark=None)
    live.receive_remote(typed(source, "posted "), {})
    assert live.store_unconfirmed(None) == 0
    assert "stored bench posted" in script_text(live.live_doc)


async def test_a_sync_reply_is_kept_whole_with_no_author() -> None:
    live, persister = await loaded_document()
    source: Doc[Any] = Doc()
    update = typed(source, "repaired ")
    live.receive_remote(update, {5: 50}, origin="b", mark=9)
    live.store_unconfirmed(None)
    assert persister.relayed == [(7, [(None, update)], {5: 50})]


async def test_unloading_waits_for_a_confirmation_then_stores_what_has_none() -> None:
    live, persister = await loaded_document()
    source: Doc[Any] = Doc()
    live.receive_remote(typed(source, "x "), {}, origin="b", mark=2, authors=[(1, None)])
    asyncio.get_running_loop().call_later(0.05, live.relay_stored, "b", 2)
    await asyncio.wait_for(live.settle_relayed(5.0), 2.0)
    assert persister.relayed == [], "confirmed while waiting: nothing stored twice"
    live.receive_remote(typed(source, "y "), {}, origin="c", mark=4, authors=[(1, None)])
    started = time.monotonic()
    await live.settle_relayed(0.2)
    assert 0.1 < time.monotonic() - started < 2.0
    assert len(persister.relayed) == 1


@pytest.mark.django_db(transaction=True)
async def test_a_mark_is_reached_by_the_commit_that_stores_the_document_last_update() -> None:
    from channels.db import database_sync_to_async

    document_id, user_id = await database_sync_to_async(_document)("marks")
    commits: list[tuple[set[int], int]] = []
    persister = Persister(on_commit=lambda docs, committed: commits.append((docs, committed)))
    source: Doc[Any] = Doc()
    assert persister.mark(document_id) == 0
    persister.enqueue(document_id, typed(source, "a "), user_id, [source.client_id])
    persister.enqueue(document_id, typed(source, "b "), user_id, [])
    assert persister.mark(document_id) == 2
    await persister.flush()
    assert commits == [({document_id}, 2)]
    assert persister.mark(document_id) == 0, "stored: nothing left to confirm"
    await persister.stop()


def _document(slug: str) -> tuple[int, int]:
    user = get_user_model().objects.create_user(username=f"writer-{slug}")
    project = project_create(slug=slug, title="J", created_by=user)
    document = document_create(project=project, slug="s", title="S", kind=DocumentKind.SCRIPT)
    return document.pk, user.pk


@pytest.mark.django_db(transaction=True)
async def test_what_the_database_did_not_take_by_shutdown_is_journaled_and_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from channels.db import database_sync_to_async

    document_id, user_id = await database_sync_to_async(_document)("journal")

    def database_down(*args: object) -> object:
        raise OperationalError("connection refused")

    monkeypatch.setattr(persistence, "_commit", database_down)
    source: Doc[Any] = Doc()
    knobs = {**settings.TROUPE, "SHUTDOWN_COMMIT_SECONDS": 0.3}
    with override_settings(TROUPE_JOURNAL_DIR=tmp_path, TROUPE=knobs):
        persister = Persister()
        for n in range(5):
            persister.enqueue(document_id, typed(source, f"{n} "), user_id, [source.client_id])
        await asyncio.sleep(0)
        await persister.stop()
    [journal] = await asyncio.to_thread(lambda: list(tmp_path.glob("*.journal")))
    assert "journaled to" in caplog.text and str(journal) in caplog.text
    updates, bindings = journal_read(journal)
    assert len(updates) == 5 and {b.client_id for b in bindings} == {source.client_id}
    assert journal_pending(tmp_path)
    replayed = await database_sync_to_async(journal_replay)(tmp_path)
    assert replayed == 5 and not journal_pending(tmp_path)
    stored = await database_sync_to_async(document_stored)(document_id=document_id)
    text = script_text(load_document("script", stored.state, stored.updates))
    assert text == str(source.get("content", type=Text))
    assert stored.bindings == {source.client_id: user_id}


@pytest.mark.django_db(transaction=True)  # the replay recycles its connection, as in service
def test_a_journal_that_cannot_be_committed_is_given_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document_id, user_id = _document("giveback")
    now = timezone.now()
    path = journal_write(
        tmp_path,
        [PendingUpdate(document_id, typed(Doc(), "kept "), user_id, now)],
        [PendingBinding(document_id, 42, user_id)],
    )
    import realtime.journal

    def refuse(**kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(realtime.journal, "document_updates_append", refuse)
    with pytest.raises(RuntimeError):
        journal_replay(tmp_path)
    assert path.exists(), "given back for the next try"
    monkeypatch.undo()
    assert journal_replay(tmp_path) == 1
    assert not path.exists()


@pytest.mark.django_db(transaction=True)
async def test_a_log_is_compacted_by_its_bytes_as_well_as_its_entries() -> None:
    # Compaction reads the whole log past the state row into memory: a few large entries
    # must trigger it long before COMPACT_EVERY_UPDATES of them.
    from channels.db import database_sync_to_async

    from workspace.models import DocumentState

    document_id, user_id = await database_sync_to_async(_document)("bytes")
    knobs = {**settings.TROUPE, "COMPACT_EVERY_UPDATES": 500, "COMPACT_EVERY_BYTES": 150_000}
    source: Doc[Any] = Doc()
    with override_settings(TROUPE=knobs):
        persister = Persister()
        persister.enqueue(document_id, typed(source, "x" * 100_000), user_id, [source.client_id])
        await persister.flush()
        state = DocumentState.objects.filter(document_id=document_id).afirst
        assert await state() is None, "under both thresholds: not compacted yet"
        persister.enqueue(document_id, typed(source, "y" * 100_000), user_id, [])
        await persister.flush()
        compacted = await state()
        assert compacted is not None and len(compacted.state) > 200_000
        await persister.stop()
    stored = await database_sync_to_async(document_stored)(document_id=document_id)
    assert stored.updates == []


@pytest.mark.django_db(transaction=True)
async def test_a_deleted_document_or_author_does_not_hold_up_the_other_documents_writes() -> None:
    # The persister retries a failed commit until it succeeds: a document deleted (in the
    # admin, say) while its updates waited must not keep every other document's unstored.
    from channels.db import database_sync_to_async
    from prometheus_client import REGISTRY

    from workspace.models import Document, DocumentUpdate

    def dropped() -> float:
        return REGISTRY.get_sample_value("troupe_updates_of_deleted_documents_total") or 0.0

    kept_id, user_id = await database_sync_to_async(_document)("kept")
    gone_id, _ = await database_sync_to_async(_document)("gone")
    leaver = await database_sync_to_async(get_user_model().objects.create)(username="leaver")
    alice: Doc[Any] = Doc()
    leaving: Doc[Any] = Doc()
    doomed: Doc[Any] = Doc()
    updates = [typed(alice, "alice "), typed(leaving, "leaver "), typed(doomed, "lost ")]
    # Deleted before the commit (the persister commits at once when idle, so deleting
    # after enqueueing would race it).
    await database_sync_to_async(Document.objects.filter(pk=gone_id).delete)()
    await database_sync_to_async(leaver.delete)()
    dropped_before = dropped()
    persister = Persister()
    persister.enqueue(kept_id, updates[0], user_id, [alice.client_id])
    persister.enqueue(kept_id, updates[1], leaver.pk, [leaving.client_id])
    persister.enqueue(gone_id, updates[2], user_id, [doomed.client_id])
    await asyncio.wait_for(persister.flush(), 10)
    await persister.stop()
    assert persister.committed == persister.enqueued == 3
    assert dropped() == dropped_before + 1
    stored = await database_sync_to_async(document_stored)(document_id=kept_id)
    text = script_text(load_document("script", stored.state, stored.updates))
    assert sorted(text.split()) == ["alice", "leaver"], "the rest of the batch is stored"
    # As the database's own rules would have left it: the leaver's text stays, authorless.
    assert stored.bindings == {alice.client_id: user_id}
    authors = await database_sync_to_async(
        lambda: sorted(
            DocumentUpdate.objects.filter(document_id=kept_id).values_list("user_id", flat=True),
            key=lambda a: a or 0,
        )
    )()
    assert authors == [None, user_id]
