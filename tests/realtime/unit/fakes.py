"""Fakes of the services the hub hands to a live document, the bus and the project rooms.

Each records what it was handed, so a test asserts on what the unit under test did; none
touches daphne, Redis or the database.
"""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from realtime.closecodes import CloseCode
from realtime.live_document import LiveDocument


class FakeStore:
    """A ``Store`` (and the bus's ``Marks``): records each enqueue; marks are set by hand."""

    def __init__(self) -> None:
        self.updates: list[tuple[int, bytes, int | None, list[int]]] = []
        self.relayed: list[tuple[int, list[tuple[int | None, bytes]], dict[int, int]]] = []
        self.marks: dict[int, int] = {}

    def enqueue(
        self, document_id: int, update: bytes, user_id: int | None, new_clients: list[int]
    ) -> None:
        self.updates.append((document_id, update, user_id, list(new_clients)))

    def enqueue_relayed(
        self,
        document_id: int,
        parts: Iterable[tuple[int | None, bytes]],
        bindings: dict[int, int],
    ) -> None:
        self.relayed.append((document_id, list(parts), dict(bindings)))

    def mark(self, document_id: int) -> int | None:
        return self.marks.get(document_id, 0)


class FakeRelay:
    """A ``Relay``: says whether the document is shared, records what is published."""

    def __init__(self, *, shared: bool = False) -> None:
        self.shared = shared
        self.updates: list[tuple[int, bytes, dict[int, int], Any, int | None]] = []
        self.awareness: list[tuple[int, bytes]] = []

    def document_shared(self, live: LiveDocument) -> bool:
        return self.shared

    def publish_update(
        self,
        live: LiveDocument,
        update: bytes,
        bindings: dict[int, int],
        authors: list[tuple[int | None, bytes | None]],
        mark: int | None,
    ) -> None:
        self.updates.append((live.document_id, update, dict(bindings), authors, mark))

    def publish_awareness(self, live: LiveDocument, payload: bytes) -> None:
        self.awareness.append((live.document_id, payload))


@dataclass(eq=False)
class FakeConnection:
    """A ``Connection``: records the frames written to it and how it was closed."""

    user_id: int
    user_info: dict[str, Any] = field(default_factory=dict)
    can_write: bool = True
    forgeries: int = 0
    frames: list[bytes] = field(default_factory=list)
    closed: tuple[CloseCode, str] | None = None
    rechecked: int = 0

    def deliver(self, frame: bytes, wire: bytes) -> None:
        self.frames.append(frame)

    async def close_with(self, code: CloseCode, reason: str) -> None:
        self.closed = (code, reason)

    async def recheck_access(self) -> None:
        self.rechecked += 1


async def next_turn() -> None:
    """Let the event loop run what was scheduled with ``call_soon`` (a flush)."""
    await asyncio.sleep(0)
