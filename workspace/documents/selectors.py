"""Reads of documents: lookup, who may read or write one, and what storage holds."""

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from operator import itemgetter
from typing import Any, cast

import psycopg
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from pycrdt import Doc

from crdt.documents import DocumentKind, load_document_checked, script_text
from workspace.access import can_read_live, can_write
from workspace.models import (
    ClientBinding,
    Document,
    DocumentState,
    DocumentUpdate,
    Membership,
    Project,
)
from workspace.rows import columns, from_row


def document_by_path(*, project_slug: str, document_slug: str) -> Document | None:
    """The document addressed as ``<project-slug>/<document-slug>``, with its project."""
    return (
        Document.objects.select_related("project")
        .filter(project__slug=project_slug, slug=document_slug)
        .first()
    )


def document_for_connection(
    *, user: User | AnonymousUser, project_slug: str, document_slug: str
) -> tuple[Document, bool, bool] | None:
    """The document and the user's ``(can_read, can_write)``, in one statement, or None.

    Used for every websocket connect, where each round trip counts, and written as plain
    SQL: the ORM built this query (a join and a subquery) in 2.0 ms per call against
    0.2 ms for the statement itself on this 2-core machine.
    """
    sql = (
        f'SELECT p."visibility", (SELECT m."role" FROM "{Membership._meta.db_table}" m '  # noqa: S608
        'WHERE m."project_id" = d."project_id" AND m."user_id" = %s LIMIT 1), '
        f'{columns(Document, "d")} FROM "{Document._meta.db_table}" d '
        f'JOIN "{Project._meta.db_table}" p ON p."id" = d."project_id" '
        'WHERE p."slug" = %s AND d."slug" = %s'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk or 0, project_slug, document_slug])
        row = cursor.fetchone()
    if row is None:
        return None
    visibility, member_role = row[0], row[1]
    document = from_row(Document, row[2:])
    if member_role is not None:
        return document, True, can_write(member_role)
    return document, can_read_live(user=user, role=None, visibility=visibility), False


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """What storage holds for a document: the compacted state and the newer log entries."""

    state: bytes | None
    updates: list[bytes]
    last_update_id: int
    bindings: dict[int, int]


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """A document rebuilt from storage, with the last log entry it includes."""

    doc: Doc[Any]
    last_update_id: int
    bindings: dict[int, int]
    log_entries_replayed: int
    # Stored updates (merged runs of log entries, or the state row) whose dependencies
    # storage lacks: applied, but pending in ``doc`` (see crdt.documents.settle).
    pending: list[bytes]


def document_stored(*, document_id: int) -> StoredDocument:
    """Everything storage holds to rebuild a document: the state row and the log after it."""
    with _document_storage(document_id=document_id) as (state, entries, last, bindings):
        return StoredDocument(state, list(entries), last, bindings)


def document_loaded(*, document_id: int, kind: DocumentKind) -> LoadedDocument:
    """The document rebuilt from its state row and log, the log streamed into Yrs as read.

    Rows arrive in chunks while Yrs integrates the previous ones, so the database's work
    overlaps the merging (100,000 entries: ~105 ms instead of ~135 ms read then merged).
    """
    with _document_storage(document_id=document_id) as (state, entries, last, bindings):
        # zip stops at the last entry before drawing from the counter: next() is the count.
        counter = count()
        doc, pending = load_document_checked(
            kind, state, map(itemgetter(0), zip(entries, counter, strict=False))
        )
        return LoadedDocument(doc, last, bindings, next(counter), pending)


@dataclass(frozen=True, slots=True)
class ScriptFirstPaint:
    """What a page shows of a script before its socket syncs: the text, and the whole
    state (a Yjs v1 update) for the editor to start from."""

    text: str
    state: bytes


def script_first_paint(*, document_id: int, max_bytes: int) -> ScriptFirstPaint | None:
    """The stored script (what is committed) for a page to embed; None when its encoded
    state is over ``max_bytes`` (the page then waits for the socket, as before).

    Read from storage, not from a live room this process may hold: a page is rendered on
    a worker thread and a room's document belongs to the event loop. What the room holds
    beyond storage (the last ~50 ms of edits, before their group commit) comes with the
    socket's sync, which gives the client whatever its state vector lacks.
    """
    # Two reads (the state row, then every log entry after it), not document_loaded's
    # four: a page needs no client bindings, and a compaction in between only means
    # entries the state row also holds, which the log keeps as history anyway.
    row = (
        DocumentState.objects.filter(document_id=document_id)
        .values_list("through_update_id", "state")
        .first()
    )
    through, stored = row if row else (0, None)
    with _log_entries(document_id=document_id, after=through, through=_LAST_ID) as entries:
        doc, _pending = load_document_checked(
            "script", bytes(stored) if stored is not None else None, entries
        )
    state = bytes(doc.get_update())
    if len(state) > max_bytes:
        return None
    return ScriptFirstPaint(text=script_text(doc), state=state)


