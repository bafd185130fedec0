"""Admission of document connections: a bounded queue of pending syncs, oldest first.

A connection is accepted at once (daphne drops a socket the application has not accepted
within its connect timeout, and in a storm the per-connection work queues behind itself:
2,000 clients reconnecting at once all failed). It then waits for one of
``ADMISSION_CONCURRENCY`` slots to authenticate, check access, load the document and send
its greeting. When ``ADMISSION_QUEUE`` connections are already waiting, it is closed with
1013 (try again later) and a reason; the browser retries after a jittered delay, keeping
its edits. A waiting socket costs no database work and answers daphne's pings (the
transport does that), so nobody is dropped for a ping time-out while waiting.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from realtime import metrics


class AdmissionFull(Exception):
    """Too many connections are waiting to be admitted; the message says to retry."""


class Admission:
    """At most ``concurrency`` connections being admitted, at most ``queue`` waiting.

    Waiters are served in arrival order (asyncio's semaphore wakes them first in, first
    out).
    """

    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency = concurrency
        self.queue = queue
        self.waiting = 0
        self._slots = asyncio.Semaphore(concurrency)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one admission slot; raises ``AdmissionFull`` when the queue is full."""
        if self._slots.locked() and self.waiting >= self.queue:
            metrics.ADMISSIONS_REFUSED.inc()
            raise AdmissionFull(
                f"server busy: {self.waiting} connections waiting; retry in a few seconds"
            )
        self.waiting += 1
        metrics.ADMISSION_WAITING.set(self.waiting)
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
            metrics.ADMISSION_WAITING.set(self.waiting)
        try:
            yield
        finally:
            self._slots.release()
