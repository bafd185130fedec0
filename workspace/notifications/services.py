"""Writes of notifications: sending (grouped bursts), marking read or done, mutes, interests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from workspace import events
from workspace.events import emit_on_commit
from workspace.groups import user_group
from workspace.models import (
    Call,
    CallResponse,
    Membership,
    Notification,
    Preference,
    Project,
    ProjectFollow,
    ProjectMute,
    Record,
    RecordAuthor,
    Role,
)
from workspace.notifications.selectors import can_see, notification_json, unread_count

GROUP_WINDOW = timedelta(minutes=10)


def notification_send(
    *,
    user_id: int,
    event: str,
    project: Project | None,
    object_type: str,
    object_id: str | int,
    reason: str,
    actor_id: int | None,
    check_visible: bool = True,
) -> Notification | None:
    """Store (or group) one notification and deliver it live after the commit."""
    if actor_id is not None and user_id == actor_id:
        return None
    if project is not None:
        if check_visible and not can_see(user_id, project):
            return None
        if ProjectMute.objects.filter(project=project, user_id=user_id).exists():
            return None
    group_key = f"{event}:{object_type}:{object_id}"
    now = timezone.now()
    with transaction.atomic():
        entry = (
            Notification.objects.select_for_update()
            .filter(
                user_id=user_id,
                group_key=group_key,
                read_at__isnull=True,
                done_at__isnull=True,
                updated_at__gte=now - GROUP_WINDOW,
            )
            .order_by("-updated_at")
            .first()
        )
        if entry is not None:
            entry.count += 1
            entry.reason = reason
            entry.updated_at = now
            entry.save(update_fields=["count", "reason", "updated_at"])
        else:
            entry = Notification.objects.create(
                user_id=user_id,
                event=event,
                project=project,
                object_type=object_type,
                object_id=str(object_id),
                reason=reason,
                group_key=group_key,
                updated_at=now,
            )
        emit_on_commit(
            user_group(user_id),
            events.notification_deliver(
                notification=notification_json(entry), unread=unread_count(user_id)
            ),
        )
    return entry


def _name(user_id: int | None) -> str:
    if user_id is None:
        return "someone"
    user = get_user_model().objects.filter(pk=user_id).first()
    return user.get_username() if user else "someone"


def call_created(*, call: Call, actor_id: int | None) -> None:
    """Members and followers whose interests include the call's interest."""
    project = call.project
    people = set(Membership.objects.filter(project=project).values_list("user_id", flat=True))
    people |= set(ProjectFollow.objects.filter(project=project).values_list("user_id", flat=True))
    interested = {
        p.user_id
        for p in Preference.objects.filter(user_id__in=people)
        if call.interest in (p.interests or [])
    }
    for user_id in sorted(interested):
        notification_send(
            user_id=user_id,
            event="call.created",
            project=project,
            object_type="call",
            object_id=call.pk,
            reason=f"New {call.interest} call in {project.title}: {call.title} "
            f"(you follow or are a member, and listed {call.interest} as an interest)",
            actor_id=actor_id,
        )


def response_created(*, response: CallResponse) -> None:
    """The project's leads hear of a new response to their call."""
    call = response.call
    leads = Membership.objects.filter(project=call.project, role=Role.LEAD).values_list(
        "user_id", flat=True
    )
    for user_id in leads:
        notification_send(
            user_id=user_id,
            event="response.created",
            project=call.project,
            object_type="call",
            object_id=call.pk,
            reason=f"{_name(response.responder_id)} answered your call {call.title!r} "
            f"with {response.record.title!r}",
            actor_id=response.responder_id,
        )


def response_status_changed(*, response: CallResponse, actor_id: int | None) -> None:
    """The responder hears that their response moved."""
    call = response.call
    notification_send(
        user_id=response.responder_id,
        event="response.status",
        project=call.project,
        object_type="response",
        object_id=response.pk,
        reason=f"Your response {response.record.title!r} to {call.title!r} is now "
        f"{response.status}",
        actor_id=actor_id,
    )


def _authors(record: Record) -> set[int]:
    ids = set(RecordAuthor.objects.filter(record=record).values_list("user_id", flat=True))
    ids.add(record.created_by_id)
    return ids


def record_cited(*, record: Record) -> None:
    """Authors of the records the new record cites (when they can see the new record)."""
    for resource in Record.objects.filter(remix_links__record=record).distinct():
        for user_id in sorted(_authors(resource)):
            notification_send(
                user_id=user_id,
                event="record.cited",
                project=record.project,
                object_type="record",
                object_id=resource.rid,
                reason=f"{_name(record.created_by_id)}'s record {record.title!r} cites your "
                f"record {resource.title!r}",
                actor_id=record.created_by_id,
            )


def snapshot_credited(*, record: Record) -> None:
    """Authors credited in a new snapshot (except whoever took it)."""
    authors = RecordAuthor.objects.filter(record=record).values_list("user_id", flat=True)
    for user_id in sorted(set(authors)):
        notification_send(
            user_id=user_id,
            event="snapshot.credited",
            project=record.project,
            object_type="record",
            object_id=record.rid,
            reason=f"You are credited in the snapshot {record.title!r}",
            actor_id=record.created_by_id,
        )


def membership_changed(
    *, project: Project, user_id: int, added: bool, actor_id: int | None
) -> None:
    """You were added to or removed from a project (the removed still hear of it)."""
    notification_send(
        user_id=user_id,
        event="membership.added" if added else "membership.removed",
        project=project,
        object_type="project",
        object_id=project.slug,
        reason=f"You were {'added to' if added else 'removed from'} {project.title}",
        actor_id=actor_id,
        check_visible=added,
    )


def notifications_mark_read(*, user_id: int, ids: Iterable[int] | None = None) -> int:
    """Mark entries (or all) read; returns how many changed. Every open tab is told."""
    rows = Notification.objects.filter(user_id=user_id, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    changed = rows.update(read_at=timezone.now())
    if changed:
        _unread_changed(user_id)
    return changed


def notification_mark_done(*, user_id: int, notification_id: int) -> int:
    """Mark an entry done (and read)."""
    now = timezone.now()
    rows = Notification.objects.filter(user_id=user_id, pk=notification_id)
    if rows.filter(read_at__isnull=True).update(read_at=now):
        _unread_changed(user_id)
    return rows.filter(done_at__isnull=True).update(done_at=now)


def _unread_changed(user_id: int) -> None:
    emit_on_commit(user_group(user_id), events.notification_read(unread=unread_count(user_id)))


def project_mute(*, project: Project, user_id: int, mute: bool) -> bool:
    """Mute or unmute a project's notifications."""
    if mute:
        ProjectMute.objects.get_or_create(project=project, user_id=user_id)
    else:
        ProjectMute.objects.filter(project=project, user_id=user_id).delete()
    return mute


def interests_set(*, user_id: int, interests: Iterable[str]) -> list[str]:
    """Replace the user's interests."""
    pref, _ = Preference.objects.get_or_create(user_id=user_id)
    pref.interests = sorted(set(interests))
    pref.save(update_fields=["interests"])
    return list(pref.interests)
