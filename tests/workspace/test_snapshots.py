"""Snapshots of stored documents: credit, lineage, diff and restore (without live servers)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from pycrdt import Doc, Map, Text

from crdt.documents import content_of, load_document
from crdt.storyboard import board_of, panels_write
from tests.workspace.test_records import Api
from workspace import events
from workspace.documents.selectors import document_stored
from workspace.documents.services import document_create, document_update_post
from workspace.models import ClientBinding, DocumentKind, DocumentUpdate, Role, Snapshot
from workspace.projects.services import membership_set, project_create, token_issue

pytestmark = [pytest.mark.django_db]


class Writer:
    """A user editing a document over the HTTP update API with a fixed Yjs client ID."""

    def __init__(self, user: Any, document: Any, client_id: int) -> None:
        self.user, self.document = user, document
        self.doc: Doc[Any] = Doc(client_id=client_id)
        self.text = self.doc.get("content", type=Text)
        self.board: Map[Any] = board_of(self.doc)

    def pull(self) -> None:
        stored = document_stored(document_id=self.document.pk)
        full = load_document(self.document.schema, stored.state, stored.updates).get_update()
        self.doc.apply_update(full)

    def edit(self, fn: Any) -> None:
        self.pull()
        before = self.doc.get_state()
        with self.doc.transaction():
            fn()
        document_update_post(
            document=self.document, update=bytes(self.doc.get_update(before)), user=self.user
        )

    def add_panels(self, *panels: dict[str, Any]) -> None:
        """Append panels (schema v2: a Y.Map under its id in ``board``) in one edit."""
        self.edit(lambda: panels_write(self.doc, panels))

    def panel_text(self, panel: str, field: str, index: int, text: str) -> None:
        """Insert ``text`` at code point ``index`` of a panel's text field."""

        def go() -> None:
            target = self.board[panel][field]
            target.insert(len(str(target)[:index].encode()), text)

        self.edit(go)

    def insert(self, index: int, text: str) -> None:
        self.edit(lambda: self.text.insert(len(str(self.text)[:index].encode()), text))

    def delete(self, index: int, length: int) -> None:
        def go() -> None:
            current = str(self.text)
            lo = len(current[:index].encode())
            del self.text[lo : lo + len(current[index : index + length].encode())]

        self.edit(go)


@pytest.fixture
def team() -> dict[str, Any]:
    model = get_user_model()
    lead = model.objects.create_user(username=f"lead-{uuid.uuid4().hex[:6]}", password="x")
    editor = model.objects.create_user(username=f"ed-{uuid.uuid4().hex[:6]}", password="x")
    project = project_create(slug=f"p-{uuid.uuid4().hex[:8]}", title="P", created_by=lead)
    membership_set(project=project, user=editor, role=Role.EDITOR)
    script = document_create(
        project=project, slug="script", title="Script", kind=DocumentKind.SCRIPT
    )
    board = document_create(
        project=project, slug="board", title="Board", kind=DocumentKind.STORYBOARD
    )
    return {
        "lead": lead,
        "editor": editor,
        "project": project,
        "script": script,
        "board": board,
        "lead_api": Api(token_issue(user=lead)),
        "editor_api": Api(token_issue(user=editor)),
        "base": f"/api/projects/{project.slug}/documents",
    }


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_script_snapshot_credit_lineage_diff_and_restore(
    team: dict[str, Any], django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    lead = Writer(team["lead"], team["script"], 101)
    editor = Writer(team["editor"], team["script"], 202)
    lead.insert(0, "INT. KITCHEN - DAY\n\nMara pours tea.\n")
    editor.pull()
    editor.insert(len(str(editor.text)), "\nEXT. YARD - NIGHT\n\nOwls. 🦉\n")
    lead.delete(str(editor.text).index("Mara "), len("Mara "))
    api = team["lead_api"]
    first = api.post(f"{team['base']}/script/snapshots", {"version_label": "draft 1"})
    assert first.status_code == 201, first.content
    snap = first.json()
    text = api.get(f"/api/records/{snap['id']}/content").content.decode()
    credit = snap["snapshot"]["credit"]
    users = credit["users"]
    lead_name, editor_name = team["lead"].username, team["editor"].username
    assert users[lead_name]["surviving"] == utf16("INT. KITCHEN - DAY\n\npours tea.\n")
    assert users[editor_name]["surviving"] == utf16("\nEXT. YARD - NIGHT\n\nOwls. 🦉\n")
    assert users[lead_name]["deleted"] == {"own": 5, "others": 0}
    assert sum(u["surviving"] for u in users.values()) == credit["length"] == utf16(text)
    assert users[editor_name]["by_scene"] == {"0": 1, "1": utf16("EXT. YARD - NIGHT\n\nOwls. 🦉\n")}
    assert snap["canonical"]["content"]["contains_previous"] is None
    assert [a["username"] for a in snap["canonical"]["authors"]] == [lead_name, editor_name]
    assert snap["canonical"]["authors"][0]["roles"] == ["writer"]
    assert snap["canonical"]["kind"] == "script_snapshot"

    scene = api.get(f"/api/records/{snap['id']}/content", scene=1)
    assert scene.content.decode() == "EXT. YARD - NIGHT\n\nOwls. 🦉\n"
    assert api.get(f"/api/records/{snap['id']}/content", scene=2).status_code == 404
    assert api.get(f"/api/records/{snap['id']}/content", panel="p1").status_code == 400
    unchanged = api.post(f"{team['base']}/script/snapshots", {})
    assert unchanged.status_code == 409

    editor.insert(0, "Title: Tea\n\n")
    second = api.post(f"{team['base']}/script/snapshots", {}).json()
    assert second["canonical"]["version"]["previous"] == snap["id"]
    assert second["work"] == snap["work"]
    assert second["canonical"]["content"]["contains_previous"] is True
    listed = api.get(f"{team['base']}/script/snapshots").json()
    assert [s["id"] for s in listed] == [snap["id"], second["id"]]

    diff = api.get(f"/api/records/{second['id']}/diff", against=snap["id"]).json()
    statuses = {d["scene"]: d["status"] for d in diff["scenes"]}
    assert statuses == {
        "preamble": "added",
        "INT. KITCHEN - DAY": "unchanged",
        "EXT. YARD - NIGHT": "unchanged",
    }

    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "_send", lambda group, message: sent.append((group, message)))
    with django_capture_on_commit_callbacks(execute=True):
        restored = team["editor_api"].post(f"{team['base']}/script/restore", {"record": snap["id"]})
    assert restored.status_code == 200, restored.content
    assert restored.json()["status"] == "restored"
    now = api.get(f"{team['base']}/script/content").content.decode()
    assert now == text
    last = DocumentUpdate.objects.filter(document=team["script"]).order_by("-id").first()
    assert last is not None and last.user_id == team["editor"].pk
    ((group, message),) = sent
    assert group == f"troupe.doc.{team['script'].pk}"
    assert message["type"] == "doc.external" and message["update"] == bytes(last.update)
    assert message["user_id"] == team["editor"].pk
    server_clients = set(
        ClientBinding.objects.filter(document=team["script"], user=team["editor"]).values_list(
            "client_id", flat=True
        )
    ) - {202}
    assert len(server_clients) == 1
    # the restore deleted the title page typed by the editor: credited to the restorer
    third = api.post(f"{team['base']}/script/snapshots", {}).json()
    assert third["canonical"]["content"]["contains_previous"] is True
    # (plus the one unit a deletion-only restore writes and deletes so that peers see it)
    assert third["snapshot"]["credit"]["users"][editor_name]["deleted"]["own"] == 1 + utf16(
        "Title: Tea\n\n"
    )
    again = team["editor_api"].post(f"{team['base']}/script/restore", {"record": snap["id"]})
    assert again.json()["status"] == "unchanged"
    other = team["editor_api"].post(f"{team['base']}/board/restore", {"record": snap["id"]})
    assert other.status_code == 400


