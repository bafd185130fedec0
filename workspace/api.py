"""JSON API (django-ninja) for records, snapshots and productions; OpenAPI at /api/openapi.json.

Authentication is the session cookie or ``Authorization: Bearer <token>`` (set by the
middleware). Errors are ``{"error": ...}`` with 401 (signed out), 403 (role too low),
404 (missing, or invisible to the caller) and 400/409/413/415 for refused input. Unsafe
requests authenticated by the session cookie must carry the CSRF token.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest, HttpResponse
from ninja import File, NinjaAPI, Schema, Status
from ninja.files import UploadedFile
from ninja.utils import check_csrf

from crdt.fountain import parse
from crdt.snapshots import normalise_panels, script_diff, storyboard_diff
from workspace import founder_metrics
from workspace.documents.selectors import document_access, document_by_path
from workspace.live_sessions.selectors import session_record
from workspace.models import (
    AuthorRole,
    Blob,
    Call,
    Document,
    Interest,
    LiveSession,
    Membership,
    Notification,
    Project,
    ProjectStatus,
    Record,
    RecordKind,
    ResponseStatus,
    Role,
    Snapshot,
    Visibility,
)
from workspace.notifications.selectors import inbox, unread_count
from workspace.notifications.services import (
    interests_set,
    notification_mark_done,
    notifications_mark_read,
    project_mute,
    record_cited,
    snapshot_credited,
)
from workspace.productions.rules import ProductionRefused
from workspace.productions.selectors import call_is_open, call_json, response_json
from workspace.productions.services import (
    call_create,
    call_edit,
    calls_browse,
    calls_close_expired,
    project_advance,
    project_create_from_template,
    project_edit,
    project_follow,
    project_stage,
    response_create,
    response_set_status,
)
from workspace.projects.selectors import project_role
from workspace.proposals.rules import ProposalRefused
from workspace.proposals_api import router as proposals_router
from workspace.records import citations
from workspace.records.rules import (
    MEDIA_KINDS,
    SNAPSHOT_KINDS,
    AuthorSpec,
    RecordRefused,
    blob_content,
    max_upload_bytes,
    text_content,
)
from workspace.records.selectors import (
    can_contribute,
    record_content_bytes,
    record_export,
    record_readable,
    record_tree,
    records_readable_filter,
    snapshot_content,
)
from workspace.records.services import blob_store, document_restore, record_create, snapshot_create

api = NinjaAPI(
    title="Troupe API",
    version="1",
    description="Records, snapshots, credit, citations and productions.",
    urls_namespace="troupe-api",
)


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return api.create_response(request, {"error": str(exc)}, status=exc.status)


@api.exception_handler(RecordRefused)
def _record_refused(request: HttpRequest, exc: RecordRefused) -> HttpResponse:
    return api.create_response(request, {"error": str(exc)}, status=exc.status)


@api.exception_handler(ProductionRefused)
def _production_refused(request: HttpRequest, exc: ProductionRefused) -> HttpResponse:
    return api.create_response(request, {"error": str(exc)}, status=400)


@api.exception_handler(ProposalRefused)
def _proposal_refused(request: HttpRequest, exc: ProposalRefused) -> HttpResponse:
    return api.create_response(request, {"error": str(exc)}, status=exc.status)


api.add_router("", proposals_router)


# ----------------------------------------------------------------------------- helpers


def _viewer(request: HttpRequest) -> User | AnonymousUser:
    user = request.user
    if isinstance(user, User):
        return user
    return AnonymousUser()


def _actor(request: HttpRequest) -> User:
    """The signed-in user of an unsafe request, with CSRF checked for cookie sessions."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise ApiError(401, "authentication required")
    if not getattr(request, "_dont_enforce_csrf_checks", False):
        if check_csrf(request) is not None:
            raise ApiError(403, "CSRF token missing or incorrect")
    return user


