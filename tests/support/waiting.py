"""Waiting for a condition: poll with a deadline, never a bare sleep.

A sleep long enough for a slow machine wastes time on a fast one and still flakes on a
slower one; polling returns as soon as the condition holds and fails with a message that
says what was awaited and what was last seen.
"""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

POLL_SECONDS = 0.05


class Hopeless(Exception):
    """Raised by a predicate when its condition can no longer come true (a server process
    that exited, say): the wait ends at once with this error instead of at the deadline."""


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]],
    timeout: float,
    message: str | Callable[[], str],
    *,
    interval: float = POLL_SECONDS,
) -> None:
    """Return once ``predicate()`` (sync or async) is true; fail after ``timeout`` seconds.

    ``message`` (or what it returns, evaluated at the deadline so it can show the last
    state) becomes the ``AssertionError``'s text. An exception raised by the predicate
    counts as "not yet" until the deadline, then is chained to the failure: a server that
    is still starting or a database that is still down is the normal case while waiting.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            outcome = predicate()
            if inspect.isawaitable(outcome):
                outcome = await outcome
            if outcome:
                return
            last_error = None
        except Hopeless:
            raise
        except Exception as exc:
            last_error = exc
        if loop.time() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"after {timeout:g} s: {text}") from last_error
        await asyncio.sleep(interval)


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    message: str | Callable[[], str],
    *,
    interval: float = POLL_SECONDS,
) -> None:
    """``eventually`` for code outside an event loop (fixtures starting processes):
    the same rules, blocking the calling thread between polls."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if predicate():
                return
            last_error = None
        except Hopeless:
            raise
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"after {timeout:g} s: {text}") from last_error
        time.sleep(interval)
