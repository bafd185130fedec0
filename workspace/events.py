"""Domain events, built here and sent to channel-layer groups only after the commit.

Every message a workspace service hands to the realtime side is one of the ``TypedDict``s
below, built by the function of the same name; a new kind is added here with its builder,
and ``tests/realtime/unit/test_bus.py`` fails until it has a handler. Services call
``emit_on_commit``; delivery to connections is the realtime app's job.

=======================  ==============================  ================================
kind                     sent to                         handled by
=======================  ==============================  ================================
``access.changed``       the project's access group      ``Bus``: re-checks open sockets
``project.event``        the project's presence group    ``Bus``: to project-room sockets
``doc.external``         the document's group            ``Bus``: into the live document
``notification.deliver`` the user's group                ``NotificationConsumer``
``notification.read``    the user's group                ``NotificationConsumer``
=======================  ==============================  ================================

``type`` values use dots and are handled by methods with underscores where a consumer
receives them (``notification_deliver``), as Channels does.
"""

import logging
from typing import Any, Literal, TypedDict, get_args, get_type_hints

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


class AccessChanged(TypedDict):
    """A user's role in a project changed, or (``user_id`` None) the project's visibility."""

    type: Literal["access.changed"]
    project_id: int
    user_id: int | None


class ProjectEvent(TypedDict):
    """Something the project room shows live; ``event`` goes to its sockets as it is."""

    type: Literal["project.event"]
    project_id: int
    event: dict[str, Any]


class DocExternal(TypedDict):
    """An update stored outside the live path (HTTP, a restore), for processes holding it."""

    type: Literal["doc.external"]
    document_id: int
    update: bytes
    user_id: int | None  # None: the server's own edit (a schema migration)
    # Client IDs the update writes under, bound to their users (a restore writes for
    # several people); string keys, as the channel layer's msgpack needs.
    bindings: dict[str, int]


class NotificationDeliver(TypedDict):
    """A new or grouped notification for its recipient's open inboxes."""

    type: Literal["notification.deliver"]
    notification: dict[str, Any]
    unread: int


class NotificationRead(TypedDict):
    """The recipient's unread count changed (read elsewhere)."""

    type: Literal["notification.read"]
    unread: int


Event = AccessChanged | ProjectEvent | DocExternal | NotificationDeliver | NotificationRead

EVENT_TYPES: dict[str, type] = {
    get_args(get_type_hints(kind)["type"])[0]: kind
    for kind in (AccessChanged, ProjectEvent, DocExternal, NotificationDeliver, NotificationRead)
}
"""Each kind's ``type`` value and its ``TypedDict``."""

ACCESS_CHANGED: Literal["access.changed"] = "access.changed"
PROJECT_EVENT: Literal["project.event"] = "project.event"
DOC_EXTERNAL: Literal["doc.external"] = "doc.external"


def access_changed(*, project_id: int, user_id: int | None) -> AccessChanged:
    return {"type": ACCESS_CHANGED, "project_id": project_id, "user_id": user_id}


def project_event(*, project_id: int, event: dict[str, Any]) -> ProjectEvent:
    return {"type": PROJECT_EVENT, "project_id": project_id, "event": event}


def doc_external(
    *,
    document_id: int,
    update: bytes,
    user_id: int | None,
    bindings: dict[int, int] | None = None,
) -> DocExternal:
    return {
        "type": DOC_EXTERNAL,
        "document_id": document_id,
        "update": update,
        "user_id": user_id,
        "bindings": {str(k): v for k, v in (bindings or {}).items()},
    }


def notification_deliver(*, notification: dict[str, Any], unread: int) -> NotificationDeliver:
    return {"type": "notification.deliver", "notification": notification, "unread": unread}


def notification_read(*, unread: int) -> NotificationRead:
    return {"type": "notification.read", "unread": unread}


def _send(group: str, message: Event) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, dict(message))
    except Exception:
        # The commit already happened; a lost event is repaired by the receivers'
        # periodic checks, so log it rather than fail the request.
        logger.exception("event delivery failed", extra={"group": group, "type": message["type"]})


def emit_on_commit(group: str, message: Event) -> None:
    """Send ``message`` to ``group`` once the current transaction commits."""
    transaction.on_commit(lambda: _send(group, message))
