"""``/ws/yjs/<project>/<document>``: one connection to a live document."""

from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import DatabaseError

from crdt.awareness import largest_state_bytes
from crdt.storyboard_guard import SchemaViolation
from realtime import metrics
from realtime.admission import AdmissionFull
from realtime.auth import admitted_user, connection_user
from realtime.closecodes import CloseCode
from realtime.consumers.base import STORAGE_UNAVAILABLE
from realtime.consumers.yjs import YjsProtocolConsumer
from realtime.db_threads import on_connect_thread
from realtime.hub import DocumentLoadFailed, get_hub
from realtime.limits import DocumentFull, DocumentLimitExceeded
from realtime.live_document import LiveDocument
from workspace.access import document_access
from workspace.documents.selectors import document_for_connection
from workspace.identity import user_info
from workspace.models import Document


class DocumentConsumer(YjsProtocolConsumer):
    """``/ws/yjs/<project>/<document>``: one connection to a live document."""

    live: LiveDocument | None = None
    document: Document
    user_id: int
    user_info: dict[str, Any]
    can_write = False
    forgeries = 0

    async def connect(self) -> None:
        # Accepted at once, then admitted in turn (realtime/admission.py): a storm of
        # connections waits in a bounded queue instead of timing out in daphne.
        await self.accept()
        try:
            async with get_hub().admission.slot():
                await self._admit()
        except AdmissionFull as exc:
            await self.close_with(CloseCode.TRY_AGAIN_LATER, str(exc))

    async def _admit(self) -> None:
        """Authenticate, check access, join the live document and greet (one slot)."""
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            user, via, error, found = await on_connect_thread(
                _connection,
                scope=self.scope,
                project_slug=kwargs["project"],
                document_slug=kwargs["document"],
            )
        except DatabaseError:
            await self.refuse(CloseCode.INTERNAL_ERROR, STORAGE_UNAVAILABLE)
            return
        admitted = admitted_user(self.scope, user, via, error)
        if isinstance(admitted, tuple):
            await self.refuse(*admitted)
            return
        user = admitted
        if found is None:
            await self.refuse(CloseCode.NOT_FOUND, "no such project or document")
            return
        document, can_read, can_write = found
        if not can_read:
            await self.refuse(CloseCode.FORBIDDEN, "you have no access to this project")
            return
        self.document = document
        self.user_id = user.pk
        self.user_info = user_info(user)
        self.can_write = can_write
        self.max_awareness_bytes = int(settings.TROUPE["MAX_AWARENESS_BYTES"])
        hub = get_hub()
        try:
            # The hub admits at most the cap, counting joins still waiting for the load.
            live = await hub.join(document, self)
        except DocumentFull:
            await self.close_with(CloseCode.ROOM_FULL, "this document has too many connections")
            return
        except DocumentLoadFailed:
            await self.close_with(CloseCode.INTERNAL_ERROR, "the document could not be loaded")
            return
        if self.closed:
            live.detach(self)
            return
        self.live = live
        metrics.OPEN_CONNECTIONS.inc()
        for frame in live.greeting():
            self.send_frame(frame)
        self.listen()

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self.live is not None:
            self.live.detach(self)
            self.live = None
            metrics.OPEN_CONNECTIONS.dec()

    def on_sync_step1(self, state_vector: bytes) -> None:
        if self.live is not None:
            self.send_frame(self.live.step2_for(state_vector))

    def on_sync_step2(self, update: bytes) -> None:
        self.on_sync_update(update)

    def on_sync_update(self, update: bytes) -> None:
        if self.live is None or not self.can_write:
            return  # read-only connections' writes are dropped, never stored
        try:
            accepted = self.live.receive_update(self, update)
        except DocumentLimitExceeded as exc:
            # Nothing of the update was applied, stored or broadcast.
            self.close_soon(CloseCode.TOO_LARGE, str(exc))
            return
        except SchemaViolation as exc:
            # Checked before anything applied: nothing of it was stored or broadcast.
            self.close_soon(
                CloseCode.SCHEMA_VIOLATION, f"update breaks the storyboard schema: {exc}"
            )
            return
        if not accepted:
            self.forgeries += 1
            if self.forgeries >= settings.TROUPE["FORGERY_CLOSE_AFTER"]:
                self.close_soon(CloseCode.FORGED_CLIENT_ID, "updates written as another user")

    def on_awareness(self, payload: bytes) -> None:
        if self.live is None:
            return
        limit = self.max_awareness_bytes
        # Only a payload over the limit can hold a state over it: one comparison for the
        # rest. A larger state would be kept and sent to every joiner; refused unread.
        if len(payload) > limit and largest_state_bytes(payload) > limit:
            self.close_soon(
                CloseCode.TOO_LARGE,
                f"awareness state over {limit} bytes (TROUPE_MAX_AWARENESS_BYTES)",
            )
            return
        self.live.receive_awareness(self, payload)

    def on_query_awareness(self) -> None:
        if self.live is not None:
            frame = self.live.awareness_frame()
            if frame is not None:
                self.send_frame(frame)

    async def recheck_access(self) -> None:
        """Apply a role change now: lose write access, or be closed when removed."""
        user = await database_sync_to_async(
            get_user_model().objects.filter(pk=self.user_id).first
        )()
        if user is None or not user.is_active:
            await self.close_with(CloseCode.FORBIDDEN, "account disabled")
            return
        can_read, can_write = await database_sync_to_async(document_access)(
            user=user, document=self.document
        )
        if not can_read:
            await self.close_with(CloseCode.FORBIDDEN, "your access to this project was removed")
        else:
            self.can_write = can_write


def _connection(
    *, scope: dict[str, Any], project_slug: str, document_slug: str
) -> tuple[User | None, str | None, str | None, tuple[Document, bool, bool] | None]:
    """The user, how they authenticated, why not, and the document with their access: one
    turn on a set-up thread for everything a connection needs to know."""
    user, via, error = connection_user(
        raw_token=scope.get("raw_token"), session_key=scope.get("session_key")
    )
    if user is None:
        return user, via, error, None
    found = document_for_connection(
        user=user, project_slug=project_slug, document_slug=document_slug
    )
    return user, via, error, found
