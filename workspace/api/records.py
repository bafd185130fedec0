"""Records, uploads, snapshots, restores and works (tags ``records``, ``snapshots``)."""

from __future__ import annotations

import json
from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from crdt.fountain import parse
from crdt.snapshots import normalise_panels, script_diff, storyboard_diff
from workspace.access import can_contribute
from workspace.api.common import (
    ApiError,
    request_actor,
    request_document,
    request_viewer,
    visible_project,
)
from workspace.models import (
    AuthorRole,
    Blob,
    Membership,
    Project,
    Record,
    RecordKind,
)
from workspace.notifications.services import record_cited, snapshot_credited
from workspace.records import citations
from workspace.records.rules import (
    MEDIA_KINDS,
    SNAPSHOT_KINDS,
    AuthorSpec,
    blob_content,
    max_upload_bytes,
    text_content,
)
from workspace.records.selectors import (
    record_content_bytes,
    record_export,
    record_readable,
    record_tree,
    records_readable_filter,
    snapshot_content,
)
from workspace.records.services import blob_store, document_restore, record_create, snapshot_create

router = Router()


def readable_record(request: HttpRequest, rid: str) -> Record:
    """The record with this id if the caller may read it (404 otherwise)."""
    record = (
        Record.objects.select_related("project", "work", "blob", "created_by")
        .filter(rid=rid)
        .first()
    )
    if record is None or not record_readable(user=request_viewer(request), record=record):
        raise ApiError(404, "no such record")
    return record


def _record_url(request: HttpRequest, record: Record) -> str:
    return request.build_absolute_uri(f"/api/records/{record.rid}")


def _record_json(request: HttpRequest, record: Record) -> dict[str, Any]:
    out = record_export(record, request_viewer(request))
    out["url"] = _record_url(request, record)
    out["content_url"] = request.build_absolute_uri(f"/api/records/{record.rid}/content")
    return out


class AuthorIn(Schema):
    username: str
    roles: list[str] = [AuthorRole.AUTHOR.value]


class RecordIn(Schema):
    kind: Literal["text", "image", "audio", "video"]
    title: str
    description: str = ""
    text: str | None = None
    file_sha256: str | None = None
    authors: list[AuthorIn] = []
    resources: list[str] = []
    project: str | None = None
    previous: str | None = None
    version_label: str = ""


class SnapshotIn(Schema):
    title: str = ""
    description: str = ""
    version_label: str = ""
    resources: list[str] = []


class RestoreIn(Schema):
    record: str


@router.post("/blobs", response={201: dict[str, Any]}, tags=["records"])
def upload_blob(request: HttpRequest, file: File[UploadedFile]) -> Status[dict[str, Any]]:
    """Upload a file (image, audio, video); the declared type must match the content."""
    user = request_actor(request)
    limit = max_upload_bytes()
    if file.size is not None and file.size > limit:
        raise ApiError(413, f"file larger than the {limit}-byte limit")
    data = file.read(limit + 1)
    blob = blob_store(data=data, declared_type=file.content_type or "", user=user)
    return Status(201, {"sha256": blob.sha256, "size": blob.size, "media_type": blob.media_type})


def _resources(request: HttpRequest, rids: list[str]) -> list[Record]:
    found = {r.rid: r for r in Record.objects.filter(rid__in=rids).select_related("project")}
    out = []
    for rid in rids:
        record = found.get(rid)
        if record is None or not record_readable(user=request_viewer(request), record=record):
            raise ApiError(400, f"cannot cite {rid}: no such record")
        out.append(record)
    return out


def _authors(user: User, authors: list[AuthorIn], project: Project | None) -> list[AuthorSpec]:
    if not authors:
        return []
    by_name = {
        u.get_username(): u
        for u in get_user_model().objects.filter(username__in=[a.username for a in authors])
    }
    specs = []
    for author in authors:
        person = by_name.get(author.username)
        if person is None:
            raise ApiError(400, f"no such user {author.username}")
        if person.pk != user.pk and (
            project is None or not Membership.objects.filter(project=project, user=person).exists()
        ):
            raise ApiError(400, f"{author.username} is not a member of the project")
        specs.append(AuthorSpec(person, tuple(author.roles)))
    return specs


