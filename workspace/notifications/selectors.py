"""Reads of notifications: the inbox, unread counts and what a user may be told about."""

from __future__ import annotations

from typing import Any

from workspace.access import user_can_see_project
from workspace.models import (
    Notification,
    Project,
)

RECENT = 20


def can_see(user_id: int, project: Project | None) -> bool:
    """Whether the user may be told about something in ``project`` (None: personal)."""
    if project is None:
        return True
    # Read fresh: the visibility may have changed since ``project`` was loaded.
    return user_can_see_project(user_id=user_id, project_id=project.pk)


def notification_json(n: Notification) -> dict[str, Any]:
    """The inbox entry as the API and the socket show it."""
    return {
        "id": n.pk,
        "event": n.event,
        "project": n.project.slug if n.project_id and n.project else None,
        "object_type": n.object_type,
        "object_id": n.object_id,
        "reason": n.reason,
        "count": n.count,
        "created_at": n.created_at.isoformat(),
        "updated_at": n.updated_at.isoformat(),
        "read": n.read_at is not None,
        "done": n.done_at is not None,
    }


def unread_count(user_id: int) -> int:
    """Unread entries not marked done."""
    return Notification.objects.filter(
        user_id=user_id, read_at__isnull=True, done_at__isnull=True
    ).count()


def inbox_snapshot(user_id: int) -> dict[str, Any]:
    """What a notification socket receives on connect."""
    recent = (
        Notification.objects.filter(user_id=user_id, done_at__isnull=True)
        .select_related("project")
        .order_by("-updated_at", "-pk")[:RECENT]
    )
    return {
        "type": "notifications.snapshot",
        "unread": unread_count(user_id),
        "recent": [notification_json(n) for n in recent],
    }


def inbox(user_id: int, *, include_done: bool = False, unread_only: bool = False) -> dict[str, Any]:
    """Unread count and entries, newest first."""
    rows = Notification.objects.filter(user_id=user_id).select_related("project")
    if not include_done:
        rows = rows.filter(done_at__isnull=True)
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return {
        "unread": unread_count(user_id),
        "items": [notification_json(n) for n in rows.order_by("-updated_at", "-pk")[:200]],
    }