def _project(request: HttpRequest, slug: str) -> Project:
    """A project the caller may see (404 otherwise)."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise ApiError(404, "no such project")
    if project.visibility != Visibility.PUBLIC:
        if project_role(user=_viewer(request), project_id=project.pk) is None:
            raise ApiError(404, "no such project")
    return project


def _lead_project(request: HttpRequest, slug: str) -> tuple[Project, User]:
    user = _actor(request)
    project = _project(request, slug)
    if project_role(user=user, project_id=project.pk) != Role.LEAD:
        raise ApiError(403, "only leads do this")
    return project, user


def _document(request: HttpRequest, project: str, document: str, *, write: bool) -> Document:
    user = _actor(request) if write else _viewer(request)
    if not user.is_authenticated:
        raise ApiError(401, "authentication required")
    found = document_by_path(project_slug=project, document_slug=document)
    if found is None:
        raise ApiError(404, "no such document")
    can_read, can_write = document_access(user=user, document=found)
    if not can_read:
        raise ApiError(404, "no such document")
    if write and not can_write:
        raise ApiError(403, "your role in this project cannot write")
    return found


def _record(request: HttpRequest, rid: str) -> Record:
    record = (
        Record.objects.select_related("project", "work", "blob", "created_by")
        .filter(rid=rid)
        .first()
    )
    if record is None or not record_readable(user=_viewer(request), record=record):
        raise ApiError(404, "no such record")
    return record


def _record_url(request: HttpRequest, record: Record) -> str:
    return request.build_absolute_uri(f"/api/records/{record.rid}")


def _record_json(request: HttpRequest, record: Record) -> dict[str, Any]:
    out = record_export(record, _viewer(request))
    out["url"] = _record_url(request, record)
    out["content_url"] = request.build_absolute_uri(f"/api/records/{record.rid}/content")
    return out


# ----------------------------------------------------------------------------- schemas


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


class ProjectIn(Schema):
    slug: str
    title: str
    template: Literal["blank", "life-narrated"] = "blank"
    visibility: Literal["public", "private"] = "private"
    logline: str = ""
    description: str = ""


class ProjectEdit(Schema):
    title: str | None = None
    logline: str | None = None
    description: str | None = None
    visibility: Literal["public", "private"] | None = None


class StatusIn(Schema):
    status: Literal["open", "in_production", "finished", "celebrated"]


InterestName = Literal["writing", "narration", "illustration", "animation", "music", "editing"]


class CallIn(Schema):
    title: str
    interest: InterestName
    instructions: str = ""
    deadline: datetime | None = None


class CallEdit(Schema):
    title: str | None = None
    instructions: str | None = None
    open: bool | None = None
    filled: bool | None = None
    deadline: datetime | None = None


# ----------------------------------------------------------------------------- records


@api.post("/blobs", response={201: dict[str, Any]}, tags=["records"])
def upload_blob(request: HttpRequest, file: File[UploadedFile]) -> Status[dict[str, Any]]:
    """Upload a file (image, audio, video); the declared type must match the content."""
    user = _actor(request)
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
        if record is None or not record_readable(user=_viewer(request), record=record):
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


@api.post("/records", response={201: dict[str, Any]}, tags=["records"])
def create_record(request: HttpRequest, body: RecordIn) -> Status[dict[str, Any]]:
    """Make a record (text inline, or a file uploaded to /api/blobs), or a new version."""
    user = _actor(request)
    project = _project(request, body.project) if body.project else None
    previous = _record(request, body.previous) if body.previous else None
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
    record_cited(record)
    return Status(201, _record_json(request, record))


@api.get("/records", response=list[dict[str, Any]], tags=["records"])
def list_records(request: HttpRequest, project: str | None = None) -> list[dict[str, Any]]:
    """Records the caller may read, newest first (optionally of one project)."""
    records = Record.objects.filter(records_readable_filter(_viewer(request)))
    if project:
        records = records.filter(project=_project(request, project))
    return [
        {"id": r.rid, "title": r.title, "kind": r.kind, "version": r.version, "work": r.work.wid}
        for r in records.select_related("work").distinct().order_by("-created_at", "-pk")[:200]
    ]


@api.get("/records/{rid}", response=dict[str, Any], tags=["records"])
def get_record(request: HttpRequest, rid: str) -> dict[str, Any]:
    """The exported record: ``id`` is the SHA-256 of ``canonical`` (sorted-key JSON)."""
    return _record_json(request, _record(request, rid))


@api.get("/records/{rid}/content", tags=["records"])
def get_record_content(
    request: HttpRequest, rid: str, scene: int | None = None, panel: str | None = None
) -> HttpResponse:
    """The content whose SHA-256 is ``canonical.content.sha256``, or one fragment of it.

    ``?scene=N`` gives scene N of a script snapshot (0-based, as in its credit),
    ``?panel=ID`` the panel with that ``id`` of a storyboard snapshot.
    """
    record = _record(request, rid)
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


@api.get("/records/{rid}/tree", response=dict[str, Any], tags=["records"])
def get_record_tree(request: HttpRequest, rid: str, depth: int = 1) -> dict[str, Any]:
    """Resources (ancestors) and remixes (descendants) to ``depth`` levels, with counts."""
    if not 0 <= depth <= 10:
        raise ApiError(400, "depth must be between 0 and 10")
    return record_tree(record=_record(request, rid), user=_viewer(request), depth=depth)


@api.get("/records/{rid}/cite", tags=["records"])
def cite_record(request: HttpRequest, rid: str, format: str = "bibtex") -> HttpResponse:
    """The citation as BibTeX, CSL-JSON, RIS or CITATION.cff."""
    if format not in citations.FORMATS:
        raise ApiError(400, f"format must be one of {sorted(citations.FORMATS)}")
    record = _record(request, rid)
    body = citations.cite(
        format, json.loads(record.canonical), record.rid, _record_url(request, record)
    )
    return HttpResponse(body, content_type=citations.FORMATS[format])


@api.get("/records/{rid}/diff", response=dict[str, Any], tags=["snapshots"])
def diff_records(request: HttpRequest, rid: str, against: str) -> dict[str, Any]:
    """What changed from snapshot ``against`` to snapshot ``rid`` (scenes or panels)."""
    new, old = _record(request, rid), _record(request, against)
    if new.kind != old.kind or new.kind not in SNAPSHOT_KINDS.values():
        raise ApiError(400, "diff compares two snapshots of the same kind")
    before, after = snapshot_content(old), snapshot_content(new)
    if isinstance(before, str) and isinstance(after, str):
        return {"from": old.rid, "to": new.rid, "scenes": script_diff(before, after)}
    if isinstance(before, list) and isinstance(after, list):
        changes = storyboard_diff(normalise_panels(before), normalise_panels(after))
        return {"from": old.rid, "to": new.rid, "panels": changes}
    raise ApiError(400, "diff compares two snapshots of the same kind")


@api.get("/works/{wid}", response=dict[str, Any], tags=["records"])
def get_work(request: HttpRequest, wid: str) -> dict[str, Any]:
    """A work and its versions, oldest first."""
    versions = list(
        Record.objects.filter(work__wid=wid).select_related("project").order_by("version")
    )
    visible = [r for r in versions if record_readable(user=_viewer(request), record=r)]
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


# ----------------------------------------------------------------------------- snapshots


def _snapshot_summary(record: Record) -> dict[str, Any]:
    return {
        "id": record.rid,
        "version": record.version,
        "title": record.title,
        "created": record.created_at.isoformat(),
        "content_sha256": record.content_sha256,
    }


@api.post(
    "/projects/{project}/documents/{document}/snapshots",
    response={201: dict[str, Any]},
    tags=["snapshots"],
)
def create_snapshot(
    request: HttpRequest, project: str, document: str, body: SnapshotIn
) -> Status[dict[str, Any]]:
    """Freeze the document's stored state into a record (leads and editors)."""
    found = _document(request, project, document, write=True)
    record = snapshot_create(
        document=found,
        user=_actor(request),
        title=body.title,
        description=body.description,
        version_label=body.version_label,
        resources=_resources(request, body.resources),
    )
    record_cited(record)
    snapshot_credited(record)
    return Status(201, _record_json(request, record))


