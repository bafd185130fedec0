"""Citable records: intrinsic ids, licences, uploads, snapshots, restore and the family tree.

A record id is ``trp:rec:1:<sha256 hex>`` of the record's canonical JSON: sorted keys,
no insignificant whitespace, UTF-8 (non-ASCII kept as is). The canonical JSON holds the
content's SHA-256, size and media type and all metadata (kind, title, description,
authors with roles, licence with version and the hash of its grant, creation time,
previous version, cited resources), so anyone with the exported JSON and the content can
recompute both hashes. A work's id is ``trp:work:1:<hash of its first version>``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from crdt.attribution import ScriptCredit, StoryboardCredit, script_credit, storyboard_credit
from crdt.snapshots import normalised_content, restore_update, state_contains
from workspace.events import emit_on_commit
from workspace.groups import document_group
from workspace.models import (
    AuthorRole,
    Blob,
    Citation,
    Document,
    DocumentKind,
    DocumentUpdate,
    Project,
    Record,
    RecordAuthor,
    RecordKind,
    Role,
    Snapshot,
    Visibility,
    Work,
)
from workspace.selectors import document_loaded, project_role
from workspace.services import PendingBinding, PendingUpdate, document_updates_append

RECORD_ID_PREFIX = "trp:rec:1:"
WORK_ID_PREFIX = "trp:work:1:"
CANONICAL_SCHEMA = "trp:record:1"

#: The non-exclusive grant every record is made under, by (id, version). A new wording
#: is a new version; records keep the version they were created under.
LICENCES: dict[tuple[str, str], str] = {
    ("troupe-nonexclusive", "1.0"): (
        "The authors keep ownership of this record and grant Troupe and its members a "
        "non-exclusive, worldwide, royalty-free licence to use, copy, adapt and remix it, "
        "and to use it in productions, where any money made is shared with the "
        "contributing artists under the production's payment terms."
    ),
}
CURRENT_LICENCE = ("troupe-nonexclusive", "1.0")

SNAPSHOT_KINDS = {
    DocumentKind.SCRIPT: RecordKind.SCRIPT_SNAPSHOT,
    DocumentKind.STORYBOARD: RecordKind.STORYBOARD_SNAPSHOT,
}
MEDIA_KINDS: dict[str, RecordKind] = {
    "image/png": RecordKind.IMAGE,
    "image/jpeg": RecordKind.IMAGE,
    "image/gif": RecordKind.IMAGE,
    "image/webp": RecordKind.IMAGE,
    "audio/mpeg": RecordKind.AUDIO,
    "audio/wav": RecordKind.AUDIO,
    "audio/ogg": RecordKind.AUDIO,
    "audio/flac": RecordKind.AUDIO,
    "audio/mp4": RecordKind.AUDIO,
    "video/mp4": RecordKind.VIDEO,
    "video/webm": RecordKind.VIDEO,
}
_MEDIA_ALIASES = {
    "image/jpg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
}
TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"


class RecordRefused(Exception):
    """A record that cannot be made; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def canonical_json(value: Any) -> str:
    """The canonical serialisation: sorted keys, compact separators, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data``, lowercase hex."""
    return hashlib.sha256(data).hexdigest()


def record_id_of(canonical: dict[str, Any]) -> str:
    """The intrinsic id of a record from its canonical metadata (anyone can recompute it)."""
    return RECORD_ID_PREFIX + sha256_hex(canonical_json(canonical).encode("utf-8"))


def fingerprint_of(canonical: dict[str, Any]) -> str:
    """What makes two versions identical: everything but creation time and lineage."""
    same = {k: v for k, v in canonical.items() if k not in ("created", "version")}
    return sha256_hex(canonical_json(same).encode("utf-8"))


def max_upload_bytes() -> int:
    """The upload size limit (``TROUPE_MAX_UPLOAD_BYTES``, 50 MiB by default)."""
    return int(settings.TROUPE["MAX_UPLOAD_BYTES"])


