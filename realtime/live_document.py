"""One live document held in memory by this process, and the connections editing it.

Vocabulary: a *live document* (``LiveDocument``) is one document held in memory by this
process; a *room* is only ever a project room (``realtime.project_rooms``), the
project's presence space. The live document owns the authoritative pycrdt document of
its process. Updates are applied as they arrive; delivery is batched: everything
accepted during one event-loop turn is merged into one frame written to each local
connection (encoded once) and into one message to the other processes holding the
document.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol

from django.conf import settings
from pycrdt import Doc

from crdt.awareness import (
    AwarenessEntry,
    AwarenessRegistry,
    decode_awareness_update,
    encode_awareness_update,
    stamp_user,
)
from crdt.documents import DocumentKind, apply_update, diff_update, merge
from crdt.protocol import encode_awareness, encode_sync_step1, encode_sync_step2, encode_sync_update
from crdt.storyboard_guard import BoardGuard
from crdt.updates import (
    decode_state_vector,
    strip_clients,
    update_client_clocks,
    update_has_deletions,
)
from realtime import metrics
from realtime.closecodes import CloseCode
from realtime.framing import binary_frame
from realtime.limits import DocumentBudget

logger = logging.getLogger(__name__)

# No structs, no deletions: what a client with nothing new answers to the server's step1.
EMPTY_UPDATE = b"\x00\x00"


class Connection(Protocol):
    """What a live document needs of a connection (implemented by the document consumer)."""

    user_id: int
    user_info: dict[str, Any]
    can_write: bool
    forgeries: int

    def deliver(self, frame: bytes, wire: bytes) -> None:
        """Write a frame; ``wire`` is the same frame as websocket bytes (encoded once)."""

    async def close_with(self, code: CloseCode, reason: str) -> None:
        """Close the socket with a code and reason."""

    async def recheck_access(self) -> None:
        """Re-read the user's role after it changed."""


class Store(Protocol):
    """Where a live document hands its updates to be stored (the process's ``Persister``)."""

    def enqueue(
        self, document_id: int, update: bytes, user_id: int | None, new_clients: list[int]
    ) -> None:
        """Queue one accepted update (and the client IDs it binds) for the next commit."""

    def enqueue_relayed(
        self,
        document_id: int,
        parts: Iterable[tuple[int | None, bytes]],
        bindings: dict[int, int],
    ) -> None:
        """Queue relayed updates whose origin did not confirm storing them."""

    def mark(self, document_id: int) -> int | None:
        """What the store's commits must reach for the document's updates to be stored."""


class Relay(Protocol):
    """How a live document reaches the other processes holding it (the process's ``Bus``)."""

    def document_shared(self, live: "LiveDocument") -> bool:
        """Whether another process is known to hold the document."""

    def publish_update(
        self,
        live: "LiveDocument",
        update: bytes,
        bindings: dict[int, int],
        authors: list[tuple[int | None, bytes | None]],
        mark: int | None,
    ) -> None:
        """Send an update accepted here, with who wrote it and its storage mark."""

    def publish_awareness(self, live: "LiveDocument", payload: bytes) -> None:
        """Send awareness changes of local connections."""


class Relayed(NamedTuple):
    """An update another process relayed, kept until that process confirms storing it."""

    mark: int
    received: float
    parts: list[tuple[int | None, bytes]]
    bindings: dict[int, int]


def _authors(outgoing: list[tuple[int | None, bytes]]) -> list[tuple[int | None, bytes | None]]:
    """Who wrote a turn's updates: ``[(user, None)]`` for one user (the usual case: the
    relayed update is theirs whole), else each user's updates merged."""
    first = outgoing[0][0]
    if all(user == first for user, _ in outgoing):
        return [(first, None)]
    by_user: dict[int | None, list[bytes]] = {}
    for user, update in outgoing:
        by_user.setdefault(user, []).append(update)
    return [(user, merge(updates)) for user, updates in by_user.items()]