@api.get(
    "/projects/{project}/documents/{document}/snapshots",
    response=list[dict[str, Any]],
    tags=["snapshots"],
)
def list_snapshots(request: HttpRequest, project: str, document: str) -> list[dict[str, Any]]:
    """The document's snapshots, oldest first."""
    found = _document(request, project, document, write=False)
    records = Record.objects.filter(snapshot__document=found).order_by("version")
    return [_snapshot_summary(r) for r in records]


@api.post(
    "/projects/{project}/documents/{document}/restore",
    response=dict[str, Any],
    tags=["snapshots"],
)
def restore_snapshot(
    request: HttpRequest, project: str, document: str, body: RestoreIn
) -> dict[str, Any]:
    """Make the document equal a snapshot again, as a new edit by the caller (live)."""
    found = _document(request, project, document, write=True)
    record = _record(request, body.record)
    update = document_restore(document=found, record=record, user=_actor(request))
    return {"status": "restored" if update else "unchanged", "update_bytes": len(update)}


# ----------------------------------------------------------------------------- projects


def _project_json(project: Project, user: User | AnonymousUser) -> dict[str, Any]:
    stage = project_stage(project)

    def date(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "slug": project.slug,
        "title": project.title,
        "logline": project.logline,
        "description": project.description,
        "visibility": project.visibility,
        "status": stage.status,
        "template": stage.template,
        "dates": {
            "opened": date(stage.opened_at),
            "in_production": date(stage.in_production_at),
            "finished": date(stage.finished_at),
            "celebrated": date(stage.celebrated_at),
        },
        "members": [
            {"username": m.user.get_username(), "role": m.role}
            for m in project.memberships.select_related("user").order_by("pk")
        ],
        "documents": [
            {"slug": d.slug, "title": d.title, "kind": d.kind}
            for d in project.documents.order_by("slug")
        ],
        "followers": project.follows.count(),
        "following": bool(
            user.is_authenticated and project.follows.filter(user_id=user.pk).exists()
        ),
        "your_role": project_role(user=user, project_id=project.pk),
    }


