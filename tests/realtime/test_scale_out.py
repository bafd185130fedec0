"""Several daphne processes behind one Redis behave as one server."""

import asyncio
import re
from collections.abc import Callable

import httpx
import pytest

from tests.support.factories import ProjectRoom
from tests.support.node_client import NodeYjsClient
from tests.support.redis_server import RedisServer
from tests.support.servers import TroupeServer
from tests.support.waiting import eventually

pytestmark = [pytest.mark.live, pytest.mark.redis]


async def metric(server: TroupeServer, name: str, kind: str | None = None) -> float:
    """A counter's value summed over its labels (only ``kind="..."`` when given)."""
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        text = (await http.get("/metrics")).text
    labels = rf"\{{kind=\"{re.escape(kind)}\"\}}" if kind else r"(?:\{[^}]*\})?"
    total = 0.0
    for match in re.finditer(rf"^{name}{labels} (\S+)$", text, re.M):
        total += float(match.group(1))
    return total


async def metric_reaches(
    server: TroupeServer, name: str, kind: str, at_least: float, timeout: float = 10.0
) -> float:
    """Wait until the counter reaches ``at_least``; return its value."""
    value = 0.0

    async def reached() -> bool:
        nonlocal value
        value = await metric(server, name, kind)
        return value >= at_least

    await eventually(reached, timeout, lambda: f"{name}{{{kind}}} = {value}")
    return value


async def connected(server: TroupeServer, room: str, token: str) -> NodeYjsClient:
    client = await NodeYjsClient(server.ws_url, room, token=token).start()
    await client.connect()
    await client.wait_synced()
    return client


async def test_two_processes_converge_and_share_presence(
    server_factory: Callable[..., TroupeServer], redis_url: str, project_room: ProjectRoom
) -> None:
    one = server_factory(redis_url=redis_url)
    two = server_factory(redis_url=redis_url)
    room = project_room.room(project_room.script)
    a = await connected(one, room, project_room.members["lead"].token)
    b = await connected(two, room, project_room.members["editor"].token)
    try:
        await asyncio.gather(a.insert_text(0, "from one\n"), b.insert_text(0, "from two\n"))
        await a.wait_text(contains="from two")
        await b.wait_text(contains="from one")
        assert await a.get_text() == await b.get_text()
        await a.set_awareness({"cursor": 1})
        await b.set_awareness({"cursor": 2})
        states = await b.wait_awareness(2)
        assert states[a.client_id]["user"]["id"] == project_room.members["lead"].user.pk  # type: ignore[index]
        await a.wait_awareness(2)
        # Late joiner on the other process sees everything and everyone.
        c = await connected(two, room, project_room.members["viewer"].token)
        try:
            await c.wait_text(equals=await a.get_text())
            await c.wait_awareness(3)
        finally:
            await c.close()
        await a.wait_awareness(2)
        assert await metric(one, "troupe_bus_messages_sent_total") > 0
    finally:
        await a.close()
        await b.close()


async def test_lost_cross_process_messages_are_detected_and_repaired(
    server_factory: Callable[..., TroupeServer], redis_url: str, project_room: ProjectRoom
) -> None:
    lossy = server_factory(redis_url=redis_url, env={"TROUPE_TEST_DROP_EVERY_NTH_UPDATE": "3"})
    other = server_factory(redis_url=redis_url)
    room = project_room.room(project_room.script)
    writer = await connected(lossy, room, project_room.members["lead"].token)
    reader = await connected(other, room, project_room.members["editor"].token)
    try:
        for i in range(30):
            await writer.insert_text(0, f"w{i} ")
            await asyncio.sleep(0)
        final = await writer.get_text()
        # The last message may be the one dropped: the state announce repairs it too.
        assert await reader.wait_text(equals=final, timeout=10) == final
        assert await metric(lossy, "troupe_bus_dropped_on_purpose_total") >= 1
        assert await metric(other, "troupe_bus_gaps_total") >= 1
        assert await metric(other, "troupe_bus_repairs_total") >= 1
    finally:
        await writer.close()
        await reader.close()


