"""Reads of productions: open calls and the JSON of calls and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from workspace.models import (
    Call,
    CallResponse,
)


def call_is_open(call: Call, now: datetime | None = None) -> bool:
    """Open by hand and not past its deadline."""
    now = now or timezone.now()
    return call.is_open and (call.deadline is None or call.deadline > now)


def open_calls_filter(now: datetime | None = None) -> Q:
    """The ORM filter of calls open right now (deadline included)."""
    now = now or timezone.now()
    return Q(is_open=True) & (Q(deadline__isnull=True) | Q(deadline__gt=now))


def call_json(call: Call) -> dict[str, Any]:
    """A call as the API and the room show it."""
    return {
        "id": call.pk,
        "project": call.project.slug,
        "title": call.title,
        "interest": call.interest,
        "instructions": call.instructions,
        "deadline": call.deadline.isoformat() if call.deadline else None,
        "open": call_is_open(call),
        "filled": call.filled_at is not None,
        "created_at": call.created_at.isoformat(),
        "closed_at": call.closed_at.isoformat() if call.closed_at else None,
        "filled_at": call.filled_at.isoformat() if call.filled_at else None,
    }


def response_json(response: CallResponse) -> dict[str, Any]:
    """A response with its status history."""
    return {
        "id": response.pk,
        "call": response.call_id,
        "project": response.call.project.slug,
        "record": response.record.rid,
        "title": response.record.title,
        "responder": response.responder.get_username(),
        "status": response.status,
        # used_for: the document it is used for; used_in: the snapshot that cites it (none
        # until that document's next snapshot).
        "used_for": (
            f"{response.used_for.project.slug}/{response.used_for.slug}"
            if response.used_for
            else None
        ),
        "used_in": response.used_in.record.rid if response.used_in else None,
        "created_at": response.created_at.isoformat(),
        "history": [
            {
                "by": c.changed_by.get_username() if c.changed_by else None,
                "at": c.changed_at.isoformat(),
                "from": c.from_status or None,
                "to": c.to_status,
            }
            for c in response.history.select_related("changed_by").order_by("pk")
        ],
    }
