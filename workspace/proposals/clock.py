"""The proposals' clock, read as ``clock.now()`` so a test can move it for every caller."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """The proposals' clock: every deadline check goes through here (tests patch it)."""
    return timezone.now()