@api.post("/projects", response={201: dict[str, Any]}, tags=["projects"])
def create_project(request: HttpRequest, body: ProjectIn) -> Status[dict[str, Any]]:
    """Start a project from a template ("blank" or "life-narrated"); you become its lead."""
    user = _actor(request)
    project = project_create_from_template(
        slug=body.slug,
        title=body.title,
        created_by=user,
        template=body.template,
        visibility=Visibility(body.visibility),
        logline=body.logline,
        description=body.description,
    )
    return Status(201, _project_json(project, user))


@api.get("/projects/{project}", response=dict[str, Any], tags=["projects"])
def get_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """A project's page: status with dates, members, documents, followers."""
    return _project_json(_project(request, project), _viewer(request))


@api.patch("/projects/{project}", response=dict[str, Any], tags=["projects"])
def edit_project(request: HttpRequest, project: str, body: ProjectEdit) -> dict[str, Any]:
    """Edit title, logline, description or visibility (leads)."""
    found, user = _lead_project(request, project)
    project_edit(
        project=found,
        title=body.title,
        logline=body.logline,
        description=body.description,
        visibility=Visibility(body.visibility) if body.visibility else None,
    )
    return _project_json(found, user)


@api.post("/projects/{project}/status", response=dict[str, Any], tags=["projects"])
def advance_project(request: HttpRequest, project: str, body: StatusIn) -> dict[str, Any]:
    """Move to the next status: open, in_production, finished, celebrated (leads)."""
    found, user = _lead_project(request, project)
    project_advance(project=found, status=ProjectStatus(body.status))
    return _project_json(found, user)


@api.put("/projects/{project}/follow", response=dict[str, Any], tags=["projects"])
def follow_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """Follow a project you can see."""
    user = _actor(request)
    return {"following": project_follow(project=_project(request, project), user=user, follow=True)}


@api.delete("/projects/{project}/follow", response=dict[str, Any], tags=["projects"])
def unfollow_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """Stop following a project."""
    user = _actor(request)
    found = _project(request, project)
    return {"following": project_follow(project=found, user=user, follow=False)}


def _call_json(call: Call) -> dict[str, Any]:
    return call_json(call)


@api.get("/projects/{project}/calls", response=list[dict[str, Any]], tags=["projects"])
def list_calls(request: HttpRequest, project: str) -> list[dict[str, Any]]:
    """The project's calls to contribute."""
    found = _project(request, project)
    calls_close_expired(project=found)
    return [_call_json(c) for c in found.calls.select_related("project").order_by("pk")]


@api.post("/projects/{project}/calls", response={201: dict[str, Any]}, tags=["projects"])
def create_call(request: HttpRequest, project: str, body: CallIn) -> Status[dict[str, Any]]:
    """Open a call (leads), optionally with a deadline; the room and interested people hear."""
    found, user = _lead_project(request, project)
    call = call_create(
        project=found,
        title=body.title,
        interest=Interest(body.interest),
        instructions=body.instructions,
        deadline=body.deadline,
        created_by=user,
    )
    return Status(201, _call_json(call))


