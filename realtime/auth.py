"""Websocket authentication: the browser's session cookie or an API token in ``?token=``.

Sets ``scope["user"]`` and ``scope["auth_via"]`` ("token", "session" or None). A token
that does not match is recorded as ``scope["auth_error"]``; consumers refuse with 4401.
When the database cannot be reached to read the session or the token, the user is
anonymous and ``scope["storage_error"]`` is set: consumers then accept and close with
1011 (retry later), as they do for a document that cannot be loaded, instead of the
handshake failing with an HTTP 500.
"""

from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser, User
from django.db import DatabaseError
from django.http.request import split_domain_port, validate_host

from workspace.projects.selectors import user_for_token

Scope = dict[str, Any]


class TokenAuthMiddleware:
    """Replaces the session user with the token's user when ``?token=`` is given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        tokens = query.get("token")
        scope = dict(scope)
        if tokens and not scope.get("storage_error"):
            try:
                user = await database_sync_to_async(user_for_token)(raw_token=tokens[0])
            except DatabaseError:
                user = None
                scope["storage_error"] = True
            scope["user"] = user or AnonymousUser()
            scope["auth_via"] = "token" if user else None
            if user is None:
                scope["auth_error"] = "invalid or revoked API token"
        else:
            user = scope.get("user")
            scope["auth_via"] = "session" if user is not None and user.is_authenticated else None
        return await self.inner(scope, receive, send)


class SessionAuthMiddleware(AuthMiddleware):  # type: ignore[misc]  # Channels is untyped
    """Channels' session authentication, noting a database it cannot reach."""

    async def resolve_scope(self, scope: Scope) -> None:
        try:
            await super().resolve_scope(scope)
        except DatabaseError:
            scope["user"]._wrapped = AnonymousUser()
            scope["storage_error"] = True


def WebsocketAuthMiddleware(inner: Any) -> Any:  # noqa: N802 - reads like the Channels stacks
    """Session (cookie) authentication, then token authentication on top."""
    return CookieMiddleware(SessionMiddleware(SessionAuthMiddleware(TokenAuthMiddleware(inner))))


# Document sockets authenticate after they are accepted (see realtime/admission.py).
DEFERRED_PATH = "/ws/yjs/"


class DeferredAuthMiddleware:
    """Notes the session cookie and ``?token=`` without reading the database.

    Channels' session and auth middlewares each take a turn on the database thread before
    the application sees the connection, and daphne drops a socket not accepted within
    its connect time-out: in a storm every connection queued there, and none got in. The
    document consumer accepts first and resolves the user with ``connection_user`` in the
    same database call as its access check.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        tokens = query.get("token")
        cookies = scope.get("cookies", {})
        scope = dict(
            scope,
            auth_deferred=True,
            raw_token=tokens[0] if tokens else None,
            session_key=cookies.get(settings.SESSION_COOKIE_NAME),
        )
        return await self.inner(scope, receive, send)


def connection_user(
    *, raw_token: str | None, session_key: str | None
) -> tuple[User | None, str | None, str | None]:
    """``(user, "token" or "session", error)`` of a deferred connection (database access)."""
    if raw_token is not None:
        user = user_for_token(raw_token=raw_token)
        if user is None:
            return None, None, "invalid or revoked API token"
        return user, "token", None
    if session_key:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        found = get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]  # only .session is read
        if isinstance(found, User) and found.is_authenticated:
            return found, "session", None
    return None, None, None


class WebsocketStacks:
    """Document sockets through ``DeferredAuthMiddleware``, the others through
    ``WebsocketAuthMiddleware``."""

    def __init__(self, inner: Any) -> None:
        self.deferred = CookieMiddleware(DeferredAuthMiddleware(inner))
        self.resolved = WebsocketAuthMiddleware(inner)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if scope.get("path", "").startswith(DEFERRED_PATH):
            return await self.deferred(scope, receive, send)
        return await self.resolved(scope, receive, send)


def origin_allowed(scope: Scope) -> bool:
    """Whether the websocket's Origin is this site (cross-site websocket hijacking check)."""
    origin = ""
    for name, value in scope.get("headers", []):
        if name == b"origin":
            origin = value.decode("latin-1")
            break
    if not origin or origin == "null":
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    domain, _port = split_domain_port(urlsplit(origin).netloc)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
