"""Per-document and per-connection bounds, so no single client can exhaust a process.

``DocumentBudget`` tracks how large a loaded document is and how fast it grows; the live
document asks it before applying each update. ``DocumentFull`` and
``DocumentLimitExceeded`` are how the hub and the live document tell a consumer to close
one connection (4503, 4413).
"""

import time
from typing import Any

from django.conf import settings
from pycrdt import Doc

# The rolling minute of the growth limit, in one-second slots: an update costs one
# clock read and one integer comparison to find its slot; the window moves by whole
# seconds, so a burst is counted for 59-60 s (not exactly 60).
WINDOW_SLOTS = 60


class DocumentFull(Exception):
    """The live document already holds (or is admitting) ``TROUPE_MAX_CONNECTIONS_PER_ROOM``."""


class DocumentLimitExceeded(Exception):
    """An update would take its document over its size or growth limit (close 4413)."""


class DocumentBudget:
    """The size and growth allowance of one loaded document.

    ``size`` is the encoded state measured at load plus every byte accepted since: an
    O(1) running count, no re-encode per update. Deletions shrink the real state but
    not the count, so the count only overestimates; when it would pass the limit the
    state is measured again once (``refresh``) and the update refused only if the real
    size leaves no room. A document edited for days stays loaded without ever being
    refused for bytes it has since deleted.

    ``window`` is the bytes accepted in the last minute, kept in per-second slots.
    """

    __slots__ = (
        "max_bytes",
        "max_growth",
        "measured_unchanged",
        "size",
        "slot_second",
        "slots",
        "window",
    )

    def __init__(self, size: int, max_bytes: int, max_growth: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.max_growth = max_growth
        self.window = 0
        self.slots = [0] * WINDOW_SLOTS
        self.slot_second = 0
        # True right after a measurement: nothing accepted since, measuring again is moot.
        self.measured_unchanged = True

    @classmethod
    def for_document(cls, doc: Doc[Any]) -> "DocumentBudget":
        """The budget of a document just loaded (one full encode, once per load)."""
        knobs = settings.TROUPE
        return cls(
            len(doc.get_update()),
            int(knobs["MAX_DOCUMENT_BYTES"]),
            int(knobs["DOCUMENT_GROWTH_BYTES_PER_MINUTE"]),
        )

    def check(self, doc: Doc[Any], nbytes: int, now: float) -> None:
        """Raise ``DocumentLimitExceeded`` if ``nbytes`` more would pass a limit.

        The fast path is two integer comparisons; ``now`` is any monotonic clock
        in seconds (the live document passes the ``perf_counter`` it already read).
        """
        if self.size + nbytes > self.max_bytes:
            self._refresh(doc, nbytes)
        second = int(now)
        if second != self.slot_second:
            self._advance(second)
        if self.window + nbytes > self.max_growth:
            raise DocumentLimitExceeded(
                f"document growing faster than {self.max_growth} bytes per minute "
                "(TROUPE_DOCUMENT_GROWTH_BYTES_PER_MINUTE); try again in a minute"
            )

    def charge(self, nbytes: int) -> None:
        """Count an accepted update (after ``check``, in the same second)."""
        self.size += nbytes
        self.window += nbytes
        self.slots[self.slot_second % WINDOW_SLOTS] += nbytes
        self.measured_unchanged = False

    def absorb(self, nbytes: int, now: float) -> None:
        """Count an update another process accepted (never refused here: its origin
        checked it), so every holder measures the whole document's size and growth."""
        second = int(now)
        if second != self.slot_second:
            self._advance(second)
        self.charge(nbytes)

    def _refresh(self, doc: Doc[Any], nbytes: int) -> None:
        # Slow path, only near the limit: measure the real state (deleted content
        # encodes as a length), refuse only if even that leaves no room.
        if not self.measured_unchanged:
            self.size = len(doc.get_update())
            self.measured_unchanged = True
        if self.size + nbytes > self.max_bytes:
            raise DocumentLimitExceeded(
                f"document would exceed {self.max_bytes} bytes "
                f"(TROUPE_MAX_DOCUMENT_BYTES; it holds {self.size})"
            )

    def _advance(self, second: int) -> None:
        """Move the window to ``second``, forgetting the slots that fell out of it."""
        slots = self.slots
        gone = min(second - self.slot_second, WINDOW_SLOTS)
        for step in range(1, gone + 1):
            index = (self.slot_second + step) % WINDOW_SLOTS
            self.window -= slots[index]
            slots[index] = 0
        self.slot_second = second


class TokenBucket:
    """Per-connection message rate limit: ``burst`` at once, ``rate`` per second after."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, burst: float, rate: float) -> None:
        self.burst = burst
        self.rate = rate
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        """Spend one token; False when the connection is over its limit."""
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
