"""Durability and identity on real servers: restart, kill -9, failed loads, forged IDs,
memory returning after rooms unload."""

import asyncio
import re
from collections.abc import Callable

import httpx
import psutil
import pytest
from channels.db import database_sync_to_async

from crdt.documents import load_document, script_text
from tests.support.factories import ProjectRoom
from tests.support.node_client import NodeYjsClient
from tests.support.servers import TroupeServer
from tests.support.waiting import eventually
from tests.support.yraw import RawYClient
from workspace.documents.selectors import document_stored
from workspace.models import Document, DocumentKind, DocumentState, DocumentUpdate

pytestmark = [pytest.mark.live]


async def stored_text(server: TroupeServer, project_room: ProjectRoom) -> str:
    base = f"/api/projects/{project_room.project.slug}/documents/{project_room.script.slug}/content"
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.get(
            base, headers={"Authorization": f"Bearer {project_room.members['lead'].token}"}
        )
        response.raise_for_status()
        return response.text


def storage_text(document: Document) -> str:
    """The script as storage holds it (state row + newer log entries)."""
    stored = document_stored(document_id=document.pk)
    return script_text(load_document("script", stored.state, stored.updates))


@pytest.mark.storage
@pytest.mark.parametrize("how", ["restart", "kill9"])
async def test_nothing_is_lost_across_restart_and_kill(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom, how: str
) -> None:
    server = server_factory()
    room = project_room.room(project_room.script)
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    async with (
        NodeYjsClient(server.ws_url, room, token=lead.token) as a,
        NodeYjsClient(server.ws_url, room, token=editor.token) as b,
    ):
        await a.connect()
        await b.connect()
        await a.wait_synced()
        await b.wait_synced()
        for i in range(30):
            await a.insert_text(0, f"a{i} ")
            await b.insert_text(0, f"b{i} ")
        await a.wait_text(contains="b29 ")
        held = await a.get_text()
        await b.wait_text(equals=held)
        # The contract: what clients held 100 ms before the crash is stored.
        await asyncio.sleep(0.1)
        if how == "kill9":
            server.kill9()
        else:
            server.stop()
        await a.wait_event("close")
        # Both edit while the server is down.
        await a.insert_text(0, "offline-a ")
        await b.insert_text(0, "offline-b ")
        # Storage, read before any client can reconnect, holds what clients held.
        assert await database_sync_to_async(storage_text)(project_room.script) == held
        restarted = server_factory(port=server.port)
        # The stock clients reconnect on their own (backoff ≤ 2.5 s) and merge.
        await a.wait_text(contains="offline-b", timeout=15)
        await b.wait_text(contains="offline-a", timeout=15)
        final = await a.get_text()
        await b.wait_text(equals=final)
    for word in ["offline-a", "offline-b", "a29", "b29", "a0", "b0"]:
        assert word in final

    async def persisted() -> str:
        return await stored_text(restarted, project_room)

    async def whole() -> bool:
        return await persisted() == final

    await eventually(whole, 5, "the restarted server does not serve the final text")


@pytest.mark.storage
async def test_stopping_commits_what_is_queued_and_says_going_away(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom
) -> None:
    """SIGTERM runs the store step: queued updates are committed before the process ends."""
    # Commits start at most every 10 minutes here: only the shutdown can store the second.
    server = server_factory(env={"TROUPE_PERSIST_INTERVAL_SECONDS": "600"})
    room = project_room.room(project_room.script)
    token = project_room.members["lead"].token
    async with (
        await RawYClient.open(server.ws_url, room, token=token) as c,
        await RawYClient.open(server.ws_url, room, token=token) as reader,
    ):
        await c.sync()
        await reader.sync()
        await c.insert(0, "first ")

        async def first_stored() -> bool:
            stored: str = await database_sync_to_async(storage_text)(project_room.script)
            return stored == "first "

        await eventually(first_stored, 5, "the first update was not committed")
        await c.insert(6, "second")
        await reader.wait_text("first second")  # the server holds it
        assert await database_sync_to_async(storage_text)(project_room.script) == "first "
        server.stop()
        for client in (c, reader):
            code, _ = await client.wait_closed()
            assert code == 1001
    assert await database_sync_to_async(storage_text)(project_room.script) == "first second"


