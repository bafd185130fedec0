"""Stock Yjs clients co-edit through a real daphne server: protocol, access, identity."""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from pycrdt import Doc, Text

from crdt.protocol import MSG_AWARENESS, encode_query_awareness
from tests.support.factories import ProjectRoom
from tests.support.node_client import NodeYjsClient
from tests.support.servers import TroupeServer, scrape
from tests.support.waiting import eventually
from tests.support.yraw import RawYClient
from workspace.documents.services import PendingUpdate, document_updates_append
from workspace.models import DocumentUpdate

pytestmark = [pytest.mark.live]


async def synced(*clients: NodeYjsClient) -> None:
    """Connect stock clients and wait until each has synced."""
    for client in clients:
        await client.connect()
    for client in clients:
        await client.wait_synced()


def node(server: TroupeServer, room: str, token: str, **kwargs: object) -> NodeYjsClient:
    return NodeYjsClient(server.ws_url, room, token=token, **kwargs)  # type: ignore[arg-type]


async def test_node_and_python_clients_coedit_and_converge(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    async with node(live, room, lead.token) as a, node(live, room, editor.token) as b:
        await synced(a, b)
        py = await RawYClient.open(live.ws_url, room, token=editor.token)
        async with py:
            await py.sync()
            await asyncio.gather(
                a.insert_text(0, "INT. HOUSE - DAY\n"),
                b.insert_text(0, "EXT. GARDEN - NIGHT\n"),
            )
            await py.insert(0, "Title: Pilot\n\n")
            text_a = await a.wait_text(contains="Pilot")
            await a.wait_text(contains="HOUSE")
            await a.wait_text(contains="GARDEN")
            final = await a.get_text()
            await b.wait_text(equals=final)
            await py.wait_text(final)
            assert "Title: Pilot" in text_a
            assert sorted(final.splitlines()) == sorted(
                ["Title: Pilot", "", "INT. HOUSE - DAY", "EXT. GARDEN - NIGHT"]
            )


async def test_late_joiner_receives_everything(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    async with node(live, room, project_room.members["lead"].token) as a:
        await synced(a)
        for i in range(20):
            await a.insert_text(0, f"line {i}\n")
        expected = await a.get_text()
        async with node(live, room, project_room.members["viewer"].token) as late:
            await synced(late)
            assert await late.wait_text(equals=expected) == expected


async def test_storyboard_panels_propagate(live: TroupeServer, project_room: ProjectRoom) -> None:
    room = project_room.room(project_room.storyboard)
    async with (
        node(live, room, project_room.members["lead"].token) as a,
        node(live, room, project_room.members["editor"].token) as b,
    ):
        await synced(a, b)
        await a.add_panel("p1", action="Wide shot", duration_ms=2000)
        await b.wait_panels(length=1)
        await b.add_panel("p2", action="Close up", duration_ms=1500)
        await a.wait_panels(ids=["p1", "p2"])
        await b.set_panel_field("p1", "notes", "slow push in")
        await b.set_panel_field("p2", "shot_size", "CU")
        panels = await a.wait_panels(equals=await b.get_panels())
        assert [(p["id"], p["action"], p["notes"]) for p in panels] == [
            ("p1", "Wide shot", "slow push in"),
            ("p2", "Close up", ""),
        ]
        # A move sets only the order key: the panel (and its text) is the same one.
        await a.move_panel("p2", 0)
        moved = await b.wait_panels(ids=["p2", "p1"])
        assert moved[0]["shot_size"] == "CU" and moved[1]["notes"] == "slow push in"
        assert moved[0]["order"] < moved[1]["order"]


async def test_offline_edits_merge_on_reconnect(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    async with (
        node(live, room, project_room.members["lead"].token) as a,
        node(live, room, project_room.members["editor"].token) as b,
    ):
        await synced(a, b)
        await a.insert_text(0, "shared start\n")
        await b.wait_text(contains="shared start")
        await b.disconnect()
        await b.insert_text(0, "offline line\n")
        await a.insert_text(0, "online line\n")
        await synced(b)
        await a.wait_text(contains="offline line")
        final = await a.get_text()
        assert await b.wait_text(equals=final) == final
        assert {"offline line", "online line", "shared start"} <= set(final.splitlines())


async def test_awareness_appears_is_stamped_and_disappears(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    async with node(live, room, lead.token) as a:
        await synced(a)
        async with node(live, room, editor.token) as b:
            await synced(b)
            await b.set_awareness(
                {"cursor": 3, "user": {"name": lead.user.get_username(), "id": lead.user.pk}}
            )
            states = await a.wait_awareness(2)
            assert b.client_id is not None
            theirs = states[b.client_id]
            # The server overrides the claimed identity with the authenticated one.
            assert theirs["user"]["id"] == editor.user.pk
            assert theirs["user"]["name"] == editor.user.get_username()
            assert theirs["cursor"] == 3
        states = await a.wait_awareness(1)
        assert list(states) == [a.client_id]


async def test_query_awareness_is_answered(live: TroupeServer, project_room: ProjectRoom) -> None:
    room = project_room.room(project_room.script)
    async with node(live, room, project_room.members["lead"].token) as a:
        await synced(a)
        await a.set_awareness({"cursor": 1})
        async with await RawYClient.open(
            live.ws_url, room, token=project_room.members["editor"].token
        ) as raw:
            await raw.sync()
            mark = len(raw.messages)
            await raw.send(encode_query_awareness())
            message = await raw.wait_message(MSG_AWARENESS, since=mark)
            assert b'"cursor":1' in message.payload.replace(b" ", b"")


async def test_viewer_reads_but_cannot_write(live: TroupeServer, project_room: ProjectRoom) -> None:
    room = project_room.room(project_room.script)
    async with (
        node(live, room, project_room.members["lead"].token) as lead,
        node(live, room, project_room.members["viewer"].token) as viewer,
    ):
        await synced(lead, viewer)
        await viewer.insert_text(0, "VIEWER WAS HERE\n")
        await lead.insert_text(0, "lead text\n")
        await viewer.wait_text(contains="lead text")
        # The lead's later write arrived at the viewer, so the viewer's earlier frame was
        # processed (one connection is ordered) and dropped.
        assert "VIEWER" not in await lead.get_text()

    def logged() -> list[bytes]:
        rows = DocumentUpdate.objects.filter(document=project_room.script)
        return [bytes(u) for u in rows.values_list("update", flat=True)]

    # Group commits land within 100 ms of the broadcast: wait for the lead's update.
    stored: list[bytes] = []

    async def lead_logged() -> bool:
        nonlocal stored
        stored = await database_sync_to_async(logged)()
        return any(b"lead text" in u for u in stored)

    await eventually(lead_logged, 5, "the lead's update is not in the log")
    assert not any(b"VIEWER" in u for u in stored)


async def test_refusals_carry_auth_message_and_close_codes(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    cases = [
        (None, room, 4401),
        ("trp_wrong-token", room, 4401),
        (project_room.members["outsider"].token, room, 4403),
        (project_room.members["lead"].token, f"{project_room.project.slug}/nope", 4404),
        (project_room.members["lead"].token, "no-such-project/script", 4404),
    ]
    for token, path, code in cases:
        raw = await RawYClient.open(live.ws_url, path, token=token)
        got_code, reason = await raw.wait_closed()
        await raw.close()
        assert got_code == code, (token, path, got_code, reason)
        assert raw.auth_denied, "the permission-denied message comes before the close"
        assert reason


async def test_stock_client_stops_on_4403(live: TroupeServer, project_room: ProjectRoom) -> None:
    room = project_room.room(project_room.script)
    async with node(live, room, project_room.members["outsider"].token) as c:
        await c.connect()
        denied = await c.wait_event("permission-denied")
        closed = await c.wait_event("close")
        assert closed["code"] == 4403
        assert denied["reason"]


async def test_session_cookie_needs_an_allowed_origin(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    lead = project_room.members["lead"]
    async with httpx.AsyncClient(base_url=live.http_url) as http:
        page = await http.get("/accounts/login/")
        csrf = page.cookies["csrftoken"]
        response = await http.post(
            "/accounts/login/",
            data={
                "username": lead.user.get_username(),
                "password": "correct-horse-battery",
                "csrfmiddlewaretoken": csrf,
            },
            headers={"Referer": f"{live.http_url}/accounts/login/"},
        )
        assert response.status_code == 302
        cookie = f"sessionid={http.cookies['sessionid']}"
    room = project_room.room(project_room.script)
    evil = await RawYClient.open(
        live.ws_url, room, headers=[("Cookie", cookie), ("Origin", "https://evil.example")]
    )
    code, _ = await evil.wait_closed()
    await evil.close()
    assert code == 4403
    good = await RawYClient.open(
        live.ws_url, room, headers=[("Cookie", cookie), ("Origin", live.http_url)]
    )
    async with good:
        await good.sync()
        assert good.is_open


async def test_member_demoted_loses_write_and_removed_is_closed(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    username = editor.user.get_username()
    async with node(live, room, lead.token) as a, node(live, room, editor.token) as b:
        await synced(a, b)
        async with httpx.AsyncClient(
            base_url=live.http_url, headers={"Authorization": f"Bearer {lead.token}"}
        ) as http:
            response = await http.put(
                f"/api/projects/{project_room.project.slug}/members/{username}",
                json={"role": "viewer"},
            )
            assert response.status_code == 200, response.text
            # Within a second the demoted connection's writes are dropped.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.0
            await asyncio.sleep(0)
            attempt = 0
            while True:
                attempt += 1
                marker = f"probe{attempt}"
                await b.insert_text(0, marker)
                await a.insert_text(0, f"lead{attempt}")
                await b.wait_text(contains=f"lead{attempt}")
                if marker not in await a.get_text():
                    break
                assert loop.time() < deadline, "demotion took effect after more than 1 s"
            mark = b.mark()
            response = await http.delete(
                f"/api/projects/{project_room.project.slug}/members/{username}"
            )
            assert response.status_code == 200
            closed = await b.wait_event("close", timeout=1.0, since=mark)
            assert closed["code"] == 4403


@pytest.mark.storage
async def test_http_document_api(live: TroupeServer, project_room: ProjectRoom) -> None:
    from pycrdt import Doc, Text

    room = project_room.room(project_room.script)
    lead, viewer = project_room.members["lead"], project_room.members["viewer"]
    base = f"/api/projects/{project_room.project.slug}/documents/{project_room.script.slug}"
    async with node(live, room, lead.token) as a:
        await synced(a)
        await a.insert_text(0, "FADE IN:\n")
        async with httpx.AsyncClient(base_url=live.http_url) as http:
            auth = {"Authorization": f"Bearer {lead.token}"}

            # Wait for the group commit (≤100 ms), polling the API rather than sleeping.
            async def content() -> str:
                return (await http.get(f"{base}/content", headers=auth)).text

            async def committed() -> bool:
                return await content() == "FADE IN:\n"

            await eventually(committed, 5, "the update was not committed")
            full = await http.get(f"{base}/update", headers=auth)
            assert full.headers["content-type"] == "application/octet-stream"
            doc: Doc[Any] = Doc()
            doc.apply_update(full.content)
            text = doc.get("content", type=Text)
            assert str(text) == "FADE IN:\n"
            before = doc.get_state()
            text += "INT. LAB - NIGHT\n"
            delta = doc.get_update(before)
            posted = await http.post(
                f"{base}/update",
                content=delta,
                headers={**auth, "Content-Type": "application/octet-stream"},
            )
            assert posted.status_code == 202, posted.text
            await a.wait_text(equals="FADE IN:\nINT. LAB - NIGHT\n")
            refused = await http.post(
                f"{base}/update",
                content=delta,
                headers={
                    "Authorization": f"Bearer {viewer.token}",
                    "Content-Type": "application/octet-stream",
                },
            )
            assert refused.status_code == 403
            garbage = await http.post(
                f"{base}/update",
                content=b"\xff\xff\xff",
                headers={**auth, "Content-Type": "application/octet-stream"},
            )
            assert garbage.status_code == 400
            wrong = await http.get(f"{base}/content", headers={"Authorization": "Bearer trp_nope"})
            assert wrong.status_code == 401
            outsider = await http.get(
                f"{base}/content",
                headers={"Authorization": f"Bearer {project_room.members['outsider'].token}"},
            )
            assert outsider.status_code == 404
    users = await database_sync_to_async(set)(
        DocumentUpdate.objects.filter(document=project_room.script).values_list(
            "user_id", flat=True
        )
    )
    assert users == {lead.user.pk}


async def test_deletion_only_updates_reach_clients_from_http_and_other_processes(
    server_factory: Callable[..., TroupeServer], redis_url: str, project_room: ProjectRoom
) -> None:
    """Deletions do not move a state vector; they must be forwarded all the same."""
    from pycrdt import Doc, Text

    one = server_factory(redis_url=redis_url)
    two = server_factory(redis_url=redis_url)
    room = project_room.room(project_room.script)
    lead = project_room.members["lead"]
    base = f"/api/projects/{project_room.project.slug}/documents/{project_room.script.slug}"
    async with (
        node(one, room, lead.token) as a,
        node(two, room, project_room.members["editor"].token) as b,
    ):
        await synced(a, b)
        await a.insert_text(0, "hello big world")
        await b.wait_text(equals="hello big world")
        await a.delete_text(5, 4)  # cross-process deletion
        await b.wait_text(equals="hello world")
        async with httpx.AsyncClient(base_url=one.http_url) as http:
            auth = {"Authorization": f"Bearer {lead.token}"}
            # GET serves the stored state: wait for the deletion's group commit.
            doc: Doc[Any] = Doc()

            async def deletion_stored() -> bool:
                nonlocal doc
                doc = Doc()
                doc.apply_update((await http.get(f"{base}/update", headers=auth)).content)
                return str(doc.get("content", type=Text)) == "hello world"

            await eventually(deletion_stored, 5, lambda: f"stored: {doc.get('content', type=Text)}")
            text = doc.get("content", type=Text)
            before = doc.get_state()
            del text[0:6]
            posted = await http.post(
                f"{base}/update",
                content=doc.get_update(before),
                headers={**auth, "Content-Type": "application/octet-stream"},
            )
            assert posted.status_code == 202
        await a.wait_text(equals="world")
        await b.wait_text(equals="world")


async def test_metrics_count_updates_deliveries_and_time_each_fanout(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.script)
    lead, editor = project_room.members["lead"], project_room.members["editor"]
    writer = await RawYClient.open(live.ws_url, room, token=lead.token)
    reader = await RawYClient.open(live.ws_url, room, token=editor.token)
    try:
        await writer.sync()
        await reader.sync()
        before = await scrape(live)
        for word in ("INT. ", "HOUSE ", "- DAY"):
            await writer.insert(len(writer.text), word)
            await reader.wait_text(str(writer.text))
        after = await scrape(live)
    finally:
        await writer.close()
        await reader.close()

    def delta(series: str) -> float:
        return after[series] - before.get(series, 0.0)

    assert delta("troupe_updates_received_total") == 3
    # One frame per update to each of the two connections (the writer's echo included).
    assert delta("troupe_deliveries_total") == 6
    # Awaited one at a time, every update was its own fan-out, each timed once.
    assert delta("troupe_fanout_latency_seconds_count") == 3
    assert delta('troupe_fanout_latency_seconds_bucket{le="+Inf"}') == 3
    assert 0 < delta("troupe_fanout_latency_seconds_sum") < 5
    # Under daphne both sockets took the direct frame path, and each update frame was
    # split off before autobahn (an upgrade that stopped it would fall back silently).
    assert after["troupe_direct_sockets_total"] >= 2
    assert delta("troupe_direct_frames_total") == 3


@pytest.mark.storage
async def test_metrics_time_each_room_load_and_count_the_log_it_replayed(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    # A log of 30 entries written while no process holds the document (as by an import).
    lead = project_room.members["lead"]
    source: Doc[Any] = Doc()
    text = source.get("content", type=Text)
    now = timezone.now()
    pending = []
    for i in range(30):
        before = source.get_state()
        text.insert(len(text), "ab\n"[i % 3])
        pending.append(
            PendingUpdate(project_room.script.pk, source.get_update(before), lead.user.pk, now)
        )
    await database_sync_to_async(document_updates_append)(updates=pending, bindings=[])
    before_load = await scrape(live)
    reader = await RawYClient.open(
        live.ws_url, project_room.room(project_room.script), token=lead.token
    )
    try:
        await reader.sync()
        assert str(reader.text) == str(text)
        after = await scrape(live)
    finally:
        await reader.close()

    def delta(series: str) -> float:
        return after[series] - before_load.get(series, 0.0)

    assert delta("troupe_room_load_seconds_count") == 1
    assert 0 < delta("troupe_room_load_seconds_sum") < 5
    assert delta("troupe_room_load_log_entries_count") == 1
    assert delta("troupe_room_load_log_entries_sum") == 30
    assert delta('troupe_room_load_log_entries_bucket{le="10.0"}') == 0
    assert delta('troupe_room_load_log_entries_bucket{le="100.0"}') == 1
