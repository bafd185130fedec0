"""The document API for scripts: plain Django views beside the ninja API.

Raw update bytes in and out, document content and downloadable exports, and member
management; ``config.urls`` routes them under ``/api/``. Errors are ``{"error": ...}``
like the rest of the API.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from crdt.documents import content_of
from crdt.fountain import parse, to_fountain
from workspace.access import document_access, project_role
from workspace.documents.exports import (
    EXPORT_FORMATS,
    format_duration,
    panel_rows,
    script_html,
    storyboard_json,
)
from workspace.documents.selectors import document_by_path, document_loaded
from workspace.documents.services import UpdateRefused, document_update_post
from workspace.models import Document, Project, Role
from workspace.projects.services import membership_remove, membership_set


def _filename(document: Document, extension: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in document.slug)
    return f"{safe or 'document'}.{extension}"


@require_GET
def document_export(request: HttpRequest, project: str, document: str) -> HttpResponse:
    """``?format=``: fountain/html for scripts, json/html for storyboards (readers only)."""
    found = document_or_error(request, project, document, write=False)
    if isinstance(found, JsonResponse):
        return found
    kind = found.schema
    allowed = EXPORT_FORMATS[kind]
    fmt = request.GET.get("format", "")
    if fmt not in allowed:
        return JsonResponse(
            {"error": f"format must be one of {', '.join(allowed)} for a {kind}"}, status=400
        )
    content = content_of(document_loaded(document_id=found.pk, kind=kind).doc, kind)
    context: dict[str, Any] = {"document": found, "project": found.project}
    if isinstance(content, str):
        if fmt == "fountain":
            response = HttpResponse(
                to_fountain(parse(content)), content_type="text/plain; charset=utf-8"
            )
            response["Content-Disposition"] = (
                f'attachment; filename="{_filename(found, "fountain")}"'
            )
            return response
        context["script_html"] = script_html(content)
        return render(request, "workspace/export_script.html", context)
    if fmt == "json":
        response = JsonResponse(storyboard_json(found.title, content))
        response["Content-Disposition"] = f'inline; filename="{_filename(found, "json")}"'
        return response
    rows = panel_rows(content)
    context["rows"] = rows
    context["total"] = format_duration(rows[-1].running_total_ms if rows else 0)
    return render(request, "workspace/export_storyboard.html", context)


def document_or_error(
    request: HttpRequest, project: str, document: str, *, write: bool
) -> Document | JsonResponse:
    """The document the caller may read (or write), or the JSON error to answer."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "authentication required"}, status=401)
    found = document_by_path(project_slug=project, document_slug=document)
    if found is None:
        return JsonResponse({"error": "no such document"}, status=404)
    can_read, can_write = document_access(user=request.user, document=found)
    if not can_read:
        return JsonResponse({"error": "no such document"}, status=404)
    if write and not can_write:
        return JsonResponse({"error": "your role in this project cannot write"}, status=403)
    return found


@require_GET
def document_content(request: HttpRequest, project: str, document: str) -> HttpResponse:
    """The document as Fountain text (script) or panels JSON (storyboard)."""
    found = document_or_error(request, project, document, write=False)
    if isinstance(found, JsonResponse):
        return found
    doc = document_loaded(document_id=found.pk, kind=found.schema).doc
    content = content_of(doc, found.schema)
    if isinstance(content, str):
        return HttpResponse(content, content_type="text/plain; charset=utf-8")
    return HttpResponse(json.dumps({"panels": content}), content_type="application/json")


@require_http_methods(["GET", "POST"])
def document_update(request: HttpRequest, project: str, document: str) -> HttpResponse:
    """GET: the full state as a v1 update. POST: apply a binary update (writers only)."""
    found = document_or_error(request, project, document, write=request.method == "POST")
    if isinstance(found, JsonResponse):
        return found
    if request.method == "GET":
        doc = document_loaded(document_id=found.pk, kind=found.schema).doc
        return HttpResponse(doc.get_update(), content_type="application/octet-stream")
    if request.content_type != "application/octet-stream":
        return JsonResponse({"error": "send the update as application/octet-stream"}, status=415)
    if not isinstance(request.user, User):
        return JsonResponse({"error": "authentication required"}, status=401)
    try:
        document_update_post(document=found, update=request.body, user=request.user)
    except UpdateRefused as exc:
        return JsonResponse({"error": str(exc)}, status=exc.status)
    return JsonResponse({"status": "applied"}, status=202)


@require_http_methods(["PUT", "DELETE"])
def project_member(request: HttpRequest, project: str, username: str) -> JsonResponse:
    """PUT ``{"role": ...}``: set a member's role. DELETE: remove them. Leads only."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "authentication required"}, status=401)
    found = Project.objects.filter(slug=project).first()
    if found is None:
        return JsonResponse({"error": "no such project"}, status=404)
    actor_role = project_role(user=request.user, project_id=found.pk)
    if actor_role is None:
        return JsonResponse({"error": "no such project"}, status=404)
    if actor_role != Role.LEAD:
        return JsonResponse({"error": "only leads manage members"}, status=403)
    member = get_user_model().objects.filter(username=username).first()
    if member is None:
        return JsonResponse({"error": "no such user"}, status=404)
    actor = request.user if isinstance(request.user, User) else None
    if request.method == "DELETE":
        membership_remove(project=found, user=member, actor=actor)
        return JsonResponse({"status": "removed"})
    try:
        role = Role(json.loads(request.body or b"{}").get("role"))
    except (ValueError, AttributeError):
        return JsonResponse({"error": f"role must be one of {[r.value for r in Role]}"}, status=400)
    membership_set(project=found, user=member, role=role, actor=actor)
    return JsonResponse({"status": "ok", "role": role.value})