@contextmanager
def _document_storage(
    *, document_id: int
) -> Iterator[tuple[bytes | None, Iterator[bytes], int, dict[int, int]]]:
    """The state row, an iterator over the log entries after it, the last entry's id and
    the client bindings; the entries can be read while the context is open."""
    state, through, last, bindings = _storage_head(document_id=document_id)
    with _log_entries(document_id=document_id, after=through, through=last) as entries:
        yield state, entries, last, bindings


def _storage_head(*, document_id: int) -> tuple[bytes | None, int, int, dict[int, int]]:
    """The state row, the log entry it runs through, the log's last entry and the client
    bindings of a document: one statement (the ORM took four, 2.1 ms per cold load on this
    2-core machine against 0.4 ms; a storm loads hundreds of rooms at once).

    The first row carries the state (NULL columns when there is none) and the newest log
    id; every further row is one binding. The log is append-only, so its newest id is the
    last entry after the state whenever it is larger than the state's ``through``.
    """
    sql = (
        'SELECT 0, s."state", s."through_update_id", '  # noqa: S608 - names from the models
        f'(SELECT MAX(u."id") FROM "{DocumentUpdate._meta.db_table}" u WHERE u."document_id" = %s) '
        f'FROM (SELECT 1 AS one) o LEFT JOIN "{DocumentState._meta.db_table}" s '
        'ON s."document_id" = %s '
        'UNION ALL SELECT 1, NULL, b."client_id", b."user_id" '
        f'FROM "{ClientBinding._meta.db_table}" b WHERE b."document_id" = %s'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [document_id, document_id, document_id])
        rows = cursor.fetchall()
    state: bytes | None = None
    through = newest = 0
    bindings: dict[int, int] = {}
    for kind, blob, first, second in rows:
        if kind == 0:
            state = None if blob is None else bytes(blob)
            through = int(first or 0)
            newest = int(second or 0)
        else:
            bindings[int(first)] = int(second)
    return state, through, max(through, newest), bindings


LOG_STREAM_CHUNK_ROWS = 1024
_LAST_ID = 2**63 - 1  # above any log entry's id (a bigint)


@contextmanager
def _log_entries(*, document_id: int, after: int, through: int) -> Iterator[Iterator[bytes]]:
    """The log entries with ``after < id <= through``, oldest first, as they arrive.

    A log can hold many thousands of rows, so this is plain SQL: the ORM's row handling
    doubles the time. On PostgreSQL the rows come in psycopg's binary format, which skips
    bytea's hex text encoding, in chunks of ``LOG_STREAM_CHUNK_ROWS`` (libpq's chunked
    rows mode) so the server sends while the client works, and the scan follows the log's
    index, already in order: with statistics that predate a bulk import the planner
    otherwise picks a bitmap scan and an on-disk sort (100,000 entries read into a list:
    ~20 ms streamed, ~40 ms fetched at once, ~120 ms with the planner's choice).
    """
    if through <= after:
        yield iter(())
        return
    sql = (
        f'SELECT "update" FROM "{DocumentUpdate._meta.db_table}" '  # noqa: S608
        'WHERE "document_id" = %s AND "id" > %s AND "id" <= %s ORDER BY "id"'
    )
    params = [document_id, after, through]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            yield (bytes(row[0]) for row in cursor.fetchall())
        return
    nested = connection.in_atomic_block
    with transaction.atomic(), psycopg.Cursor(connection.connection) as raw:
        # Django's own cursors bind parameters client-side, which rules out binary rows.
        raw.execute(_INDEX_ORDER_ONLY)
        # stream() is a generator (typed as an Iterator): closing it ends the query,
        # discarding unread rows, before the connection is used again.
        rows = cast(
            "Generator[tuple[bytes]]",
            raw.stream(sql, params, binary=True, size=LOG_STREAM_CHUNK_ROWS),
        )
        try:
            yield map(itemgetter(0), rows)
        finally:
            rows.close()
        if nested:
            raw.execute(_PLANNER_DEFAULTS)


# SET LOCAL lasts until the transaction ends: restored when the read ran inside another.
_INDEX_ORDER_ONLY = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
_PLANNER_DEFAULTS = "SET LOCAL enable_bitmapscan TO DEFAULT; SET LOCAL enable_sort TO DEFAULT"