async def test_a_room_on_one_process_sends_its_updates_only_while_another_holds_it(
    server_factory: Callable[..., TroupeServer], redis_url: str, project_room: ProjectRoom
) -> None:
    one = server_factory(redis_url=redis_url)
    two = server_factory(redis_url=redis_url, env={"TROUPE_IDLE_UNLOAD_SECONDS": "0.2"})
    room = project_room.room(project_room.script)
    lead = project_room.members["lead"].token
    a = await connected(one, room, lead)
    watcher = await connected(one, room, project_room.members["viewer"].token)
    try:
        await a.set_awareness({"cursor": 1})
        for i in range(10):
            await a.insert_text(0, f"a{i} ")
        await watcher.wait_text(equals=await a.get_text())
        await watcher.wait_awareness(2)  # its own and a's
        # Alone on its process: nothing per update or awareness change goes to Redis.
        assert await metric(one, "troupe_bus_messages_sent_total", "doc.update") == 0
        assert await metric(one, "troupe_bus_messages_sent_total", "doc.awareness") == 0

        # A second process loads the room; edits made there at once, before it can know
        # about the first process, still reach it, both ways, with presence.
        b = await connected(two, room, project_room.members["editor"].token)
        try:
            await asyncio.gather(b.set_awareness({"cursor": 2}), b.insert_text(0, "b0 "))
            await b.wait_text(contains="a9 ")
            await a.wait_text(contains="b0 ")
            await a.wait_awareness(2)
            await b.wait_awareness(2)
            await a.insert_text(0, "a10 ")
            await b.wait_text(contains="a10 ")
            assert await a.get_text() == await b.get_text()
            assert await metric(one, "troupe_bus_messages_sent_total", "doc.update") >= 1
        finally:
            await b.close()

        # The second process unloads the room and says so: the first stops sending.
        await metric_reaches(one, "troupe_bus_messages_received_total", "doc.leave", 1)
        sent = await metric(one, "troupe_bus_messages_sent_total", "doc.update")
        await a.insert_text(0, "a11 ")
        await watcher.wait_text(contains="a11 ")
        assert await metric(one, "troupe_bus_messages_sent_total", "doc.update") == sent
    finally:
        await a.close()
        await watcher.close()


PRESENCE_TIMEOUT = 6


@pytest.mark.slow
async def test_redis_restart_and_process_death(
    server_factory: Callable[..., TroupeServer], own_redis: RedisServer, project_room: ProjectRoom
) -> None:
    one = server_factory(redis_url=own_redis.url)
    # The survivor expires presence not renewed for 6 s instead of the deployment's 30 s
    # (the wait below was most of this test's 36 s); stock clients renew every 15 s, and
    # one told its own state was dropped asserts it again.
    two = server_factory(
        redis_url=own_redis.url, env={"TROUPE_AWARENESS_TIMEOUT_SECONDS": str(PRESENCE_TIMEOUT)}
    )
    room = project_room.room(project_room.script)
    a = await connected(one, room, project_room.members["lead"].token)
    b = await connected(two, room, project_room.members["editor"].token)
    try:
        await a.insert_text(0, "before ")
        await b.wait_text(contains="before")
        await asyncio.to_thread(own_redis.stop)
        await a.insert_text(0, "during ")
        await asyncio.to_thread(own_redis.start)
        await a.insert_text(0, "after ")
        final = await a.get_text()
        assert await b.wait_text(equals=final, timeout=15) == final
        # One process dies: its clients' presence disappears from the other within the
        # awareness timeout.
        await a.set_awareness({"cursor": 5})
        await b.wait_awareness(2, timeout=PRESENCE_TIMEOUT)
        one.kill9()
        await b.wait_awareness(1, timeout=PRESENCE_TIMEOUT + 4)
        await b.insert_text(0, "survivor ")
        assert (await b.get_text()).startswith("survivor")
    finally:
        await a.close()
        await b.close()
