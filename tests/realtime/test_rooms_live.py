"""Calls, notifications and live sessions over real daphne processes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async

from tests.realtime.test_project_rooms import RoomSocket, room_socket
from tests.support.factories import ProjectRoom
from tests.support.servers import TroupeServer
from workspace.models import LiveSession
from workspace.notifications.services import interests_set

pytestmark = [pytest.mark.live]


@asynccontextmanager
async def inbox_socket(server: TroupeServer, token: str) -> AsyncIterator[RoomSocket]:
    url = f"ws://127.0.0.1:{server.port}/ws/notifications?token={token}"
    async with websockets.connect(url) as ws:
        sock = RoomSocket(ws)
        try:
            yield sock
        finally:
            sock.reader.cancel()


async def post_call(server: TroupeServer, slug: str, token: str, **body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        made = await client.post(
            f"/api/projects/{slug}/calls",
            json={"interest": "illustration", **body},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert made.status_code == 201, made.text
    data: dict[str, Any] = made.json()
    return data


@pytest.mark.redis
async def test_a_call_reaches_every_room_and_inbox_socket_on_two_processes(
    server_factory: Callable[..., TroupeServer], redis_url: str, project_room: ProjectRoom
) -> None:
    one = server_factory(redis_url=redis_url)
    two = server_factory(redis_url=redis_url)
    slug = project_room.project.slug
    lead, editor, viewer = (project_room.members[n] for n in ("lead", "editor", "viewer"))
    for member in (lead, editor, viewer):
        await database_sync_to_async(interests_set)(
            user_id=member.user.pk, interests=["illustration"]
        )
    async with (
        room_socket(one, slug, lead.token) as lead_room,
        room_socket(two, slug, editor.token) as editor_room,
        room_socket(one, slug, viewer.token) as viewer_room,
        inbox_socket(one, editor.token) as editor_inbox_one,
        inbox_socket(two, editor.token) as editor_inbox_two,
        inbox_socket(two, viewer.token) as viewer_inbox,
        inbox_socket(one, lead.token) as lead_inbox,
    ):
        rooms = [lead_room, editor_room, viewer_room]
        inboxes = [editor_inbox_one, editor_inbox_two, viewer_inbox, lead_inbox]
        for sock in rooms:
            await sock.wait("room.snapshot")
        unread = {}
        for sock in inboxes:
            unread[sock] = (await sock.wait("notifications.snapshot"))["unread"]
        started = time.monotonic()
        call = await post_call(one, slug, lead.token, title="Draw the garden")
        for sock in rooms:
            event = await sock.wait("call.created", timeout=1.0)
            assert event["call"]["id"] == call["id"] and event["call"]["open"] is True
        for sock in inboxes[:3]:
            got = await sock.wait("notification", timeout=1.0)
            assert got["notification"]["event"] == "call.created"
            assert got["unread"] == unread[sock] + 1
            assert "illustration" in got["notification"]["reason"]
        assert time.monotonic() - started < 2.0
        # Editing is live too; the actor's own inbox stays quiet.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{two.port}") as client:
            edited = await client.patch(
                f"/api/projects/{slug}/calls/{call['id']}",
                json={"filled": True},
                headers={"Authorization": f"Bearer {lead.token}"},
            )
        assert edited.status_code == 200
        for sock in rooms:
            event = await sock.wait("call.updated", timeout=1.0)
            assert event["call"]["filled"] is True and event["call"]["open"] is False
        assert not [e for e in lead_inbox.events if e["type"] == "notification"]


async def test_offline_user_finds_it_in_the_snapshot_and_the_room_lists_calls_and_session(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    slug = project_room.project.slug
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    await database_sync_to_async(interests_set)(user_id=editor.user.pk, interests=["illustration"])
    call = await post_call(live, slug, lead.token, title="Panels")
    async with inbox_socket(live, editor.token) as inbox:
        snapshot = await inbox.wait("notifications.snapshot")
        assert snapshot["unread"] == 2, "added to the project, then the call"
        assert snapshot["recent"][0]["event"] == "call.created"
        assert snapshot["recent"][0]["object_id"] == str(call["id"])
    async with room_socket(live, slug, lead.token) as room:
        first = await room.wait("room.snapshot")
        assert [c["id"] for c in first["calls"]] == [call["id"]] and first["session"] is None
        await room.send({"type": "session.start", "title": "Review", "agenda": "panels"})
        await room.wait("session.started")
    async with room_socket(live, slug, editor.token) as room:
        snap = await room.wait("room.snapshot")
        assert snap["session"]["title"] == "Review" and snap["session"]["agenda"] == "panels"
    async with inbox_socket(live, "not-a-token") as refused:
        assert (await refused.wait("error"))["code"]


async def test_session_spotlight_follow_decline_navigation_and_lead_only_actions(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    slug = project_room.project.slug
    lead, editor, viewer = (project_room.members[n] for n in ("lead", "editor", "viewer"))
    async with (
        room_socket(live, slug, lead.token) as a,
        room_socket(live, slug, editor.token) as e,
        room_socket(live, slug, viewer.token) as v,
    ):
        for sock in (a, e, v):
            await sock.wait("room.snapshot")
        # Lead-only actions are refused with an error; the socket stays usable.
        for kind in ("session.start", "session.spotlight", "session.end"):
            mark = v.mark()
            await v.send({"type": kind, "title": "Mine", "document": "script"})
            error = await v.wait("error", since=mark)
            assert error["for"] == kind and "only leads" in error["error"]
        mark = e.mark()
        await e.send({"type": "session.start", "title": "Mine"})
        assert "only leads" in (await e.wait("error", since=mark))["error"]
        await v.send({"type": "ping"})
        await v.wait("pong")
        mark = v.mark()
        await v.send({"type": "session.join"})
        assert "no session" in (await v.wait("error", since=mark))["error"]

        await a.send({"type": "session.start", "title": "Table read", "agenda": "Act 1"})
        for sock in (a, e, v):
            started = await sock.wait("session.started")
        assert started["session"]["lead"] == lead.user.get_username()
        await e.send({"type": "session.join"})
        await v.send({"type": "session.join"})
        await e.wait("session.joined", where=lambda m: m.get("you") is True)
        await v.wait("session.joined", where=lambda m: m.get("you") is True)
        mark = a.mark()
        await a.send({"type": "session.spotlight", "document": "nope"})
        assert "no document" in (await a.wait("error", since=mark))["error"]

        await a.send({"type": "session.spotlight", "document": "board", "anchor": {"panel": "p1"}})
        request = await e.wait("session.follow_request")
        assert request["document"] == "board" and request["anchor"] == {"panel": "p1"}
        await v.wait("session.follow_request")
        await e.send({"type": "session.follow", "accept": True})
        following = await e.wait("session.following")
        assert following["document"] == "board"
        await a.wait(
            "presence.changed",
            where=lambda m: any(
                p["user"]["name"] == editor.user.get_username()
                and p["document"] == "board"
                and p["anchor"] == {"panel": "p1"}
                for p in m["present"]
            ),
        )
        await v.send({"type": "session.follow", "accept": False})
        await v.wait("session.follow_declined")
        # Following ends when the participant navigates on their own.
        await e.send({"type": "presence.set", "document": "script", "anchor": {"scene": 0}})
        ended = await e.wait("session.follow_ended")
        assert ended["reason"] == "navigated"
        assert not [m for m in v.events if m["type"] == "session.follow_ended"]

        await a.send({"type": "session.end"})
        for sock in (a, e, v):
            done = await sock.wait("session.ended")
        record = done["record"]
        assert record["participants"] == sorted(
            m.user.get_username() for m in (lead, editor, viewer)
        )
        assert record["duration_seconds"] >= 0
    session = await database_sync_to_async(LiveSession.objects.get)(project=project_room.project)
    assert session.ended_at is not None and session.spotlight == {
        "document": "board",
        "anchor": {"panel": "p1"},
    }


@pytest.mark.redis
async def test_reading_in_one_tab_lowers_the_count_in_every_tab(
    server_factory: Callable[..., TroupeServer], redis_url: str, project_room: ProjectRoom
) -> None:
    one = server_factory(redis_url=redis_url)
    two = server_factory(redis_url=redis_url)
    editor = project_room.members["editor"]
    async with (
        inbox_socket(one, editor.token) as tab_one,
        inbox_socket(two, editor.token) as tab_two,
    ):
        for tab in (tab_one, tab_two):
            assert (await tab.wait("notifications.snapshot"))["unread"] >= 1
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{one.port}") as client:
            read = await client.post(
                "/api/notifications/read-all",
                headers={"Authorization": f"Bearer {editor.token}"},
            )
        assert read.status_code == 200, read.text
        for tab in (tab_one, tab_two):
            assert (await tab.wait("notifications.read", timeout=2.0))["unread"] == 0
