"""Authentication pieces: bearer tokens for HTTP and login throttling for the browser."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

from workspace.projects.selectors import user_for_token


class BearerTokenMiddleware:
    """Authenticates ``Authorization: Bearer <token>`` requests.

    A token request carries no cookie, so CSRF does not apply to it; a wrong token is
    answered 401 at once rather than silently treated as anonymous.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = user_for_token(raw_token=header.removeprefix("Bearer ").strip())
            if user is None:
                return JsonResponse({"error": "invalid or revoked API token"}, status=401)
            request.user = user
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)


def _client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def _throttle_keys(request: HttpRequest, username: str) -> tuple[str, str]:
    return (f"login-fail:user:{username.lower()[:150]}", f"login-fail:ip:{_client_ip(request)}")


class ThrottledAuthenticationForm(AuthenticationForm):
    """The login form, refusing attempts once an account or an IP has failed too often.

    Failures are counted per username and per client IP in the cache (Redis in
    production, so every process shares the count) for ``LOGIN_LOCKOUT_SECONDS``.
    """

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": "Too many failed sign-in attempts. Wait a few minutes and try again.",
    }

    def clean(self) -> dict[str, Any]:
        knobs = settings.TROUPE
        username = str(self.data.get("username", ""))
        user_key, ip_key = _throttle_keys(self.request, username) if self.request else ("", "")
        if self.request is not None and (
            cache.get(user_key, 0) >= knobs["LOGIN_MAX_FAILURES"]
            or cache.get(ip_key, 0) >= knobs["LOGIN_MAX_FAILURES_PER_IP"]
        ):
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            return super().clean()
        except forms.ValidationError:
            if self.request is not None:
                for key in (user_key, ip_key):
                    cache.add(key, 0, knobs["LOGIN_LOCKOUT_SECONDS"])
                    cache.incr(key)
            raise