@api.patch("/projects/{project}/calls/{call_id}", response=dict[str, Any], tags=["projects"])
def edit_call(request: HttpRequest, project: str, call_id: int, body: CallEdit) -> dict[str, Any]:
    """Reword, close, reopen, mark filled or set the deadline of a call (leads)."""
    found, _ = _lead_project(request, project)
    call = Call.objects.filter(project=found, pk=call_id).first()
    if call is None:
        raise ApiError(404, "no such call")
    extra: dict[str, Any] = {}
    if "deadline" in body.model_fields_set:
        extra["deadline"] = body.deadline
    return _call_json(
        call_edit(
            call=call,
            title=body.title,
            instructions=body.instructions,
            is_open=body.open,
            filled=body.filled,
            **extra,
        )
    )


# ----------------------------------------------------------------------------- calls


class CallPage(Schema):
    count: int
    page: int
    page_size: int
    results: list[dict[str, Any]]


@api.get("/calls", response=CallPage, tags=["calls"])
def browse_calls(
    request: HttpRequest,
    interest: InterestName | None = None,
    open: bool = True,
    page: int = 1,
    page_size: int = 20,
) -> dict[str, Any]:
    """Calls of public projects, newest first: ``?interest=illustration&open=1&page=2``."""
    if page < 1 or not 1 <= page_size <= 100:
        raise ApiError(400, "page >= 1 and 1 <= page_size <= 100")
    calls = calls_browse(interests=[interest] if interest else [], open_only=open)
    total = calls.count()
    start = (page - 1) * page_size
    rows = calls[start : start + page_size]
    return {
        "count": total,
        "page": page,
        "page_size": page_size,
        "results": [call_json(c) for c in rows],
    }


def _call(request: HttpRequest, project: str, call_id: int) -> Call:
    found = _project(request, project)
    call = Call.objects.select_related("project").filter(project=found, pk=call_id).first()
    if call is None:
        raise ApiError(404, "no such call")
    return call


class ResponseIn(Schema):
    record: str


class ResponseStatusIn(Schema):
    status: Literal["submitted", "considered", "used", "replaced"]
    used_in: str | None = None


@api.post(
    "/projects/{project}/calls/{call_id}/responses",
    response={201: dict[str, Any]},
    tags=["calls"],
)
def answer_call(
    request: HttpRequest, project: str, call_id: int, body: ResponseIn
) -> Status[dict[str, Any]]:
    """Answer an open call with a record you authored (anyone who may contribute)."""
    user = _actor(request)
    call = _call(request, project, call_id)
    if not can_contribute(user=user, project=call.project):
        raise ApiError(403, "you cannot contribute to this project")
    if not call_is_open(call):
        raise ApiError(409, "this call is closed")
    record = _record(request, body.record)
    return Status(201, response_json(response_create(call=call, record=record, user=user)))


@api.get(
    "/projects/{project}/calls/{call_id}/responses",
    response=list[dict[str, Any]],
    tags=["calls"],
)
def list_responses(request: HttpRequest, project: str, call_id: int) -> list[dict[str, Any]]:
    """The responses to a call with their status histories, oldest first."""
    call = _call(request, project, call_id)
    rows = call.responses.select_related(
        "call__project", "record", "responder", "used_in__record"
    ).order_by("pk")
    return [response_json(r) for r in rows]


@api.patch(
    "/projects/{project}/calls/{call_id}/responses/{response_id}",
    response=dict[str, Any],
    tags=["calls"],
)
def set_response_status(
    request: HttpRequest, project: str, call_id: int, response_id: int, body: ResponseStatusIn
) -> dict[str, Any]:
    """Move a response: submitted, considered, used (in a snapshot), replaced (leads)."""
    _lead_project(request, project)
    user = _actor(request)
    call = _call(request, project, call_id)
    response = call.responses.select_related("record", "responder").filter(pk=response_id).first()
    if response is None:
        raise ApiError(404, "no such response")
    used_in = None
    if body.used_in:
        record = _record(request, body.used_in)
        used_in = Snapshot.objects.filter(record=record).select_related("document").first()
        if used_in is None:
            raise ApiError(400, "used_in must be a snapshot record")
    return response_json(
        response_set_status(
            response=response, status=ResponseStatus(body.status), user=user, used_in=used_in
        )
    )


# ----------------------------------------------------------------------------- notifications