@pytest.mark.storage
async def test_failed_load_never_serves_or_overwrites(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    token = project_room.members["lead"].token
    async with await RawYClient.open(live.ws_url, room, token=token) as c:
        await c.sync()
        await c.insert(0, "precious words")

    # Wait for the unload (final compaction) and then corrupt the stored state.
    def compacted() -> bool:
        return DocumentState.objects.filter(
            document=project_room.script, through_update_id__gt=0
        ).exists()

    await eventually(database_sync_to_async(compacted), 10, "the log was not compacted")
    await database_sync_to_async(
        lambda: DocumentState.objects.filter(document=project_room.script).update(
            state=b"\xff\xfe garbage"
        )
    )()
    before = await database_sync_to_async(
        DocumentUpdate.objects.filter(document=project_room.script).count
    )()
    c2 = await RawYClient.open(live.ws_url, room, token=token)
    code, reason = await c2.wait_closed()
    await c2.close()
    assert code == 1011, reason
    assert not c2.synced.is_set(), "no empty document was served"
    after = await database_sync_to_async(
        DocumentUpdate.objects.filter(document=project_room.script).count
    )()
    state = await database_sync_to_async(
        lambda: bytes(DocumentState.objects.get(document=project_room.script).state)
    )()
    assert after == before and state == b"\xff\xfe garbage"


async def test_forged_client_ids_are_dropped_then_closed(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    shared_id = 123_456_789
    async with NodeYjsClient(live.ws_url, room, token=editor.token, client_id=shared_id) as owner:
        await owner.connect()
        await owner.wait_synced()
        await owner.insert_text(0, "owner text ")
        # Stock Yjs renames a clashing client ID by itself; a hostile peer would not.
        forger = await RawYClient.open(live.ws_url, room, token=lead.token, client_id=shared_id)
        async with forger:
            await forger.sync()
            await forger.wait_text("owner text ")
            for i in range(3):
                await forger.insert(0, f"FORGED{i} ")
            code, reason = await forger.wait_closed()
            assert code == 4409, reason
        # The honest writer keeps going and never sees forged text.
        await owner.insert_text(0, "still fine ")
        async with await RawYClient.open(live.ws_url, room, token=lead.token) as check:
            await check.sync()
            await check.wait_text(await owner.get_text())
            assert "FORGED" not in str(check.text)
            assert "still fine" in str(check.text)


async def test_memory_returns_after_200_rooms(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom
) -> None:
    server = server_factory(env={"TROUPE_IDLE_UNLOAD_SECONDS": "0.1"})
    docs = await database_sync_to_async(
        lambda: [
            Document.objects.create(
                project=project_room.project, slug=f"m{i}", title=f"M{i}", kind=DocumentKind.SCRIPT
            )
            for i in range(220)
        ]
    )()
    token = project_room.members["lead"].token
    process = psutil.Process(server.pid)

    async def rooms_in_memory() -> float:
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            text = (await http.get("/metrics")).text
        match = re.search(r"^troupe_rooms_in_memory (\S+)$", text, re.M)
        assert match
        return float(match.group(1))

    async def cycle(batch: list[Document]) -> None:
        async def one(doc: Document) -> None:
            async with await RawYClient.open(
                server.ws_url, f"{project_room.project.slug}/{doc.slug}", token=token
            ) as c:
                await c.sync()
                await c.insert(0, "FADE IN: " + "x" * 2000)
                await c.wait_text("FADE IN: " + "x" * 2000)

        for start in range(0, len(batch), 20):
            await asyncio.gather(*(one(d) for d in batch[start : start + 20]))

        async def unloaded() -> bool:
            return await rooms_in_memory() == 0

        await eventually(unloaded, 10, "rooms did not unload")

    await cycle(docs[:20])  # warm-up: imports, caches, pools
    baseline = process.memory_info().rss
    await cycle(docs[20:])
    after = process.memory_info().rss
    assert after <= baseline * 1.10, f"RSS {baseline / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB"
