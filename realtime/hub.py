"""The per-process hub: loads, holds and unloads live documents and runs their timers.

Document lifecycle, one step each: ``load`` (from storage, before any reply), ``change``
(``LiveDocument.receive_update``), ``store`` (the persister's group commit), ``unload``
(after the last connection left and an idle grace period, final flush and compaction
first).
"""

import asyncio
import gc
import logging
import sys
import time
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from crdt.storyboard_guard import BoardGuard
from realtime import metrics
from realtime.admission import Admission
from realtime.bus import Bus
from realtime.closecodes import CloseCode
from realtime.db_threads import on_connect_thread
from realtime.limits import DocumentFull
from realtime.live_document import Connection, LiveDocument
from realtime.loop_lag import LoopLagMonitor
from realtime.persistence import Persister, report_pending
from realtime.project_rooms import ProjectRooms
from workspace.documents.services import document_opened
from workspace.models import Document

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
AWARENESS_CHECK_EVERY_TICKS = 5
STATE_ANNOUNCE_HEARTBEAT_TICKS = 10
# Rooms the tick handles per turn of the event loop (each costs a few us, an announce of
# its state vector tens of us).
TICK_ROOMS_PER_TURN = 32
# How long a thread may hold the GIL while another waits for it. Python's default, 5 ms,
# lets a database thread busy in the ORM hold back the event loop's fan-out by that much;
# at 0.5 ms a delivery waits at most that long behind a group commit.
GIL_SWITCH_INTERVAL_SECONDS = 0.0005


class DocumentLoadFailed(Exception):
    """Storage could not be read; the document is not served (never an empty document)."""


