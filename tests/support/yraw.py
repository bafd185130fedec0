"""A raw y-websocket client over ``websockets`` with a pycrdt document, for tests that
need byte-level control (bad input, close codes, pings) or a Python peer.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

import websockets
from pycrdt import Doc, Text
from websockets.asyncio.client import ClientConnection

from crdt.protocol import (
    MSG_AUTH,
    MSG_AWARENESS,
    MSG_SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    SYNC_UPDATE,
    Message,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
    parse_message,
)


class RawYClient:
    """One websocket to ``/ws/yjs/<room>`` holding a pycrdt document."""

    def __init__(self, ws: ClientConnection, client_id: int | None = None) -> None:
        self.ws = ws
        self.doc: Doc[Any] = Doc() if client_id is None else Doc(client_id=client_id)
        self.text = self.doc.get("content", type=Text)
        self.messages: list[Message] = []
        self.auth_denied: str | None = None
        self.synced = asyncio.Event()
        self.changed = asyncio.Event()
        self.arrived = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(
        cls,
        base_url: str,
        room: str,
        *,
        token: str | None = None,
        headers: Sequence[tuple[str, str]] | None = None,
        client_id: int | None = None,
        max_size: int | None = 64 * 1024 * 1024,
    ) -> "RawYClient":
        url = f"{base_url}/{room}" + (f"?token={token}" if token else "")
        ws = await websockets.connect(url, additional_headers=headers, max_size=max_size)
        return cls(ws, client_id)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if isinstance(frame, str):
                    continue
                message = parse_message(frame)
                self.messages.append(message)
                self.arrived.set()
                kind, sub, payload = message
                if kind == MSG_SYNC and sub == SYNC_STEP1:
                    await self.ws.send(encode_sync_step2(self.doc.get_update(payload)))
                elif kind == MSG_SYNC and sub in (SYNC_STEP2, SYNC_UPDATE):
                    self.doc.apply_update(payload)
                    if sub == SYNC_STEP2:
                        self.synced.set()
                    self.changed.set()
                elif kind == MSG_AUTH:
                    self.auth_denied = payload.decode("utf-8", "replace")
                elif kind == MSG_AWARENESS:
                    self.changed.set()
        except websockets.ConnectionClosed:
            pass

    async def sync(self, timeout: float = 5.0) -> None:
        """Send our step1 and wait for the server's step2."""
        await self.ws.send(encode_sync_step1(self.doc.get_state()))
        await asyncio.wait_for(self.synced.wait(), timeout)

    async def insert(self, index: int, text: str) -> None:
        """Edit locally and send the update."""
        before = self.doc.get_state()
        self.text.insert(index, text)
        await self.ws.send(encode_sync_update(self.doc.get_update(before)))

    async def send(self, frame: bytes | str) -> None:
        await self.ws.send(frame)

    async def wait_text(self, expected: str, timeout: float = 5.0) -> None:
        """Wait until the local copy reads ``expected``."""

        async def check() -> None:
            while str(self.text) != expected:
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(check(), timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"text is {str(self.text)!r}, expected {expected!r}") from exc

    async def wait_message(self, kind: int, timeout: float = 5.0, since: int = 0) -> Message:
        """The first message of a kind received after index ``since``."""

        async def find() -> Message:
            seen = since
            while True:
                for message in self.messages[seen:]:
                    if message.kind == kind:
                        return message
                seen = len(self.messages)
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(find(), timeout)

    async def wait_closed(self, timeout: float = 5.0) -> tuple[int | None, str]:
        """Wait for the server to close; returns (code, reason)."""
        await asyncio.wait_for(self.ws.wait_closed(), timeout)
        return self.ws.close_code, self.ws.close_reason or ""

    @property
    def is_open(self) -> bool:
        return self.ws.close_code is None

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def __aenter__(self) -> "RawYClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
