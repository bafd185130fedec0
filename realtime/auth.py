"""Websocket authentication: the browser's session cookie or an API token in ``?token=``.

Nothing is read before the socket is accepted: ``WebsocketAuthMiddleware`` only notes the
session key and the raw token in the scope. Each consumer accepts, waits for an admission
slot (``realtime.admission``), then resolves the user with ``connection_user`` in the same
database call as its access check, on a set-up thread (``realtime.db_threads``). An
unknown token is refused with 4401; a database that cannot be reached with 1011 (retry
later), never an HTTP 500 in the handshake.
"""

from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import User
from django.http.request import split_domain_port, validate_host

from realtime.closecodes import CloseCode
from workspace.projects.selectors import user_for_token

Scope = dict[str, Any]


class DeferredAuthMiddleware:
    """Notes the session cookie and ``?token=`` without reading the database.

    Channels' session and auth middlewares each take a turn on the database thread before
    the application sees the connection, and daphne drops a socket not accepted within
    its connect time-out: in a storm every connection queued there, and none got in.
    Every consumer accepts first and resolves the user with ``connection_user`` in the
    same database call as its access check (on a set-up thread, ``realtime.db_threads``).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        tokens = query.get("token")
        cookies = scope.get("cookies", {})
        scope = dict(
            scope,
            raw_token=tokens[0] if tokens else None,
            session_key=cookies.get(settings.SESSION_COOKIE_NAME),
        )
        return await self.inner(scope, receive, send)


def WebsocketAuthMiddleware(inner: Any) -> Any:  # noqa: N802 - reads like the Channels stacks
    """The cookies parsed, the session key and token noted; nothing read yet."""
    return CookieMiddleware(DeferredAuthMiddleware(inner))


def connection_user(
    *, raw_token: str | None, session_key: str | None
) -> tuple[User | None, str | None, str | None]:
    """``(user, "token" or "session", error)`` of a connection (reads the database)."""
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


def admitted_user(
    scope: Scope, user: User | None, via: str | None, error: str | None
) -> User | tuple[CloseCode, str]:
    """The user a connection resolved by ``connection_user`` goes on with, or why it is
    refused before any access check: no user (4401), or a session socket from another
    site (4403)."""
    if user is None:
        return CloseCode.UNAUTHENTICATED, error or "sign in or pass ?token="
    if via == "session" and not origin_allowed(scope):
        return CloseCode.FORBIDDEN, "cross-site websocket refused (Origin)"
    return user
