"""A connection storm degrades gracefully: every socket is accepted at once, admitted in
turn from a bounded queue, and told to retry (1013, with a reason) when the queue is
full; clients retrying with jitter all get in. Small scale, against a server with a tiny
admission limit (the large scale is ``make bench``'s)."""

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from crdt.protocol import MSG_SYNC, encode_sync_step1
from tests.support.factories import ProjectRoom
from tests.support.held_table import HeldTable
from tests.support.servers import TroupeServer
from workspace.models import Document

pytestmark = [pytest.mark.live]

CLIENTS = 300
CONCURRENCY = 2
QUEUE = 20
# Project-room and notification sockets, half each.
JSON_CLIENTS = 160


def _tiny_admission(server_factory: Callable[..., TroupeServer]) -> TroupeServer:
    """A server admitting ``CONCURRENCY`` sockets at once with ``QUEUE`` more waiting."""
    return server_factory(
        env={
            "TROUPE_ADMISSION_CONCURRENCY": str(CONCURRENCY),
            "TROUPE_ADMISSION_QUEUE": str(QUEUE),
        }
    )


async def _attempt(url: str) -> tuple[str, str]:
    """One connection: "synced" once the server's greeting arrives, or how it closed."""
    try:
        async with websockets.connect(url, open_timeout=30) as ws:
            await ws.send(encode_sync_step1(b"\x00"))
            async for frame in ws:
                if isinstance(frame, bytes) and frame[:1] == bytes([MSG_SYNC]):
                    return "synced", ""
            return f"close {ws.close_code}", ws.close_reason or ""
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else None
        return f"close {code}", exc.rcvd.reason if exc.rcvd is not None else ""
    except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
        return f"error {type(exc).__name__}", str(exc)


async def _client(
    connect: Callable[[], Awaitable[tuple[str, str]]], outcomes: list[str], rng: random.Random
) -> float:
    """Connect until synced, retrying 1013 after a jittered delay; return when synced."""
    attempt = 0
    while True:
        outcome, reason = await connect()
        outcomes.append(outcome)
        if outcome == "synced":
            return time.perf_counter()
        assert outcome == "close 1013", (outcome, reason)
        assert "retry" in reason, reason
        # The client's own retry delay (not a wait on the server): the browser's equal
        # jitter (frontend/src/backoff.ts), at least a second after a 1013.
        cap = min(4.0, 0.25 * 2**attempt)
        await asyncio.sleep(max(1.0, cap / 2 + rng.random() * cap / 2))
        attempt += 1


async def test_a_storm_is_queued_told_to_retry_and_everyone_gets_in(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom
) -> None:
    server = _tiny_admission(server_factory)
    token = project_room.members["editor"].token
    rooms = [project_room.room(project_room.script), project_room.room(project_room.storyboard)]
    outcomes: list[str] = []
    rng = random.Random(24)
    started = time.perf_counter()
    synced_at = await asyncio.wait_for(
        asyncio.gather(
            *(
                _client(
                    partial(_attempt, f"{server.ws_url}/{rooms[n % 2]}?token={token}"),
                    outcomes,
                    rng,
                )
                for n in range(CLIENTS)
            )
        ),
        timeout=120,
    )
    counts = Counter(outcomes)
    # Nobody was reset or refused a handshake: each attempt synced or was told to retry.
    assert set(counts) <= {"synced", "close 1013"}, counts
    assert counts["synced"] == CLIENTS
    # The queue was bounded: with 300 at once and room for 2 + 20, most were told to retry.
    assert counts["close 1013"] >= CLIENTS - CONCURRENCY - QUEUE - 50, counts
    print(
        f"storm: {CLIENTS} clients synced in {max(synced_at) - started:.1f} s, "
        f"{counts['close 1013']} retries"
    )


async def _json_attempt(url: str, greeting: str) -> tuple[str, str]:
    """One JSON socket: "synced" once its greeting (``greeting``) arrives, or how it closed;
    a refusal's JSON ``error`` must name the close code that follows."""
    try:
        async with websockets.connect(url, open_timeout=30) as ws:
            async for frame in ws:
                message = json.loads(frame)
                if message["type"] == greeting:
                    return "synced", ""
                assert message["type"] == "error", message
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == message["code"], (ws.close_code, message)
                return f"close {ws.close_code}", message["error"]
            return f"close {ws.close_code}", ws.close_reason or ""
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else None
        return f"close {code}", exc.rcvd.reason if exc.rcvd is not None else ""
    except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
        return f"error {type(exc).__name__}", str(exc)


async def test_project_and_notification_sockets_queue_with_documents_and_retry(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom
) -> None:
    # A browser tab opens a project-room and a notification socket beside its documents:
    # after a deploy all three kinds come back at once and share the admission queue.
    server = _tiny_admission(server_factory)
    token = project_room.members["editor"].token
    slug = project_room.project.slug
    base = f"ws://127.0.0.1:{server.port}"
    kinds = [
        (f"{base}/ws/projects/{slug}?token={token}", "room.snapshot"),
        (f"{base}/ws/notifications?token={token}", "notifications.snapshot"),
    ]
    outcomes: list[str] = []
    rng = random.Random(25)

    await asyncio.wait_for(
        asyncio.gather(
            *(
                _client(partial(_json_attempt, *kinds[n % 2]), outcomes, rng)
                for n in range(JSON_CLIENTS)
            )
        ),
        120,
    )
    counts = Counter(outcomes)
    assert set(counts) <= {"synced", "close 1013"}, counts
    assert counts["synced"] == JSON_CLIENTS
    assert counts["close 1013"] >= JSON_CLIENTS - CONCURRENCY - QUEUE - 50, counts


@pytest.mark.postgres_only
async def test_a_socket_is_told_to_retry_while_an_admission_waits_on_the_database(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom
) -> None:
    """An admission waiting on a slow database holds the shared database thread; the next
    socket must still be accepted and answered 1013 at once (Channels' dispatch used to
    hop to that thread before the connect handler, so it waited until daphne dropped it)."""
    server = server_factory(
        env={"TROUPE_ADMISSION_CONCURRENCY": "1", "TROUPE_ADMISSION_QUEUE": "0"}
    )
    token = project_room.members["editor"].token
    url = f"{server.ws_url}/{project_room.room(project_room.script)}?token={token}"
    table = HeldTable(Document._meta.db_table)
    await asyncio.to_thread(table.hold)
    try:
        async with websockets.connect(url, open_timeout=10):  # admitted: waits on the table
            await asyncio.sleep(0.3)  # the client's own pause: let its admission start
            started = time.perf_counter()
            outcome, reason = await asyncio.wait_for(_attempt(url), timeout=10)
            waited = time.perf_counter() - started
    finally:
        await asyncio.to_thread(table.release)
    assert (outcome, "retry" in reason) == ("close 1013", True), (outcome, reason)
    assert waited < 2, waited
