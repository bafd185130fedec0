"""How long the event loop keeps work waiting: ``troupe_event_loop_lag_seconds``.

A timer is due every ``INTERVAL`` seconds; the time between when it was due and when the
loop ran it is how long some other callback (a room's flush, a load, a compaction, a
frame's parsing) held the loop. Every callback waiting meanwhile waited as long. The
monitor costs one timer callback each 50 ms (~5 µs).
"""

import asyncio

from realtime import metrics

INTERVAL = 0.05


class LoopLagMonitor:
    """Observes the loop's lateness into ``metrics.LOOP_LAG_SECONDS`` until stopped."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start observing (once)."""
        if self._handle is None:
            self._schedule()

    def _schedule(self) -> None:
        self._due = self.loop.time() + INTERVAL
        self._handle = self.loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        metrics.LOOP_LAG_SECONDS.observe(max(0.0, self.loop.time() - self._due))
        self._schedule()

    def stop(self) -> None:
        """Stop observing."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