def _signed_in(request: HttpRequest) -> User:
    user = _viewer(request)
    if not isinstance(user, User) or not user.is_authenticated:
        raise ApiError(401, "authentication required")
    return user


@api.get("/notifications", response=dict[str, Any], tags=["notifications"])
def list_notifications(
    request: HttpRequest, unread: bool = False, done: bool = False
) -> dict[str, Any]:
    """Your inbox: unread count and entries, newest first (``?unread=1``, ``?done=1``)."""
    user = _signed_in(request)
    return inbox(user.pk, include_done=done, unread_only=unread)


@api.post("/notifications/read-all", response=dict[str, Any], tags=["notifications"])
def read_all_notifications(request: HttpRequest) -> dict[str, Any]:
    """Mark every entry read."""
    user = _actor(request)
    changed = notifications_mark_read(user.pk)
    return {"marked": changed, "unread": unread_count(user.pk)}


@api.post("/notifications/{notification_id}/read", response=dict[str, Any], tags=["notifications"])
def read_notification(request: HttpRequest, notification_id: int) -> dict[str, Any]:
    """Mark one entry read."""
    user = _actor(request)
    if not Notification.objects.filter(user=user, pk=notification_id).exists():
        raise ApiError(404, "no such notification")
    notifications_mark_read(user.pk, [notification_id])
    return {"unread": unread_count(user.pk)}


@api.post("/notifications/{notification_id}/done", response=dict[str, Any], tags=["notifications"])
def done_notification(request: HttpRequest, notification_id: int) -> dict[str, Any]:
    """Mark one entry done (it leaves the inbox)."""
    user = _actor(request)
    if not Notification.objects.filter(user=user, pk=notification_id).exists():
        raise ApiError(404, "no such notification")
    notification_mark_done(user.pk, notification_id)
    return {"unread": unread_count(user.pk)}


@api.put("/projects/{project}/mute", response=dict[str, Any], tags=["notifications"])
def mute_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """Stop notifications from a project."""
    user = _actor(request)
    found = _project(request, project)
    return {"muted": project_mute(project=found, user_id=user.pk, mute=True)}


@api.delete("/projects/{project}/mute", response=dict[str, Any], tags=["notifications"])
def unmute_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """Hear from a project again."""
    user = _actor(request)
    found = _project(request, project)
    return {"muted": project_mute(project=found, user_id=user.pk, mute=False)}


class InterestsIn(Schema):
    interests: list[InterestName]


@api.put("/me/interests", response=dict[str, Any], tags=["notifications"])
def set_interests(request: HttpRequest, body: InterestsIn) -> dict[str, Any]:
    """Your interests: new calls for them in projects you follow or belong to notify you."""
    user = _actor(request)
    return {"interests": interests_set(user_id=user.pk, interests=body.interests)}


# ----------------------------------------------------------------------------- sessions


@api.get("/projects/{project}/sessions", response=list[dict[str, Any]], tags=["sessions"])
def list_sessions(request: HttpRequest, project: str) -> list[dict[str, Any]]:
    """The project's live sessions with their records, newest first."""
    found = _project(request, project)
    rows = LiveSession.objects.filter(project=found).select_related("lead").order_by("-pk")[:100]
    return [session_record(s) for s in rows]


@api.get("/projects/{project}/sessions/{session_id}", response=dict[str, Any], tags=["sessions"])
def get_session(request: HttpRequest, project: str, session_id: int) -> dict[str, Any]:
    """A session record: participants, duration, documents touched, snapshots, calls."""
    found = _project(request, project)
    session = LiveSession.objects.filter(project=found, pk=session_id).first()
    if session is None:
        raise ApiError(404, "no such session")
    return session_record(session)


# ----------------------------------------------------------------------------- metrics


@api.get("/projects/{project}/metrics", response=dict[str, Any], tags=["metrics"])
def project_metrics(request: HttpRequest, project: str) -> dict[str, Any]:
    """Contributors per ISO week, streaks, calls opened and filled, status, time to finish."""
    return founder_metrics.metrics([_project(request, project).pk])


@api.get("/metrics", response=dict[str, Any], tags=["metrics"])
def all_metrics(request: HttpRequest) -> dict[str, Any]:
    """The same over every project you can see."""
    user = _viewer(request)
    return founder_metrics.metrics(
        founder_metrics.visible_projects(user.pk if user.is_authenticated else None)
    )
