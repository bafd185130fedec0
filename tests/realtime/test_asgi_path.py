"""Document sockets under an ASGI server without Troupe's daphne extension.

Under daphne, frames take the direct path (``realtime.daphne_integration.DirectSocket``) and
every other test in this package runs on real daphne servers; here the same consumer is
driven through plain ASGI messages (Channels' in-memory communicator), as under uvicorn.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from pycrdt import Doc, Text

from config.asgi import application
from crdt.protocol import (
    MSG_SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    SYNC_UPDATE,
    encode_sync_step1,
    encode_sync_update,
    parse_message,
)
from realtime.closecodes import CloseCode
from realtime.hub import forget_hub
from tests.support.factories import ProjectRoom

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT_SECONDS = 10


@pytest.fixture(autouse=True)
async def hub() -> AsyncIterator[None]:
    """This test's rooms live in its event loop's hub; stop it so its DB thread lets go."""
    yield
    stopped = forget_hub()
    if stopped is not None:
        await stopped.shutdown()


async def _open(room: ProjectRoom, member: str) -> WebsocketCommunicator:
    token = room.members[member].token
    path = f"/ws/yjs/{room.room(room.script)}?token={token}"
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect(timeout=TIMEOUT_SECONDS)
    assert connected
    return communicator


async def _until(communicator: WebsocketCommunicator, kind: int, sub: int) -> bytes:
    """The payload of the next message of a kind, skipping others (e.g. awareness)."""
    while True:
        frame = await communicator.receive_from(timeout=TIMEOUT_SECONDS)
        assert isinstance(frame, bytes)
        got_kind, got_sub, payload = parse_message(frame)
        if (got_kind, got_sub) == (kind, sub):
            return payload


async def test_sync_and_fanout_over_plain_asgi(project_room: ProjectRoom) -> None:
    writer = await _open(project_room, "editor")
    reader = await _open(project_room, "viewer")
    try:
        for communicator in (writer, reader):
            await _until(communicator, MSG_SYNC, SYNC_STEP1)
            await communicator.send_to(bytes_data=encode_sync_step1(Doc().get_state()))
            await _until(communicator, MSG_SYNC, SYNC_STEP2)
        doc: Doc[Any] = Doc()
        text = doc.get("content", type=Text)
        updates: list[bytes] = []
        doc.observe(lambda event: updates.append(event.update))
        text += "FADE IN:"
        await writer.send_to(bytes_data=encode_sync_update(updates[-1]))
        received: Doc[Any] = Doc()
        received.apply_update(await _until(reader, MSG_SYNC, SYNC_UPDATE))
        assert str(received.get("content", type=Text)) == "FADE IN:"
    finally:
        await writer.disconnect()
        await reader.disconnect()


async def test_a_malformed_frame_closes_that_connection_alone(project_room: ProjectRoom) -> None:
    bad = await _open(project_room, "editor")
    good = await _open(project_room, "lead")
    try:
        await _until(bad, MSG_SYNC, SYNC_STEP1)
        await _until(good, MSG_SYNC, SYNC_STEP1)
        await bad.send_to(bytes_data=b"\x00\x02\xff\xff\xff")
        closed = await bad.receive_output(timeout=TIMEOUT_SECONDS)
        assert closed["type"] == "websocket.close"
        assert closed["code"] == CloseCode.MALFORMED
        assert "malformed" in closed["reason"]
        await good.send_to(bytes_data=encode_sync_step1(Doc().get_state()))
        await asyncio.wait_for(_until(good, MSG_SYNC, SYNC_STEP2), TIMEOUT_SECONDS)
    finally:
        await bad.disconnect()
        await good.disconnect()
