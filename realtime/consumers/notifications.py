"""``/ws/notifications``: the signed-in user's inbox, live."""

from typing import Any

from channels.db import database_sync_to_async

from realtime.auth import origin_allowed
from realtime.closecodes import CloseCode
from realtime.consumers.base import LimitedJsonConsumer
from workspace.groups import user_group
from workspace.notifications.selectors import inbox_snapshot


class NotificationConsumer(LimitedJsonConsumer):
    """``/ws/notifications``: the signed-in user's inbox, live, in every tab on any process.

    On connect: ``notifications.snapshot`` (unread count, recent entries); then one
    ``notification`` per new or grouped entry, and ``notifications.read`` (the unread
    count) when entries are read in any tab. Entries are stored before delivery, so a
    socket that dropped finds them in the next snapshot.
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            reason = self.scope.get("auth_error", "sign in or pass ?token=")
            await self.send_json(
                {"type": "error", "code": int(CloseCode.UNAUTHENTICATED), "error": reason}
            )
            await self.close(code=int(CloseCode.UNAUTHENTICATED), reason=reason)
            return
        if self.scope.get("auth_via") == "session" and not origin_allowed(self.scope):
            reason = "cross-site websocket refused (Origin)"
            await self.send_json(
                {"type": "error", "code": int(CloseCode.FORBIDDEN), "error": reason}
            )
            await self.close(code=int(CloseCode.FORBIDDEN), reason=reason)
            return
        self.user_id = user.pk
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(await database_sync_to_async(inbox_snapshot)(user.pk))
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
