"""A user's notifications, mutes and interests (tag ``notifications``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from workspace.api.common import (
    ApiError,
    InterestName,
    request_actor,
    signed_in_user,
    visible_project,
)
from workspace.models import (
    Notification,
)
from workspace.notifications.selectors import inbox, unread_count
from workspace.notifications.services import (
    interests_set,
    notification_mark_done,
    notifications_mark_read,
    project_mute,
)

router = Router()


@router.get("/notifications", response=dict[str, Any], tags=["notifications"])
def list_notifications(
    request: HttpRequest, unread: bool = False, done: bool = False
) -> dict[str, Any]:
    """Your inbox: unread count and entries, newest first (``?unread=1``, ``?done=1``)."""
    user = signed_in_user(request)
    return inbox(user.pk, include_done=done, unread_only=unread)


@router.post("/notifications/read-all", response=dict[str, Any], tags=["notifications"])
def read_all_notifications(request: HttpRequest) -> dict[str, Any]:
    """Mark every entry read."""
    user = request_actor(request)
    changed = notifications_mark_read(user_id=user.pk)
    return {"marked": changed, "unread": unread_count(user.pk)}


@router.post(
    "/notifications/{notification_id}/read", response=dict[str, Any], tags=["notifications"]
)
def read_notification(request: HttpRequest, notification_id: int) -> dict[str, Any]:
    """Mark one entry read."""
    user = request_actor(request)
    if not Notification.objects.filter(user=user, pk=notification_id).exists():
        raise ApiError(404, "no such notification")
    notifications_mark_read(user_id=user.pk, ids=[notification_id])
    return {"unread": unread_count(user.pk)}


@router.post(
    "/notifications/{notification_id}/done", response=dict[str, Any], tags=["notifications"]
)
def done_notification(request: HttpRequest, notification_id: int) -> dict[str, Any]:
    """Mark one entry done (it leaves the inbox)."""
    user = request_actor(request)
    if not Notification.objects.filter(user=user, pk=notification_id).exists():
        raise ApiError(404, "no such notification")
    notification_mark_done(user_id=user.pk, notification_id=notification_id)
    return {"unread": unread_count(user.pk)}


@router.put("/projects/{project}/mute", response=dict[str, Any], tags=["notifications"])
def mute_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """Stop notifications from a project."""
    user = request_actor(request)
    found = visible_project(request, project)
    return {"muted": project_mute(project=found, user_id=user.pk, mute=True)}


@router.delete("/projects/{project}/mute", response=dict[str, Any], tags=["notifications"])
def unmute_project(request: HttpRequest, project: str) -> dict[str, Any]:
    """Hear from a project again."""
    user = request_actor(request)
    found = visible_project(request, project)
    return {"muted": project_mute(project=found, user_id=user.pk, mute=False)}


class InterestsIn(Schema):
    interests: list[InterestName]


@router.put("/me/interests", response=dict[str, Any], tags=["notifications"])
def set_interests(request: HttpRequest, body: InterestsIn) -> dict[str, Any]:
    """Your interests: new calls for them in projects you follow or belong to notify you."""
    user = request_actor(request)
    return {"interests": interests_set(user_id=user.pk, interests=body.interests)}
