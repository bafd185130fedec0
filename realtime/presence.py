"""Who is in a project right now, across every process.

Each process knows its own project-room connections and replicates the others' over the
project's presence group: an entry per connection (``origin``, ``key``), announced when it
joins, moves or leaves, and renewed by a heartbeat. Entries of a process that stopped
renewing them (it died) are dropped after ``PRESENCE_TIMEOUT_SECONDS``. The listing merges
a person's tabs into one line and leaves out members who chose to be invisible.
"""

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

PRESENCE_TIMEOUT_SECONDS = 30.0
HEARTBEAT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    """One connection's presence: who, where (document, scene or panel), visible or not."""

    user_id: int
    name: str
    color: str
    document: str | None = None
    anchor: dict[str, Any] | None = None
    invisible: bool = False
    updated: float = 0.0

    def moved(self, document: str | None, anchor: dict[str, Any] | None) -> "PresenceEntry":
        """The same person somewhere else."""
        return replace(self, document=document, anchor=anchor, updated=time.time())

    def to_message(self) -> dict[str, Any]:
        """JSON-able form for the bus."""
        return asdict(self)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> "PresenceEntry":
        """Inverse of ``to_message``."""
        return cls(**data)


class ProjectPresence:
    """The presence replica of one project in this process."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], PresenceEntry] = {}
        self.seen: dict[tuple[str, str], float] = {}

    def put(self, origin: str, key: str, entry: PresenceEntry | None, now: float) -> bool:
        """Add, change or (with None) remove one connection's entry; True if it changed."""
        slot = (origin, key)
        if entry is None:
            self.seen.pop(slot, None)
            return self.entries.pop(slot, None) is not None
        self.seen[slot] = now
        if self.entries.get(slot) == entry:
            return False
        self.entries[slot] = entry
        return True

    def renew(self, origin: str, keys: list[str], now: float) -> bool:
        """A heartbeat from ``origin`` naming its live connections; drops the others."""
        live = set(keys)
        changed = False
        for slot in [s for s in self.entries if s[0] == origin]:
            if slot[1] in live:
                self.seen[slot] = now
            else:
                changed |= self.put(origin, slot[1], None, now)
        return changed

    def expire(self, now: float, local_origin: str) -> bool:
        """Drop entries of other processes not renewed within the timeout."""
        stale = [
            slot
            for slot, seen in self.seen.items()
            if slot[0] != local_origin and now - seen > PRESENCE_TIMEOUT_SECONDS
        ]
        for origin, key in stale:
            self.put(origin, key, None, now)
        return bool(stale)

    def listing(self) -> list[dict[str, Any]]:
        """One line per visible person (tabs merged, most recent location wins)."""
        people: dict[int, PresenceEntry] = {}
        tabs: dict[int, int] = {}
        for entry in self.entries.values():
            if entry.invisible:
                continue
            tabs[entry.user_id] = tabs.get(entry.user_id, 0) + 1
            best = people.get(entry.user_id)
            if best is None or entry.updated > best.updated:
                people[entry.user_id] = entry
        return [
            {
                "user": {"id": e.user_id, "name": e.name, "color": e.color},
                "document": e.document,
                "anchor": e.anchor,
                "tabs": tabs[e.user_id],
            }
            for e in sorted(people.values(), key=lambda e: (e.name, e.user_id))
        ]
