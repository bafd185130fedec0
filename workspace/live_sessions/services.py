"""Writes of live sessions: start, join, spotlight, end; room events and the room state."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from workspace import events
from workspace.events import emit_on_commit
from workspace.groups import project_presence_group
from workspace.live_sessions.selectors import live_session, session_json, session_record
from workspace.models import (
    Call,
    LiveSession,
    Project,
    SessionParticipant,
)
from workspace.productions.selectors import call_json, open_calls_filter
from workspace.productions.services import calls_close_expired


class SessionRefused(Exception):
    """A session action that is not allowed; the message says why."""


def room_event(*, project_id: int, event: dict[str, Any]) -> None:
    """Send an event to every room connection of the project after the commit."""
    emit_on_commit(
        project_presence_group(project_id),
        events.project_event(project_id=project_id, event=event),
    )


def session_start(
    *, project: Project | int, lead: User, title: str, agenda: str = ""
) -> LiveSession:
    """Start the project's session (one at a time); the lead is its first participant."""
    project_id = project if isinstance(project, int) else project.pk
    title = title.strip()
    if not title:
        raise SessionRefused("a session needs a title")
    now = timezone.now()
    try:
        with transaction.atomic():
            session = LiveSession.objects.create(
                project_id=project_id, lead=lead, title=title[:200], agenda=agenda, started_at=now
            )
            SessionParticipant.objects.create(session=session, user=lead, joined_at=now)
            room_event(
                project_id=project_id,
                event={"type": "session.started", "session": session_json(session)},
            )
    except IntegrityError as exc:
        raise SessionRefused("a session is already running in this project") from exc
    return session


def session_join(*, project_id: int, user: User) -> LiveSession:
    """Join the running session."""
    session = live_session(project_id)
    if session is None:
        raise SessionRefused("no session is running")
    with transaction.atomic():
        _, created = SessionParticipant.objects.get_or_create(
            session=session, user=user, defaults={"joined_at": timezone.now()}
        )
        if created:
            room_event(
                project_id=project_id,
                event={
                    "type": "session.joined",
                    "session": session.pk,
                    "user": user.get_username(),
                    "user_id": user.pk,
                },
            )
    return session


def session_spotlight(
    *, project_id: int, lead: User, document: str, anchor: dict[str, Any] | None
) -> LiveSession:
    """Point every participant at a document (and a scene or panel of it)."""
    session = live_session(project_id)
    if session is None:
        raise SessionRefused("no session is running")
    with transaction.atomic():
        session.spotlight = {"document": document, "anchor": anchor}
        session.save(update_fields=["spotlight"])
        room_event(
            project_id=project_id,
            event={
                "type": "session.follow_request",
                "session": session.pk,
                "by": lead.get_username(),
                "by_id": lead.pk,
                "document": document,
                "anchor": anchor,
            },
        )
    return session


def session_end(*, project_id: int) -> LiveSession:
    """End the running session; its record is then fixed by its time window."""
    session = live_session(project_id)
    if session is None:
        raise SessionRefused("no session is running")
    with transaction.atomic():
        session.ended_at = timezone.now()
        session.save(update_fields=["ended_at"])
        room_event(
            project_id=project_id,
            event={
                "type": "session.ended",
                "session": session.pk,
                "record": session_record(session),
            },
        )
    return session


def room_state(*, project_id: int) -> dict[str, Any]:
    """What the room snapshot adds: open calls (deadlines applied) and the live session."""
    calls_close_expired(project=Project.objects.get(pk=project_id))
    calls = (
        Call.objects.filter(open_calls_filter(), project_id=project_id)
        .select_related("project")
        .order_by("-created_at", "-pk")
    )
    session = live_session(project_id)
    return {
        "calls": [call_json(c) for c in calls],
        "session": session_json(session) if session else None,
    }
