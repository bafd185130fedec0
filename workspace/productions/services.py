"""Writes of productions: projects from templates, status, followers, calls and responses."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from workspace import events
from workspace.documents.services import document_create
from workspace.events import emit_on_commit
from workspace.groups import project_access_group, project_presence_group
from workspace.models import (
    Call,
    CallResponse,
    CallResponseChange,
    Document,
    Interest,
    Project,
    ProjectFollow,
    ProjectStage,
    ProjectStatus,
    Record,
    ResponseStatus,
    Visibility,
)
from workspace.notifications.services import call_created, response_created, response_status_changed
from workspace.productions.rules import STATUS_DATE, STATUS_ORDER, TEMPLATES, ProductionRefused
from workspace.productions.selectors import (
    call_is_open,
    call_json,
    open_calls_filter,
    response_json,
)
from workspace.projects.services import project_create


def project_create_from_template(
    *,
    slug: str,
    title: str,
    created_by: User,
    template: str = "blank",
    visibility: Visibility = Visibility.PRIVATE,
    logline: str = "",
    description: str = "",
) -> Project:
    """Start a project from a template: its documents, its calls, status open."""
    spec = TEMPLATES.get(template)
    if spec is None:
        raise ProductionRefused(f"template must be one of {sorted(TEMPLATES)}", field="template")
    if Project.objects.filter(slug=slug).exists():
        raise ProductionRefused("that project slug is taken", field="slug")
    with transaction.atomic():
        project = project_create(
            slug=slug, title=title, created_by=created_by, visibility=visibility
        )
        if logline or description:
            project.logline = logline
            project.description = description
            project.save(update_fields=["logline", "description"])
        ProjectStage.objects.create(project=project, template=template, opened_at=timezone.now())
        for doc_slug, doc_title, kind in spec.documents:
            document_create(project=project, slug=doc_slug, title=doc_title, kind=kind)
        Call.objects.bulk_create(
            [
                Call(
                    project=project,
                    title=c.title,
                    interest=c.interest,
                    instructions=c.instructions,
                )
                for c in spec.calls
            ]
        )
    return project


def project_stage(*, project: Project) -> ProjectStage:
    """The project's stage row (created as ``open`` for projects made before stages)."""
    stage, _ = ProjectStage.objects.get_or_create(
        project=project, defaults={"opened_at": project.created_at}
    )
    return stage


def project_advance(*, project: Project, status: ProjectStatus) -> ProjectStage:
    """Move the project to the next status (forward only, one step), dated now."""
    with transaction.atomic():
        project_stage(project=project)
        stage = ProjectStage.objects.select_for_update().get(project=project)
        current = STATUS_ORDER.index(ProjectStatus(stage.status))
        wanted = STATUS_ORDER.index(status)
        if wanted != current + 1:
            raise ProductionRefused(
                f"a project {stage.status} can only move to "
                f"{STATUS_ORDER[current + 1] if current + 1 < len(STATUS_ORDER) else 'nothing'}"
            )
        stage.status = status
        setattr(stage, STATUS_DATE[status], timezone.now())
        stage.save()
    return stage


def project_edit(
    *,
    project: Project,
    title: str | None = None,
    logline: str | None = None,
    description: str | None = None,
    visibility: Visibility | None = None,
) -> Project:
    """Change the project's title, logline, description or visibility."""
    changed = []
    for name, value in (
        ("title", title),
        ("logline", logline),
        ("description", description),
        ("visibility", visibility),
    ):
        if value is not None:
            setattr(project, name, value)
            changed.append(name)
    if changed:
        project.full_clean(exclude=["created_by", "slug"])
        project.save(update_fields=changed)
    if "visibility" in changed:
        # Readers who are not members may have lost access: every open socket re-checks.
        emit_on_commit(
            project_access_group(project.pk),
            events.access_changed(project_id=project.pk, user_id=None),
        )
    return project


def project_follow(*, project: Project, user: User, follow: bool) -> bool:
    """Follow or unfollow; returns whether the user now follows."""
    if follow:
        ProjectFollow.objects.get_or_create(project=project, user=user)
    else:
        ProjectFollow.objects.filter(project=project, user=user).delete()
    return follow


def calls_browse(
    *,
    member_id: int | None = None,
    interests: Collection[str] = (),
    open_only: bool = True,
) -> QuerySet[Call]:
    """Calls of public projects (and of ``member_id``'s own projects), newest first.

    ``interests`` keeps the calls asking for one of them (all when empty); ``open_only``
    keeps those open right now. Expired calls are closed first so the answer is current.
    """
    calls_close_expired()
    where = Q(project__visibility=Visibility.PUBLIC)
    if member_id is not None:
        where |= Q(project__memberships__user_id=member_id)
    calls = Call.objects.filter(where)
    if interests:
        calls = calls.filter(interest__in=list(interests))
    if open_only:
        calls = calls.filter(open_calls_filter())
    return calls.distinct().select_related("project").order_by("-created_at", "-pk")