def sniff_media_type(head: bytes) -> str | None:
    """The media type the file's first bytes show, among the accepted ones."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] in (b"M4A ", b"M4B ") else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


def normalise_media_type(declared: str) -> str:
    """Lowercase, parameters dropped, common aliases mapped to their registered names."""
    base = declared.split(";", 1)[0].strip().lower()
    return _MEDIA_ALIASES.get(base, base)


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


def blob_bytes(blob: Blob) -> bytes:
    """The stored bytes of a blob."""
    with default_storage.open(blob.storage_name, "rb") as handle:
        data: bytes = handle.read()
    return data


# ----------------------------------------------------------------------------- access


def _project_readable(user: User | AnonymousUser, project: Project | None) -> bool:
    if project is None or project.visibility == Visibility.PUBLIC:
        return True
    return project_role(user=user, project_id=project.pk) is not None


def record_readable(*, user: User | AnonymousUser, record: Record) -> bool:
    """Anyone reads records of public projects and personal records; else members only."""
    if user.is_authenticated and record.created_by_id == user.pk:
        return True
    return _project_readable(user, record.project)


def records_readable_filter(user: User | AnonymousUser) -> Q:
    """The ORM filter of records ``user`` may read."""
    allowed = Q(project__isnull=True) | Q(project__visibility=Visibility.PUBLIC)
    if user.is_authenticated:
        allowed |= Q(created_by_id=user.pk) | Q(project__memberships__user_id=user.pk)
    return allowed


def can_contribute(*, user: User | AnonymousUser, project: Project | None) -> bool:
    """Signed-in users contribute to public projects; to private ones, leads and editors."""
    if not user.is_authenticated:
        return False
    if project is None or project.visibility == Visibility.PUBLIC:
        return True
    return project_role(user=user, project_id=project.pk) in (Role.LEAD, Role.EDITOR)


# ----------------------------------------------------------------------------- creation


@dataclass(frozen=True, slots=True)
class AuthorSpec:
    """An author of a new record and their roles."""

    user: User
    roles: tuple[str, ...]


def _author_json(spec: AuthorSpec) -> dict[str, Any]:
    return {
        "username": spec.user.get_username(),
        "name": spec.user.get_full_name() or spec.user.get_username(),
        "roles": sorted(set(spec.roles)),
    }


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
        "authors": [_author_json(a) for a in authors],
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


def text_content(text: str) -> dict[str, Any]:
    """The canonical content description of a text record."""
    raw = text.encode("utf-8")
    return {"media_type": TEXT_MEDIA_TYPE, "sha256": sha256_hex(raw), "size": len(raw)}


def blob_content(blob: Blob) -> dict[str, Any]:
    """The canonical content description of an uploaded file."""
    return {"media_type": blob.media_type, "sha256": blob.sha256, "size": blob.size}


def record_content_bytes(record: Record) -> bytes:
    """The bytes whose SHA-256 is ``content.sha256`` in the canonical JSON."""
    if record.blob is not None:
        return blob_bytes(record.blob)
    return record.text.encode("utf-8")


# ----------------------------------------------------------------------------- snapshots


def _credit_json(credit: ScriptCredit | StoryboardCredit) -> dict[str, Any]:
    ids: set[int | None] = set()
    if isinstance(credit, ScriptCredit):
        ids |= set(credit.surviving) | set(credit.typed) | set(credit.deleted)
    else:
        ids |= set(credit.panels_created) | set(credit.fields_set) | set(credit.panels_deleted)
    names = dict(
        get_user_model()
        .objects.filter(pk__in=[i for i in ids if i is not None])
        .values_list("pk", "username")
    )

    def name(owner: int | None) -> str:
        return names.get(owner, f"user-{owner}") if owner is not None else "(unattributed)"

    if isinstance(credit, ScriptCredit):
        users = {
            name(owner): {
                "user_id": owner,
                "surviving": credit.surviving.get(owner, 0),
                "typed": credit.typed.get(owner, 0),
                "deleted": {
                    "own": credit.deleted[owner].own if owner in credit.deleted else 0,
                    "others": credit.deleted[owner].others if owner in credit.deleted else 0,
                },
                "by_scene": {
                    scene: counts[owner]
                    for scene, counts in credit.by_scene.items()
                    if counts.get(owner)
                },
            }
            for owner in sorted(ids, key=lambda o: -1 if o is None else o)
        }
        return {
            "kind": "script",
            "unit": "utf16",
            "length": credit.length,
            "scenes": credit.scenes,
            "users": users,
        }
    return {
        "kind": "storyboard",
        "panels": [
            {
                "panel": p.panel,
                "created_by": name(p.created_by),
                "fields": {k: name(v) for k, v in sorted(p.fields.items())},
            }
            for p in credit.panels
        ],
        "users": {
            name(owner): {
                "user_id": owner,
                "panels_created": credit.panels_created.get(owner, 0),
                "fields_set": credit.fields_set.get(owner, 0),
                "panels_deleted": credit.panels_deleted.get(owner, 0),
            }
            for owner in sorted(ids, key=lambda o: -1 if o is None else o)
        },
    }


def document_credit(
    *, document: Document, state: bytes, bindings: dict[int, int], through_update_id: int
) -> ScriptCredit | StoryboardCredit:
    """Credit of a document's state from its attributed log up to ``through_update_id``."""
    log = (
        (user_id, bytes(update))
        for user_id, update in DocumentUpdate.objects.filter(
            document_id=document.pk, id__lte=through_update_id
        )
        .order_by("id")
        .values_list("user_id", "update")
        .iterator()
    )
    if document.schema == "script":
        return script_credit(state, bindings, log)
    return storyboard_credit(state, bindings, log)


