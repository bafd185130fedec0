"""Group commit of accepted updates: the broadcast path never waits on the database.

Live documents hand each accepted update to the process's ``Persister``; one writer task
commits everything that queued up while the previous commit ran (commits start at most
every ``PERSIST_INTERVAL_SECONDS``), in one transaction, on a dedicated database thread.
When the log of a document grows past ``COMPACT_EVERY_UPDATES`` entries, the same thread
compacts it from storage, in a turn of its own between commits: a commit waits for at
most one compaction, never for every due room's. Connection set-up (tokens, access,
loads) reads on other threads (``realtime.db_threads``), so commits have this one.

Every enqueued update advances ``enqueued``; every commit advances ``committed`` by what
it wrote, in order. ``mark(document)`` is the value of ``enqueued`` after the document's
last update: once ``committed`` reaches it, everything this process accepted for the
document so far is stored. The bus carries marks with relayed updates and confirms
commits with ``committed`` (see ``realtime.bus``), so the other holders know what they
must store themselves if no confirmation comes.

At shutdown the queue has ``SHUTDOWN_COMMIT_SECONDS`` to commit; what is left goes to
the local journal (``realtime.journal``), which the next start replays before any load.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connections

from realtime import metrics
from realtime.journal import journal_pending, journal_replay, journal_write, without_the_deleted
from workspace.documents.services import (
    Compaction,
    PendingBinding,
    PendingUpdate,
    document_compact,
    document_updates_append,
)

logger = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 0.5
# Closing the database connections at shutdown may itself hang when the database is
# unreachable; the process is stopping anyway.
CLOSE_CONNECTIONS_SECONDS = 1.0


@dataclass(slots=True)
class Backlog:
    """Log entries and bytes a document appended since this process last compacted it."""

    entries: int = 0
    nbytes: int = 0


class UpdateLog(Protocol):
    """Where commits are written; called on the persister's database thread."""

    def append(self, updates: list[PendingUpdate], bindings: list[PendingBinding]) -> None:
        """Append updates and client bindings to the documents' logs, in one transaction."""

    def compact(self, document_id: int) -> Compaction:
        """Merge a document's log into its state row."""


class DatabaseLog:
    """The documents' update logs in the database (``workspace.documents.services``)."""

    def append(self, updates: list[PendingUpdate], bindings: list[PendingBinding]) -> None:
        try:
            document_updates_append(updates=updates, bindings=bindings)
        except IntegrityError:
            # A document or user deleted (in the admin, say) while its updates waited:
            # the persister retries a failed commit until it succeeds, so without this
            # one deleted document held up every other document's writes in the
            # process for good. The rest of the batch is stored; a second failure is
            # not about deletions and goes to the caller's retry.
            kept, kept_bindings = without_the_deleted(updates, bindings)
            if kept == updates and kept_bindings == bindings:
                raise
            document_updates_append(updates=kept, bindings=kept_bindings)
            if dropped := len(updates) - len(kept):
                metrics.UPDATES_OF_DELETED_DOCUMENTS.inc(dropped)
                logger.error(
                    "%d updates were for deleted documents: nothing to store them in",
                    dropped,
                    extra={
                        "updates": dropped,
                        "documents": sorted(
                            {u.document_id for u in updates} - {u.document_id for u in kept}
                        ),
                    },
                )

    def compact(self, document_id: int) -> Compaction:
        return document_compact(document_id=document_id)


def _commit(
    log: UpdateLog,
    updates: list[PendingUpdate],
    bindings: list[PendingBinding],
    compact_after: tuple[int, int],
    backlog: dict[int, Backlog],
) -> list[int]:
    """Runs on the database thread: append; returns the documents whose log grew long
    enough to compact (``compact_after``: entries, bytes). Compaction reads the whole log
    past the state row into memory, so bytes bound it as well as entries: 500 entries of
    8 MiB each would be 4 GB (200 MB of typed-and-deleted text once took a process to
    1.5 GB). The compactions run afterwards, one per turn of the thread (``Persister``)."""
    close_old_connections()
    log.append(updates, bindings)
    grown: dict[int, Backlog] = {}
    for u in updates:
        entry = backlog.get(u.document_id)
        if entry is None:
            entry = backlog[u.document_id] = Backlog()
        entry.entries += 1
        entry.nbytes += len(u.update)
        grown[u.document_id] = entry
    return [
        document_id
        for document_id, entry in grown.items()
        if entry.entries >= compact_after[0] or entry.nbytes >= compact_after[1]
    ]


def _compact_due(log: UpdateLog, document_id: int, backlog: dict[int, Backlog]) -> Compaction:
    """Runs on the database thread: compact a document whose log grew long."""
    done = _compact(log, document_id)
    entry = backlog.get(document_id)
    if entry is not None:
        entry.entries = entry.nbytes = 0
    return done