def panel(panel_id: str, **fields: Any) -> dict[str, Any]:
    """A panel's content as snapshots show it: every field a new panel gets, then ``fields``."""
    return {
        "id": panel_id,
        "action": "",
        "dialogue": "",
        "notes": "",
        "duration_ms": 2000,
        "shot_size": "",
        **fields,
    }


def test_storyboard_snapshot_credit_and_panel_diff(team: dict[str, Any]) -> None:
    lead = Writer(team["lead"], team["board"], 303)
    editor = Writer(team["editor"], team["board"], 404)
    lead.add_panels({"id": "p1", "action": "Wide", "duration_ms": 2000})
    editor.add_panels({"id": "p2", "action": "Close"})
    api = team["lead_api"]
    first = api.post(f"{team['base']}/board/snapshots", {}).json()
    users = first["snapshot"]["credit"]["users"]
    assert users[team["lead"].username]["panels_created"] == 1
    assert users[team["editor"].username]["panels_created"] == 1
    assert first["canonical"]["content"]["media_type"] == "application/json"
    fragment = api.get(f"/api/records/{first['id']}/content", panel="p2")
    assert fragment.json() == panel("p2", action="Close")
    assert api.get(f"/api/records/{first['id']}/content", panel="p9").status_code == 404
    editor.panel_text("p1", "notes", 0, "slow push")
    editor.edit(lambda: editor.board["p1"].__setitem__("shot_size", "WS"))
    editor.edit(lambda: editor.board.__delitem__("p2"))
    second = api.post(f"{team['base']}/board/snapshots", {}).json()
    users = second["snapshot"]["credit"]["users"]
    assert users[team["editor"].username]["panels_deleted"] == 1
    panels = {p["panel"]: p for p in second["snapshot"]["credit"]["panels"]}
    assert panels["p1"]["text"]["notes"] == {team["editor"].username: len("slow push")}
    assert panels["p1"]["fields"]["shot_size"] == team["editor"].username
    assert panels["p1"]["created_by"] == team["lead"].username
    diff = api.get(f"/api/records/{second['id']}/diff", against=first["id"]).json()
    by_panel = {d["panel"]: d for d in diff["panels"]}
    assert by_panel["p1"]["status"] == "changed"
    assert by_panel["p2"]["status"] == "removed"
    restored = api.post(f"{team['base']}/board/restore", {"record": first["id"]})
    assert restored.status_code == 200
    stored = document_stored(document_id=team["board"].pk)
    doc = load_document("storyboard", stored.state, stored.updates)
    assert content_of(doc, "storyboard") == [
        panel("p1", action="Wide"),
        panel("p2", action="Close"),
    ]
    assert Snapshot.objects.filter(document=team["board"]).count() == 2
