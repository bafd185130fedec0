"""Browser pages: the project room (script editor, preview, storyboard) of a project.

The page itself is a server-rendered shell; the live parts are the frontend bundle built
from ``frontend/`` into ``frontend/dist`` (``make frontend``), found through Vite's
manifest so its hashed file names never need editing here.
"""

import base64
import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from workspace.access import can_contribute, can_read_live, can_write, project_role
from workspace.documents.selectors import script_first_paint
from workspace.identity import user_info
from workspace.models import (
    Document,
    DocumentKind,
    Interest,
    Project,
    Role,
)
from workspace.pages.bundles import frontend_bundle
from workspace.projects.selectors import user_invisible
from workspace.records.rules import max_upload_bytes


def document_identity(document: Document | None) -> str:
    """What names a document's offline copy in the browser: its id and its creation time
    (in microseconds, base 36), so a document deleted and re-created under the same slug,
    or a re-seeded database that reuses the id, is another document to the browser."""
    if document is None:
        return ""
    created = int(document.created_at.timestamp() * 1_000_000)
    return f"{document.pk}.{_base36(created)}"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def _websocket_base(request: HttpRequest, path: str = "yjs") -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}/ws/{path}"


@login_required
def project_room(request: HttpRequest, project: str, document: str | None = None) -> HttpResponse:
    """``/p/<project>/`` and ``/p/<project>/d/<document>``: the live workspace of a project.

    Shows one script and one storyboard: the requested document in its pane, the first of
    the other kind (by slug) in the other. Members see their role; anyone signed in may read
    a public project. Others get a 404, as for a project that does not exist.

    Each pane's document carries its identity (``document_identity``), which names the
    browser's offline copy of it (``frontend/src/offline.ts``).

    The page also carries what the live parts need before the room socket answers: the
    stored invisible preference (so document awareness never shows an invisible user,
    not even while connecting), whether the user may post calls, answer them and attach
    files, and the upload limit checked before a file is sent.

    And what the first paint needs: the script's stored text, shown (escaped) where the
    editor will be, and its state (base64 of a Yjs update, in a JSON script element) for
    the editor to start from before its socket syncs; both only while the state is
    within ``TROUPE_PAGE_STATE_MAX_BYTES``.
    """
    found = Project.objects.filter(slug=project).first()
    if found is None or not isinstance(request.user, User):
        raise Http404("No such project")
    role = project_role(user=request.user, project_id=found.pk)
    if not can_read_live(user=request.user, role=role, visibility=found.visibility):
        raise Http404("No such project")
    may_write = can_write(role)
    documents = list(Document.objects.filter(project=found).order_by("slug"))
    current: Document | None = None
    if document is not None:
        current = next((d for d in documents if d.slug == document), None)
        if current is None:
            raise Http404("No such document")

    def pick(kind: str) -> Document | None:
        if current is not None and current.kind == kind:
            return current
        return next((d for d in documents if d.kind == kind), None)

    script = pick(DocumentKind.SCRIPT)
    board = pick(DocumentKind.STORYBOARD)
    me = user_info(request.user)
    first_paint = (
        script_first_paint(
            document_id=script.pk, max_bytes=int(settings.TROUPE["PAGE_STATE_MAX_BYTES"])
        )
        if script is not None
        else None
    )
    return render(
        request,
        "workspace/room.html",
        {
            "project": found,
            "role": (role or Role.VIEWER).value,
            "role_label": role.label if role else "Reader",
            "can_write": may_write,
            "documents": documents,
            "script": script,
            "board": board,
            "script_identity": document_identity(script),
            "board_identity": document_identity(board),
            "documents_json": json.dumps(
                [{"slug": d.slug, "kind": d.kind, "title": d.title} for d in documents]
            ),
            "me": me,
            "username": request.user.get_username(),
            "invisible": user_invisible(user=request.user),
            "is_lead": role == Role.LEAD,
            "can_respond": can_contribute(user=request.user, project=found),
            "interests": Interest.choices,
            "max_upload_bytes": max_upload_bytes(),
            "ws_url": _websocket_base(request),
            "room_ws_url": _websocket_base(request, f"projects/{found.slug}"),
            "login_url": reverse("login"),
            "bundle": frontend_bundle(),
            "script_text": first_paint.text if first_paint else None,
            "script_state": base64.b64encode(first_paint.state).decode() if first_paint else "",
        },
    )