@router.post("/records", response={201: dict[str, Any]}, tags=["records"])
def create_record(request: HttpRequest, body: RecordIn) -> Status[dict[str, Any]]:
    """Make a record (text inline, or a file uploaded to /api/blobs), or a new version."""
    user = request_actor(request)
    project = visible_project(request, body.project) if body.project else None
    previous = readable_record(request, body.previous) if body.previous else None
    if previous is not None:
        project = previous.project
        if not previous.authors.filter(user=user).exists() and previous.created_by_id != user.pk:
            raise ApiError(403, "only the authors of a work make its next version")
    if not can_contribute(user=user, project=project):
        raise ApiError(403, "you cannot contribute records to this project")
    kind = RecordKind(body.kind)
    blob = None
    if kind == RecordKind.TEXT:
        if body.text is None or body.file_sha256:
            raise ApiError(400, "a text record carries `text` and no file")
        content = text_content(body.text)
    else:
        blob = Blob.objects.filter(sha256=body.file_sha256 or "").first()
        if blob is None:
            raise ApiError(400, "upload the file to /api/blobs and give its file_sha256")
        if MEDIA_KINDS.get(blob.media_type) != kind:
            raise ApiError(400, f"a {blob.media_type} file is not a {kind.value} record")
        content = blob_content(blob)
    record = record_create(
        user=user,
        kind=kind,
        title=body.title,
        description=body.description,
        content=content,
        authors=_authors(user, body.authors, project),
        resources=_resources(request, body.resources),
        project=project,
        previous=previous,
        version_label=body.version_label,
        text=body.text or "",
        blob=blob,
    )
    record_cited(record=record)
    return Status(201, _record_json(request, record))


@router.get("/records", response=list[dict[str, Any]], tags=["records"])
def list_records(request: HttpRequest, project: str | None = None) -> list[dict[str, Any]]:
    """Records the caller may read, newest first (optionally of one project)."""
    records = Record.objects.filter(records_readable_filter(request_viewer(request)))
    if project:
        records = records.filter(project=visible_project(request, project))
    return [
        {"id": r.rid, "title": r.title, "kind": r.kind, "version": r.version, "work": r.work.wid}
        for r in records.select_related("work").distinct().order_by("-created_at", "-pk")[:200]
    ]


@router.get("/records/{rid}", response=dict[str, Any], tags=["records"])
def get_record(request: HttpRequest, rid: str) -> dict[str, Any]:
    """The exported record: ``id`` is the SHA-256 of ``canonical`` (sorted-key JSON)."""
    return _record_json(request, readable_record(request, rid))


@router.get("/records/{rid}/content", tags=["records"])
def get_record_content(
    request: HttpRequest, rid: str, scene: int | None = None, panel: str | None = None
) -> HttpResponse:
    """The content whose SHA-256 is ``canonical.content.sha256``, or one fragment of it.

    ``?scene=N`` gives scene N of a script snapshot (0-based, as in its credit),
    ``?panel=ID`` the panel with that ``id`` of a storyboard snapshot.
    """
    record = readable_record(request, rid)
    if scene is not None or panel is not None:
        return _fragment(record, scene, panel)
    response = HttpResponse(record_content_bytes(record), content_type=record.media_type)
    response["Content-Disposition"] = "inline"
    return response


def _fragment(record: Record, scene: int | None, panel: str | None) -> HttpResponse:
    content = snapshot_content(record) if record.kind in SNAPSHOT_KINDS.values() else None
    if scene is not None and isinstance(content, str):
        scenes = parse(content).scenes
        if not 0 <= scene < len(scenes):
            raise ApiError(404, "no such scene")
        units = content.encode("utf-16-le")
        piece = units[scenes[scene].start * 2 : scenes[scene].end * 2].decode("utf-16-le")
        return HttpResponse(piece, content_type="text/x-fountain; charset=utf-8")
    if panel is not None and isinstance(content, list):
        for found in normalise_panels(content):
            if str(found.get("id")) == panel:
                return HttpResponse(json.dumps(found), content_type="application/json")
        raise ApiError(404, "no such panel")
    raise ApiError(400, "scenes address script snapshots and panels storyboard snapshots")


@router.get("/records/{rid}/tree", response=dict[str, Any], tags=["records"])
def get_record_tree(request: HttpRequest, rid: str, depth: int = 1) -> dict[str, Any]:
    """Resources (ancestors) and remixes (descendants) to ``depth`` levels, with counts."""
    if not 0 <= depth <= 10:
        raise ApiError(400, "depth must be between 0 and 10")
    return record_tree(
        record=readable_record(request, rid), user=request_viewer(request), depth=depth
    )


