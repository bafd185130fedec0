"""Cross-process traffic over the channel layer (Redis in production): live documents,
project rooms, access changes.

Each process has one channel. A process holding a document in memory adds that channel
to the document's group, so an update costs one message per process holding the
document, never one per connection. Messages carry a per-process sequence number per
document; a gap means a message was lost (Redis pub/sub drops what is published while a
process is disconnected from it, and a send can fail) and triggers a sync exchange with
the sender. Live documents also announce their state vector periodically, which repairs
a lost last message.

A document held by this process alone sends nothing per update: a group send would only
come back to its sender. A process learns that another holds the document from any of
its messages about the document (a process loading a document asks the group for what it
lacks, so holders learn of it at once); on learning of a peer it sends that peer its
state vector and awareness (``doc.peer``; the answer to a sync request carries both
already), which covers whatever it did not publish while it believed itself alone. A
process unloading a document says so (``doc.leave``).

Storage follows the same paths. A relayed update carries its origin's storage mark
(``Persister.mark``) and, when a flush merged several users' updates, each user's part;
the origin confirms its commits (``doc.stored``, with its ``committed`` count) to the
document's group. A holder keeps each relayed update until its origin confirms a count
at least its mark, and stores it itself after ``RELAY_STORE_AFTER_SECONDS`` without one:
an origin killed between relaying and committing loses nothing that any holder has, even
when the writer then reconnects to a holder and re-sends what that holder already has in
memory. A sync reply carries the replier's mark in the same way.
"""

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.layers import BaseChannelLayer, InMemoryChannelLayer
from django.conf import settings

from crdt.documents import diff_update
from realtime import metrics
from realtime.live_document import LiveDocument
from workspace.events import ACCESS_CHANGED, DOC_EXTERNAL, PROJECT_EVENT
from workspace.groups import document_group, project_access_group

logger = logging.getLogger(__name__)

RECEIVE_RETRY_SECONDS = 0.5
# Names this process's channel in Redis (the layer prefixes it: PUBSUB CHANNELS *troupe.proc.*).
PROCESS_CHANNEL_PREFIX = "troupe.proc."


class Marks(Protocol):
    """The storage marks a sync reply carries (the process's ``Persister``)."""

    def mark(self, document_id: int) -> int | None:
        """What the commits must reach for the document's updates so far to be stored."""


class ProjectTraffic(Protocol):
    """Where the project rooms' messages go (the process's ``ProjectRooms``)."""

    def deliver(self, project_id: int, event: dict[str, Any]) -> None:
        """A room event (after a commit): to every local connection of the project."""

    def remote_update(self, message: dict[str, Any]) -> None:
        """Another process's connection joined, moved or left."""

    def remote_alive(self, message: dict[str, Any]) -> None:
        """A heartbeat: the origin's live connections in the project."""

    def remote_hello(self, message: dict[str, Any]) -> None:
        """A process started holding the project."""


