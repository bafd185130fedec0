"""Live sessions of a project and their records (tag ``sessions``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from workspace.api.common import ApiError, visible_project
from workspace.live_sessions.selectors import session_record
from workspace.models import (
    LiveSession,
)

router = Router()


@router.get("/projects/{project}/sessions", response=list[dict[str, Any]], tags=["sessions"])
def list_sessions(request: HttpRequest, project: str) -> list[dict[str, Any]]:
    """The project's live sessions with their records, newest first."""
    found = visible_project(request, project)
    rows = LiveSession.objects.filter(project=found).select_related("lead").order_by("-pk")[:100]
    return [session_record(s) for s in rows]


@router.get("/projects/{project}/sessions/{session_id}", response=dict[str, Any], tags=["sessions"])
def get_session(request: HttpRequest, project: str, session_id: int) -> dict[str, Any]:
    """A session record: participants, duration, documents touched, snapshots, calls."""
    found = visible_project(request, project)
    session = LiveSession.objects.filter(project=found, pk=session_id).first()
    if session is None:
        raise ApiError(404, "no such session")
    return session_record(session)
