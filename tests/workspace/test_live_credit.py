"""Live: stock Yjs clients co-edit through daphne, then snapshot credit and live restore."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.factories import ProjectRoom
from tests.support.node_client import NodeYjsClient
from tests.support.servers import TroupeServer
from tests.support.waiting import eventually

pytestmark = [pytest.mark.live, pytest.mark.storage]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def node(server: TroupeServer, room: str, token: str) -> NodeYjsClient:
    return NodeYjsClient(server.ws_url, room, token=token)


async def stored_text(http: httpx.AsyncClient, base: str, token: str, expected: str) -> None:
    """Wait for the group commit: the stored content equals what the clients show."""
    stored = ""

    async def shown() -> bool:
        nonlocal stored
        auth = {"Authorization": f"Bearer {token}"}
        stored = (await http.get(f"{base}/content", headers=auth)).text
        return stored == expected

    await eventually(shown, 6, lambda: f"stored content is {stored!r}, not {expected!r}")


async def test_two_writers_credit_then_restore_propagates_live(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    viewer = project_room.members["viewer"]
    base = f"/api/projects/{project_room.project.slug}/documents/{project_room.script.slug}"
    lead_typed = editor_typed = 0
    async with (
        node(live, room, lead.token) as a,
        node(live, room, editor.token) as b,
        node(live, room, viewer.token) as watcher,
        httpx.AsyncClient(base_url=live.http_url) as http,
    ):
        for client in (a, b, watcher):
            await client.connect()
            await client.wait_synced()
        heading = "INT. HOUSE - DAY\n\n"
        await a.insert_text(0, heading)
        lead_typed += utf16(heading)
        await b.wait_text(equals=heading)
        # concurrent inserts at the same place
        lead_line, editor_line = "Mara pours tea.\n", "Owls call 🦉.\n"
        await asyncio.gather(
            a.insert_text(utf16(heading), lead_line),
            b.insert_text(utf16(heading), editor_line),
        )
        lead_typed += utf16(lead_line)
        editor_typed += utf16(editor_line)
        merged = await a.wait_text(contains="Owls")
        await b.wait_text(equals=await a.wait_text(contains="Mara"))
        merged = await a.get_text()
        # the editor deletes the lead's "HOUSE", the lead deletes the editor's "call "
        await b.delete_text(merged.index("HOUSE"), 5)
        merged = await a.wait_text(contains="INT.  - DAY")
        start = merged.index("call ")
        await a.delete_text(start, 5)
        final = await b.wait_text(contains="Owls 🦉")
        final = await a.wait_text(equals=final)
        await stored_text(http, base, lead.token, final)

        auth = {"Authorization": f"Bearer {lead.token}"}
        response = await http.post(f"{base}/snapshots", json={}, headers=auth)
        assert response.status_code == 201, response.text
        snap = response.json()
        users = snap["snapshot"]["credit"]["users"]
        lead_name = lead.user.get_username()
        editor_name = editor.user.get_username()
        assert users[lead_name]["surviving"] == lead_typed - 5
        assert users[editor_name]["surviving"] == editor_typed - 5
        assert users[lead_name]["typed"] == lead_typed
        assert users[lead_name]["deleted"] == {"own": 0, "others": 5}
        assert users[editor_name]["deleted"] == {"own": 0, "others": 5}
        total = sum(u["surviving"] for u in users.values())
        assert total == snap["snapshot"]["credit"]["length"] == utf16(final)
        assert users[editor_name]["by_scene"] == {"0": editor_typed - 5}

        # more edits, then the editor restores the snapshot: every client follows live
        await a.insert_text(0, "Title: Tea\n\n")
        await a.insert_text(utf16(await a.get_text()), "EXT. YARD - NIGHT\n")
        changed = await a.get_text()
        await watcher.wait_text(equals=changed)
        await stored_text(http, base, lead.token, changed)
        restored = await http.post(
            f"{base}/restore",
            json={"record": snap["id"]},
            headers={"Authorization": f"Bearer {editor.token}"},
        )
        assert restored.status_code == 200, restored.text
        assert restored.json()["status"] == "restored"
        for client in (a, b, watcher):
            assert await client.wait_text(equals=final) == final
        await stored_text(http, base, viewer.token, final)
        # a deletion-only restore also reaches connected clients
        await a.insert_text(0, "x")
        await watcher.wait_text(equals="x" + final)
        await stored_text(http, base, lead.token, "x" + final)
        again = await http.post(
            f"{base}/restore",
            json={"record": snap["id"]},
            headers={"Authorization": f"Bearer {editor.token}"},
        )
        assert again.json()["status"] == "restored"
        await watcher.wait_text(equals=final)
        # the restored state includes the snapshot: the next one says so
        await a.insert_text(0, "FADE IN:\n\n")
        await stored_text(http, base, lead.token, "FADE IN:\n\n" + final)
        later = (await http.post(f"{base}/snapshots", json={}, headers=auth)).json()
        assert later["canonical"]["content"]["contains_previous"] is True
        credit: dict[str, Any] = later["snapshot"]["credit"]
        assert sum(u["surviving"] for u in credit["users"].values()) == credit["length"]
