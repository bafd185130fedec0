"""Exports of live documents and the record page: formats, permissions, escaping, tree."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from crdt.fountain import parse
from tests.workspace.test_snapshots import Writer
from workspace.documents.services import document_create
from workspace.models import DocumentKind, Record, RecordKind, Role, Visibility
from workspace.projects.services import membership_set, project_create
from workspace.records.rules import AuthorSpec, text_content
from workspace.records.services import record_create, snapshot_create

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
    writer.add_panels(
        {
            "id": "p1",
            "action": f"Wide on the diner {SCRIPT_XSS}",
            "dialogue": "MARA: Coffee?",
            "notes": f"slow push {IMG_XSS}",
            "shot_size": "WS",
            "duration_ms": 2500,
        }
    )
    writer.add_panels(
        {"id": "p2", "action": "Close on the cup", "shot_size": "CU", "duration_ms": 1500}
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


# ----------------------------------------------------------------------------- record page


def remix_chain(team: dict[str, Any]) -> tuple[Record, Record, Record]:
    """A poem, a script snapshot citing it, and a text remixing the snapshot."""
    poem_text = "Night falls on the diner.\n"
    poem = record_create(
        user=team["editor"],
        kind=RecordKind.TEXT,
        title=f"Poem {IMG_XSS}",
        content=text_content(poem_text),
        text=poem_text,
        project=team["project"],
        authors=[AuthorSpec(team["editor"], ("author", "narrator"))],
    )
    snap = snapshot_create(
        document=team["script"],
        user=team["lead"],
        title=f"Night Shift {SCRIPT_XSS}",
        resources=[poem],
    )
    remix_text = "A remix.\n"
    remix = record_create(
        user=team["lead"],
        kind=RecordKind.TEXT,
        title="Diner remix",
        content=text_content(remix_text),
        text=remix_text,
        project=team["project"],
        resources=[snap],
    )
    return poem, snap, remix


def test_record_page_shows_metadata_authors_credit_preview_and_citations(
    team: dict[str, Any],
) -> None:
    poem, snap, remix = remix_chain(team)
    response = client(team["viewer"]).get(f"/records/{snap.rid}")
    assert response.status_code == 200
    body = response.content.decode()
    assert_escaped(body)
    assert snap.rid in body and snap.work.wid in body
    assert "Script snapshot" in body
    assert "troupe-nonexclusive 1.0" in body
    assert "Lena Lead" in body and "writer" in body
    # Credit figures: the lead typed every surviving character of the script.
    length = len(SCRIPT.encode("utf-16-le")) // 2
    credit = re.search(r'<table class="credit">.*?</table>', body, re.S)
    assert credit is not None
    assert team["lead"].username in credit[0]
    assert f'<td class="n">{length}</td>' in credit[0]
    assert "100.0%" in credit[0]
    assert 'class="fountain-script"' in body
    for fmt in ("bibtex", "csl-json", "ris", "cff"):
        assert f'href="/api/records/{snap.rid}/cite?format={fmt}"' in body
    assert f'href="/records/{poem.rid}"' in body
    assert f'href="/records/{remix.rid}"' in body
    poem_page = client(team["viewer"]).get(f"/records/{poem.rid}").content.decode()
    assert "Eddie Editor" in poem_page and "author, narrator" in poem_page
    assert "<pre>Night falls on the diner.\n</pre>" in poem_page


def test_record_page_draws_the_family_tree_as_svg(team: dict[str, Any]) -> None:
    poem, snap, remix = remix_chain(team)
    body = client(team["lead"]).get(f"/records/{snap.rid}").content.decode()
    svg = re.search(r'<svg id="family-tree".*?</svg>', body, re.S)
    assert svg is not None
    nodes = {
        rid: (int(level), int(y))
        for level, rid, y in re.findall(
            r'data-level="(-?\d+)" data-rid="([^"]+)">.*?<rect x="\d+" y="(\d+)"', svg[0], re.S
        )
    }
    assert nodes[poem.rid][0] == -1 and nodes[snap.rid][0] == 0 and nodes[remix.rid][0] == 1
    assert nodes[poem.rid][1] < nodes[snap.rid][1] < nodes[remix.rid][1]
    assert f'<a href="/records/{poem.rid}">' in svg[0]
    assert f'<a href="/records/{remix.rid}">' in svg[0]
    assert svg[0].count("<line ") == 2
    assert "&lt;script&gt;" in svg[0] and "<script>" not in svg[0]
    # The remix's page shows two ancestor levels above it.
    remix_svg = client(team["lead"]).get(f"/records/{remix.rid}").content.decode()
    assert f'data-level="-2" data-rid="{poem.rid}"' in remix_svg
    assert f'data-level="-1" data-rid="{snap.rid}"' in remix_svg


def test_storyboard_snapshot_page_shows_the_sheet_escaped(team: dict[str, Any]) -> None:
    snap = snapshot_create(document=team["board"], user=team["editor"])
    body = client(team["viewer"]).get(f"/records/{snap.rid}").content.decode()
    assert '<table class="sheet">' in body
    assert body.count('<tr class="panel"') == 2
    assert "Panels created" in body and team["editor"].username in body
    assert '<th scope="col">Surviving characters</th>' in body
    assert '<th scope="col">Images</th>' in body
    assert_escaped(body)


def test_media_records_preview_with_img_audio_video(team: dict[str, Any]) -> None:
    from workspace.records.rules import blob_content
    from workspace.records.services import blob_store

    png = blob_store(
        data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, declared_type="image/png", user=team["lead"]
    )
    image = record_create(
        user=team["lead"], kind=RecordKind.IMAGE, title="Frame", content=blob_content(png), blob=png
    )
    body = client().get(f"/records/{image.rid}").content.decode()
    assert f'<img src="/api/records/{image.rid}/content" alt="Frame">' in body
    wav = blob_store(
        data=b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40,
        declared_type="audio/wav",
        user=team["lead"],
    )
    sound = record_create(
        user=team["lead"], kind=RecordKind.AUDIO, title="Hum", content=blob_content(wav), blob=wav
    )
    assert "<audio controls" in client().get(f"/records/{sound.rid}").content.decode()


def test_record_page_permissions(team: dict[str, Any]) -> None:
    poem, _, _ = remix_chain(team)
    url = f"/records/{poem.rid}"
    assert client().get(url).status_code == 404
    assert client(team["outsider"]).get(url).status_code == 404
    assert client(team["viewer"]).get(url).status_code == 200
    assert client(team["lead"]).get("/records/trp:rec:1:nope").status_code == 404
    team["project"].visibility = Visibility.PUBLIC
    team["project"].save(update_fields=["visibility"])
    assert client().get(url).status_code == 200
    assert client(team["outsider"]).get(url).status_code == 200


def test_room_header_offers_the_exports(team: dict[str, Any]) -> None:
    body = client(team["viewer"]).get(f"/p/{team['project'].slug}/").content.decode()
    assert '<details class="export-menu">' in body
    for doc, fmt in (
        ("script", "fountain"),
        ("script", "html"),
        ("board", "json"),
        ("board", "html"),
    ):
        assert f'href="{team["base"]}/{doc}/export?format={fmt}"' in body


def test_record_url_serves_json_to_json_clients(team: dict[str, Any]) -> None:
    """``/records/<id>`` is the page for browsers and the export for JSON clients."""
    poem, _, _ = remix_chain(team)
    client = Client()
    client.force_login(team["viewer"])
    page = client.get(f"/records/{poem.rid}")
    assert page["Content-Type"].startswith("text/html")
    for response in (
        client.get(f"/records/{poem.rid}?format=json"),
        client.get(f"/records/{poem.rid}", headers={"Accept": "application/json"}),
    ):
        assert response["Content-Type"] == "application/json"
        assert response.json()["id"] == poem.rid
