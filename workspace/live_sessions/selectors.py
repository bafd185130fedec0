"""Reads of live sessions: the running one, its JSON and its record."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from workspace.models import (
    Call,
    DocumentUpdate,
    LiveSession,
    Record,
)


def live_session(project_id: int) -> LiveSession | None:
    """The project's running session, if any."""
    return (
        LiveSession.objects.filter(project_id=project_id, ended_at__isnull=True)
        .select_related("lead")
        .first()
    )


def session_json(session: LiveSession) -> dict[str, Any]:
    """A session as the room shows it."""
    return {
        "id": session.pk,
        "title": session.title,
        "agenda": session.agenda,
        "lead": session.lead.get_username() if session.lead else None,
        "lead_id": session.lead_id,
        "started_at": session.started_at.isoformat(),
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
        "spotlight": session.spotlight,
        "participants": sorted(
            p.user.get_username() for p in session.participants.select_related("user")
        ),
    }


def session_record(session: LiveSession) -> dict[str, Any]:
    """Participants, duration, documents touched, snapshots and calls made during it."""
    end = session.ended_at or timezone.now()
    window = {"created_at__gte": session.started_at, "created_at__lte": end}
    touched = (
        DocumentUpdate.objects.filter(document__project_id=session.project_id, **window)
        .values_list("document__slug", flat=True)
        .distinct()
    )
    # Records are stamped to the second.
    snapshots = Record.objects.filter(
        project_id=session.project_id,
        snapshot__isnull=False,
        created_at__gte=session.started_at.replace(microsecond=0),
        created_at__lte=end,
    ).order_by("created_at", "pk")
    calls = Call.objects.filter(project_id=session.project_id, **window).order_by("pk")
    return {
        **session_json(session),
        "duration_seconds": round((end - session.started_at).total_seconds(), 3),
        "documents_touched": sorted(set(touched)),
        "snapshots": [r.rid for r in snapshots],
        "calls": [{"id": c.pk, "title": c.title} for c in calls],
    }