def _call_event(call: Call, kind: str) -> None:
    emit_on_commit(
        project_presence_group(call.project_id),
        events.project_event(
            project_id=call.project_id, event={"type": kind, "call": call_json(call)}
        ),
    )


def calls_close_expired(*, project: Project | None = None) -> int:
    """Close (in storage) the open calls past their deadline; each change is live."""
    now = timezone.now()
    expired = Call.objects.filter(is_open=True, deadline__lte=now)
    if project is not None:
        expired = expired.filter(project=project)
    closed = 0
    with transaction.atomic():
        for call in expired.select_for_update().select_related("project"):
            call.is_open = False
            call.closed_at = call.deadline
            call.save(update_fields=["is_open", "closed_at"])
            _call_event(call, "call.updated")
            closed += 1
    return closed


def call_create(
    *,
    project: Project,
    title: str,
    interest: Interest,
    instructions: str = "",
    deadline: datetime | None = None,
    created_by: User | None = None,
) -> Call:
    """Open a call to contribute; the room sees it and interested people are notified."""
    if deadline is not None and deadline <= timezone.now():
        raise ProductionRefused("a deadline must be in the future")
    with transaction.atomic():
        call = Call.objects.create(
            project=project,
            title=title,
            interest=interest,
            instructions=instructions,
            deadline=deadline,
            created_by=created_by,
        )
        _call_event(call, "call.created")
        call_created(call=call, actor_id=created_by.pk if created_by else None)
    return call


_UNSET: Any = object()


def call_edit(
    *,
    call: Call,
    title: str | None = None,
    instructions: str | None = None,
    is_open: bool | None = None,
    filled: bool | None = None,
    deadline: datetime | None = _UNSET,
) -> Call:
    """Change a call's wording, deadline, open/close it or mark it filled (which closes it)."""
    now = timezone.now()
    with transaction.atomic():
        if title is not None:
            call.title = title
        if instructions is not None:
            call.instructions = instructions
        if deadline is not _UNSET:
            call.deadline = deadline
        if is_open is not None:
            call.is_open = is_open
            call.closed_at = None if is_open else now
            if is_open:
                call.filled_at = None
        if filled is not None:
            call.filled_at = now if filled else None
            if filled:
                call.is_open = False
                call.closed_at = now
        if call.is_open and call.deadline is not None and call.deadline <= now:
            if is_open or deadline is not _UNSET:
                raise ProductionRefused("an open call's deadline must be in the future")
            call.is_open = False
            call.closed_at = call.deadline
        call.save()
        _call_event(call, "call.updated")
    return call


def _response_event(response: CallResponse, kind: str) -> None:
    emit_on_commit(
        project_presence_group(response.call.project_id),
        events.project_event(
            project_id=response.call.project_id,
            event={"type": kind, "response": response_json(response)},
        ),
    )


def response_create(*, call: Call, record: Record, user: User) -> CallResponse:
    """Answer an open call with a record you made; the leads hear of it."""
    if not call_is_open(call):
        raise ProductionRefused("this call is closed")
    if record.created_by_id != user.pk and not record.authors.filter(user=user).exists():
        raise ProductionRefused("answer with a record you authored")
    if CallResponse.objects.filter(call=call, record=record).exists():
        raise ProductionRefused("this record already answers this call")
    with transaction.atomic():
        response = CallResponse.objects.create(call=call, record=record, responder=user)
        CallResponseChange.objects.create(
            response=response, changed_by=user, from_status="", to_status=response.status
        )
        _response_event(response, "response.created")
        response_created(response=response)
    return response


def response_set_status(
    *,
    response: CallResponse,
    status: ResponseStatus,
    user: User,
    used_for: Document | None = None,
) -> CallResponse:
    """A lead moves a response; history keeps who, when, from and to.

    Used means used for a document (``used_for``): the document's next snapshot cites the
    response's record and is then its ``used_in``. Naming another document than before
    makes that document's next snapshot cite it, even if one of the first cited it.
    """
    if status == ResponseStatus.USED and used_for is None and response.used_for is None:
        raise ProductionRefused("say which document it is used for (document)")
    if used_for is not None and used_for.project_id != response.call.project_id:
        raise ProductionRefused("the document must belong to this project")
    with transaction.atomic():
        before = response.status
        response.status = status
        if used_for is not None and used_for.pk != response.used_for_id:
            response.used_for = used_for
            response.used_in = None
        response.save()
        CallResponseChange.objects.create(
            response=response, changed_by=user, from_status=before, to_status=status
        )
        _response_event(response, "response.updated")
        response_status_changed(response=response, actor_id=user.pk)
    return response
