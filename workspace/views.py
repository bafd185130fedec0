"""HTTP views: health, the signed-in home page, and the document API for scripts."""

import asyncio
import json
import logging
import uuid
import weakref

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from crdt.documents import content_of
from workspace.documents.selectors import document_access, document_by_path, document_loaded
from workspace.documents.services import UpdateRefused, document_update_post
from workspace.models import Document, Membership, Project, Role
from workspace.projects.selectors import project_role
from workspace.projects.services import membership_remove, membership_set

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


HEALTH_ROUNDTRIP_TIMEOUT_SECONDS = 5.0
# One health channel per event loop, reused: on the pub/sub layer a channel is a Redis
# subscription that only a cancelled receive ends, so a new one per check would leak.
_health_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = (
    weakref.WeakKeyDictionary()
)
_health_channels: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, str]" = (
    weakref.WeakKeyDictionary()
)


def _check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def roundtrip() -> None:
        loop = asyncio.get_running_loop()
        async with _health_locks.setdefault(loop, asyncio.Lock()):
            channel = _health_channels.get(loop)
            if channel is None:
                channel = _health_channels[loop] = await layer.new_channel("healthz.")
            nonce = uuid.uuid4().hex
            await layer.send(channel, {"type": "healthz.ping", "nonce": nonce})
            try:
                async with asyncio.timeout(HEALTH_ROUNDTRIP_TIMEOUT_SECONDS):
                    # A ping of an earlier check that timed out may still arrive.
                    while (await layer.receive(channel)).get("nonce") != nonce:
                        pass
            except TimeoutError:
                # The cancelled receive ended the subscription.
                _health_channels.pop(loop, None)
                raise

    async_to_sync(roundtrip)()
    return "ok"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with each dependency's state, or 503 naming the ones that failed."""
    checks = {"database": _check_database, "channel_layer": _check_channel_layer}
    states: dict[str, str] = {}
    failed = False
    for name, check in checks.items():
        try:
            states[name] = check()
        except Exception as exc:
            logger.warning("health check failed", extra={"dependency": name, "error": str(exc)})
            states[name] = f"error: {type(exc).__name__}: {exc}"
            failed = True
    return JsonResponse(
        {"status": "error" if failed else "ok", **states}, status=503 if failed else 200
    )


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's projects and their documents."""
    user_id = request.user.pk or 0
    memberships = (
        Membership.objects.filter(user_id=user_id)
        .select_related("project")
        .order_by("project__title")
    )
    documents = Document.objects.filter(
        project_id__in=[m.project_id for m in memberships]
    ).order_by("project_id", "slug")
    return render(
        request,
        "workspace/home.html",
        {"memberships": memberships, "documents": documents},
    )


def _document_or_error(
    request: HttpRequest, project: str, document: str, *, write: bool
) -> Document | JsonResponse:
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
    found = _document_or_error(request, project, document, write=False)
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
    found = _document_or_error(request, project, document, write=request.method == "POST")
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
        return JsonResponse({"error": str(exc)}, status=400)
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
