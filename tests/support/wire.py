"""A websocket client written byte for byte, for tests of how the server reads frames."""

import asyncio
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from tests.support.servers import TroupeServer


class WireClient:
    """A websocket whose client frames the test writes byte for byte (any split, any
    mask); the server's frames are parsed by websockets' sans-I/O protocol."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: ClientProtocol
    ) -> None:
        self.reader, self.writer, self.protocol = reader, writer, protocol
        self.frames: list[Frame] = []

    @classmethod
    async def open(cls, server: TroupeServer, path: str) -> "WireClient":
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        client = cls(reader, writer, ClientProtocol(parse_uri(f"{server.ws_url}/{path}")))
        client.protocol.send_request(client.protocol.connect())
        writer.write(b"".join(client.protocol.data_to_send()))
        while client.protocol.handshake_exc is None and client.protocol.state is State.CONNECTING:
            client.protocol.receive_data(await reader.read(65536))
        assert client.protocol.state is State.OPEN, client.protocol.handshake_exc
        client._take_events()
        return client

    def _take_events(self) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self.frames.append(event)
        self.writer.write(b"".join(self.protocol.data_to_send()))

    async def dropped(self, timeout: float = 5.0) -> bool:
        """Whether the server ends the TCP connection (EOF or reset) within ``timeout``."""

        async def wait() -> bool:
            try:
                while await self.reader.read(65536):
                    pass
            except ConnectionResetError:
                pass
            return True

        return await asyncio.wait_for(wait(), timeout)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def wait_frame(
        self,
        opcode: Opcode,
        where: Callable[[bytes], bool] = lambda _: True,
        timeout: float = 5.0,
    ) -> Frame:
        """The first frame of ``opcode`` whose payload satisfies ``where``."""

        async def wait() -> Frame:
            while True:
                for frame in self.frames:
                    if frame.opcode is opcode and where(bytes(frame.data)):
                        return frame
                data = await self.reader.read(65536)
                if not data:
                    self.protocol.receive_eof()
                    raise AssertionError(f"closed before a {opcode.name} frame: {self.frames}")
                self.protocol.receive_data(data)
                self._take_events()

        return await asyncio.wait_for(wait(), timeout)


def client_frame(opcode: Opcode, payload: bytes, *, fin: bool = True) -> bytes:
    """A frame as a client sends it (masked with a random key)."""
    return Frame(opcode, payload, fin=fin).serialize(mask=True)