@router.get("/records/{rid}/cite", tags=["records"])
def cite_record(request: HttpRequest, rid: str, format: str = "bibtex") -> HttpResponse:
    """The citation as BibTeX, CSL-JSON, RIS or CITATION.cff."""
    if format not in citations.FORMATS:
        raise ApiError(400, f"format must be one of {sorted(citations.FORMATS)}")
    record = readable_record(request, rid)
    body = citations.cite(
        format, json.loads(record.canonical), record.rid, _record_url(request, record)
    )
    return HttpResponse(body, content_type=citations.FORMATS[format])


@router.get("/records/{rid}/diff", response=dict[str, Any], tags=["snapshots"])
def diff_records(request: HttpRequest, rid: str, against: str) -> dict[str, Any]:
    """What changed from snapshot ``against`` to snapshot ``rid`` (scenes or panels)."""
    new, old = readable_record(request, rid), readable_record(request, against)
    if new.kind != old.kind or new.kind not in SNAPSHOT_KINDS.values():
        raise ApiError(400, "diff compares two snapshots of the same kind")
    before, after = snapshot_content(old), snapshot_content(new)
    if isinstance(before, str) and isinstance(after, str):
        return {"from": old.rid, "to": new.rid, "scenes": script_diff(before, after)}
    if isinstance(before, list) and isinstance(after, list):
        changes = storyboard_diff(normalise_panels(before), normalise_panels(after))
        return {"from": old.rid, "to": new.rid, "panels": changes}
    raise ApiError(400, "diff compares two snapshots of the same kind")


@router.get("/works/{wid}", response=dict[str, Any], tags=["records"])
def get_work(request: HttpRequest, wid: str) -> dict[str, Any]:
    """A work and its versions, oldest first."""
    versions = list(
        Record.objects.filter(work__wid=wid).select_related("project").order_by("version")
    )
    visible = [r for r in versions if record_readable(user=request_viewer(request), record=r)]
    if not visible:
        raise ApiError(404, "no such work")
    return {
        "id": wid,
        "kind": visible[0].kind,
        "versions": [
            {"id": r.rid, "version": r.version, "label": r.version_label, "title": r.title}
            for r in visible
        ],
    }


def _snapshot_summary(record: Record) -> dict[str, Any]:
    return {
        "id": record.rid,
        "version": record.version,
        "title": record.title,
        "created": record.created_at.isoformat(),
        "content_sha256": record.content_sha256,
    }


@router.post(
    "/projects/{project}/documents/{document}/snapshots",
    response={201: dict[str, Any]},
    tags=["snapshots"],
)
def create_snapshot(
    request: HttpRequest, project: str, document: str, body: SnapshotIn
) -> Status[dict[str, Any]]:
    """Freeze the document's stored state into a record (leads and editors)."""
    found = request_document(request, project, document, write=True)
    record = snapshot_create(
        document=found,
        user=request_actor(request),
        title=body.title,
        description=body.description,
        version_label=body.version_label,
        resources=_resources(request, body.resources),
    )
    record_cited(record=record)
    snapshot_credited(record=record)
    return Status(201, _record_json(request, record))


@router.get(
    "/projects/{project}/documents/{document}/snapshots",
    response=list[dict[str, Any]],
    tags=["snapshots"],
)
def list_snapshots(request: HttpRequest, project: str, document: str) -> list[dict[str, Any]]:
    """The document's snapshots, oldest first."""
    found = request_document(request, project, document, write=False)
    records = Record.objects.filter(snapshot__document=found).order_by("version")
    return [_snapshot_summary(r) for r in records]


@router.post(
    "/projects/{project}/documents/{document}/restore",
    response=dict[str, Any],
    tags=["snapshots"],
)
def restore_snapshot(
    request: HttpRequest, project: str, document: str, body: RestoreIn
) -> dict[str, Any]:
    """Make the document equal a snapshot again, as a new edit by the caller (live)."""
    found = request_document(request, project, document, write=True)
    record = readable_record(request, body.record)
    update = document_restore(document=found, record=record, user=request_actor(request))
    return {"status": "restored" if update else "unchanged", "update_bytes": len(update)}
