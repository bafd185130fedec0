"""Project rooms: presence across processes, invisible mode, bad input stays recoverable."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.factories import ProjectRoom
from tests.support.servers import TroupeServer
from tests.support.yraw import RawYClient

pytestmark = [pytest.mark.live]


class RoomSocket:
    """A project room connection that keeps every event it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self.events.append(json.loads(frame))
                self.arrived.set()
        except websockets.ConnectionClosed:
            self.arrived.set()

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def wait(
        self,
        kind: str,
        *,
        where: Callable[[dict[str, Any]], bool] = lambda e: True,
        since: int = 0,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            seen = since
            while True:
                for event in self.events[seen:]:
                    if event["type"] == kind and where(event):
                        return event
                seen = len(self.events)
                self.arrived.clear()
                await self.arrived.wait()

        try:
            return await asyncio.wait_for(find(), timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"no {kind} matching; events: {self.events[-5:]}") from exc

    def mark(self) -> int:
        return len(self.events)


@asynccontextmanager
async def room_socket(
    server: TroupeServer, slug: str, token: str | None
) -> AsyncIterator[RoomSocket]:
    url = f"ws://127.0.0.1:{server.port}/ws/projects/{slug}" + (f"?token={token}" if token else "")
    async with websockets.connect(url) as ws:
        sock = RoomSocket(ws)
        try:
            yield sock
        finally:
            sock.reader.cancel()


def names(event: dict[str, Any]) -> set[str]:
    return {p["user"]["name"] for p in event["present"]}


async def test_presence_across_processes_tabs_and_documents(
    server_factory: Callable[..., TroupeServer], redis_url: str, project_room: ProjectRoom
) -> None:
    one = server_factory(redis_url=redis_url)
    two = server_factory(redis_url=redis_url)
    slug = project_room.project.slug
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    lead_name, editor_name = lead.user.get_username(), editor.user.get_username()
    async with room_socket(one, slug, lead.token) as a:
        snapshot = await a.wait("room.snapshot")
        assert snapshot["you"]["role"] == "lead" and set(snapshot["documents"]) == {
            "script",
            "board",
        }
        async with (
            room_socket(two, slug, editor.token) as b,
            room_socket(one, slug, editor.token) as b2,
        ):
            await b.wait("room.snapshot")
            await a.wait("presence.changed", where=lambda e: names(e) == {lead_name, editor_name})
            # Entries from the other process arrive in any order: wait for the full picture.
            event = await b.wait(
                "presence.changed",
                where=lambda e: (
                    names(e) == {lead_name, editor_name}
                    and {p["user"]["name"]: p["tabs"] for p in e["present"]}[editor_name] == 2
                ),
            )
            assert len(event["present"]) == 2, "two tabs, one person"
            await b.send({"type": "presence.set", "document": "board", "anchor": {"panel": "p7"}})
            moved = await a.wait(
                "presence.changed",
                where=lambda e: any(
                    p["document"] == "board" and p["anchor"] == {"panel": "p7"}
                    for p in e["present"]
                ),
                timeout=1.0,
            )
            assert moved
            await b2.send({"type": "presence.set", "document": "script", "anchor": {"scene": 2}})
            await a.wait(
                "presence.changed",
                where=lambda e: any(p["anchor"] == {"scene": 2} for p in e["present"]),
                timeout=1.0,
            )
        # Both tabs closed: gone within a second.
        await a.wait("presence.changed", where=lambda e: names(e) == {lead_name}, timeout=1.0)


async def test_invisible_members_are_not_listed_but_see_others(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    slug = project_room.project.slug
    lead, viewer = project_room.members["lead"], project_room.members["viewer"]
    async with room_socket(live, slug, lead.token) as a, room_socket(live, slug, viewer.token) as v:
        await v.wait("room.snapshot")
        await a.wait("presence.changed", where=lambda e: len(e["present"]) == 2)
        await v.send({"type": "presence.invisible", "invisible": True})
        await v.wait("presence.invisible")
        await a.wait(
            "presence.changed", where=lambda e: names(e) == {lead.user.get_username()}, timeout=1.0
        )
        # The invisible member still sees the others. (Both sockets are accepted at once and
        # admitted in turn, so the viewer's first listing may predate the lead's arrival.)
        lead_name = lead.user.get_username()
        await v.wait("presence.changed", where=lambda e: lead_name in names(e), since=0)
        listings = [e for e in v.events if e["type"] == "presence.changed"]
        assert lead_name in names(listings[-1]), listings[-1]
    # The setting is theirs and is kept for the next visit.
    async with room_socket(live, slug, viewer.token) as v2:
        snapshot = await v2.wait("room.snapshot")
        assert snapshot["you"]["invisible"] is True
        assert all(p["user"]["id"] != viewer.user.pk for p in snapshot["present"])


async def test_bad_room_messages_get_errors_and_the_socket_stays_usable(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    slug = project_room.project.slug
    async with room_socket(live, slug, project_room.members["editor"].token) as s:
        await s.wait("room.snapshot")
        cases: list[tuple[dict[str, Any] | str, str]] = [
            ("{not json", "malformed JSON"),
            ({"type": "no.such.thing"}, "unknown message type"),
            ({"no": "type"}, "string 'type'"),
            ({"type": "presence.set", "project": "another-project"}, "this socket is for project"),
            ({"type": "presence.set", "document": "nope"}, "no document"),
            ({"type": "presence.set", "document": "script", "anchor": {"scene": "x"}}, "anchor"),
            ({"type": "presence.invisible", "invisible": "yes"}, "true or false"),
        ]
        for message, text in cases:
            mark = s.mark()
            await s.send(message)
            error = await s.wait("error", since=mark)
            assert text in error["error"], (message, error)
        mark = s.mark()
        await s.send({"type": "ping"})
        await s.wait("pong", since=mark)


@pytest.mark.parametrize(("member", "code"), [(None, 4401), ("outsider", 4403)])
async def test_room_refusals(
    live: TroupeServer, project_room: ProjectRoom, member: str | None, code: int
) -> None:
    token = project_room.members[member].token if member else None
    async with room_socket(live, project_room.project.slug, token) as s:
        error = await s.wait("error")
        assert error["code"] == code
        await asyncio.wait_for(s.ws.wait_closed(), 5)
        assert s.ws.close_code == code
    async with room_socket(live, "no-such-project", project_room.members["lead"].token) as s:
        assert (await s.wait("error"))["code"] == 4404


async def test_losing_access_closes_the_room_socket(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    slug = project_room.project.slug
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    auth = {"Authorization": f"Bearer {lead.token}"}
    async with (
        room_socket(live, slug, lead.token) as a,
        room_socket(live, slug, editor.token) as e,
    ):
        await a.wait("room.snapshot")
        await e.wait("room.snapshot")
        mark = a.mark()
        async with httpx.AsyncClient(base_url=live.http_url) as http:
            removed = await http.delete(
                f"/api/projects/{slug}/members/{editor.user.get_username()}", headers=auth
            )
        assert removed.status_code == 200, removed.text
        assert (await e.wait("error", timeout=2.0))["code"] == 4403
        await asyncio.wait_for(e.ws.wait_closed(), 2.0)
        assert e.ws.close_code == 4403
        # The others see the removed member leave the room at once.
        await a.wait(
            "presence.changed",
            where=lambda ev: editor.user.pk not in {p["user"]["id"] for p in ev["present"]},
            since=mark,
        )


async def test_a_project_made_private_closes_non_members_sockets(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    slug = project_room.project.slug
    lead, outsider = project_room.members["lead"], project_room.members["outsider"]
    auth = {"Authorization": f"Bearer {lead.token}"}
    async with httpx.AsyncClient(base_url=live.http_url) as http:

        async def visibility(value: str) -> None:
            made = await http.patch(
                f"/api/projects/{slug}", json={"visibility": value}, headers=auth
            )
            assert made.status_code == 200, made.text

        await visibility("public")
        document = await RawYClient.open(
            live.ws_url, project_room.room(project_room.script), token=outsider.token
        )
        try:
            async with (
                room_socket(live, slug, lead.token) as a,
                room_socket(live, slug, outsider.token) as o,
            ):
                await a.wait("room.snapshot")
                await o.wait("room.snapshot")
                await document.sync()
                await visibility("private")
                assert (await o.wait("error", timeout=2.0))["code"] == 4403
                await asyncio.wait_for(o.ws.wait_closed(), 2.0)
                assert o.ws.close_code == 4403
                code, _ = await document.wait_closed(timeout=2.0)
                assert code == 4403
                # Members keep their sockets.
                await a.send({"type": "ping"})
                await a.wait("pong")
        finally:
            await document.close()
