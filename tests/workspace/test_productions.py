"""Projects: templates, status with dates, edits, followers, calls, admin pages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.workspace.test_records import Api
from workspace.models import (
    Blob,
    Call,
    Citation,
    ProjectFollow,
    ProjectStage,
    Record,
    RecordAuthor,
    Snapshot,
    Work,
)
from workspace.projects.services import token_issue

pytestmark = [pytest.mark.django_db]


def user_api(name: str) -> tuple[Any, Api]:
    user = get_user_model().objects.create_user(
        username=f"{name}-{uuid.uuid4().hex[:6]}", password="x"
    )
    return user, Api(token_issue(user=user))


def test_life_narrated_template_and_blank() -> None:
    _, api = user_api("lead")
    slug = f"life-{uuid.uuid4().hex[:6]}"
    made = api.post(
        "/api/projects",
        {
            "slug": slug,
            "title": "Grandma's Garden",
            "template": "life-narrated",
            "logline": "A garden remembered.",
        },
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["status"] == "open" and body["template"] == "life-narrated"
    assert {(d["slug"], d["kind"]) for d in body["documents"]} == {
        ("script", "script"),
        ("storyboard", "storyboard"),
    }
    assert body["your_role"] == "lead"
    calls = api.get(f"/api/projects/{slug}/calls").json()
    assert [c["interest"] for c in calls] == ["writing", "narration", "illustration", "animation"]
    assert all(c["open"] and c["instructions"] for c in calls)
    blank = api.post("/api/projects", {"slug": f"b-{uuid.uuid4().hex[:6]}", "title": "B"}).json()
    assert blank["documents"] == [] and blank["template"] == "blank"
    taken = api.post("/api/projects", {"slug": slug, "title": "again"})
    assert taken.status_code == 400
    unknown = api.post("/api/projects", {"slug": "x-1", "title": "x", "template": "opera"})
    assert unknown.status_code == 422


def test_status_moves_forward_with_dates() -> None:
    _, api = user_api("lead")
    slug = f"s-{uuid.uuid4().hex[:6]}"
    api.post("/api/projects", {"slug": slug, "title": "S"})
    assert api.post(f"/api/projects/{slug}/status", {"status": "finished"}).status_code == 400
    for status in ["in_production", "finished", "celebrated"]:
        response = api.post(f"/api/projects/{slug}/status", {"status": status})
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status
    dates = api.get(f"/api/projects/{slug}").json()["dates"]
    assert all(dates[k] for k in ["opened", "in_production", "finished", "celebrated"])
    assert dates["opened"] <= dates["in_production"] <= dates["finished"] <= dates["celebrated"]
    assert api.post(f"/api/projects/{slug}/status", {"status": "open"}).status_code == 400


def test_edits_followers_and_calls() -> None:
    _, lead = user_api("lead")
    _, fan = user_api("fan")
    slug = f"e-{uuid.uuid4().hex[:6]}"
    lead.post("/api/projects", {"slug": slug, "title": "E"})
    edited = lead.send(
        "PATCH",
        f"/api/projects/{slug}",
        {"logline": "One line.", "description": "Longer.", "visibility": "public"},
    ).json()
    assert (edited["logline"], edited["description"], edited["visibility"]) == (
        "One line.",
        "Longer.",
        "public",
    )
    assert fan.send("PUT", f"/api/projects/{slug}/follow").json() == {"following": True}
    assert fan.send("PUT", f"/api/projects/{slug}/follow").status_code == 200
    project = fan.get(f"/api/projects/{slug}").json()
    assert project["followers"] == 1 and project["following"] is True
    fan.send("DELETE", f"/api/projects/{slug}/follow")
    assert fan.get(f"/api/projects/{slug}").json()["followers"] == 0
    call = lead.post(
        f"/api/projects/{slug}/calls",
        {"title": "Score it", "interest": "music", "instructions": "30 s of piano."},
    ).json()
    closed = lead.send("PATCH", f"/api/projects/{slug}/calls/{call['id']}", {"open": False})
    assert closed.json()["open"] is False
    assert lead.send("PATCH", f"/api/projects/{slug}/calls/999999", {}).status_code == 404
    bad = lead.send("PATCH", f"/api/projects/{slug}", {"visibility": "secret"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "model",
    [Record, Work, RecordAuthor, Citation, Snapshot, Blob, ProjectStage, ProjectFollow, Call],
)
def test_admin_lists_every_new_model(model: Any) -> None:
    assert admin.site.is_registered(model)
    admin_user = get_user_model().objects.create_superuser(
        username=f"root-{uuid.uuid4().hex[:6]}", password="x"
    )
    client = Client()
    client.force_login(admin_user)
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    assert client.get(url).status_code == 200


def test_admin_record_page_is_read_only() -> None:
    _, api = user_api("lead")
    made = api.post("/api/records", {"kind": "text", "title": "T", "text": "t"}).json()
    admin_user = get_user_model().objects.create_superuser(
        username=f"root-{uuid.uuid4().hex[:6]}", password="x"
    )
    client = Client()
    client.force_login(admin_user)
    record = Record.objects.get(rid=made["id"])
    page = client.get(reverse("admin:workspace_record_change", args=[record.pk]))
    assert page.status_code == 200
    assert made["id"].encode() in page.content
    assert client.get(reverse("admin:workspace_record_add")).status_code == 403