class LiveDocument:
    """A document in memory with its local connections, awareness and client bindings.

    It stores through ``store``, reaches the other processes through ``relay`` and calls
    ``on_idle`` once the last connection has been gone for ``IDLE_UNLOAD_SECONDS``; the
    hub hands in all three.
    """

    def __init__(
        self,
        document_id: int,
        project_id: int,
        kind: DocumentKind,
        *,
        store: Store,
        relay: Relay,
        on_idle: "Callable[[LiveDocument], None]",
    ) -> None:
        self.store = store
        self.relay = relay
        self.on_idle = on_idle
        self.document_id = document_id
        self.project_id = project_id
        self.kind = kind
        self.doc: Doc[Any] | None = None
        self.connections: dict[Connection, set[int]] = {}
        self.awareness = AwarenessRegistry()
        self.bindings: dict[int, int] = {}
        # The schema check of a storyboard's incoming updates (None for scripts).
        self.guard: BoardGuard | None = None
        self._awareness_owner: dict[int, Connection] = {}
        self.loaded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.unloading: asyncio.Future[None] | None = None
        self._unload_handle: asyncio.TimerHandle | None = None
        self._local: list[bytes] = []
        # Updates accepted here this turn, with who wrote each, for the other processes.
        self._outgoing: list[tuple[int | None, bytes]] = []
        self._outgoing_bindings: dict[int, int] = {}
        self._awareness_local: dict[int, AwarenessEntry] = {}
        self._awareness_outgoing: dict[int, AwarenessEntry] = {}
        self._flush_handle: asyncio.Handle | None = None
        # perf_counter() when the oldest update waiting in ``_local`` arrived.
        self._local_since: float | None = None
        self.changed = False
        # Updates other processes relayed, per origin in arrival order, until the origin
        # confirms their commit (or this process stores them: ``store_unconfirmed``).
        self._unconfirmed: dict[str, deque[Relayed]] = {}
        self._all_confirmed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    def loaded_from(
        self,
        doc: Doc[Any],
        bindings: dict[int, int],
        pending: Iterable[bytes] = (),
        guard: BoardGuard | None = None,
    ) -> None:
        """Install the document rebuilt from storage (and the stored updates it holds only
        pending) with a storyboard's schema check, built here unless given; joiners
        waiting on ``loaded`` go on."""
        self.doc = doc
        self.bindings = bindings
        if self.kind == "storyboard":
            self.guard = guard if guard is not None else BoardGuard.of(doc, pending)
        self.budget = DocumentBudget.for_document(doc)
        self.loaded.set_result(None)

    @property
    def live_doc(self) -> Doc[Any]:
        """The loaded document; using a live document before its load step is a bug."""
        if self.doc is None:
            raise RuntimeError(f"live document {self.document_id} is not loaded")
        return self.doc

    def attach(self, conn: Connection) -> None:
        """Register a connection (after the document is loaded)."""
        self.connections[conn] = set()
        if self._unload_handle is not None:
            self._unload_handle.cancel()
            self._unload_handle = None

    def greeting(self) -> list[bytes]:
        """The frames a new connection receives first: our step1, then the awareness."""
        frames = [encode_sync_step1(self.live_doc.get_state())]
        full = self.awareness.full_update()
        if full is not None:
            frames.append(encode_awareness(full))
        return frames

    def detach(self, conn: Connection) -> None:
        """Forget a connection, remove its awareness states, schedule unload when empty."""
        client_ids = self.connections.pop(conn, None)
        if client_ids:
            for client_id in client_ids:
                self._awareness_owner.pop(client_id, None)
            self._queue_awareness(self.awareness.remove_entries(client_ids), publish=True)
        if not self.connections and self.unloading is None:
            delay = settings.TROUPE["IDLE_UNLOAD_SECONDS"]
            loop = asyncio.get_running_loop()
            self._unload_handle = loop.call_later(delay, self.on_idle, self)

    # -- sync ------------------------------------------------------------------------------

    def step2_for(self, state_vector: bytes) -> bytes:
        """Answer a step1: the update the other side lacks, as a step2 frame."""
        return encode_sync_step2(diff_update(self.live_doc, state_vector))

    def receive_update(self, conn: Connection, update: bytes) -> bool:
        """Apply an update from a writer; False when the connection forged client IDs.

        Structs that the update writes under a client ID bound to another user, beyond
        what the document already holds, are dropped; the rest applies. An update that
        changes nothing (the empty step2 every client sends on connect, or a reconnecting
        client's known content) is neither stored nor broadcast: connecting stays O(1).
        An update that would pass the document's size or growth limit raises
        ``DocumentLimitExceeded``, one that breaks a storyboard's schema ``SchemaViolation``;
        either changes nothing.

        A client ID is bound to the first user writing under it only if the document
        holds nothing of it yet: content the server wrote for someone (a restore for a
        deleted account, say) is never claimed by whoever sends the next struct after it.
        """
        if update == EMPTY_UPDATE:
            return True
        received = time.perf_counter()
        doc = self.live_doc
        clocks = update_client_clocks(update)
        user_id = conn.user_id
        bindings = self.bindings
        new_clients: list[int] = []
        forged: set[int] | None = None
        known: dict[int, int] | None = None
        for client_id, end in clocks.items():
            owner = bindings.get(client_id)
            if owner is None:
                new_clients.append(client_id)
            elif owner != user_id:
                if known is None:
                    known = decode_state_vector(doc.get_state())
                if end > known.get(client_id, 0):
                    forged = forged or set()
                    forged.add(client_id)
        if new_clients:
            known = decode_state_vector(doc.get_state())
            # Unbound but held: new structs are forged; a re-send of held ones is harmless.
            claimed = {c for c in new_clients if 0 < known.get(c, 0) < clocks[c]}
            if claimed:
                forged = (forged or set()) | claimed
            new_clients = [c for c in new_clients if known.get(c, 0) == 0]
        if forged:
            metrics.FORGERIES.inc()
            update = strip_clients(update, forged)
            clocks = {c: e for c, e in clocks.items() if c not in forged}
        if self.guard is not None:
            self.guard.check(update)
        # Size and growth limits: raises DocumentLimitExceeded (the consumer closes 4413)
        # before anything is applied, stored or broadcast.
        size = len(update)
        self.budget.check(doc, size, received)
        if new_clients:
            apply_update(doc, update)
        else:
            if known is None:
                known = decode_state_vector(doc.get_state())
            if any(end > known.get(client_id, 0) for client_id, end in clocks.items()):
                apply_update(doc, update)
            elif not self._apply_if_effective(update):
                return not forged
        self.budget.charge(size)
        if self.guard is not None:
            self.guard.absorb(update)
        for client_id in new_clients:
            bindings[client_id] = user_id
            self._outgoing_bindings[client_id] = user_id
        self.store.enqueue(self.document_id, update, user_id, new_clients)
        metrics.UPDATES_RECEIVED.inc()
        self._hold_local(update, received)
        self._outgoing.append((user_id, update))
        self.changed = True
        self._schedule_flush()
        return not forged

    def _apply_if_effective(self, update: bytes) -> bool:
        """Apply an update without new structs; True if it deleted anything new.

        Yrs fires transaction observers only for real changes; observing costs more than
        applying, so only updates that may be no-ops take this path.
        """
        doc = self.live_doc
        changed: list[bool] = []
        subscription = doc.observe(lambda _event: changed.append(True))
        try:
            apply_update(doc, update)
        finally:
            doc.unobserve(subscription)
        return bool(changed)

    def receive_remote(
        self,
        update: bytes,
        bindings: dict[int, int],
        *,
        origin: str | None = None,
        mark: int | None = None,
        authors: list[tuple[int | None, bytes | None]] | None = None,
    ) -> None:
        """Apply an update another process accepted.

        With a ``mark`` (not yet stored by its ``origin``), it is also kept until the
        origin confirms that commit, as each author's part (the whole update under no
        author for a sync reply, whose writers are not known).
        """
        received = time.perf_counter()
        for client_id, user_id in bindings.items():
            self.bindings.setdefault(client_id, user_id)
        before = self.live_doc.get_state()
        apply_update(self.live_doc, update)
        if self.guard is not None:
            self.guard.absorb(update)
        self.budget.absorb(len(update), received)
        if mark and origin is not None:
            parts = [(user, part or update) for user, part in authors or [(None, None)]]
            queue = self._unconfirmed.get(origin)
            if queue is None:
                queue = self._unconfirmed[origin] = deque()
            queue.append(Relayed(mark, time.monotonic(), parts, bindings))
            self._all_confirmed.clear()
        # Deletions do not move the state vector but clients must receive them too;
        # updates that bring nothing new (a sync reply we already had) stay here.
        if self.live_doc.get_state() != before or update_has_deletions(update):
            self._hold_local(update, received)
            self.changed = True
            self._schedule_flush()

    def relay_stored(self, origin: str, committed: int) -> None:
        """The origin's commits reached ``committed``: its updates up to that are stored."""
        queue = self._unconfirmed.get(origin)
        if queue is None:
            return
        while queue and queue[0].mark <= committed:
            queue.popleft()
        if not queue:
            del self._unconfirmed[origin]
            if not self._unconfirmed:
                self._all_confirmed.set()

    async def settle_relayed(self, store_after: float) -> None:
        """Before unloading: wait for the origins' confirmations, at most until the oldest
        relayed update is ``store_after`` seconds old, then store what is unconfirmed."""
        while self._unconfirmed:
            oldest = min(queue[0].received for queue in self._unconfirmed.values())
            left = oldest + store_after - time.monotonic()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._all_confirmed.wait(), left)
            except TimeoutError:
                break
        self.store_unconfirmed(None)

    def store_unconfirmed(self, received_before: float | None) -> int:
        """Hand relayed updates whose origin has not confirmed storing them, received
        before ``received_before`` (monotonic; None: all), to this process's persister.
        Returns how many updates it queued."""
        queued = 0
        for origin in list(self._unconfirmed):
            queue = self._unconfirmed[origin]
            while queue and (received_before is None or queue[0].received < received_before):
                relayed = queue.popleft()
                self.store.enqueue_relayed(self.document_id, relayed.parts, relayed.bindings)
                queued += len(relayed.parts)
            if not queue:
                del self._unconfirmed[origin]
        if queued:
            metrics.RELAYED_STORED.inc(queued)
            logger.warning(
                "storing relayed updates their origin did not confirm",
                extra={"document_id": self.document_id, "updates": queued},
            )
        return queued

    def lacks(self, remote_state_vector: bytes) -> bool:
        """Whether another copy holds structs this one does not."""
        ours = decode_state_vector(self.live_doc.get_state())
        return any(
            clock > ours.get(client, 0)
            for client, clock in decode_state_vector(remote_state_vector).items()
        )

    # -- awareness -------------------------------------------------------------------------

    def receive_awareness(self, conn: Connection, payload: bytes) -> None:
        """Apply a connection's awareness update, stamped with its authenticated user."""
        owned = self.connections.get(conn)
        if owned is None:
            return
        entries = []
        for entry in decode_awareness_update(payload):
            owner = self._awareness_owner.get(entry.client_id)
            if owner is None:
                if entry.client_id in self.awareness:
                    continue  # a client of another process: not this connection's to speak for
                self._awareness_owner[entry.client_id] = conn
                owned.add(entry.client_id)
            elif owner is not conn:
                continue
            entries.append(entry._replace(state_json=stamp_user(entry.state_json, conn.user_info)))
        if entries:
            self._queue_awareness(self.awareness.apply(entries, time.monotonic()), publish=True)

    def receive_remote_awareness(self, payload: bytes) -> None:
        """Apply awareness another process relayed."""
        changed = self.awareness.apply(decode_awareness_update(payload), time.monotonic())
        self._queue_awareness(changed, publish=False)

    def awareness_frame(self) -> bytes | None:
        """The full awareness state as a frame, for query-awareness and new peers."""
        full = self.awareness.full_update()
        return encode_awareness(full) if full is not None else None

    def expire_awareness(self) -> None:
        """Drop states not renewed within the timeout (e.g. of a process that died)."""
        expired = self.awareness.expire(
            time.monotonic(), settings.TROUPE["AWARENESS_TIMEOUT_SECONDS"]
        )
        if expired:
            for owned in self.connections.values():
                owned.difference_update(expired)
            for client_id in expired:
                self._awareness_owner.pop(client_id, None)
            self._queue_awareness(self.awareness.removal_entries(expired), publish=False)

    def _queue_awareness(self, entries: list[AwarenessEntry], *, publish: bool) -> None:
        if not entries:
            return
        for entry in entries:
            self._awareness_local[entry.client_id] = entry
            if publish:
                self._awareness_outgoing[entry.client_id] = entry
        self._schedule_flush()

    # -- delivery --------------------------------------------------------------------------

    def _hold_local(self, update: bytes, received: float) -> None:
        """Queue an update for this turn's frame to the local connections."""
        if not self._local:
            self._local_since = received
        self._local.append(update)

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def flush_now(self) -> None:
        """Deliver and relay what this turn accepted now rather than at the turn's end."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush()

    def _flush(self) -> None:
        """Deliver what accumulated during this loop turn: one frame per kind."""
        self._flush_handle = None
        local, self._local = self._local, []
        since, self._local_since = self._local_since, None
        outgoing, self._outgoing = self._outgoing, []
        bindings, self._outgoing_bindings = self._outgoing_bindings, {}
        aw_local, self._awareness_local = self._awareness_local, {}
        aw_out, self._awareness_outgoing = self._awareness_outgoing, {}
        relay = self.relay
        merged = merge(local) if local else b""
        if outgoing and relay.document_shared(self):
            # Every local update is in both lists, remote ones only in ``local``: equal
            # lengths mean the same updates, merged once.
            updates = [u for _, u in outgoing]
            whole = merged if len(outgoing) == len(local) else merge(updates)
            relay.publish_update(
                self, whole, bindings, _authors(outgoing), self.store.mark(self.document_id)
            )
        if aw_out and relay.document_shared(self):
            relay.publish_awareness(self, encode_awareness_update(list(aw_out.values())))
        if local:
            self._fanout(encode_sync_update(merged))
            if since is not None:
                metrics.FANOUT_LATENCY_SECONDS.observe(time.perf_counter() - since)
        if aw_local:
            self._fanout(encode_awareness(encode_awareness_update(list(aw_local.values()))))

    def _fanout(self, frame: bytes) -> None:
        wire = binary_frame(frame)
        sent = 0
        for conn in list(self.connections):
            try:
                conn.deliver(frame, wire)
                sent += 1
            except Exception:
                logger.exception("delivery failed", extra={"document": self.document_id})
        metrics.DELIVERIES.inc(sent)

    async def close_all(self, code: CloseCode, reason: str) -> None:
        """Close every local connection (server shutdown or a failed load)."""
        for conn in list(self.connections):
            await conn.close_with(code, reason)
