"""The project room page as HTML: who may open it, what it tells the script, escaping."""

import html
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.support.factories import ProjectRoom
from workspace.models import Visibility
from workspace.pages import bundles


def _attrs(body: str) -> dict[str, str]:
    match = re.search(r'<div id="room"([^>]*)>', body)
    assert match, "no #room element"
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', match[1])}


def _user(room: ProjectRoom, member: str) -> User:
    user = room.members[member].user
    assert isinstance(user, User)
    return user


def _client(room: ProjectRoom, member: str) -> Client:
    client = Client()
    client.force_login(_user(room, member))
    return client


def test_signed_out_visitors_are_sent_to_sign_in(project_room: ProjectRoom) -> None:
    response = Client().get(f"/p/{project_room.project.slug}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_outsiders_get_404_for_a_private_project(project_room: ProjectRoom) -> None:
    client = _client(project_room, "outsider")
    assert client.get(f"/p/{project_room.project.slug}/").status_code == 404
    assert client.get("/p/no-such-project/").status_code == 404


def test_room_tells_the_script_role_documents_user_and_socket(project_room: ProjectRoom) -> None:
    slug = project_room.project.slug
    lead = _attrs(_client(project_room, "lead").get(f"/p/{slug}/").content.decode())
    assert lead["project"] == slug
    assert lead["role"] == "lead"
    assert lead["can-write"] == "true"
    assert lead["script"] == "script"
    assert lead["board"] == "board"
    assert lead["ws-url"] == "ws://testserver/ws/yjs"
    assert lead["login-url"] == "/accounts/login/"
    assert lead["user-name"] == project_room.members["lead"].user.get_username()
    assert re.fullmatch(r"#[0-9a-f]{6}", lead["user-color"])
    viewer = _attrs(_client(project_room, "viewer").get(f"/p/{slug}/d/board").content.decode())
    assert viewer["role"] == "viewer"
    assert viewer["can-write"] == "false"


def test_document_path_must_exist(project_room: ProjectRoom) -> None:
    client = _client(project_room, "editor")
    assert client.get(f"/p/{project_room.project.slug}/d/script").status_code == 200
    assert client.get(f"/p/{project_room.project.slug}/d/nope").status_code == 404


def test_public_project_opens_read_only_for_non_members(project_room: ProjectRoom) -> None:
    project_room.project.visibility = Visibility.PUBLIC
    project_room.project.save(update_fields=["visibility"])
    body = _client(project_room, "outsider").get(f"/p/{project_room.project.slug}/").content
    attrs = _attrs(body.decode())
    assert attrs["can-write"] == "false"
    assert attrs["role"] == "viewer"


def test_names_are_escaped_in_the_page(project_room: ProjectRoom) -> None:
    user = _user(project_room, "editor")
    user.first_name = '"><img src=x onerror=alert(1)>'
    user.save()
    body = _client(project_room, "editor").get(f"/p/{project_room.project.slug}/").content.decode()
    assert "<img src=x" not in body
    assert _attrs(body)["user-name"] == '"><img src=x onerror=alert(1)>'


def test_home_links_each_document_to_its_room(project_room: ProjectRoom) -> None:
    body = _client(project_room, "viewer").get("/").content.decode()
    slug = project_room.project.slug
    assert f'href="/p/{slug}/d/script"' in body
    assert f'href="/p/{slug}/d/board"' in body
    assert f'href="/p/{slug}/"' in body


def test_missing_frontend_build_is_said_plainly(
    project_room: ProjectRoom, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bundles, "MANIFEST", tmp_path / "missing.json")
    body = _client(project_room, "lead").get(f"/p/{project_room.project.slug}/").content.decode()
    assert "make frontend" in body
    assert "<script" not in body
