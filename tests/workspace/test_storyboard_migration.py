"""A storyboard written in the first schema by stock Yjs clients moves to the board as a
forward edit by the server: content, order and credit kept, applied once."""

from __future__ import annotations

import base64
import io
import json
import subprocess
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from pycrdt import Array

from crdt.attribution import storyboard_credit
from crdt.documents import content_of, load_document
from crdt.storyboard import LEGACY_PANELS, has_legacy_panels
from tests.support.node_client import NODE_DIR, ensure_node_modules
from workspace.documents.selectors import document_loaded, document_stored
from workspace.documents.services import (
    PendingBinding,
    PendingUpdate,
    document_create,
    document_opened,
    document_updates_append,
    storyboard_migrate,
)
from workspace.models import DocumentKind, DocumentUpdate
from workspace.projects.services import project_create

pytestmark = [pytest.mark.django_db]


def _stock_clients_log() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ensure_node_modules()
    out = subprocess.run(
        ["node", str(NODE_DIR / "legacy_storyboard.mjs")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.splitlines()
    entries = [json.loads(line) for line in out]
    return entries[:-1], entries[-1]["panels"]


def test_a_first_schema_storyboard_moves_to_the_board_keeping_content_and_credit() -> None:
    users = {
        name: get_user_model().objects.create_user(name, password="x") for name in ("alice", "bob")
    }
    project = project_create(created_by=users["alice"], title="Harbour", slug="harbour")
    board = document_create(
        project=project, slug="legacy", title="Board", kind=DocumentKind.STORYBOARD
    )
    log, panels = _stock_clients_log()
    clients = {entry["client"]: users[entry["user"]].pk for entry in log}
    document_updates_append(
        updates=[
            PendingUpdate(
                board.pk,
                base64.b64decode(e["update"]),
                users[e["user"]].pk,
                timezone.now(),
            )
            for e in log
        ],
        bindings=[PendingBinding(board.pk, c, u) for c, u in clients.items()],
    )
    before = document_loaded(document_id=board.pk, kind="storyboard")
    assert has_legacy_panels(before.doc)
    # What the stock clients see, in the first schema: p3 moved to the top by Bob.
    assert [p["id"] for p in panels] == ["p3", "p1", "p2"]

    opened = document_opened(document_id=board.pk, kind="storyboard")
    content = content_of(opened.doc, "storyboard")
    assert isinstance(content, list)
    assert content == panels
    assert not has_legacy_panels(opened.doc)
    # Applied once: the second run finds nothing to move, and the log grew by one entry.
    assert storyboard_migrate(document_id=board.pk) == b""
    out = io.StringIO()
    call_command("migrate_storyboards", stdout=out)
    assert out.getvalue().strip() == "0 storyboard(s) moved to the board schema"
    assert DocumentUpdate.objects.filter(document=board).count() == len(log) + 1
    stored = document_stored(document_id=board.pk)
    fresh = load_document("storyboard", stored.state, stored.updates)
    assert content_of(fresh, "storyboard") == content
    assert len(fresh.get(LEGACY_PANELS, type=Array)) == 0

    rows = list(DocumentUpdate.objects.filter(document=board).order_by("id"))
    credit = storyboard_credit(
        bytes(fresh.get_update()),
        opened.bindings,
        [(row.user_id, bytes(row.update)) for row in rows],
    )
    alice, bob = users["alice"].pk, users["bob"].pk
    by_panel = {p.panel: p for p in credit.panels}
    # Alice created all three panels; Bob's two moves made copies of p3 under his client,
    # but the first schema's moves are not creations: p3 is still Alice's.
    assert {pid: p.created_by for pid, p in by_panel.items()} == {
        "p1": alice,
        "p2": alice,
        "p3": alice,
    }
    assert by_panel["p2"].text["notes"] == {bob: len("Bob: the gulls scatter")}
    # Bob's copies of p3 carried Alice's words under his client ID: traced back to her.
    assert by_panel["p3"].text["action"] == {alice: len("Boat leaves")}
    assert credit.surviving == {
        alice: len("Harbour at dawnGullsBoat leavesAlice: cast off!"),
        bob: len("Bob: the gulls scatter"),
    }
    assert by_panel["p3"].text["dialogue"] == {alice: len("Alice: cast off!")}
    # The migration itself wrote for the people and deleted for nobody.
    assert None not in credit.deleted
    assert None not in credit.panels_deleted
    assert credit.length == sum(credit.surviving.values())
