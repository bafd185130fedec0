"""The project room page as HTML: who may open it, what it tells the script, escaping."""

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from pycrdt import Doc, Text

from tests.support.factories import ProjectRoom
from tests.workspace.test_snapshots import Writer
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


def _manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A built room entry split as Vite splits it: static imports, a dynamic one, CSS."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "src/main.ts": {
                    "file": "troupe/room-AAAAAAAA.js",
                    "isEntry": True,
                    "imports": ["_backoff-BBBBBBBB.js", "_yjs-CCCCCCCC.js"],
                    "dynamicImports": ["src/board.ts"],
                    "css": ["troupe/room-DDDDDDDD.css"],
                },
                "_backoff-BBBBBBBB.js": {"file": "troupe/backoff-BBBBBBBB.js"},
                "_yjs-CCCCCCCC.js": {
                    "file": "troupe/yjs-CCCCCCCC.js",
                    "imports": ["_lib0-EEEEEEEE.js", "_backoff-BBBBBBBB.js"],
                    "css": ["troupe/yjs-FFFFFFFF.css"],
                },
                "_lib0-EEEEEEEE.js": {"file": "troupe/lib0-EEEEEEEE.js"},
                "src/board.ts": {
                    "file": "troupe/board-GGGGGGGG.js",
                    "isDynamicEntry": True,
                    "imports": ["src/main.ts", "_board-dep-HHHHHHHH.js"],
                },
                "_board-dep-HHHHHHHH.js": {"file": "troupe/board-dep-HHHHHHHH.js"},
                "src/app.ts": {
                    "file": "troupe/app-IIIIIIII.js",
                    "imports": ["_backoff-BBBBBBBB.js"],
                },
            }
        )
    )
    monkeypatch.setattr(bundles, "MANIFEST", manifest)


def test_room_preloads_the_entrys_static_imports_only(
    project_room: ProjectRoom, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _manifest(tmp_path, monkeypatch)
    body = _client(project_room, "lead").get(f"/p/{project_room.project.slug}/").content.decode()
    preloads = re.findall(r'<link rel="modulepreload" href="([^"]+)">', body)
    # The header's small app bundle first, then the room's static imports: transitively,
    # each once; never the chunks the script imports on demand.
    assert preloads == [
        "/static/troupe/backoff-BBBBBBBB.js",
        "/static/troupe/backoff-BBBBBBBB.js",
        "/static/troupe/yjs-CCCCCCCC.js",
        "/static/troupe/lib0-EEEEEEEE.js",
    ]
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)">', body)
    assert styles == ["/static/troupe/room-DDDDDDDD.css", "/static/troupe/yjs-FFFFFFFF.css"]
    assert '<script type="module" src="/static/troupe/room-AAAAAAAA.js"></script>' in body
    assert "board-GGGGGGGG" not in body and "board-dep" not in body


def _embedded(body: str) -> tuple[str | None, bytes | None]:
    """The server-rendered script text and the embedded state, if the page has them."""
    shown = re.search(r'<pre class="prerendered">(.*?)</pre>', body, re.S)
    state = re.search(r'<script id="script-state" type="application/json">(.*?)</script>', body)
    return (
        html.unescape(shown[1]) if shown else None,
        base64.b64decode(json.loads(state[1])) if state else None,
    )


def test_room_shows_the_script_escaped_and_embeds_its_state(
    project_room: ProjectRoom, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _manifest(tmp_path, monkeypatch)
    text = "INT. LAB - NIGHT\n\n<img src=x onerror=alert(1)> & </pre><script>alert(2)</script>\n"
    Writer(_user(project_room, "editor"), project_room.script, 4242).insert(0, text)
    slug = project_room.project.slug
    for path in (f"/p/{slug}/", f"/p/{slug}/d/board"):  # the board's page shows the script too
        body = _client(project_room, "viewer").get(path).content.decode()
        assert "<img src=x" not in body and "<script>alert" not in body
        shown, state = _embedded(body)
        assert shown == text
        assert state is not None
        doc: Doc[Any] = Doc()
        doc.apply_update(state)
        assert str(doc.get("content", type=Text)) == text


def test_room_embeds_nothing_over_the_size_cap_or_without_a_build(
    project_room: ProjectRoom, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    Writer(_user(project_room, "lead"), project_room.script, 4243).insert(0, "x" * 2000)
    slug = project_room.project.slug
    _manifest(tmp_path, monkeypatch)
    monkeypatch.setitem(settings.TROUPE, "PAGE_STATE_MAX_BYTES", 1000)
    body = _client(project_room, "lead").get(f"/p/{slug}/").content.decode()
    assert _embedded(body) == (None, None)
    assert '<div id="editor" class="editor"></div>' in body
    monkeypatch.setitem(settings.TROUPE, "PAGE_STATE_MAX_BYTES", 4000)
    monkeypatch.setattr(bundles, "MANIFEST", tmp_path / "missing.json")
    body = _client(project_room, "lead").get(f"/p/{slug}/").content.decode()
    assert _embedded(body) == ("x" * 2000, None)  # the text is shown even without a build
