"""The load generator's client splits server frames itself once the handshake is done.

Its readers' figures are only as good as this framing: every binary message must reach
the client whole and in order however TCP cuts the stream, and pings, fragments and
text frames must still go through websockets' protocol.
"""

import asyncio
from typing import Any, cast

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader
from websockets.uri import parse_uri
from websockets.utils import accept_key
from yclient import _RECV_BUF, YClient, _ProtoTransport

PAYLOADS = [b"\x00\x02\x05hello", bytes(range(200)), bytes(70_000), b"\x01\x01\x00"]


class Recorder:
    """Stands in for a YClient: records what the transport hands it."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def _handle(self, data: bytes) -> None:
        self.messages.append(data)


class Sink(asyncio.Transport):
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True


def server_bytes(request_key: str) -> bytes:
    """A handshake response followed by frames as a server would send them."""
    head = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(request_key)}\r\n\r\n"
    ).encode()

    def frame(opcode: Opcode, data: bytes, fin: bool = True) -> bytes:
        return Frame(opcode, data, fin).serialize(mask=False)

    return head + b"".join(
        [
            frame(Opcode.BINARY, PAYLOADS[0]),
            frame(Opcode.PING, b"are you there"),
            frame(Opcode.BINARY, PAYLOADS[1]),
            frame(Opcode.TEXT, b"ignored"),
            frame(Opcode.BINARY, PAYLOADS[2][:30_000], fin=False),
            frame(Opcode.CONT, PAYLOADS[2][30_000:]),
            frame(Opcode.BINARY, PAYLOADS[3]),
            frame(Opcode.CLOSE, b"\x03\xe8"),
        ]
    )


def client_frames(data: bytes) -> list[Frame]:
    """The (masked) frames a client wrote."""
    reader = StreamReader()
    reader.feed_data(data)
    out: list[Frame] = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=True)
        try:
            while True:
                next(parser)
        except StopIteration as done:
            out.append(done.value)
    return out


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 127, 4096, 1 << 20])
async def test_frames_cut_anywhere_arrive_whole_and_in_order(chunk: int) -> None:
    recorder = Recorder()
    proto = ClientProtocol(parse_uri("ws://127.0.0.1:9/ws"), max_size=None)
    transport = _ProtoTransport(cast(Any, recorder), proto)
    sink = Sink()
    transport.connection_made(sink)  # writes the handshake request
    stream = server_bytes(proto.key)
    sink.written.clear()

    for start in range(0, len(stream), chunk):
        piece = stream[start : start + chunk]
        _RECV_BUF[: len(piece)] = piece
        transport.buffer_updated(len(piece))

    assert recorder.messages == PAYLOADS
    assert transport._framing, "the binary messages went through websockets' parser"
    assert transport.opened.done() and transport.opened.exception() is None
    # The ping was answered and the close echoed, both by websockets' protocol.
    replies = client_frames(bytes(sink.written))
    assert [(f.opcode, f.data) for f in replies] == [
        (Opcode.PONG, b"are you there"),
        (Opcode.CLOSE, b"\x03\xe8"),
    ]


class RecordingClient(YClient):
    """A YClient that records its messages instead of applying them."""

    def __init__(self, base_url: str, room: str) -> None:
        super().__init__(base_url, room)
        self.seen: list[bytes | str] = []
        self.all_seen = asyncio.Event()

    def _handle(self, data: bytes | str) -> None:
        self.seen.append(data)
        if len(self.seen) == len(PAYLOADS):
            self.all_seen.set()


async def test_over_a_real_socket_with_pings() -> None:
    """Against a websockets server that pings: messages arrive, pings are answered."""
    got_pong = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # the client's step1
        for payload in PAYLOADS:
            await ws.send(payload)
            pong = await ws.ping()
            await pong
        got_pong.set()
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = RecordingClient(f"ws://127.0.0.1:{port}", "room")
        await client.connect()
        await asyncio.wait_for(got_pong.wait(), 10)
        await asyncio.wait_for(client.all_seen.wait(), 10)
        assert client.seen == PAYLOADS
        await client.close()
