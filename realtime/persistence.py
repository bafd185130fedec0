"""Group commit of accepted updates: the broadcast path never waits on the database.

Rooms hand each accepted update to the process's ``Persister``; one writer task commits
everything that queued up while the previous commit ran (commits start at most every
``PERSIST_INTERVAL_SECONDS``), in one transaction, on a dedicated database thread. When
the log of a document grows past ``COMPACT_EVERY_UPDATES`` entries, the same thread
compacts it from storage.
"""

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections, connections

from realtime import metrics
from workspace.services import (
    PendingBinding,
    PendingUpdate,
    document_compact,
    document_updates_append,
)

logger = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 0.5


def _commit(
    updates: list[PendingUpdate],
    bindings: list[PendingBinding],
    compact_after: int,
    backlog: dict[int, int],
) -> dict[int, int]:
    """Runs on the database thread: append, then compact documents whose log grew long."""
    close_old_connections()
    counts = document_updates_append(updates=updates, bindings=bindings)
    for document_id, added in counts.items():
        backlog[document_id] = backlog.get(document_id, 0) + added
        if backlog[document_id] >= compact_after:
            document_compact(document_id=document_id)
            backlog[document_id] = 0
    return counts


def _compact(document_id: int) -> None:
    close_old_connections()
    document_compact(document_id=document_id)


@dataclass
class Persister:
    """The per-process queue of updates waiting to be committed."""

    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="troupe-db")
    )
    _updates: list[PendingUpdate] = field(default_factory=list)
    _bindings: list[PendingBinding] = field(default_factory=list)
    _arrivals: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _last_commit: float = 0.0
    # Set by ``flush``: whoever waits for the commits does not wait out the interval.
    _hurry: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    # Touched only on the database thread: log entries per document since compaction.
    _backlog: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._idle.set()
        self.enabled = bool(settings.TROUPE["PERSISTENCE"])

    def enqueue(
        self, document_id: int, update: bytes, user_id: int | None, new_clients: list[int]
    ) -> None:
        """Queue one accepted update (and the client IDs it binds) for the next commit."""
        if not self.enabled:
            return
        now = datetime.now(UTC)
        self._updates.append(PendingUpdate(document_id, update, user_id, now))
        if new_clients and user_id is not None:
            self._bindings.extend(PendingBinding(document_id, cid, user_id) for cid in new_clients)
        self._arrivals.append(time.monotonic())
        metrics.PERSIST_QUEUE_DEPTH.set(len(self._updates))
        if self._task is None or self._task.done():
            self._idle.clear()
            self._task = asyncio.get_running_loop().create_task(self._run())

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
        await asyncio.get_running_loop().run_in_executor(self.executor, _compact, document_id)

    async def stop(self) -> None:
        """Commit what is pending, then close the database thread and its connection."""
        await self.flush()
        await asyncio.get_running_loop().run_in_executor(self.executor, connections.close_all)
        self.executor.shutdown(wait=False)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            # Yield once so every update of this event-loop turn joins the first commit.
            await asyncio.sleep(0)
            interval = float(settings.TROUPE["PERSIST_INTERVAL_SECONDS"])
            while self._updates:
                wait = self._last_commit + interval - time.monotonic()
                if wait > 0 and not self._hurry.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hurry.wait(), wait)
                self._hurry.clear()
                self._last_commit = time.monotonic()
                updates, self._updates = self._updates, []
                bindings, self._bindings = self._bindings, []
                arrivals, self._arrivals = self._arrivals, []
                try:
                    await loop.run_in_executor(
                        self.executor,
                        _commit,
                        updates,
                        bindings,
                        int(settings.TROUPE["COMPACT_EVERY_UPDATES"]),
                        self._backlog,
                    )
                except Exception:
                    metrics.PERSIST_FAILURES.inc()
                    logger.exception(
                        "group commit failed; retrying", extra={"updates": len(updates)}
                    )
                    self._updates[:0] = updates
                    self._bindings[:0] = bindings
                    self._arrivals[:0] = arrivals
                    await asyncio.sleep(RETRY_DELAY_SECONDS)
                    continue
                done = time.monotonic()
                for arrived in arrivals:
                    metrics.PERSIST_LAG_SECONDS.observe(done - arrived)
                metrics.PERSIST_QUEUE_DEPTH.set(len(self._updates))
        finally:
            self._idle.set()
