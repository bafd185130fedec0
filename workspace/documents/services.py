"""Writes of documents: creation, the update log (append, post) and compaction."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from crdt.authored import storyboard_migration
from crdt.documents import DocumentKind as SchemaKind
from crdt.documents import apply_update, load_document_checked, state_with_pending
from crdt.encoding import MalformedMessage
from crdt.storyboard import has_legacy_panels
from crdt.storyboard_guard import BoardGuard, SchemaViolation
from crdt.updates import decode_state_vector, update_client_clocks
from workspace import events
from workspace.documents.selectors import LoadedDocument, document_loaded
from workspace.events import emit_on_commit
from workspace.groups import document_group
from workspace.models import (
    ClientBinding,
    Document,
    DocumentKind,
    DocumentState,
    DocumentUpdate,
    Project,
)

logger = logging.getLogger(__name__)


def document_create(*, project: Project, slug: str, title: str, kind: DocumentKind) -> Document:
    """Add an empty live document to a project."""
    return Document.objects.create(project=project, slug=slug, title=title, kind=kind)


@dataclass(frozen=True, slots=True)
class PendingUpdate:
    """An update accepted by a live room, waiting for its group commit."""

    document_id: int
    update: bytes
    user_id: int | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class PendingBinding:
    """A client ID first written with by a user in a document."""

    document_id: int
    client_id: int
    user_id: int


def document_updates_append(
    *, updates: Sequence[PendingUpdate], bindings: Sequence[PendingBinding]
) -> None:
    """Append a batch of accepted updates and bindings in one transaction (group commit)."""
    with transaction.atomic():
        _lock_logs(sorted({u.document_id for u in updates}), exclusive=False)
        if bindings:
            ClientBinding.objects.bulk_create(
                [
                    ClientBinding(
                        document_id=b.document_id, client_id=b.client_id, user_id=b.user_id
                    )
                    for b in bindings
                ],
                ignore_conflicts=True,
            )
        _log_append(updates)


def _lock_logs(document_ids: Sequence[int], *, exclusive: bool) -> None:
    """Hold the documents' log locks until the transaction ends (PostgreSQL).

    A log entry's id comes from a sequence when it is inserted, but other transactions
    see it only once its transaction commits: a compaction that read the log between the
    two would move its mark past an entry that then appears below it, never to be loaded
    again (after a PostgreSQL restart two processes committing their backlogs lost 231 of
    418 tokens this way). Appends hold a shared lock per document from before their
    inserts to their commit; compaction takes it exclusively, so it reads the log when
    no append of that document is in flight. SQLite runs one write transaction at a
    time, which is the same guarantee. The keys are document ids (Troupe takes no other
    one-key advisory locks).
    """
    if connection.vendor != "postgresql" or not document_ids:
        return
    lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {lock}(d) FROM unnest(%s::bigint[]) AS d ORDER BY d",  # noqa: S608
            [list(document_ids)],
        )


def _log_append(updates: Sequence[PendingUpdate]) -> None:
    """Insert log entries in order. The group commit runs on a thread of the server that
    fans out updates, so the Python it runs holds the GIL against fan-out: on PostgreSQL
    one statement over arrays costs a third of the ORM's ``bulk_create`` (10 entries:
    0.35 ms of CPU instead of ~1 ms; 100 entries: 0.9 ms instead of ~4 ms)."""
    if connection.vendor != "postgresql":
        DocumentUpdate.objects.bulk_create(
            [
                DocumentUpdate(
                    document_id=u.document_id,
                    update=u.update,
                    user_id=u.user_id,
                    created_at=u.received_at,
                )
                for u in updates
            ]
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{DocumentUpdate._meta.db_table}" '  # noqa: S608
            '("document_id", "update", "user_id", "created_at") '
            "SELECT d, u, w, t FROM unnest(%s::bigint[], %s::bytea[], %s::bigint[], "
            "%s::timestamptz[]) WITH ORDINALITY AS entry(d, u, w, t, n) ORDER BY n",
            [
                [u.document_id for u in updates],
                [u.update for u in updates],
                [u.user_id for u in updates],
                [u.received_at for u in updates],
            ],
        )


@dataclass(frozen=True, slots=True)
class Compaction:
    """What one compaction did: log entries merged into the state row, and how many of
    the merged updates (old state included) the document holds only pending."""

    merged: int
    pending: int


def document_compact(*, document_id: int) -> Compaction:
    """Merge the log entries newer than the state row into it.

    Works from storage alone (never from a process's memory, which may lack another
    process's updates), under a row lock so concurrent compactions serialise. An entry
    whose dependencies are not in storage yet (another process commits them later) is
    pending in the rebuilt document and would be missing from its encoded state: it is
    kept in the state row beside the state, so the mark moves past entries whose
    content the row holds, integrated or pending, and never past content it dropped.
    The log lock (``_lock_logs``) keeps appends of the document out meanwhile, so no
    entry below the mark can still be uncommitted.
    """
    with transaction.atomic():
        _lock_logs([document_id], exclusive=True)
        state_row, _ = DocumentState.objects.select_for_update().get_or_create(
            document_id=document_id, defaults={"state": b"", "through_update_id": 0}
        )
        rows = list(
            DocumentUpdate.objects.filter(
                document_id=document_id, id__gt=state_row.through_update_id
            )
            .order_by("id")
            .values_list("id", "update")
        )
        if not rows:
            return Compaction(0, 0)
        # Rebuilding the document and encoding its state is linear and yields a squashed
        # state that loads in milliseconds; merge_updates is superlinear (72 s for 100k
        # entries) and its output loads slowly.
        schema = Document.objects.get(pk=document_id).schema
        doc, pending = load_document_checked(
            schema, bytes(state_row.state) or None, (bytes(u) for _, u in rows)
        )
        if pending:
            logger.warning(
                "compaction keeps updates whose dependencies storage lacks",
                extra={"document_id": document_id, "pending_updates": len(pending)},
            )
        state_row.state = state_with_pending(doc, pending)
        state_row.through_update_id = rows[-1][0]
        state_row.save(update_fields=["state", "through_update_id", "updated_at"])
        return Compaction(len(rows), len(pending))


class UpdateRefused(Exception):
    """An HTTP-posted update that cannot be accepted; the message says why."""

    status = 400


class UpdateBreaksSchema(UpdateRefused):
    """An HTTP-posted update writing what the storyboard schema does not allow."""

    status = 422


def document_update_post(*, document: Document, update: bytes, user: User) -> None:
    """Accept a binary update sent over HTTP: validate, store attributed, broadcast live.

    Structs written under a client ID bound to another user are refused outright (an
    HTTP caller has no relayed content to protect). Once the log past the state row
    holds ``COMPACT_EVERY_UPDATES`` entries it is compacted here, as the live rooms'
    persister does: a script posting updates to a document nobody has open must not
    leave every later load (and every later post) replaying the whole log.
    """
    try:
        stored = document_opened(document_id=document.pk, kind=document.schema)
        doc = stored.doc
        clocks = update_client_clocks(update)
        known = decode_state_vector(doc.get_state())
        if document.schema == "storyboard":
            BoardGuard.of(doc, stored.pending).check(update)
        apply_update(doc, update)
    except MalformedMessage as exc:
        raise UpdateRefused(f"not a valid Yjs update: {exc}") from exc
    except SchemaViolation as exc:
        raise UpdateBreaksSchema(f"the update breaks the storyboard schema: {exc}") from exc
    # A client ID the document already holds content of is never bound to a newcomer.
    forged = [
        cid
        for cid, end in clocks.items()
        if end > known.get(cid, 0)
        and stored.bindings.get(cid, user.pk if not known.get(cid) else None) != user.pk
    ]
    if forged:
        raise UpdateRefused(f"client IDs {forged} belong to other users")
    now = timezone.now()
    bound = [cid for cid in clocks if cid not in stored.bindings and not known.get(cid)]
    with transaction.atomic():
        document_updates_append(
            updates=[PendingUpdate(document.pk, update, user.pk, now)],
            bindings=[PendingBinding(document.pk, cid, user.pk) for cid in bound],
        )
        emit_on_commit(
            document_group(document.pk),
            events.doc_external(
                document_id=document.pk,
                update=update,
                user_id=user.pk,
                bindings={cid: user.pk for cid in bound},
            ),
        )
    if stored.log_entries_replayed + 1 >= int(settings.TROUPE["COMPACT_EVERY_UPDATES"]):
        document_compact(document_id=document.pk)


def storyboard_migrate(*, document_id: int) -> bytes:
    """Move a storyboard of the first schema (the ``panels`` array) to the board, as a
    forward edit appended to the log by the server (no user), keeping every panel's
    creator, text authors and field setters (``crdt.authored.storyboard_migration``).

    Idempotent: returns b"" when there is nothing left to move. The document row is
    locked meanwhile, so two processes opening it at once migrate it once.
    """
    with transaction.atomic():
        Document.objects.select_for_update().filter(pk=document_id).first()
        stored = document_loaded(document_id=document_id, kind="storyboard")
        if not has_legacy_panels(stored.doc):
            return b""
        rows = DocumentUpdate.objects.filter(document_id=document_id).order_by("id")
        log = [bytes(update) for update in rows.values_list("update", flat=True).iterator()]
        edit = storyboard_migration(
            state_with_pending(stored.doc, stored.pending), stored.bindings, log
        )
        if edit is None or not edit.update:
            return b""
        document_updates_append(
            updates=[PendingUpdate(document_id, edit.update, None, timezone.now())],
            bindings=[PendingBinding(document_id, c, u) for c, u in edit.bindings.items()],
        )
        emit_on_commit(
            document_group(document_id),
            events.doc_external(
                document_id=document_id, update=edit.update, user_id=None, bindings=edit.bindings
            ),
        )
    logger.info("storyboard moved to the board schema", extra={"document_id": document_id})
    return edit.update


def document_opened(*, document_id: int, kind: SchemaKind) -> LoadedDocument:
    """The document rebuilt from storage, a storyboard of the first schema migrated first
    (every path that edits or freezes a document opens it through here)."""
    stored = document_loaded(document_id=document_id, kind=kind)
    if kind == "storyboard" and has_legacy_panels(stored.doc):
        storyboard_migrate(document_id=document_id)
        stored = document_loaded(document_id=document_id, kind=kind)
    return stored
