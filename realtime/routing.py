"""Websocket routes. The document route is a public contract: keep it exactly."""

from django.urls import re_path

from realtime.consumers.document import DocumentConsumer
from realtime.consumers.notifications import NotificationConsumer
from realtime.consumers.project import ProjectConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/yjs/(?P<project>[-a-zA-Z0-9_]+)/(?P<document>[-a-zA-Z0-9_]+)$",
        DocumentConsumer.as_asgi(),
    ),
    re_path(r"^ws/projects/(?P<project>[-a-zA-Z0-9_]+)$", ProjectConsumer.as_asgi()),
    re_path(r"^ws/notifications$", NotificationConsumer.as_asgi()),
]