def _compact(log: UpdateLog, document_id: int) -> Compaction:
    close_old_connections()
    return log.compact(document_id)


def report_pending(document_id: int, step: str, pending: int) -> None:
    """Metric and log line for stored updates whose dependencies storage lacks."""
    if pending:
        metrics.STORAGE_PENDING.labels(step).inc(pending)
        logger.warning(
            "stored updates wait for missing dependencies; kept",
            extra={"document_id": document_id, "step": step, "pending_updates": pending},
        )


@dataclass
class Persister:
    """The per-process queue of updates waiting to be committed."""

    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="troupe-db")
    )
    # Where commits go (the database; a fake in unit tests), on ``executor``.
    log: UpdateLog = field(default_factory=DatabaseLog)
    # Called on the event loop after each commit: the documents it wrote, ``committed``.
    on_commit: Callable[[set[int], int], None] | None = None
    enqueued: int = 0
    committed: int = 0
    _updates: list[PendingUpdate] = field(default_factory=list)
    _bindings: list[PendingBinding] = field(default_factory=list)
    _arrivals: list[float] = field(default_factory=list)
    # The batch a commit is writing now (journaled with the queue if it never finishes).
    _inflight: tuple[list[PendingUpdate], list[PendingBinding]] | None = None
    _marks: dict[int, int] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _last_commit: float = 0.0
    # Set by ``flush``: whoever waits for the commits does not wait out the interval.
    _hurry: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _recovering: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Touched only on the database thread: log entries per document since compaction.
    _backlog: dict[int, Backlog] = field(default_factory=dict)
    # Documents whose log grew long enough to compact, oldest first (an ordered set).
    _due: dict[int, None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._idle.set()
        self.enabled = bool(settings.TROUPE["PERSISTENCE"])
        self.journal_dir = Path(settings.TROUPE_JOURNAL_DIR)

    def enqueue(
        self, document_id: int, update: bytes, user_id: int | None, new_clients: list[int]
    ) -> None:
        """Queue one accepted update (and the client IDs it binds) for the next commit."""
        if not self.enabled:
            return
        if new_clients and user_id is not None:
            self._bindings.extend(PendingBinding(document_id, cid, user_id) for cid in new_clients)
        self._add(PendingUpdate(document_id, update, user_id, datetime.now(UTC)))

    def enqueue_relayed(
        self,
        document_id: int,
        parts: Iterable[tuple[int | None, bytes]],
        bindings: dict[int, int],
    ) -> None:
        """Queue updates another process accepted and did not confirm storing, each part
        under the user who wrote it, with the client bindings they came with."""
        if not self.enabled:
            return
        self._bindings.extend(PendingBinding(document_id, c, u) for c, u in bindings.items())
        now = datetime.now(UTC)
        for user_id, update in parts:
            self._add(PendingUpdate(document_id, update, user_id, now))

    def _add(self, update: PendingUpdate) -> None:
        self._updates.append(update)
        self._arrivals.append(time.monotonic())
        self.enqueued += 1
        self._marks[update.document_id] = self.enqueued
        metrics.PERSIST_QUEUE_DEPTH.set(len(self._updates))
        if self._task is None or self._task.done():
            self._idle.clear()
            self._task = asyncio.get_running_loop().create_task(self._run())

    def mark(self, document_id: int) -> int | None:
        """What ``committed`` must reach for everything enqueued for the document so far
        to be stored: 0 when it already is, None when nothing is stored (benchmarks)."""
        if not self.enabled:
            return None
        mark = self._marks.get(document_id, 0)
        return mark if mark > self.committed else 0

    def forget(self, document_id: int) -> None:
        """Drop a document's mark (it unloaded after its last commit)."""
        self._marks.pop(document_id, None)

    @property
    def depth(self) -> int:
        """How many updates wait for their commit."""
        return len(self._updates)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        while self._updates or (self._task is not None and not self._task.done()):
            self._hurry.set()
            await self._idle.wait()
            if self._updates and (self._task is None or self._task.done()):
                self._idle.clear()
                self._task = asyncio.get_running_loop().create_task(self._run())

    async def compact(self, document_id: int) -> None:
        """Compact one document's log now (on unload), after pending commits."""
        await self.flush()
        done = await asyncio.get_running_loop().run_in_executor(
            self.executor, _compact, self.log, document_id
        )
        report_pending(document_id, "compaction", done.pending)

    async def recover(self) -> None:
        """Commit journal files left by earlier stops on this host, before a load reads
        storage. Raises while the database cannot take them (the load then fails)."""
        if not journal_pending(self.journal_dir):
            return
        async with self._recovering:
            loop = asyncio.get_running_loop()
            replayed = await loop.run_in_executor(self.executor, journal_replay, self.journal_dir)
            metrics.JOURNAL_REPLAYED_UPDATES.inc(replayed)

    async def stop(self) -> None:
        """Commit what is pending within ``SHUTDOWN_COMMIT_SECONDS``, journal the rest,
        then close the database thread and its connection."""
        timeout = float(settings.TROUPE["SHUTDOWN_COMMIT_SECONDS"])
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            self._journal()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                loop.run_in_executor(self.executor, connections.close_all),
                CLOSE_CONNECTIONS_SECONDS,
            )
        self.executor.shutdown(wait=False)

    def _journal(self) -> None:
        """Write everything not known to be committed to the journal and stop trying."""
        if self._task is not None:
            self._task.cancel()
        updates, bindings = list(self._updates), list(self._bindings)
        if self._inflight is not None:
            updates[:0], bindings[:0] = self._inflight
        self._updates, self._bindings, self._arrivals = [], [], []
        if not updates and not bindings:
            return
        try:
            path = journal_write(self.journal_dir, updates, bindings)
        except OSError:
            logger.exception(
                "could not write the journal: these updates are lost",
                extra={"updates": len(updates), "journal_dir": str(self.journal_dir)},
            )
            return
        metrics.JOURNALED_UPDATES.inc(len(updates))
        logger.error(
            "the database did not take %d updates of %d documents before shutdown; "
            "journaled to %s, the next start on this host commits them",
            len(updates),
            len({u.document_id for u in updates}),
            path,
            extra={"updates": len(updates), "journal": str(path)},
        )

    async def _run(self) -> None:
        """Commit what queued up, at most every ``PERSIST_INTERVAL_SECONDS``; between
        commits, compact one due document at a time. A compaction reads and rewrites a
        whole log (tens of ms for a long one): done inside a commit, as before, it held
        up every other room's next commit; now a room's compaction waits while commits
        are due, and a commit waits for at most one compaction."""
        loop = asyncio.get_running_loop()
        try:
            # Yield once so every update of this event-loop turn joins the first commit.
            await asyncio.sleep(0)
            interval = float(settings.TROUPE["PERSIST_INTERVAL_SECONDS"])
            while self._updates or self._due:
                wait = self._last_commit + interval - time.monotonic()
                if self._due and (not self._updates or (wait > 0 and not self._hurry.is_set())):
                    await self._compact_one(loop)
                    continue
                if wait > 0 and not self._hurry.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hurry.wait(), wait)
                self._hurry.clear()
                self._last_commit = time.monotonic()
                if not await self._commit_queued(loop):
                    await asyncio.sleep(RETRY_DELAY_SECONDS)
        finally:
            self._idle.set()

    async def _commit_queued(self, loop: asyncio.AbstractEventLoop) -> bool:
        """One group commit of everything queued; False when it failed (requeued)."""
        updates, self._updates = self._updates, []
        bindings, self._bindings = self._bindings, []
        arrivals, self._arrivals = self._arrivals, []
        self._inflight = (updates, bindings)
        try:
            due = await loop.run_in_executor(
                self.executor,
                _commit,
                self.log,
                updates,
                bindings,
                (
                    int(settings.TROUPE["COMPACT_EVERY_UPDATES"]),
                    int(settings.TROUPE["COMPACT_EVERY_BYTES"]),
                ),
                self._backlog,
            )
        except Exception:
            self._inflight = None
            metrics.PERSIST_FAILURES.inc()
            logger.exception("group commit failed; retrying", extra={"updates": len(updates)})
            self._updates[:0] = updates
            self._bindings[:0] = bindings
            self._arrivals[:0] = arrivals
            return False
        self._inflight = None
        self.committed += len(updates)
        done = time.monotonic()
        for arrived in arrivals:
            metrics.PERSIST_LAG_SECONDS.observe(done - arrived)
        metrics.PERSIST_QUEUE_DEPTH.set(len(self._updates))
        self._due.update(dict.fromkeys(due))
        if self.on_commit is not None:
            self.on_commit({u.document_id for u in updates}, self.committed)
        return True

    async def _compact_one(self, loop: asyncio.AbstractEventLoop) -> None:
        """Compact the document that became due first (a failure is logged; the next
        commit that grows its log makes it due again)."""
        document_id = next(iter(self._due))
        del self._due[document_id]
        try:
            done = await loop.run_in_executor(
                self.executor, _compact_due, self.log, document_id, self._backlog
            )
        except Exception:
            logger.exception("compaction failed", extra={"document_id": document_id})
            return
        report_pending(document_id, "compaction", done.pending)