def _snapshot_authors(credit: dict[str, Any], document: Document) -> list[AuthorSpec]:
    # Everyone whose work survives or who deleted, most surviving work first.
    role = AuthorRole.WRITER if document.kind == DocumentKind.SCRIPT else AuthorRole.ILLUSTRATOR
    weights: dict[int, tuple[int, int]] = {}
    for info in credit["users"].values():
        if info["user_id"] is None:
            continue
        made = int(info.get("surviving", 0)) + int(info.get("panels_created", 0))
        made += int(info.get("fields_set", 0))
        removed = int(info.get("panels_deleted", 0))
        if "deleted" in info:
            removed += int(info["deleted"]["own"]) + int(info["deleted"]["others"])
        if made or removed:
            weights[int(info["user_id"])] = (made, removed)
    people = {u.pk: u for u in get_user_model().objects.filter(pk__in=list(weights))}
    order = sorted(weights, key=lambda pk: (-weights[pk][0], -weights[pk][1], pk))
    return [AuthorSpec(people[pk], (role.value,)) for pk in order if pk in people]


def latest_snapshot(document: Document) -> Record | None:
    """The newest snapshot record of a document."""
    return (
        Record.objects.filter(snapshot__document=document)
        .select_related("snapshot")
        .order_by("-created_at", "-pk")
        .first()
    )


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
    contains it (every insert and deletion of the old state is in the new one).
    """
    stored = document_loaded(document_id=document.pk, kind=document.schema)
    doc = stored.doc
    state = bytes(doc.get_update())
    state_vector = bytes(doc.get_state())
    media_type, content_text, content_hash = normalised_content(doc, document.schema)
    previous = latest_snapshot(document)
    if previous is not None and previous.content_sha256 == content_hash:
        if bytes(previous.snapshot.state) == state:
            raise RecordRefused(f"the document has not changed since {previous.rid}", 409)
    contains = state_contains(state, bytes(previous.snapshot.state)) if previous else None
    credit = document_credit(
        document=document,
        state=state,
        bindings=stored.bindings,
        through_update_id=stored.last_update_id,
    )
    credit_json = _credit_json(credit)
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


def snapshot_content(record: Record) -> str | list[dict[str, Any]]:
    """A snapshot's normalised content: Fountain text or the list of panels."""
    if record.kind == RecordKind.SCRIPT_SNAPSHOT:
        return record.text
    panels: list[dict[str, Any]] = json.loads(record.text)["panels"]
    return panels


