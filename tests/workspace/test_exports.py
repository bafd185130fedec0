"""Exports of live documents and the record page: formats, permissions, escaping, tree."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pycrdt import Map

from crdt.fountain import parse
from tests.workspace.test_snapshots import Writer
from workspace.models import DocumentKind, Role, Visibility
from workspace.services import document_create, membership_set, project_create

pytestmark = [pytest.mark.django_db]

SCRIPT_XSS = "<script>alert(1)</script>"
IMG_XSS = "<img src=x onerror=alert(1)>"
SCRIPT = (
    "Title: Night Shift\n\n"
    "INT. DINER - NIGHT\n\n"
    f"Mara wipes the counter. {SCRIPT_XSS}\n\n"
    "MARA\n"
    f"Coffee? {IMG_XSS}\n"
)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def team() -> dict[str, Any]:
    model = get_user_model()

    def user(name: str, full: str = "") -> Any:
        first, _, last = full.partition(" ")
        return model.objects.create_user(
            username=f"{name}-{uuid.uuid4().hex[:6]}",
            password="x-not-used-123",
            first_name=first,
            last_name=last,
        )

    lead, editor, viewer, outsider = (
        user("lead", "Lena Lead"),
        user("ed", "Eddie Editor"),
        user("viewer"),
        user("outsider"),
    )
    project = project_create(
        slug=f"p-{uuid.uuid4().hex[:8]}",
        title="Night Shift",
        created_by=lead,
        visibility=Visibility.PRIVATE,
    )
    membership_set(project=project, user=editor, role=Role.EDITOR)
    membership_set(project=project, user=viewer, role=Role.VIEWER)
    script = document_create(
        project=project, slug="script", title="Script", kind=DocumentKind.SCRIPT
    )
    board = document_create(
        project=project, slug="board", title="Board", kind=DocumentKind.STORYBOARD
    )
    Writer(lead, script, 101).insert(0, SCRIPT)
    writer = Writer(editor, board, 202)
    writer.edit(
        lambda: writer.panels.append(
            Map(
                {
                    "id": "p1",
                    "action": f"Wide on the diner {SCRIPT_XSS}",
                    "dialogue": "MARA: Coffee?",
                    "notes": f"slow push {IMG_XSS}",
                    "shot_size": "WS",
                    "duration_ms": 2500,
                }
            )
        )
    )
    writer.edit(
        lambda: writer.panels.append(
            Map({"id": "p2", "action": "Close on the cup", "shot_size": "CU", "duration_ms": 1500})
        )
    )
    return {
        "lead": lead,
        "editor": editor,
        "viewer": viewer,
        "outsider": outsider,
        "project": project,
        "script": script,
        "board": board,
        "base": f"/api/projects/{project.slug}/documents",
    }


def client(user: Any = None) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def assert_escaped(body: str) -> None:
    assert SCRIPT_XSS not in body
    assert IMG_XSS not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


# ----------------------------------------------------------------------------- exports


def test_script_exports_fountain_and_printable_html(team: dict[str, Any]) -> None:
    c = client(team["viewer"])
    response = c.get(f"{team['base']}/script/export", {"format": "fountain"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="script.fountain"'
    text = response.content.decode()
    assert "INT. DINER - NIGHT" in text
    assert [e.type for e in parse(text).elements] == [e.type for e in parse(SCRIPT).elements]
    page = c.get(f"{team['base']}/script/export", {"format": "html"})
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    body = page.content.decode()
    assert body.startswith("<!doctype html>")
    assert 'class="fountain-script"' in body
    assert '<section class="scene" id="scene-0">' in body
    assert "@media print" in body
    assert_escaped(body)


def test_storyboard_exports_json_and_printable_sheet(team: dict[str, Any]) -> None:
    c = client(team["viewer"])
    response = c.get(f"{team['base']}/board/export", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert data["total_duration_ms"] == 4000
    assert data["total_duration"] == "0:04.0"
    assert [p["duration_ms"] for p in data["panels"]] == [2500, 1500]
    assert [p["starts_at_ms"] for p in data["panels"]] == [0, 2500]
    assert data["panels"][0]["notes"] == f"slow push {IMG_XSS}"
    assert data["panels"][0]["number"] == 1
    page = c.get(f"{team['base']}/board/export", {"format": "html"})
    assert page.status_code == 200
    body = page.content.decode()
    assert '<table class="sheet">' in body
    assert "@media print" in body
    assert body.count('<tr class="panel"') == 2
    assert "0:02.5" in body and "0:04.0" in body and ">CU<" in body
    assert_escaped(body)


def test_unknown_format_is_400_naming_the_allowed_ones(team: dict[str, Any]) -> None:
    c = client(team["lead"])
    script = c.get(f"{team['base']}/script/export", {"format": "pdf"})
    assert script.status_code == 400
    assert "fountain" in script.json()["error"] and "html" in script.json()["error"]
    board = c.get(f"{team['base']}/board/export", {"format": "fountain"})
    assert board.status_code == 400
    assert "json" in board.json()["error"] and "html" in board.json()["error"]
    assert c.get(f"{team['base']}/board/export").status_code == 400


def test_export_permissions_follow_document_content(team: dict[str, Any]) -> None:
    url = f"{team['base']}/script/export?format=fountain"
    assert client().get(url).status_code == 401
    assert client(team["outsider"]).get(url).status_code == 404
    assert client(team["viewer"]).get(url).status_code == 200
    assert client(team["lead"]).get(f"{team['base']}/nope/export?format=html").status_code == 404
    team["project"].visibility = Visibility.PUBLIC
    team["project"].save(update_fields=["visibility"])
    assert client(team["outsider"]).get(url).status_code == 200