class Bus:
    """This process's channel on the layer: ordered sends, one receive loop.

    What it receives goes to the live documents loaded here (``documents``: the ready one
    of an id, or None), to ``access_changed`` and to the project rooms (``projects``);
    sync replies carry the marks of ``marks``. The hub hands all four in.
    """

    def __init__(
        self,
        layer: BaseChannelLayer,
        *,
        documents: Callable[[int], LiveDocument | None],
        access_changed: Callable[[int, int | None], Awaitable[None]],
        marks: Marks,
        projects: ProjectTraffic,
    ) -> None:
        self.documents = documents
        self.access_changed = access_changed
        self.marks = marks
        self.projects = projects
        self.layer = layer
        self.origin = uuid.uuid4().hex[:12]
        # With the in-memory layer there is one process: no peers to tell about updates.
        self.has_peers = not isinstance(layer, InMemoryChannelLayer)
        self.channel = ""
        self._started: asyncio.Future[None] | None = None
        self._outbox: deque[tuple[str | None, str, dict[str, Any]]] = deque()
        # Anti-entropy announces: sent only while nothing waits in ``_outbox``.
        self._background: deque[tuple[str | None, str, dict[str, Any]]] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._seq: dict[int, int] = {}
        self._seen: dict[tuple[int, str], int] = {}
        # document id -> channels of the other processes known to hold the document.
        self._peers: dict[int, set[str]] = {}
        # Fault injection for failure tests: drop every Nth outgoing update (0 = never).
        self.drop_every = int(settings.TROUPE["TEST_DROP_EVERY_NTH_UPDATE"])
        # Set when receiving failed: the layer may have lost our group memberships.
        self.rejoin_needed = False
        self._updates_sent = 0

    async def start(self) -> None:
        """Open the process channel and start the receive and send loops (once)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            self.channel = await self.layer.new_channel(PROCESS_CHANNEL_PREFIX)
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._receive_loop()),
                loop.create_task(self._send_loop()),
            ]
            self._started.set_result(None)
        await self._started

    async def stop(self) -> None:
        """Cancel the loops (tests and shutdown)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def join_document(self, live: LiveDocument) -> None:
        """Receive the document's cross-process traffic and its project's access changes."""
        await self.layer.group_add(document_group(live.document_id), self.channel)
        await self.layer.group_add(project_access_group(live.project_id), self.channel)

    async def subscribe(self, group: str) -> None:
        """Receive a group's messages on this process's channel."""
        await self.layer.group_add(group, self.channel)

    async def unsubscribe(self, group: str) -> None:
        """Stop receiving a group's messages."""
        await self.layer.group_discard(group, self.channel)

    async def rejoin(self, documents: list[LiveDocument]) -> None:
        """After a layer failure: join every group again, then resync every document."""
        self.rejoin_needed = False
        try:
            for live in documents:
                await self.join_document(live)
        except Exception:
            self.rejoin_needed = True
            logger.warning("rejoining cross-process groups failed; will retry", exc_info=True)
            return
        for live in documents:
            self.request_sync(live, None)
            self.announce_state(live, live.live_doc.get_state())

    async def leave_document(self, live: LiveDocument, *, last_of_project: bool) -> None:
        """Stop receiving the document's traffic; tell the other holders."""
        if self._peers.pop(live.document_id, None):
            self._queue(
                document_group(live.document_id),
                "",
                {
                    "type": "doc.leave",
                    "document_id": live.document_id,
                    "origin": self.origin,
                    "reply_to": self.channel,
                },
            )
        await self.layer.group_discard(document_group(live.document_id), self.channel)
        if last_of_project:
            await self.layer.group_discard(project_access_group(live.project_id), self.channel)
        self._seq.pop(live.document_id, None)
        for key in [k for k in self._seen if k[0] == live.document_id]:
            del self._seen[key]

    # -- sending ---------------------------------------------------------------------------

    def _queue(self, group: str | None, channel: str, message: dict[str, Any]) -> None:
        """Queue a group send (``group``) or a direct send to ``channel``, in order."""
        self._outbox.append((group, channel, message))
        self._wake.set()

    def _queue_background(self, group: str, channel: str, message: dict[str, Any]) -> None:
        """Queue a send that goes only when ``_outbox`` is empty (anti-entropy)."""
        self._background.append((group, channel, message))
        self._wake.set()

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        """Queue a message to every process in a group (this one included)."""
        self._queue(group, "", message)

    def send_direct(self, channel: str, message: dict[str, Any]) -> None:
        """Queue a message to one process."""
        self._queue(None, channel, message)

    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox or self._background:
                queue = self._outbox if self._outbox else self._background
                group, target, message = queue.popleft()
                if self._dropped_on_purpose(message):
                    continue
                try:
                    if group is not None:
                        await self.layer.group_send(group, message)
                    else:
                        await self.layer.send(target, message)
                    metrics.BUS_SENT.labels(message["type"]).inc()
                except Exception:
                    # Lost; receivers detect the gap or the state-vector announce repairs it.
                    logger.warning("cross-process send failed", exc_info=True)

    def _dropped_on_purpose(self, message: dict[str, Any]) -> bool:
        if not self.drop_every or message["type"] != "doc.update":
            return False
        self._updates_sent += 1
        if self._updates_sent % self.drop_every:
            return False
        metrics.BUS_DROPPED_ON_PURPOSE.inc()
        return True

    def document_shared(self, live: LiveDocument) -> bool:
        """Whether another process is known to hold the document (its updates must travel)."""
        return bool(self._peers.get(live.document_id))

    def publish_update(
        self,
        live: LiveDocument,
        update: bytes,
        bindings: dict[int, int],
        authors: list[tuple[int | None, bytes | None]],
        mark: int | None,
    ) -> None:
        """Tell the other processes holding the document about an update accepted here.

        ``authors`` names who wrote it: ``[(user, None)]`` when one user wrote it all,
        else each user's part; ``mark`` is what this process's ``committed`` count must
        reach for the update to be stored here (0: stored already; None: never).
        """
        seq = self._seq.get(live.document_id, 0) + 1
        self._seq[live.document_id] = seq
        self._queue(
            document_group(live.document_id),
            "",
            {
                "type": "doc.update",
                "document_id": live.document_id,
                "origin": self.origin,
                "reply_to": self.channel,
                "seq": seq,
                "update": update,
                "bindings": {str(k): v for k, v in bindings.items()},
                "authors": authors,
                "mark": mark,
            },
        )

    def confirm_stored(self, document_ids: set[int], committed: int) -> None:
        """After a commit: tell the other holders of each shared document how far this
        process's commits reached, so they drop their copies of its updates."""
        for document_id in document_ids:
            if self._peers.get(document_id):
                self._queue(
                    document_group(document_id),
                    "",
                    {
                        "type": "doc.stored",
                        "document_id": document_id,
                        "origin": self.origin,
                        "committed": committed,
                    },
                )

    def publish_awareness(self, live: LiveDocument, payload: bytes) -> None:
        """Relay awareness changes of local connections to the other processes."""
        self._queue(
            document_group(live.document_id),
            "",
            {
                "type": "doc.awareness",
                "document_id": live.document_id,
                "origin": self.origin,
                "reply_to": self.channel,
                "update": payload,
            },
        )

    def announce_state(self, live: LiveDocument, state_vector: bytes) -> None:
        """Anti-entropy: tell peers our state vector so they can ask for what they lack.

        Sent only when nothing else waits (``_background``): the tick announces every
        changed room at once, and 500 announces ahead of the updates in one queue held
        each update behind ~500 Redis round trips (cross-process p99 95 ms with 500 busy
        rooms on 2 processes). An announce that leaves later only carries an older state
        vector, which asks for less."""
        self._queue_background(
            document_group(live.document_id),
            "",
            {
                "type": "doc.state",
                "document_id": live.document_id,
                "origin": self.origin,
                "reply_to": self.channel,
                "seq": self._seq.get(live.document_id, 0),
                "state_vector": state_vector,
            },
        )

    def request_sync(self, live: LiveDocument, channel: str | None) -> None:
        """Ask one peer (or every peer, with ``channel`` None) for what we lack."""
        message = {
            "type": "doc.sync_request",
            "document_id": live.document_id,
            "origin": self.origin,
            "reply_to": self.channel,
            "state_vector": live.live_doc.get_state(),
        }
        if channel is None:
            self._queue(document_group(live.document_id), "", message)
        else:
            self._queue(None, channel, message)

    # -- receiving -------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("cross-process receive failed; retrying", exc_info=True)
                self.rejoin_needed = True
                await asyncio.sleep(RECEIVE_RETRY_SECONDS)
                continue
            kind = message.get("type", "")
            metrics.BUS_RECEIVED.labels(kind).inc()
            try:
                await self._dispatch(kind, message)
            except Exception:
                logger.exception("cross-process message failed", extra={"kind": kind})

    async def _dispatch(self, kind: str, message: dict[str, Any]) -> None:
        # The workspace's events (built in ``workspace.events``) come first: they come
        # from this process as well as from others.
        if kind == ACCESS_CHANGED:
            await self.access_changed(message["project_id"], message["user_id"])
            return
        if kind == PROJECT_EVENT:
            self.projects.deliver(message["project_id"], message["event"])
            return
        if message.get("origin") == self.origin:
            return
        if kind.startswith("presence."):
            projects = self.projects
            if kind == "presence.update":
                projects.remote_update(message)
            elif kind == "presence.alive":
                projects.remote_alive(message)
            elif kind == "presence.hello":
                projects.remote_hello(message)
            return
        live = self.documents(message["document_id"])
        if live is None:
            return
        if kind == "doc.leave":
            self._forget_peer(live, message)
            return
        if "reply_to" in message:
            # A sync request is answered below, and the answer greets the requester.
            self._learn_peer(live, message["reply_to"], greet=kind != "doc.sync_request")
        if kind == "doc.update":
            self._check_sequence(live, message)
            live.receive_remote(
                message["update"],
                {int(k): v for k, v in message["bindings"].items()},
                origin=message["origin"],
                mark=message.get("mark"),
                authors=message.get("authors"),
            )
        elif kind == "doc.stored":
            live.relay_stored(message["origin"], int(message["committed"]))
        elif kind == DOC_EXTERNAL:
            bindings = message.get("bindings", {})
            live.receive_remote(message["update"], {int(k): v for k, v in bindings.items()})
        elif kind == "doc.awareness":
            live.receive_remote_awareness(message["update"])
        elif kind == "doc.state":
            if live.lacks(message["state_vector"]):
                metrics.BUS_GAPS.inc()
                self.request_sync(live, message["reply_to"])
        elif kind == "doc.sync_request":
            self._answer_sync(live, message)
        elif kind == "doc.peer":
            if live.lacks(message["state_vector"]):
                self.request_sync(live, message["reply_to"])
            if message["awareness"]:
                live.receive_remote_awareness(message["awareness"])
        elif kind == "doc.sync_reply":
            if live.lacks(message["state_vector"]):
                metrics.BUS_REPAIRS.inc()
            live.receive_remote(
                message["update"],
                {int(k): v for k, v in message["bindings"].items()},
                origin=message["origin"],
                mark=message.get("mark"),
            )
            if message.get("awareness"):
                live.receive_remote_awareness(message["awareness"])

    def _learn_peer(self, live: LiveDocument, channel: str, *, greet: bool) -> None:
        """Note that the process on ``channel`` holds the document; greet it the first time."""
        peers = self._peers.get(live.document_id)
        if peers is None:
            peers = self._peers[live.document_id] = set()
        elif channel in peers:
            return
        peers.add(channel)
        if not greet:
            return
        self._queue(
            None,
            channel,
            {
                "type": "doc.peer",
                "document_id": live.document_id,
                "origin": self.origin,
                "reply_to": self.channel,
                "state_vector": live.live_doc.get_state(),
                "awareness": live.awareness.full_update(),
            },
        )

    def _forget_peer(self, live: LiveDocument, message: dict[str, Any]) -> None:
        peers = self._peers.get(live.document_id)
        if peers is not None:
            peers.discard(message["reply_to"])
        self._seen.pop((live.document_id, message["origin"]), None)

    def _check_sequence(self, live: LiveDocument, message: dict[str, Any]) -> None:
        key = (live.document_id, message["origin"])
        last = self._seen.get(key)
        seq = int(message["seq"])
        self._seen[key] = seq
        if last is not None and seq != last + 1:
            metrics.BUS_GAPS.inc()
            self.request_sync(live, message["reply_to"])

    def _answer_sync(self, live: LiveDocument, message: dict[str, Any]) -> None:
        # Updates accepted this turn are relayed first, so the reply's mark covers them.
        live.flush_now()
        self._queue(
            None,
            message["reply_to"],
            {
                "type": "doc.sync_reply",
                "document_id": live.document_id,
                "origin": self.origin,
                "state_vector": live.live_doc.get_state(),
                "update": diff_update(live.live_doc, message["state_vector"]),
                "bindings": {str(k): v for k, v in live.bindings.items()},
                "awareness": live.awareness.full_update(),
                "mark": self.marks.mark(live.document_id),
            },
        )
