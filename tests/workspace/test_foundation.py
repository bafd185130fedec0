"""Foundation: settings, health, tokens, sign-in throttling, CSRF, demo seed."""

import os
import subprocess
import sys
from collections.abc import Callable
from io import StringIO

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.support.redis_server import RedisServer
from tests.support.servers import ROOT, TroupeServer
from workspace.models import ApiToken, Document, Membership, Project

pytestmark = [pytest.mark.django_db]


def settings_error(env: dict[str, str]) -> str:
    """Import the settings in a fresh interpreter with ``env``; return stderr."""
    full = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    full.update(env)
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stderr if result.returncode else ""


def test_insecure_defaults_refused_when_debug_off() -> None:
    assert "SECRET_KEY" in settings_error({"DEBUG": "0"})
    assert "SECRET_KEY" in settings_error({"DEBUG": "0", "SECRET_KEY": "short"})
    assert "ALLOWED_HOSTS" in settings_error({"DEBUG": "0", "SECRET_KEY": "x" * 50})
    assert (
        settings_error({"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "troupe.example"})
        == ""
    )
    assert "not a boolean" in settings_error({"DEBUG": "maybe"})


def test_production_security_settings() -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS > 0, s.SECURE_SSL_REDIRECT)"
    )
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "y" * 50,
        "ALLOWED_HOSTS": "troupe.example",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["True", "True", "True", "True"]


def test_issue_token_prints_only_a_token_stored_hashed() -> None:
    out = StringIO()
    call_command("issue_token", "newcomer", "--create", stdout=out)
    token = out.getvalue().strip()
    assert token.startswith("trp_") and "\n" not in token and len(token) > 40
    stored = ApiToken.objects.get(user__username="newcomer")
    assert token not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
    with pytest.raises(Exception, match="no user named"):
        call_command("issue_token", "ghost", stdout=StringIO())


def test_bearer_token_authenticates_http_and_wrong_one_is_refused(client: Client) -> None:
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("issue_token", "alice", stdout=out)
    token = out.getvalue().strip()
    url = "/api/projects/demo/documents/script/content"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get(url, headers={"Authorization": "Bearer trp_wrong"}).status_code == 401


def test_seed_demo_is_idempotent() -> None:
    for _ in range(2):
        call_command("seed_demo", stdout=StringIO())
    project = Project.objects.get(slug="demo")
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"alice": "lead", "bob": "editor", "vera": "viewer"}
    assert set(Document.objects.filter(project=project).values_list("slug", "kind")) == {
        ("script", "script"),
        ("storyboard", "storyboard"),
    }
    assert get_user_model().objects.get(username="bob").check_password("troupe-demo")


def test_login_is_throttled_per_account() -> None:
    get_user_model().objects.create_user(username="carol", password="correct-horse-battery")
    client = Client(enforce_csrf_checks=False)
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "carol", "password": "wrong"})
        assert response.status_code == 200
    response = client.post(
        "/accounts/login/", {"username": "carol", "password": "correct-horse-battery"}
    )
    assert response.status_code == 200
    assert b"Too many failed sign-in attempts" in response.content
    other = Client()
    get_user_model().objects.create_user(username="dave", password="correct-horse-battery")
    assert (
        other.post(
            "/accounts/login/", {"username": "dave", "password": "correct-horse-battery"}
        ).status_code
        == 302
    )


def test_unsafe_session_requests_need_csrf() -> None:
    get_user_model().objects.create_user(username="erin", password="correct-horse-battery")
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="erin", password="correct-horse-battery")
    response = client.post(
        "/api/projects/demo/documents/script/update",
        b"\x00\x00",
        content_type="application/octet-stream",
    )
    assert response.status_code == 403


def test_passwords_are_validated() -> None:
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        validate_password("password")


@pytest.mark.redis
@pytest.mark.live
def test_healthz_on_defaults_and_on_postgres_redis_and_503_without_redis(
    server_factory: Callable[..., TroupeServer], own_redis: RedisServer
) -> None:
    embedded = server_factory()
    body = httpx.get(f"{embedded.http_url}/healthz").json()
    assert body == {"status": "ok", "database": "ok", "channel_layer": "ok"}
    with_redis = server_factory(redis_url=own_redis.url)
    assert httpx.get(f"{with_redis.http_url}/healthz").status_code == 200
    own_redis.stop()
    response = httpx.get(f"{with_redis.http_url}/healthz", timeout=30)
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok" and body["channel_layer"].startswith("error")


@pytest.mark.redis
@pytest.mark.live
@pytest.mark.slow
async def test_idle_websocket_over_redis_layer_survives_ping_rounds(
    server_factory: Callable[..., TroupeServer], redis_url: str, project_room: object
) -> None:
    import asyncio

    from tests.support.yraw import RawYClient

    # A ping at each of daphne's 2 s checks, to be answered within 2 s: eight idle seconds
    # span four ping rounds and four times the time-out, where the deployment's 20 s / 30 s
    # settings showed one round in 31 s (what this test used to wait).
    server = server_factory(redis_url=redis_url, ping_interval=1, ping_timeout=2)
    room = project_room.room(project_room.script)  # type: ignore[attr-defined]
    token = project_room.members["lead"].token  # type: ignore[attr-defined]
    async with await RawYClient.open(server.ws_url, room, token=token) as c:
        await c.sync()
        loop = asyncio.get_running_loop()
        closed = loop.create_task(c.ws.wait_closed())
        done, _ = await asyncio.wait({closed}, timeout=8)
        assert not done, f"closed while idle: {c.ws.close_code} {c.ws.close_reason}"
        closed.cancel()
        await c.insert(0, "still here")
        await c.sync()
        assert c.is_open
