"""The local journal: updates a process accepted but could not commit when it stopped.

At SIGTERM the persister has ``SHUTDOWN_COMMIT_SECONDS`` to commit what is queued; what
is still uncommitted then (the database is down) is written here, one file per stop,
fsynced and renamed into place, and an error log line says how many updates and where.
The next process on this host (the same ``TROUPE_JOURNAL_DIR``) commits the files before
it loads any document; a load waits for that and fails with 1011 while it cannot.

A file is JSON lines: ``{"update": …}`` and ``{"binding": …}`` records, bytes in base64.
Several processes may share the directory: a file is claimed by renaming it to
``*.replaying-<pid>`` before it is committed, and deleted once committed; a claim left by
a process that died is taken back. Replaying an update that was in fact committed (a
commit that finished after the shutdown gave up on it) changes nothing: updates are
idempotent, and credit counts each struct and each deletion once, first writer first.
"""

import base64
import dataclasses
import json
import logging
import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import close_old_connections

from workspace.documents.services import PendingBinding, PendingUpdate, document_updates_append
from workspace.models import Document

logger = logging.getLogger(__name__)

SUFFIX = ".journal"
CLAIM = ".replaying-"


def without_the_deleted(
    updates: Sequence[PendingUpdate], bindings: Sequence[PendingBinding]
) -> tuple[list[PendingUpdate], list[PendingBinding]]:
    """What of a batch can still be stored, as the database's own deletion rules would
    have left it had the batch been stored first: updates and bindings of a deleted
    document go (its log was deleted with it); an update by a deleted user stays, with no
    author (``DocumentUpdate.user`` is SET_NULL); a deleted user's binding goes (CASCADE).
    """
    document_ids = {u.document_id for u in updates} | {b.document_id for b in bindings}
    user_ids = {u.user_id for u in updates if u.user_id is not None}
    user_ids |= {b.user_id for b in bindings}
    documents = set(Document.objects.filter(pk__in=document_ids).values_list("pk", flat=True))
    users = set(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", flat=True))
    kept = [
        u if u.user_id is None or u.user_id in users else dataclasses.replace(u, user_id=None)
        for u in updates
        if u.document_id in documents
    ]
    kept_bindings = [b for b in bindings if b.document_id in documents and b.user_id in users]
    return kept, kept_bindings


def journal_write(
    directory: Path, updates: Sequence[PendingUpdate], bindings: Sequence[PendingBinding]
) -> Path:
    """Write one journal file durably (fsync of the file and of the directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"troupe-{time.time_ns()}-{os.getpid()}"
    partial = directory / f"{name}.partial"
    with partial.open("w", encoding="ascii") as out:
        for u in updates:
            record = {
                "document_id": u.document_id,
                "user_id": u.user_id,
                "received_at": u.received_at.isoformat(),
                "update": base64.b64encode(u.update).decode("ascii"),
            }
            out.write(json.dumps({"update": record}) + "\n")
        for b in bindings:
            record = {"document_id": b.document_id, "client_id": b.client_id, "user_id": b.user_id}
            out.write(json.dumps({"binding": record}) + "\n")
        out.flush()
        os.fsync(out.fileno())
    final = directory / f"{name}{SUFFIX}"
    partial.rename(final)
    _fsync_directory(directory)
    return final


def journal_read(path: Path) -> tuple[list[PendingUpdate], list[PendingBinding]]:
    """The updates and bindings of one journal file, in the order they were accepted."""
    updates: list[PendingUpdate] = []
    bindings: list[PendingBinding] = []
    for line in path.read_text(encoding="ascii").splitlines():
        record = json.loads(line)
        if "update" in record:
            u = record["update"]
            updates.append(
                PendingUpdate(
                    int(u["document_id"]),
                    base64.b64decode(u["update"]),
                    u["user_id"],
                    datetime.fromisoformat(u["received_at"]),
                )
            )
        else:
            b = record["binding"]
            bindings.append(
                PendingBinding(int(b["document_id"]), int(b["client_id"]), int(b["user_id"]))
            )
    return updates, bindings


def journal_pending(directory: Path) -> bool:
    """Whether any file waits for replay (a directory listing: cheap enough per load)."""
    try:
        return any(_replayable(directory))
    except FileNotFoundError:
        return False


def journal_replay(directory: Path) -> int:
    """Commit every journal file in the directory; return how many updates it committed.

    Runs on the database thread. A file whose commit fails is given back, whole, for the
    next try, and the error propagates (the caller's load fails: nothing is served that
    may lack journaled work).
    """
    close_old_connections()
    committed = 0
    for path in sorted(_replayable(directory)):
        claimed = path.with_name(f"{path.name.split(CLAIM)[0]}{CLAIM}{os.getpid()}")
        try:
            path.rename(claimed)
        except FileNotFoundError:
            continue  # another process claimed it first
        try:
            updates, bindings = journal_read(claimed)
            kept, kept_bindings = without_the_deleted(updates, bindings)
            if len(kept) < len(updates):
                logger.warning(
                    "journal names deleted documents; their updates are skipped",
                    extra={"journal": str(path), "skipped": len(updates) - len(kept)},
                )
            document_updates_append(updates=kept, bindings=kept_bindings)
        except BaseException:
            claimed.rename(path)
            raise
        claimed.unlink()
        _fsync_directory(directory)
        committed += len(kept)
        logger.warning(
            "journal replayed: %d updates from %s committed",
            len(kept),
            path,
            extra={"journal": str(path), "updates": len(kept)},
        )
    return committed


def _replayable(directory: Path) -> list[Path]:
    """Journal files, and claims of processes that no longer run."""
    out: list[Path] = []
    for path in directory.iterdir():
        if path.name.endswith(SUFFIX):
            out.append(path)
        elif CLAIM in path.name:
            pid = path.name.rsplit(CLAIM, 1)[1]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                out.append(path)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
