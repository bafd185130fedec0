"""Database threads for connection set-up: who is connecting, their access, room loads.

Channels runs every ``database_sync_to_async`` call on one thread, so each connection's
token check and access query and each cold room's load waited in one line behind each
other and behind the persister's group commits: in a storm of 2,000 connections to 500
cold rooms that thread was busy for most of the 15 s it took (py-spy), mostly waiting
for PostgreSQL's answers one at a time. Set-up work runs here instead, on
``TROUPE_CONNECT_DB_THREADS`` threads with a database connection each, so several
round trips are in flight at once and the group commit keeps its own thread.

Nothing here holds state between calls: each call is one read (or, for a storyboard of
the first schema, the migration write, which is a transaction of its own). With
``TROUPE_CONNECT_DB_THREADS=0`` (the default on SQLite, which has one writer) the calls
run on the shared database thread as before.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor | None:
    global _pool
    threads = int(settings.TROUPE["CONNECT_DB_THREADS"])
    if threads <= 0:
        return None
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="troupe-connect")
    return _pool


def _recycled[T](func: Callable[..., T], kwargs: dict[str, Any]) -> T:
    """``func(**kwargs)`` between two recycles of this thread's database connections (so
    ``CONN_MAX_AGE`` holds here as for requests)."""
    close_old_connections()
    try:
        return func(**kwargs)
    finally:
        close_old_connections()


async def on_connect_thread[T](func: Callable[..., T], /, **kwargs: Any) -> T:
    """``func(**kwargs)`` on a set-up thread, or on the shared database thread when
    set-up threads are off. A plain executor call: asgiref's ``SyncToAsync`` (what
    Channels' ``database_sync_to_async`` is) copies and restores the context around
    each call, and with an executor of its own the connection it opened stayed open
    after the call whatever ``CONN_MAX_AGE`` said."""
    executor = _executor()
    if executor is None:
        result: T = await database_sync_to_async(func)(**kwargs)
        return result
    return await asyncio.get_running_loop().run_in_executor(
        executor, partial(_recycled, func, kwargs)
    )
