"""The persister alone: group commit, marks, the commit callback, retry, compaction, and
the bounded stop that journals what the log did not take.

The update log is a fake on the persister's database thread; no database.
"""

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from realtime import persistence
from realtime.journal import journal_read
from realtime.persistence import Persister
from workspace.documents.services import Compaction, PendingBinding, PendingUpdate


class FakeLog:
    """An ``UpdateLog``: records each append; can fail or hold an append until released."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[PendingUpdate], list[PendingBinding]]] = []
        self.compacted: list[int] = []
        self.failures = 0
        self.hold = threading.Event()
        self.hold.set()
        self.holding = threading.Event()

    def append(self, updates: list[PendingUpdate], bindings: list[PendingBinding]) -> None:
        self.holding.set()
        self.hold.wait(5)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database unreachable")
        self.batches.append((list(updates), list(bindings)))

    def compact(self, document_id: int) -> Compaction:
        self.compacted.append(document_id)
        return Compaction(merged=1, pending=0)


@pytest.fixture
def log() -> Iterator[FakeLog]:
    fake = FakeLog()
    yield fake
    fake.hold.set()  # a stop that gave up on an append leaves the thread waiting here


@pytest.fixture(autouse=True)
def persistence_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(settings.TROUPE, "PERSISTENCE", True)


def texts(batch: tuple[list[PendingUpdate], list[PendingBinding]]) -> list[bytes]:
    return [u.update for u in batch[0]]


async def test_updates_of_one_turn_are_committed_together_in_order(log: FakeLog) -> None:
    commits: list[tuple[set[int], int]] = []
    persister = Persister(log=log, on_commit=lambda docs, n: commits.append((docs, n)))
    persister.enqueue(1, b"a", 10, [101])
    persister.enqueue(2, b"b", 20, [])
    persister.enqueue(1, b"c", 10, [])
    await persister.flush()
    [batch] = log.batches
    assert texts(batch) == [b"a", b"b", b"c"]
    assert batch[1] == [PendingBinding(1, 101, 10)]
    assert commits == [({1, 2}, 3)]
    assert persister.committed == 3
    await persister.stop()


async def test_updates_queued_during_a_commit_go_in_the_next_one(log: FakeLog) -> None:
    commits: list[tuple[set[int], int]] = []
    persister = Persister(log=log, on_commit=lambda docs, n: commits.append((docs, n)))
    log.hold.clear()
    persister.enqueue(1, b"first", 10, [])
    await asyncio.to_thread(log.holding.wait, 5)
    persister.enqueue(2, b"second", 20, [])
    persister.enqueue(3, b"third", 30, [])
    log.hold.set()
    await persister.flush()
    assert [texts(b) for b in log.batches] == [[b"first"], [b"second", b"third"]]
    assert commits == [({1}, 1), ({2, 3}, 3)], "one callback per commit, in commit order"
    await persister.stop()


async def test_a_mark_is_reached_by_the_commit_of_the_documents_last_update(
    log: FakeLog,
) -> None:
    persister = Persister(log=log)
    assert persister.mark(1) == 0, "nothing enqueued: nothing to wait for"
    persister.enqueue(1, b"a", 10, [])
    persister.enqueue(2, b"b", 20, [])
    assert (persister.mark(1), persister.mark(2)) == (1, 2)
    await persister.flush()
    assert (persister.mark(1), persister.mark(2)) == (0, 0)
    await persister.stop()


async def test_relayed_parts_are_queued_under_each_author_with_their_bindings(
    log: FakeLog,
) -> None:
    persister = Persister(log=log)
    persister.enqueue_relayed(4, [(10, b"alice"), (20, b"bob")], {101: 10, 202: 20})
    await persister.flush()
    [(updates, bindings)] = log.batches
    assert [(u.document_id, u.user_id, u.update) for u in updates] == [
        (4, 10, b"alice"),
        (4, 20, b"bob"),
    ]
    assert bindings == [PendingBinding(4, 101, 10), PendingBinding(4, 202, 20)]
    await persister.stop()


async def test_a_failed_commit_is_retried_with_its_updates_first(
    log: FakeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(persistence, "RETRY_DELAY_SECONDS", 0.01)
    persister = Persister(log=log)
    log.failures = 1
    persister.enqueue(1, b"a", 10, [])
    await asyncio.to_thread(log.holding.wait, 5)
    persister.enqueue(1, b"b", 10, [])
    await persister.flush()
    assert [texts(b) for b in log.batches] == [[b"a", b"b"]], "one batch, the failed first"
    assert persister.committed == 2
    await persister.stop()


async def test_a_disabled_persister_stores_nothing_and_has_no_marks(
    log: FakeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(settings.TROUPE, "PERSISTENCE", False)
    persister = Persister(log=log)
    persister.enqueue(1, b"a", 10, [101])
    persister.enqueue_relayed(1, [(10, b"b")], {})
    await persister.flush()
    assert log.batches == [] and persister.depth == 0
    assert persister.mark(1) is None
    await persister.stop()


async def test_compaction_on_unload_follows_the_pending_commits(log: FakeLog) -> None:
    persister = Persister(log=log)
    persister.enqueue(1, b"a", 10, [])
    await persister.compact(1)
    assert len(log.batches) == 1 and log.compacted == [1]
    await persister.stop()


async def test_a_long_log_is_compacted_after_the_commit_that_grew_it(
    log: FakeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(settings.TROUPE, "COMPACT_EVERY_UPDATES", 3)
    persister = Persister(log=log)
    for text in (b"a", b"b"):
        persister.enqueue(1, text, 10, [])
    await persister.flush()
    assert log.compacted == []
    persister.enqueue(1, b"c", 10, [])
    await persister.flush()
    assert log.compacted == [1]
    await persister.stop()


async def test_a_due_compaction_does_not_hold_up_the_next_commit(
    log: FakeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two rooms reach their compaction in one commit while a third room's update waits:
    # the waiting commit goes after at most one compaction, not after both.
    monkeypatch.setitem(settings.TROUPE, "COMPACT_EVERY_UPDATES", 1)
    monkeypatch.setitem(settings.TROUPE, "PERSIST_INTERVAL_SECONDS", 0.0)
    order: list[str] = []
    append, compact = log.append, log.compact

    def appended(updates: list[PendingUpdate], bindings: list[PendingBinding]) -> None:
        append(updates, bindings)
        order.append("commit " + ",".join(str(u.document_id) for u in updates))

    def compacted(document_id: int) -> Compaction:
        order.append(f"compact {document_id}")
        if document_id == 1:
            # Room 3's update is accepted (on the event loop) while this compaction runs.
            queued = threading.Event()

            def room_three() -> None:
                persister.enqueue(3, b"c", 30, [])
                queued.set()

            loop.call_soon_threadsafe(room_three)
            assert queued.wait(5)
        return compact(document_id)

    monkeypatch.setattr(log, "append", appended)
    monkeypatch.setattr(log, "compact", compacted)
    loop = asyncio.get_running_loop()
    persister = Persister(log=log)
    persister.enqueue(1, b"a", 10, [])
    persister.enqueue(2, b"b", 20, [])
    await persister.flush()
    assert order == ["commit 1,2", "compact 1", "commit 3", "compact 2", "compact 3"]
    await persister.stop()


async def test_stop_journals_what_the_log_did_not_take_in_time(
    log: FakeLog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(settings.TROUPE, "SHUTDOWN_COMMIT_SECONDS", 0.1)
    # The held append also holds the thread that would close the database connections.
    monkeypatch.setattr(persistence, "CLOSE_CONNECTIONS_SECONDS", 0.05)
    persister = Persister(log=log)
    persister.journal_dir = tmp_path
    log.hold.clear()
    persister.enqueue(1, b"in flight", 10, [101])
    await asyncio.to_thread(log.holding.wait, 5)
    persister.enqueue(2, b"queued", 20, [])
    await persister.stop()
    [journal] = await asyncio.to_thread(lambda: list(tmp_path.glob("*.journal")))
    updates, bindings = journal_read(journal)
    assert [u.update for u in updates] == [b"in flight", b"queued"]
    assert bindings == [PendingBinding(1, 101, 10)]
    assert log.batches == []


async def test_stop_within_the_bound_commits_and_journals_nothing(
    log: FakeLog, tmp_path: Path
) -> None:
    persister = Persister(log=log)
    persister.journal_dir = tmp_path
    persister.enqueue(1, b"a", 10, [])
    await persister.stop()
    assert len(log.batches) == 1
    assert await asyncio.to_thread(lambda: list(tmp_path.iterdir())) == []