class Hub:
    """All live documents of this process, the bus to the other processes and the persister.

    The hub wires its parts: none of them holds the hub or reaches through it to another.
    A live document gets the persister as its ``Store``, the bus as its ``Relay`` and
    ``schedule_unload``; the bus gets ``ready_document``, ``access_changed``, the
    persister's marks and the project rooms; the project rooms get the bus as their
    ``PresenceLink`` and ``watches_project``; the persister tells the bus of its commits.
    """

    def __init__(self) -> None:
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("Troupe needs a channel layer (CHANNEL_LAYERS)")
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
        self.persister = Persister()
        self.projects = ProjectRooms(watched=self.watches_project)
        self.bus = Bus(
            layer,
            documents=self.ready_document,
            access_changed=self.access_changed,
            marks=self.persister,
            projects=self.projects,
        )
        # The bus delivers to these two and they send through it: their outbound side is
        # wired once the bus exists.
        self.projects.link = self.bus
        self.persister.on_commit = self.bus.confirm_stored
        self.documents: dict[int, LiveDocument] = {}
        # Document id -> joins admitted but not attached yet (waiting for the load).
        self._joining: dict[int, int] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._loop_lag: LoopLagMonitor | None = None
        knobs = settings.TROUPE
        self.admission = Admission(
            int(knobs["ADMISSION_CONCURRENCY"]), int(knobs["ADMISSION_QUEUE"])
        )
        self._ticks = 0
        self.stopping = False

    def ready_document(self, document_id: int) -> LiveDocument | None:
        """The live document of a document id if it is loaded here."""
        live = self.documents.get(document_id)
        if live is None or live.doc is None or live.unloading is not None:
            return None
        return live

    def start_ticker(self) -> None:
        """Start the periodic work and the loop-lag monitor (once)."""
        if self._ticker is None:
            # Everything loaded by now (Django, the models, the modules) lives as long as
            # the process: frozen, the collector's full passes skip it. Measured with 500
            # rooms and 1,500 clients, full collections held the loop 60-176 ms before
            # and 29-74 ms after (gc.callbacks; the rest is the clients' own objects).
            gc.freeze()
            loop = asyncio.get_running_loop()
            self._ticker = loop.create_task(self._tick_loop())
            self._loop_lag = LoopLagMonitor(loop)
            self._loop_lag.start()

    async def join(self, document: Document, conn: Connection) -> LiveDocument:
        """Attach a connection to the live document, loading it first if needed.

        Raises ``DocumentFull`` when attached connections plus joins still waiting for the
        load reach ``MAX_CONNECTIONS_PER_ROOM``. The slot is taken with no await between
        the check and the count and given back when the join ends (attached or failed),
        so a burst to a loading document admits exactly the cap: counting attached
        connections alone let 79 and 94 of 100 in under a cap of 20.
        """
        await self.bus.start()
        self.start_ticker()
        live = self.documents.get(document.pk)
        while live is not None and live.unloading is not None:
            await asyncio.shield(live.unloading)
            live = self.documents.get(document.pk)
        joining = self._joining.get(document.pk, 0)
        attached = len(live.connections) if live is not None else 0
        if attached + joining >= settings.TROUPE["MAX_CONNECTIONS_PER_ROOM"]:
            raise DocumentFull(f"document {document.pk} is at its connection limit")
        self._joining[document.pk] = joining + 1
        try:
            if live is None:
                live = LiveDocument(
                    document.pk,
                    document.project_id,
                    document.schema,
                    store=self.persister,
                    relay=self.bus,
                    on_idle=self.schedule_unload,
                )
                self.documents[document.pk] = live
                metrics.DOCUMENTS_IN_MEMORY.set(len(self.documents))
                asyncio.get_running_loop().create_task(self._load(live))
            await asyncio.shield(live.loaded)
            live.attach(conn)
        finally:
            left = self._joining[document.pk] - 1
            if left:
                self._joining[document.pk] = left
            else:
                del self._joining[document.pk]
        return live

    async def _load(self, live: LiveDocument) -> None:
        """Load step: join the document's group first, so nothing sent meanwhile is missed."""
        started = time.perf_counter()
        try:
            await self.bus.join_document(live)
            # Work journaled at an earlier stop on this host is committed before any
            # load reads storage (a no-op listing of the journal directory otherwise).
            await self.persister.recover()
            # The log is streamed into Yrs as it is read, on the database thread: a
            # 100,000-entry log holds it 0.1-0.2 s (only after a bulk import; in service the
            # log is compacted every COMPACT_EVERY_UPDATES entries).
            stored = await on_connect_thread(
                document_opened, document_id=live.document_id, kind=live.kind
            )
            guard = None
            if live.kind == "storyboard":
                # Indexing a board walks every struct in Python (0.23 s for 20,000
                # edits): never on the event loop.
                guard = await asyncio.to_thread(BoardGuard.of, stored.doc, stored.pending)
        except Exception as exc:
            logger.exception("room load failed", extra={"document_id": live.document_id})
            self.documents.pop(live.document_id, None)
            metrics.DOCUMENTS_IN_MEMORY.set(len(self.documents))
            live.loaded.set_exception(DocumentLoadFailed(str(exc)))
            # Joiners receive the exception; mark it retrieved for the no-joiner case.
            live.loaded.exception()
            return
        live.loaded_from(stored.doc, stored.bindings, stored.pending, guard)
        report_pending(live.document_id, "load", len(stored.pending))
        metrics.DOCUMENT_LOAD_SECONDS.observe(time.perf_counter() - started)
        metrics.DOCUMENT_LOAD_LOG_ENTRIES.observe(stored.log_entries_replayed)
        if self.bus.has_peers:
            # Other processes may hold updates not yet committed: ask them.
            self.bus.request_sync(live, None)

    def schedule_unload(self, live: LiveDocument) -> None:
        """Called when a live document has been idle for the grace period."""
        if live.connections or live.unloading is not None or self.stopping:
            return  # stopping: the shutdown stores every document's updates itself
        live.unloading = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().create_task(self._unload(live))

    async def _unload(self, live: LiveDocument) -> None:
        """Unload step: final flush and compaction, leave the groups, drop the document."""
        try:
            # Relayed updates whose origin has not confirmed storing them yet: wait for
            # it as the tick would, then store the rest here (normally none are left).
            await live.settle_relayed(float(settings.TROUPE["RELAY_STORE_AFTER_SECONDS"]))
            await self.persister.compact(live.document_id)
            self.persister.forget(live.document_id)
            last_of_project = not self.watches_project(live.project_id, besides=live)
            await self.bus.leave_document(live, last_of_project=last_of_project)
        except Exception:
            logger.exception("unload step failed", extra={"document_id": live.document_id})
        finally:
            self.documents.pop(live.document_id, None)
            metrics.DOCUMENTS_IN_MEMORY.set(len(self.documents))
            live.doc = None
            if live.unloading is not None:
                live.unloading.set_result(None)
            gc.collect(0)

    async def access_changed(self, project_id: int, user_id: int | None) -> None:
        """Re-check a user's open connections to a project (everyone's, for None) after
        their role or the project's visibility changed: documents and the project room."""
        for live in list(self.documents.values()):
            if live.project_id != project_id or live.doc is None:
                continue
            for conn in [c for c in live.connections if user_id in (None, c.user_id)]:
                await conn.recheck_access()
        for member in list(self.projects.members.get(project_id, {})):
            if user_id in (None, member.user_id):
                await member.recheck_access()

    def watches_project(self, project_id: int, *, besides: LiveDocument | None = None) -> bool:
        """Whether a live document (other than ``besides``) or a project room connection of
        the project is open here, so its access changes must still reach this process."""
        return project_id in self.projects.members or any(
            r.project_id == project_id and r is not besides for r in self.documents.values()
        )

    async def _tick_loop(self) -> None:
        """Periodic work: awareness expiry and state-vector announces."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self._ticks += 1
            try:
                await self._tick()
            except Exception:
                logger.exception("hub tick failed")

    async def _tick(self) -> None:
        self.projects.tick()
        if self.bus.rejoin_needed:
            ready = [
                r for r in self.documents.values() if r.doc is not None and r.unloading is None
            ]
            asyncio.get_running_loop().create_task(self.bus.rejoin(ready))
        announce_every = max(1, round(settings.TROUPE["ANTI_ENTROPY_SECONDS"] / TICK_SECONDS))
        store_before = time.monotonic() - float(settings.TROUPE["RELAY_STORE_AFTER_SECONDS"])
        expire = self._ticks % AWARENESS_CHECK_EVERY_TICKS == 0
        announce = self.bus.has_peers and self._ticks % announce_every == 0
        heartbeat = self._ticks % (announce_every * STATE_ANNOUNCE_HEARTBEAT_TICKS) == 0
        for n, live in enumerate(list(self.documents.values()), 1):
            if n % TICK_ROOMS_PER_TURN == 0:
                # Let waiting deliveries run: 500 rooms announcing their state in one
                # callback held the loop for several ms.
                await asyncio.sleep(0)
            if live.doc is None or live.unloading is not None:
                continue
            live.store_unconfirmed(store_before)
            if expire:
                live.expire_awareness()
            if announce and (live.changed or heartbeat):
                live.changed = False
                self.bus.announce_state(live, live.doc.get_state())

    async def shutdown(self) -> None:
        """Close connections, commit what is pending (relayed updates whose origin has not
        confirmed storing them included), stop the loops."""
        self.stopping = True
        for live in list(self.documents.values()):
            await live.close_all(CloseCode.GOING_AWAY, "server shutting down")
            if live.doc is not None:
                live.store_unconfirmed(None)
        await self.persister.stop()
        if self._ticker is not None:
            self._ticker.cancel()
        if self._loop_lag is not None:
            self._loop_lag.stop()
        await self.bus.stop()


_hubs: dict[int, Hub] = {}


def get_hub() -> Hub:
    """The hub of the running event loop (one per process in production)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(id(loop))
    if hub is None:
        hub = _hubs[id(loop)] = Hub()
    return hub


async def shutdown_hubs() -> None:
    """The store step for the whole process: shut every hub down (server stopping)."""
    for hub in list(_hubs.values()):
        await hub.shutdown()


def forget_hub() -> Any:
    """Drop the hub of the running loop (tests that start a fresh one)."""
    return _hubs.pop(id(asyncio.get_running_loop()), None)
