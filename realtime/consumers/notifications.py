"""``/ws/notifications``: the signed-in user's inbox, live."""

from typing import Any

from django.contrib.auth.models import User

from realtime.auth import admitted_user, connection_user, origin_allowed
from realtime.consumers.base import LimitedJsonConsumer
from realtime.db_threads import on_connect_thread
from workspace.groups import user_group
from workspace.notifications.selectors import inbox_snapshot


class NotificationConsumer(LimitedJsonConsumer):
    """``/ws/notifications``: the signed-in user's inbox, live, in every tab on any process.

    On connect: ``notifications.snapshot`` (unread count, recent entries); then one
    ``notification`` per new or grouped entry, and ``notifications.read`` (the unread
    count) when entries are read in any tab. Entries are stored before delivery, so a
    socket that dropped finds them in the next snapshot.
    """

    async def admit(self) -> None:
        user, via, error, snapshot = await on_connect_thread(
            _inbox_connection, scope=self.scope, origin_ok=origin_allowed(self.scope)
        )
        admitted = admitted_user(self.scope, user, via, error)
        if isinstance(admitted, tuple):
            await self.refuse(*admitted)
            return
        user = admitted
        self.user_id = user.pk
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(snapshot)
        self.admitted = True

    async def disconnect(self, code: int) -> None:
        self.admitted = False
        group = getattr(self, "group", None)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "error": "only ping is accepted", "for": None})

    async def notification_deliver(self, message: dict[str, Any]) -> None:
        """A stored notification, from the user's group."""
        await self.send_json(
            {
                "type": "notification",
                "notification": message["notification"],
                "unread": message["unread"],
            }
        )

    async def notification_read(self, message: dict[str, Any]) -> None:
        """Entries were read (in this tab or another): the new unread count."""
        await self.send_json({"type": "notifications.read", "unread": message["unread"]})


def _inbox_connection(
    *, scope: dict[str, Any], origin_ok: bool
) -> tuple[User | None, str | None, str | None, dict[str, Any] | None]:
    """The user, how they authenticated, why not, and their inbox: one turn on a set-up
    thread. A session socket from another site gets no inbox (``origin_ok``)."""
    user, via, error = connection_user(
        raw_token=scope.get("raw_token"), session_key=scope.get("session_key")
    )
    if user is None or (via == "session" and not origin_ok):
        return user, via, error, None
    return user, via, error, inbox_snapshot(user.pk)
