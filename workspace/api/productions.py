"""Projects (status, followers) and calls to contribute with their responses.

Tags ``projects`` and ``calls``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from workspace.access import can_contribute, project_role
from workspace.api.common import (
    ApiError,
    InterestName,
    led_project,
    request_actor,
    request_viewer,
    visible_project,
)
from workspace.api.records import readable_record
from workspace.models import (
    Call,
    Document,
    Interest,
    Project,
    ProjectStatus,
    ResponseStatus,
    Snapshot,
    Visibility,
)
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

router = Router()


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


def _project_json(project: Project, user: User | AnonymousUser) -> dict[str, Any]:
    stage = project_stage(project=project)

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


@router.post("/projects", response={201: dict[str, Any]}, tags=["projects"])
def create_project(request: HttpRequest, body: ProjectIn) -> Status[dict[str, Any]]:
    """Start a project from a template ("blank" or "life-narrated"); you become its lead."""
    user = request_actor(request)
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


@router.get("/projects/{project}", response=dict[str, Any], tags=["projects"])
def get_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """A project's page: status with dates, members, documents, followers."""
    return _project_json(visible_project(request, project), request_viewer(request))


@router.patch("/projects/{project}", response=dict[str, Any], tags=["projects"])
def edit_project(request: HttpRequest, project: str, body: ProjectEdit) -> dict[str, Any]:
    """Edit title, logline, description or visibility (leads)."""
    found, user = led_project(request, project)
    project_edit(
        project=found,
        title=body.title,
        logline=body.logline,
        description=body.description,
        visibility=Visibility(body.visibility) if body.visibility else None,
    )
    return _project_json(found, user)


@router.post("/projects/{project}/status", response=dict[str, Any], tags=["projects"])
def advance_project(request: HttpRequest, project: str, body: StatusIn) -> dict[str, Any]:
    """Move to the next status: open, in_production, finished, celebrated (leads)."""
    found, user = led_project(request, project)
    project_advance(project=found, status=ProjectStatus(body.status))
    return _project_json(found, user)


@router.put("/projects/{project}/follow", response=dict[str, Any], tags=["projects"])
def follow_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """Follow a project you can see."""
    user = request_actor(request)
    return {
        "following": project_follow(
            project=visible_project(request, project), user=user, follow=True
        )
    }


@router.delete("/projects/{project}/follow", response=dict[str, Any], tags=["projects"])
def unfollow_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """Stop following a project."""
    user = request_actor(request)
    found = visible_project(request, project)
    return {"following": project_follow(project=found, user=user, follow=False)}


def _call_json(call: Call) -> dict[str, Any]:
    return call_json(call)


@router.get("/projects/{project}/calls", response=list[dict[str, Any]], tags=["projects"])
def list_calls(request: HttpRequest, project: str) -> list[dict[str, Any]]:
    """The project's calls to contribute."""
    found = visible_project(request, project)
    calls_close_expired(project=found)
    return [_call_json(c) for c in found.calls.select_related("project").order_by("pk")]


@router.post("/projects/{project}/calls", response={201: dict[str, Any]}, tags=["projects"])
def create_call(request: HttpRequest, project: str, body: CallIn) -> Status[dict[str, Any]]:
    """Open a call (leads), optionally with a deadline; the room and interested people hear."""
    found, user = led_project(request, project)
    call = call_create(
        project=found,
        title=body.title,
        interest=Interest(body.interest),
        instructions=body.instructions,
        deadline=body.deadline,
        created_by=user,
    )
    return Status(201, _call_json(call))


@router.patch("/projects/{project}/calls/{call_id}", response=dict[str, Any], tags=["projects"])
def edit_call(request: HttpRequest, project: str, call_id: int, body: CallEdit) -> dict[str, Any]:
    """Reword, close, reopen, mark filled or set the deadline of a call (leads)."""
    found, _ = led_project(request, project)
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


class CallPage(Schema):
    count: int
    page: int
    page_size: int
    results: list[dict[str, Any]]


@router.get("/calls", response=CallPage, tags=["calls"])
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
    found = visible_project(request, project)
    call = Call.objects.select_related("project").filter(project=found, pk=call_id).first()
    if call is None:
        raise ApiError(404, "no such call")
    return call


class ResponseIn(Schema):
    record: str


class ResponseStatusIn(Schema):
    """A response's new status; "used" names the document it is used for.

    ``document`` is the slug of a document of the project: its next snapshot cites the
    response's record (and becomes the response's ``used_in``). ``used_in``, a snapshot
    record id, is the older spelling and means that snapshot's document.
    """

    status: Literal["submitted", "considered", "used", "replaced"]
    document: str | None = Field(
        None, description="slug of the project's document the response is used for"
    )
    used_in: str | None = Field(
        None,
        description="deprecated: a snapshot record id, meaning that snapshot's document",
    )


@router.post(
    "/projects/{project}/calls/{call_id}/responses",
    response={201: dict[str, Any]},
    tags=["calls"],
)
def answer_call(
    request: HttpRequest, project: str, call_id: int, body: ResponseIn
) -> Status[dict[str, Any]]:
    """Answer an open call with a record you authored (anyone who may contribute)."""
    user = request_actor(request)
    call = _call(request, project, call_id)
    if not can_contribute(user=user, project=call.project):
        raise ApiError(403, "you cannot contribute to this project")
    if not call_is_open(call):
        raise ApiError(409, "this call is closed")
    record = readable_record(request, body.record)
    return Status(201, response_json(response_create(call=call, record=record, user=user)))


@router.get(
    "/projects/{project}/calls/{call_id}/responses",
    response=list[dict[str, Any]],
    tags=["calls"],
)
def list_responses(request: HttpRequest, project: str, call_id: int) -> list[dict[str, Any]]:
    """The responses to a call with their status histories, oldest first."""
    call = _call(request, project, call_id)
    rows = call.responses.select_related(
        "call__project", "record", "responder", "used_in__record", "used_for__project"
    ).order_by("pk")
    return [response_json(r) for r in rows]


@router.patch(
    "/projects/{project}/calls/{call_id}/responses/{response_id}",
    response=dict[str, Any],
    tags=["calls"],
)
def set_response_status(
    request: HttpRequest, project: str, call_id: int, response_id: int, body: ResponseStatusIn
) -> dict[str, Any]:
    """Move a response: submitted, considered, used (for a document), replaced (leads)."""
    led_project(request, project)
    user = request_actor(request)
    call = _call(request, project, call_id)
    response = call.responses.select_related("record", "responder").filter(pk=response_id).first()
    if response is None:
        raise ApiError(404, "no such response")
    used_for = None
    if body.document:
        used_for = Document.objects.filter(project=call.project, slug=body.document).first()
        if used_for is None:
            raise ApiError(400, "document must be the slug of a document of this project")
    if body.used_in:
        record = readable_record(request, body.used_in)
        snapshot = Snapshot.objects.filter(record=record).select_related("document").first()
        if snapshot is None:
            raise ApiError(400, "used_in must be a snapshot record")
        if used_for is not None and used_for.pk != snapshot.document_id:
            raise ApiError(400, "used_in is a snapshot of another document than document")
        used_for = snapshot.document
    return response_json(
        response_set_status(
            response=response, status=ResponseStatus(body.status), user=user, used_for=used_for
        )
    )
