"""Writes of records: uploads, new records, snapshots of documents and restores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from crdt.attribution import StoryboardCredit
from crdt.authored import script_restore, storyboard_restore
from crdt.documents import apply_update, state_with_pending
from crdt.snapshots import normalised_content, state_contains
from workspace import events
from workspace.documents.services import (
    PendingBinding,
    PendingUpdate,
    document_opened,
    document_updates_append,
)
from workspace.events import emit_on_commit
from workspace.groups import document_group
from workspace.models import (
    AuthorRole,
    Blob,
    CallResponse,
    Citation,
    Document,
    DocumentKind,
    Project,
    Record,
    RecordAuthor,
    RecordKind,
    ResponseStatus,
    Snapshot,
    Work,
)
from workspace.records.rules import (
    CANONICAL_SCHEMA,
    CURRENT_LICENCE,
    LICENCES,
    MEDIA_KINDS,
    RECORD_ID_PREFIX,
    SNAPSHOT_KINDS,
    WORK_ID_PREFIX,
    AuthorSpec,
    RecordRefused,
    author_json,
    canonical_json,
    fingerprint_of,
    max_upload_bytes,
    normalise_media_type,
    record_id_of,
    sha256_hex,
    sniff_media_type,
)
from workspace.records.selectors import (
    credit_as_json,
    document_credit,
    latest_snapshot,
    snapshot_content,
)


def blob_store(*, data: bytes, declared_type: str, user: User) -> Blob:
    """Validate an upload (size, declared type = sniffed type) and store it by SHA-256."""
    limit = max_upload_bytes()
    if len(data) > limit:
        raise RecordRefused(f"file larger than the {limit}-byte limit", status=413)
    if not data:
        raise RecordRefused("empty file")
    declared = normalise_media_type(declared_type)
    if declared not in MEDIA_KINDS:
        raise RecordRefused(f"media type {declared!r} is not accepted", status=415)
    sniffed = sniff_media_type(data[:64])
    if sniffed != declared:
        raise RecordRefused(
            f"declared {declared} but the content is {sniffed or 'not a known media type'}",
            status=415,
        )
    digest = sha256_hex(data)
    name = f"blobs/{digest[:2]}/{digest}"
    existing = Blob.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(data))
    blob, _ = Blob.objects.get_or_create(
        sha256=digest,
        defaults={
            "size": len(data),
            "media_type": declared,
            "storage_name": name,
            "uploaded_by": user,
        },
    )
    return blob


def record_create(
    *,
    user: User,
    kind: RecordKind,
    title: str,
    content: dict[str, Any],
    description: str = "",
    authors: Sequence[AuthorSpec] = (),
    resources: Sequence[Record] = (),
    project: Project | None = None,
    previous: Record | None = None,
    version_label: str = "",
    text: str = "",
    blob: Blob | None = None,
    document: Document | None = None,
    licence: tuple[str, str] = CURRENT_LICENCE,
    snapshot: dict[str, Any] | None = None,
) -> Record:
    """Make an immutable record (a new work, or the next version of ``previous``'s work).

    ``content`` describes the bytes (``media_type``, ``sha256``, ``size`` and kind-specific
    fields) and goes into the canonical JSON as is.
    """
    if not title.strip():
        raise RecordRefused("a record needs a title")
    if licence not in LICENCES:
        raise RecordRefused(f"unknown licence {licence}")
    authors = list(authors) or [AuthorSpec(user, (AuthorRole.AUTHOR.value,))]
    for spec in authors:
        bad = set(spec.roles) - set(AuthorRole.values)
        if bad or not spec.roles:
            raise RecordRefused(f"roles must be among {AuthorRole.values}")
    if len({a.user.pk for a in authors}) != len(authors):
        raise RecordRefused("an author is listed twice")
    if previous is not None:
        if previous.kind != kind:
            raise RecordRefused("a new version keeps the kind of the work")
        if hasattr(previous, "next_version"):
            raise RecordRefused(
                f"{previous.rid} already has a next version; build on the latest", 409
            )
    now = timezone.now().replace(microsecond=0)
    canonical: dict[str, Any] = {
        "schema": CANONICAL_SCHEMA,
        "kind": str(kind),
        "title": title,
        "description": description,
        "authors": [author_json(a) for a in authors],
        "licence": {
            "id": licence[0],
            "version": licence[1],
            "grant_sha256": sha256_hex(LICENCES[licence].encode("utf-8")),
        },
        "created": now.isoformat().replace("+00:00", "Z"),
        "version": {
            "number": previous.version + 1 if previous else 1,
            "label": version_label,
            "previous": previous.rid if previous else None,
        },
        "resources": sorted({r.rid for r in resources}),
        "project": project.slug if project else None,
        "content": content,
    }
    rid = record_id_of(canonical)
    fingerprint = fingerprint_of(canonical)
    with transaction.atomic():
        if previous is not None:
            work = Work.objects.select_for_update().get(pk=previous.work_id)
            if Record.objects.filter(work=work, fingerprint=fingerprint).exists():
                raise RecordRefused("an identical version of this work exists", 409)
        else:
            work = Work.objects.create(
                wid=WORK_ID_PREFIX + rid.removeprefix(RECORD_ID_PREFIX),
                project=project,
                document=document,
                kind=kind,
            )
        try:
            with transaction.atomic():
                record = Record.objects.create(
                    rid=rid,
                    work=work,
                    version=canonical["version"]["number"],
                    version_label=version_label,
                    previous=previous,
                    kind=kind,
                    title=title,
                    description=description,
                    licence=licence[0],
                    licence_version=licence[1],
                    created_at=now,
                    created_by=user,
                    project=project,
                    media_type=content["media_type"],
                    content_sha256=content["sha256"],
                    content_size=content["size"],
                    text=text,
                    blob=blob,
                    fingerprint=fingerprint,
                    canonical=canonical_json(canonical),
                )
        except IntegrityError as exc:
            raise RecordRefused("this version exists already", 409) from exc
        RecordAuthor.objects.bulk_create(
            [
                RecordAuthor(record=record, user=a.user, roles=sorted(set(a.roles)), position=n)
                for n, a in enumerate(authors)
            ]
        )
        Citation.objects.bulk_create(
            [Citation(record=record, resource=r) for r in {r.pk: r for r in resources}.values()]
        )
        if snapshot is not None and document is not None:
            Snapshot.objects.create(record=record, document=document, **snapshot)
    return record


def _snapshot_authors(credit: dict[str, Any], document: Document) -> list[AuthorSpec]:
    # Everyone whose work survives or who deleted, most surviving work first. A script's
    # people are its writers. On a storyboard each gets the roles of what they did: text
    # makes a writer, an author of a panel's image an illustrator, and laying the board out
    # (creating panels, setting shot sizes and durations, attaching images, deleting) an
    # editor, since those are cutting decisions.
    weights: dict[int, tuple[int, int]] = {}
    roles: dict[int, tuple[str, ...]] = {}
    for info in credit["users"].values():
        if info["user_id"] is None:
            continue
        surviving, images = int(info.get("surviving", 0)), int(info.get("images", 0))
        arranged = int(info.get("panels_created", 0)) + int(info.get("fields_set", 0))
        removed = int(info.get("panels_deleted", 0))
        if "deleted" in info:
            removed += int(info["deleted"]["own"]) + int(info["deleted"]["others"])
        made = surviving + images + arranged
        if not made and not removed:
            continue
        pk = int(info["user_id"])
        weights[pk] = (made, removed)
        if document.kind == DocumentKind.SCRIPT:
            roles[pk] = (AuthorRole.WRITER.value,)
            continue
        did = [
            (surviving > 0, AuthorRole.WRITER),
            (images > 0, AuthorRole.ILLUSTRATOR),
            (arranged > 0 or removed > 0, AuthorRole.EDITOR),
        ]
        roles[pk] = tuple(role.value for done, role in did if done)
    people = {u.pk: u for u in get_user_model().objects.filter(pk__in=list(weights))}
    order = sorted(weights, key=lambda pk: (-weights[pk][0], -weights[pk][1], pk))
    return [AuthorSpec(people[pk], roles[pk]) for pk in order if pk in people]


def snapshot_create(
    *,
    document: Document,
    user: User,
    title: str = "",
    description: str = "",
    version_label: str = "",
    resources: Sequence[Record] = (),
) -> Record:
    """Freeze the stored state of a document into a record (the next version of its work).

    The record links to the document's previous snapshot and says whether the new state
    contains it (every insert and deletion of the old state is in the new one). It cites
    ``resources``, every image record a storyboard's panels show, and every call response
    marked used for this document and not cited yet (which then names this snapshot as
    ``used_in``): records are immutable, so the snapshot after the decision is the first
    one that can cite what it uses.
    """
    with transaction.atomic():
        # Locked so that two snapshots taken at once cannot both claim a response.
        pending = list(
            CallResponse.objects.select_for_update()
            .filter(used_for=document, status=ResponseStatus.USED, used_in__isnull=True)
            .select_related("record")
            .order_by("pk")
        )
        record = _snapshot_record(
            document=document,
            user=user,
            title=title,
            description=description,
            version_label=version_label,
            resources=[*resources, *(r.record for r in pending)],
            news=bool(pending),
        )
        if pending:
            CallResponse.objects.filter(pk__in=[r.pk for r in pending]).update(
                used_in=record.snapshot, updated_at=timezone.now()
            )
    return record


def _snapshot_record(
    *,
    document: Document,
    user: User,
    title: str,
    description: str,
    version_label: str,
    resources: Sequence[Record],
    news: bool,
) -> Record:
    # ``news``: something to cite that the previous snapshot does not (a used response),
    # which makes a snapshot worth taking even if the document has not changed.
    stored = document_opened(document_id=document.pk, kind=document.schema)
    doc = stored.doc
    state = bytes(doc.get_update())
    state_vector = bytes(doc.get_state())
    media_type, content_text, content_hash = normalised_content(doc, document.schema)
    previous = latest_snapshot(document)
    if previous is not None and previous.content_sha256 == content_hash and not news:
        if bytes(previous.snapshot.state) == state:
            raise RecordRefused(f"the document has not changed since {previous.rid}", 409)
    contains = state_contains(state, bytes(previous.snapshot.state)) if previous else None
    credit = document_credit(
        document=document,
        state=state,
        bindings=stored.bindings,
        through_update_id=stored.last_update_id,
    )
    credit_json = credit_as_json(credit)
    if isinstance(credit, StoryboardCredit):
        # The panels' images are material the board uses: cite the ones stored here.
        shown = {p.image for p in credit.panels if p.image}
        resources = [*resources, *Record.objects.filter(rid__in=shown).order_by("pk")]
    authors = _snapshot_authors(credit_json, document)
    if not authors:
        authors = [AuthorSpec(user, (AuthorRole.CONTRIBUTOR.value,))]
    raw = content_text.encode("utf-8")
    content = {
        "media_type": media_type,
        "sha256": content_hash,
        "size": len(raw),
        "document": f"{document.project.slug}/{document.slug}",
        "state_sha256": sha256_hex(state),
        "state_vector": state_vector.hex(),
        "contains_previous": contains,
    }
    number = previous.version + 1 if previous else 1
    return record_create(
        user=user,
        kind=SNAPSHOT_KINDS[DocumentKind(document.kind)],
        title=title or f"{document.title}, snapshot {number}",
        description=description,
        content=content,
        authors=authors,
        resources=resources,
        project=document.project,
        previous=previous,
        version_label=version_label,
        text=content_text,
        document=document,
        snapshot={
            "state": state,
            "state_vector": state_vector,
            "through_update_id": stored.last_update_id,
            "contains_previous": contains,
            "credit": credit_json,
        },
    )


def document_restore(*, document: Document, record: Record, user: User) -> bytes:
    """Make the document's content equal to a snapshot's, as a new forward edit.

    What the restore puts back is written for the people who made it in the snapshot,
    each under a fresh client ID bound to them (``crdt.authored``), so restored work stays
    credited to its authors; what it removes is removed by ``user``, to whom the log entry
    is attributed. The update goes live to every process holding the document. Returns
    the update (b"" when the document already equals the snapshot).
    """
    snap = Snapshot.objects.filter(record=record).select_related("document").first()
    if snap is None or snap.document_id != document.pk:
        raise RecordRefused("that record is not a snapshot of this document")
    stored = document_opened(document_id=document.pk, kind=document.schema)
    state = state_with_pending(stored.doc, stored.pending)
    try:
        if document.schema == "script":
            edit = script_restore(state, bytes(snap.state), stored.bindings, restorer=user.pk)
        else:
            panels = snapshot_content(record)
            if not isinstance(panels, list):
                raise ValueError("a storyboard snapshot holds panels")
            edit = storyboard_restore(
                state, panels, bytes(snap.state), stored.bindings, restorer=user.pk
            )
    except ValueError as exc:
        raise RecordRefused(f"this snapshot cannot be restored: {exc}", 409) from exc
    if not edit.update:
        return b""
    check = stored.doc
    apply_update(check, edit.update)
    if normalised_content(check, document.schema)[2] != record.content_sha256:
        raise RecordRefused("the restore did not reproduce the snapshot's content", 409)
    with transaction.atomic():
        document_updates_append(
            updates=[PendingUpdate(document.pk, edit.update, user.pk, timezone.now())],
            bindings=[
                PendingBinding(document.pk, client_id, owner)
                for client_id, owner in edit.bindings.items()
            ],
        )
        emit_on_commit(
            document_group(document.pk),
            events.doc_external(
                document_id=document.pk,
                update=edit.update,
                user_id=user.pk,
                bindings=edit.bindings,
            ),
        )
    return edit.update
