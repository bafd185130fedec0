"""What the room page tells its script about the live parts (room socket, calls, session,
invisible mode, snapshots, uploads) and which controls each role gets."""

import html
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.support.factories import ProjectRoom
from workspace.documents.services import document_create
from workspace.models import DocumentKind, Visibility
from workspace.projects.services import user_invisible_set

pytestmark = [pytest.mark.django_db]


def _page(room: ProjectRoom, member: str, path: str = "") -> str:
    user = room.members[member].user
    assert isinstance(user, User)
    client = Client()
    client.force_login(user)
    response = client.get(f"/p/{room.project.slug}/{path}")
    assert response.status_code == 200
    return response.content.decode()


def _attrs(body: str) -> dict[str, str]:
    match = re.search(r'<div id="room"([^>]*)>', body)
    assert match, "no #room element"
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', match[1])}


def test_room_names_its_socket_user_and_limits(project_room: ProjectRoom, settings: Any) -> None:
    settings.TROUPE = {**settings.TROUPE, "MAX_UPLOAD_BYTES": 12345}
    body = _page(project_room, "lead")
    attrs = _attrs(body)
    slug = project_room.project.slug
    assert attrs["room-ws-url"] == f"ws://testserver/ws/projects/{slug}"
    assert attrs["username"] == project_room.members["lead"].user.get_username()
    assert attrs["lead"] == "true"
    assert attrs["can-respond"] == "true"
    assert attrs["max-upload"] == "12345"
    assert attrs["invisible"] == "false"
    assert len(attrs["csrf"]) >= 32
    assert 'id="invisible-toggle"' in body
    assert re.search(r'id="invisible-toggle"[^>]*checked', body) is None


def test_stored_invisible_preference_is_on_the_page(project_room: ProjectRoom) -> None:
    user_invisible_set(user_id=project_room.members["editor"].user.pk, invisible=True)
    body = _page(project_room, "editor")
    assert _attrs(body)["invisible"] == "true"
    assert re.search(r'id="invisible-toggle"[^>]*checked', body)


def test_leads_get_session_and_call_controls_writers_the_snapshot_button(
    project_room: ProjectRoom,
) -> None:
    lead = _page(project_room, "lead")
    for element in ("session-start-form", "session-spotlight", "session-end", "call-form"):
        assert f'id="{element}"' in lead
    assert 'id="snapshot-button"' in lead
    assert 'id="snapshot-dialog"' in lead
    assert 'value="illustration"' in lead  # the call form offers every interest

    editor = _page(project_room, "editor")
    for element in ("session-start-form", "session-spotlight", "session-end", "call-form"):
        assert f'id="{element}"' not in editor
    assert 'id="snapshot-button"' in editor
    assert _attrs(editor)["lead"] == "false"
    assert _attrs(editor)["can-respond"] == "true"
    for element in ("session-bar", "session-join", "follow-prompt", "calls", "call-list"):
        assert f'id="{element}"' in editor

    viewer = _page(project_room, "viewer")
    assert 'id="snapshot-button"' not in viewer
    assert 'id="snapshot-dialog"' not in viewer
    assert _attrs(viewer)["can-respond"] == "false"
    assert 'id="session-join"' in viewer


def test_outsiders_of_a_public_project_may_answer_calls_but_not_write(
    project_room: ProjectRoom,
) -> None:
    project_room.project.visibility = Visibility.PUBLIC
    project_room.project.save(update_fields=["visibility"])
    body = _page(project_room, "outsider")
    attrs = _attrs(body)
    assert attrs["can-respond"] == "true"
    assert attrs["can-write"] == "false"
    assert 'id="snapshot-button"' not in body
    assert 'id="call-form"' not in body


def test_each_document_names_its_offline_copy_and_a_recreated_one_gets_another_name(
    project_room: ProjectRoom,
) -> None:
    script = project_room.script
    attrs = _attrs(_page(project_room, "editor"))
    assert attrs["script-identity"].startswith(f"{script.pk}.")
    assert attrs["board-identity"].startswith(f"{project_room.storyboard.pk}.")
    assert re.fullmatch(r"[0-9]+\.[0-9a-z]+", attrs["script-identity"])
    assert 'id="sign-out"' in _page(project_room, "editor")
    # Deleted and created again under the same slug: another document to the browser.
    script.delete()
    document_create(
        project=project_room.project, slug="script", title="Script", kind=DocumentKind.SCRIPT
    )
    again = _attrs(_page(project_room, "editor"))["script-identity"]
    assert again != attrs["script-identity"]
