"""Bad input closes that one connection with a documented code; nothing else is touched."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text
from websockets.frames import Frame, Opcode

from crdt.awareness import encode_awareness_update
from crdt.encoding import encode_var_bytes
from crdt.protocol import (
    MSG_SYNC,
    encode_awareness,
    encode_sync_step1,
    encode_sync_update,
    parse_message,
)
from crdt.storyboard import board_of, panels_write
from tests.support.factories import ProjectRoom
from tests.support.node_client import NodeYjsClient
from tests.support.servers import TroupeServer
from tests.support.waiting import eventually
from tests.support.wire import WireClient, client_frame
from tests.support.yraw import RawYClient

pytestmark = [pytest.mark.live]

BASE_TEXT = "INT. SAFE ROOM - DAY\n"

BAD_FRAMES: list[tuple[str, bytes | str, int]] = [
    ("truncated varint", b"\x00\x02\xff", 1007),
    ("truncated payload", b"\x00\x02\x05ab", 1007),
    ("trailing bytes", encode_sync_step1(b"\x00") + b"\x00", 1007),
    ("garbage update", encode_sync_update(b"\xff\xff\xff\xff\x0f\x01"), 1007),
    ("garbage awareness", b"\x01" + encode_var_bytes(b"\x05\x01"), 1007),
    (
        "awareness state not JSON",
        encode_awareness(encode_awareness_update([(7, 1, "{nope")])),
        1007,
    ),
    ("client sends auth", b"\x02\x00\x03abc", 4400),
    ("text frame", "hello", 4400),
    ("empty frame", b"", 1007),
]


@pytest.fixture
async def observed(
    live: TroupeServer, project_room: ProjectRoom
) -> AsyncIterator[tuple[TroupeServer, ProjectRoom, NodeYjsClient]]:
    """A room holding BASE_TEXT, watched by a stock client that must stay unaffected."""
    room = project_room.room(project_room.script)
    async with NodeYjsClient(live.ws_url, room, token=project_room.members["lead"].token) as c:
        await c.connect()
        await c.wait_synced()
        await c.insert_text(0, BASE_TEXT)
        yield live, project_room, c


async def assert_room_intact(
    server: TroupeServer, project_room: ProjectRoom, observer: NodeYjsClient
) -> None:
    """The observer is still connected and synced, a newcomer gets the same text."""
    room = project_room.room(project_room.script)
    status = await observer.status()
    assert status["connected"] is True and status["synced"] is True
    assert observer.events_named("close") == [], "the observer was never disconnected"
    text = await observer.get_text()
    async with await RawYClient.open(
        server.ws_url, room, token=project_room.members["editor"].token
    ) as fresh:
        await fresh.sync()
        await fresh.wait_text(text)
    assert text.startswith(BASE_TEXT) or BASE_TEXT in text


@pytest.mark.parametrize(("name", "frame", "code"), BAD_FRAMES, ids=[c[0] for c in BAD_FRAMES])
async def test_bad_frame_closes_only_that_connection(
    observed: tuple[TroupeServer, ProjectRoom, NodeYjsClient],
    name: str,
    frame: bytes | str,
    code: int,
) -> None:
    server, project_room, observer = observed
    room = project_room.room(project_room.script)
    bad = await RawYClient.open(server.ws_url, room, token=project_room.members["editor"].token)
    await bad.sync()
    await bad.send(frame)
    got, reason = await bad.wait_closed()
    await bad.close()
    assert got == code, (name, got, reason)
    assert reason, "every close carries a reason"
    await assert_room_intact(server, project_room, observer)
    assert await observer.get_text() == BASE_TEXT


async def test_unknown_message_types_are_ignored(
    observed: tuple[TroupeServer, ProjectRoom, NodeYjsClient],
) -> None:
    server, project_room, _ = observed
    room = project_room.room(project_room.script)
    async with await RawYClient.open(
        server.ws_url, room, token=project_room.members["editor"].token
    ) as c:
        await c.send(b"\x64\x01\x02")  # custom type 100
        await c.send(b"\x00\x07\x00")  # unknown sync subtype
        await c.sync()
        await c.wait_text(BASE_TEXT)
        assert c.is_open


async def test_oversize_message_is_closed_1009(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom
) -> None:
    server = server_factory(env={"TROUPE_MAX_MESSAGE_BYTES": "65536"})
    room = project_room.room(project_room.script)
    async with await RawYClient.open(
        server.ws_url, room, token=project_room.members["editor"].token
    ) as c:
        await c.sync()
        await c.send(encode_sync_update(b"\x00" * 70_000))
        code, _ = await c.wait_closed()
        assert code == 1009
    async with await RawYClient.open(
        server.ws_url, room, token=project_room.members["editor"].token
    ) as ok:
        await ok.sync()
        await ok.insert(0, "x" * 60_000)  # under the limit: accepted
        await ok.ws.send(encode_sync_step1(b"\x00"))
        assert ok.is_open


async def test_rate_limit_and_room_limit(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom
) -> None:
    server = server_factory(
        env={
            "TROUPE_RATE_BURST_MESSAGES": "20",
            "TROUPE_RATE_MESSAGES_PER_SECOND": "1",
            "TROUPE_MAX_CONNECTIONS_PER_ROOM": "2",
        }
    )
    room = project_room.room(project_room.script)
    token = project_room.members["editor"].token
    async with await RawYClient.open(server.ws_url, room, token=token) as a:
        await a.sync()
        for _ in range(40):
            await a.send(encode_sync_step1(b"\x00"))
        code, reason = await a.wait_closed()
        assert code == 4429, reason
    async with (
        await RawYClient.open(server.ws_url, room, token=token) as b,
        await RawYClient.open(server.ws_url, room, token=token) as c,
    ):
        await b.sync()
        await c.sync()
        third = await RawYClient.open(server.ws_url, room, token=token)
        code, _ = await third.wait_closed()
        await third.close()
        assert code == 4503
        assert b.is_open and c.is_open


async def test_silent_socket_is_closed_by_pings(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom
) -> None:
    """A peer that never answers pings (a dead TCP peer) is dropped."""
    server = server_factory(ping_interval=1, ping_timeout=1)
    token = project_room.members["editor"].token
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    path = f"/ws/yjs/{project_room.room(project_room.script)}?token={token}"
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"101" in head.split(b"\r\n")[0]

    async def until_dropped() -> bytes:
        received = b""
        try:
            while chunk := await reader.read(4096):
                received += chunk  # frames (step1, pings) arrive; we never answer
        except ConnectionResetError:
            pass
        return received

    received = await asyncio.wait_for(until_dropped(), 10)
    writer.close()
    assert b"\x89" in received, "the server pinged before dropping the socket"


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    prefix = draw(
        st.sampled_from([b"", b"\x00\x00", b"\x00\x01", b"\x00\x02", b"\x01", b"\x03", b"\x02\x00"])
    )
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        body = encode_var_bytes(body)
    return prefix + body


async def test_fuzzed_frames_never_hurt_the_room(
    observed: tuple[TroupeServer, ProjectRoom, NodeYjsClient],
) -> None:
    server, project_room, observer = observed
    room = project_room.room(project_room.script)
    token = project_room.members["editor"].token
    outcomes: dict[str, int] = {}

    async def one(frame: bytes) -> None:
        async with await RawYClient.open(server.ws_url, room, token=token) as c:
            await c.sync()
            await c.send(frame)
            await c.send(encode_sync_step1(c.doc.get_state()))
            mark = len(c.messages)
            done = asyncio.ensure_future(c.ws.wait_closed())
            answer = asyncio.ensure_future(c.wait_message(MSG_SYNC, since=mark))
            finished, pending = await asyncio.wait(
                {done, answer}, timeout=5, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            assert finished, f"no answer and no close after {frame!r}"
            key = "closed" if done in finished else "answered"
            if key == "closed":
                assert c.ws.close_code in {1007, 1009, 4400}, (
                    frame,
                    c.ws.close_code,
                    c.ws.close_reason,
                )
            outcomes[key] = outcomes.get(key, 0) + 1

    @settings(
        max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    @given(frames())
    def run(frame: bytes) -> None:
        future = asyncio.run_coroutine_threadsafe(one(frame), loop)
        future.result(30)

    loop = asyncio.get_running_loop()
    await asyncio.to_thread(run)
    assert outcomes.get("closed", 0) > 0 and outcomes.get("answered", 0) > 0, outcomes
    await assert_room_intact(server, project_room, observer)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        base = f"/api/projects/{project_room.project.slug}/documents/script/content"
        stored = (
            await http.get(
                base, headers={"Authorization": f"Bearer {project_room.members['lead'].token}"}
            )
        ).text
    assert stored == await observer.get_text()
    assert json.dumps(outcomes)


async def test_frames_in_any_split_and_mix_apply_and_a_violation_ends_only_that_socket(
    observed: tuple[TroupeServer, ProjectRoom, NodeYjsClient],
) -> None:
    """Update frames arrive whole, several to a read, cut across reads, between a ping
    and a fragmented message; an unmasked frame then ends only that connection."""
    server, project_room, observer = observed
    token = project_room.members["editor"].token
    wire = await WireClient.open(server, f"{project_room.room(project_room.script)}?token={token}")
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    await wire.write(client_frame(Opcode.BINARY, encode_sync_step1(doc.get_state())))
    step2 = await wire.wait_frame(Opcode.BINARY, lambda data: data[:2] == b"\x00\x01")
    doc.apply_update(parse_message(bytes(step2.data))[2])
    updates = []
    for word in ("ONE ", "TWO ", "THREE ", "FOUR ", "FIVE"):
        before = doc.get_state()
        text.insert(len(text), word)
        updates.append(encode_sync_update(doc.get_update(before)))
    one, two, three, _, five = (client_frame(Opcode.BINARY, update) for update in updates)
    cut = len(three) // 2
    await wire.write(one + two + three[:cut])
    await wire.write(
        three[cut:]
        + client_frame(Opcode.PING, b"still here?")
        + client_frame(Opcode.BINARY, updates[3][:5], fin=False)
        + client_frame(Opcode.CONT, updates[3][5:])
    )
    await wire.write(five)
    pong = await wire.wait_frame(Opcode.PONG)
    assert pong.data == b"still here?"
    expected = BASE_TEXT + "ONE TWO THREE FOUR FIVE"
    assert await observer.wait_text(equals=expected) == expected
    # A frame that breaks the websocket protocol itself: autobahn drops the connection.
    await wire.write(Frame(Opcode.BINARY, updates[0]).serialize(mask=False))
    assert await wire.dropped()
    await assert_room_intact(server, project_room, observer)
    wire.writer.close()


async def test_an_update_breaking_the_storyboard_schema_closes_4422_and_changes_nothing(
    live: TroupeServer, project_room: ProjectRoom
) -> None:
    room = project_room.room(project_room.storyboard)
    token = project_room.members["editor"].token
    async with await RawYClient.open(live.ws_url, room, token=token) as good:
        await good.sync()
        before = good.doc.get_state()
        panels_write(good.doc, [{"id": "p1", "notes": "kept"}])
        await good.send(encode_sync_update(good.doc.get_update(before)))
        bad = await RawYClient.open(live.ws_url, room, token=token)
        await bad.sync()
        await eventually(lambda: len(board_of(bad.doc)) == 1, 5, "the panel never arrived")
        before = bad.doc.get_state()
        board_of(bad.doc)["p1"]["duration_ms"] = -40
        await bad.send(encode_sync_update(bad.doc.get_update(before)))
        code, reason = await bad.wait_closed()
        await bad.close()
        assert code == 4422, reason
        assert "duration_ms" in reason
        assert good.is_open
    slug = project_room.project.slug
    async with httpx.AsyncClient(base_url=live.http_url) as http:
        response = await http.get(
            f"/api/projects/{slug}/documents/{project_room.storyboard.slug}/content",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.json()["panels"] == [
        {
            "id": "p1",
            "action": "",
            "dialogue": "",
            "notes": "kept",
            "duration_ms": 2000,
            "shot_size": "",
        }
    ]