def document_restore(*, document: Document, record: Record, user: User) -> bytes:
    """Make the document's content equal to a snapshot's, as a new forward edit.

    The edit is written under a fresh client ID bound to ``user``, appended to the log
    attributed to them and sent live to every process holding the document. Returns the
    update (b"" when the document already equals the snapshot).
    """
    snap = Snapshot.objects.filter(record=record).select_related("document").first()
    if snap is None or snap.document_id != document.pk:
        raise RecordRefused("that record is not a snapshot of this document")
    stored = document_loaded(document_id=document.pk, kind=document.schema)
    doc = stored.doc
    client_id = secrets.randbelow(2**31 - 1) + 1
    while client_id in stored.bindings:
        client_id = secrets.randbelow(2**31 - 1) + 1
    update = restore_update(
        document.schema, bytes(doc.get_update()), snapshot_content(record), client_id
    )
    if not update:
        return b""
    with transaction.atomic():
        document_updates_append(
            updates=[PendingUpdate(document.pk, update, user.pk, timezone.now())],
            bindings=[PendingBinding(document.pk, client_id, user.pk)],
        )
        emit_on_commit(
            document_group(document.pk),
            {
                "type": "doc.external",
                "document_id": document.pk,
                "update": update,
                "user_id": user.pk,
            },
        )
    return update


# ----------------------------------------------------------------------------- export


def record_export(record: Record, user: User | AnonymousUser) -> dict[str, Any]:
    """The exported JSON of a record: its id, the canonical metadata it hashes, and links.

    ``id == "trp:rec:1:" + sha256(canonical_json(export["canonical"]))``. Linked records
    the user may not read are counted, not named.
    """
    resources = [c.resource for c in record.resource_links.select_related("resource__project")]
    remixes = [c.record for c in record.remix_links.select_related("record__project")]
    next_version = getattr(record, "next_version", None)
    canonical = json.loads(record.canonical)
    licence = (record.licence, record.licence_version)
    out: dict[str, Any] = {
        "id": record.rid,
        "work": record.work.wid,
        "version": record.version,
        "canonical": canonical,
        "licence_text": LICENCES.get(licence, ""),
        "resources": [r.rid for r in resources if record_readable(user=user, record=r)],
        "remixes": [r.rid for r in remixes if record_readable(user=user, record=r)],
        "hidden_links": sum(
            not record_readable(user=user, record=r) for r in [*resources, *remixes]
        ),
        "next_version": next_version.rid if next_version is not None else None,
    }
    snap = Snapshot.objects.filter(record=record).first()
    if snap is not None:
        out["snapshot"] = {
            "through_update_id": snap.through_update_id,
            "contains_previous": snap.contains_previous,
            "credit": snap.credit,
        }
    return out


def record_tree(*, record: Record, user: User | AnonymousUser, depth: int) -> dict[str, Any]:
    """Ancestors (resources, recursively) and descendants (remixes) up to ``depth`` levels.

    Records the user may not read are left out and counted as ``hidden``.
    """
    hidden: set[int] = set()

    def node(r: Record) -> dict[str, Any]:
        return {"id": r.rid, "title": r.title, "kind": r.kind, "version": r.version}

    def walk(r: Record, level: int, up: bool, seen: set[int]) -> dict[str, Any]:
        out = node(r)
        if level >= depth:
            return out
        links = (
            Record.objects.filter(remix_links__record=r)
            if up
            else Record.objects.filter(resource_links__resource=r)
        ).order_by("pk")
        children = []
        for child in links.select_related("project"):
            if not record_readable(user=user, record=child):
                hidden.add(child.pk)
                continue
            seen.add(child.pk)
            children.append(walk(child, level + 1, up, seen))
        out["resources" if up else "remixes"] = children
        return out

    ancestors: set[int] = set()
    descendants: set[int] = set()
    up = walk(record, 0, True, ancestors)
    down = walk(record, 0, False, descendants)
    return {
        **node(record),
        "depth": depth,
        "resources": up.get("resources", []),
        "remixes": down.get("remixes", []),
        "counts": {
            "ancestors": len(ancestors),
            "descendants": len(descendants),
            "hidden": len(hidden),
        },
    }
