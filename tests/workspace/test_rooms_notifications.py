"""Calls (deadlines, responses, browsing), notification rules, session records, metrics."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.workspace.test_records import Api
from workspace.live_sessions.selectors import live_session, session_record
from workspace.live_sessions.services import (
    SessionRefused,
    session_end,
    session_join,
    session_start,
)
from workspace.models import (
    Call,
    Document,
    DocumentKind,
    DocumentUpdate,
    Interest,
    Notification,
    Project,
    Role,
)
from workspace.notifications.selectors import inbox_snapshot
from workspace.notifications.services import interests_set
from workspace.productions.services import call_create, call_edit
from workspace.projects.services import membership_remove, membership_set, token_issue

pytestmark = [pytest.mark.django_db]


def person(name: str) -> tuple[Any, Api]:
    user = get_user_model().objects.create_user(
        username=f"{name}-{uuid.uuid4().hex[:6]}", password="x"
    )
    return user, Api(token_issue(user=user))


def make_project(lead_api: Api, visibility: str = "public") -> str:
    slug = f"p-{uuid.uuid4().hex[:8]}"
    made = lead_api.post("/api/projects", {"slug": slug, "title": slug, "visibility": visibility})
    assert made.status_code == 201, made.content
    return slug


def inbox(user: Any, event: str | None = None) -> list[Notification]:
    rows = Notification.objects.filter(user=user)
    if event:
        rows = rows.filter(event=event)
    return list(rows)


def text_record(api: Api, title: str, project: str | None, resources: tuple[str, ...] = ()) -> str:
    made = api.post(
        "/api/records",
        {
            "kind": "text",
            "title": title,
            "text": title,
            "project": project,
            "resources": list(resources),
        },
    )
    assert made.status_code == 201, made.content
    return str(made.json()["id"])


# ----------------------------------------------------------------------------- calls


def test_browse_calls_filters_public_open_newest_first_paginated() -> None:
    _, api = person("lead")
    public, private = make_project(api), make_project(api, "private")
    made = []
    for n in range(5):
        body = {"title": f"Draw {n}", "interest": "illustration"}
        made.append(api.post(f"/api/projects/{public}/calls", body).json()["id"])
    api.post(f"/api/projects/{public}/calls", {"title": "Write", "interest": "writing"})
    api.post(f"/api/projects/{private}/calls", {"title": "Secret", "interest": "illustration"})
    closed = api.send("PATCH", f"/api/projects/{public}/calls/{made[0]}", {"open": False})
    assert closed.json()["open"] is False
    _, stranger = person("stranger")
    first = stranger.get("/api/calls", interest="illustration", open=1, page_size=3).json()
    assert first["count"] == 4 and first["page"] == 1
    assert [c["id"] for c in first["results"]] == [made[4], made[3], made[2]]
    second = stranger.get("/api/calls", interest="illustration", open=1, page_size=3, page=2)
    assert [c["id"] for c in second.json()["results"]] == [made[1]]
    assert all(c["project"] == public for c in first["results"])
    everything = stranger.get("/api/calls", interest="illustration", open=0).json()
    assert everything["count"] == 5, "closed calls listed without open=1; private never"
    assert stranger.get("/api/calls", page=0).status_code == 400


def test_deadline_closes_a_call_in_every_listing() -> None:
    _, api = person("lead")
    slug = make_project(api)
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    made = api.post(
        f"/api/projects/{slug}/calls", {"title": "Quick", "interest": "music", "deadline": soon}
    )
    assert made.status_code == 201 and made.json()["deadline"] and made.json()["open"]
    call_id = made.json()["id"]
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    refused = api.post(
        f"/api/projects/{slug}/calls", {"title": "Late", "interest": "music", "deadline": past}
    )
    assert refused.status_code == 400
    Call.objects.filter(pk=call_id).update(deadline=timezone.now() - timedelta(seconds=1))
    assert api.get("/api/calls", interest="music", open=1).json()["count"] == 0
    listed = api.get(f"/api/projects/{slug}/calls").json()
    assert [c["open"] for c in listed] == [False]
    stored = Call.objects.get(pk=call_id)
    assert not stored.is_open and stored.closed_at == stored.deadline, "closed lazily, in storage"
    later = (timezone.now() + timedelta(days=1)).isoformat()
    reopened = api.send(
        "PATCH", f"/api/projects/{slug}/calls/{call_id}", {"open": True, "deadline": later}
    )
    assert reopened.json()["open"] is True
    filled = api.send("PATCH", f"/api/projects/{slug}/calls/{call_id}", {"filled": True})
    assert filled.json()["filled"] is True and filled.json()["open"] is False


def test_responses_status_history_and_notifications() -> None:
    lead, lead_api = person("lead")
    slug = make_project(lead_api)
    call_id = lead_api.post(
        f"/api/projects/{slug}/calls", {"title": "Voice", "interest": "narration"}
    ).json()["id"]
    artist, artist_api = person("artist")
    rid = text_record(artist_api, "My reading", slug)
    answered = artist_api.post(f"/api/projects/{slug}/calls/{call_id}/responses", {"record": rid})
    assert answered.status_code == 201, answered.content
    response = answered.json()
    assert response["status"] == "submitted" and response["responder"] == artist.username
    assert inbox(lead, "response.created")[0].reason.startswith(artist.username)
    # Only the record's authors answer with it; a viewer cannot move it.
    _, other_api = person("other")
    assert (
        other_api.post(f"/api/projects/{slug}/calls/{call_id}/responses", {"record": rid})
    ).status_code == 400
    path = f"/api/projects/{slug}/calls/{call_id}/responses/{response['id']}"
    assert artist_api.send("PATCH", path, {"status": "considered"}).status_code == 403
    moved = lead_api.send("PATCH", path, {"status": "considered"})
    assert moved.status_code == 200 and moved.json()["status"] == "considered"
    history = moved.json()["history"]
    assert [(h["from"], h["to"], h["by"]) for h in history] == [
        (None, "submitted", artist.username),
        ("submitted", "considered", lead.username),
    ]
    assert lead_api.send("PATCH", path, {"status": "used"}).status_code == 400, "names no document"
    assert len(inbox(artist, "response.status")) == 1
    assert not inbox(lead, "response.status"), "never to the actor"


# ----------------------------------------------------------------------------- notifications


def test_new_call_notifies_interested_members_and_followers_only() -> None:
    lead, lead_api = person("lead")
    slug = make_project(lead_api)
    project = Project.objects.get(slug=slug)
    fan, fan_api = person("fan")
    bored, bored_api = person("bored")
    member, _ = person("member")
    membership_set(project=project, user=member, role=Role.EDITOR, actor=lead)
    for user in (fan, member, lead):
        interests_set(user_id=user.pk, interests=["illustration"])
    interests_set(user_id=bored.pk, interests=["music"])
    fan_api.send("PUT", f"/api/projects/{slug}/follow")
    bored_api.send("PUT", f"/api/projects/{slug}/follow")
    call_create(project=project, title="Draw", interest=Interest.ILLUSTRATION, created_by=lead)
    assert len(inbox(fan, "call.created")) == 1
    assert "illustration" in inbox(fan, "call.created")[0].reason
    assert len(inbox(member, "call.created")) == 1
    assert not inbox(bored), "interest does not match"
    assert not inbox(lead), "not to the actor"
    outsider, _ = person("outsider")
    interests_set(user_id=outsider.pk, interests=["illustration"])
    assert not inbox(outsider), "neither member nor follower"


def test_never_for_what_the_recipient_cannot_see() -> None:
    lead, lead_api = person("lead")
    slug = make_project(lead_api, "public")
    project = Project.objects.get(slug=slug)
    fan, fan_api = person("fan")
    interests_set(user_id=fan.pk, interests=["writing"])
    fan_api.send("PUT", f"/api/projects/{slug}/follow")
    lead_api.send("PATCH", f"/api/projects/{slug}", {"visibility": "private"})
    call_create(project=project, title="Write", interest=Interest.WRITING, created_by=lead)
    assert not inbox(fan), "a follower of a project turned private sees nothing"
    # Citations: the author of a cited record hears only if they can read the citing one.
    author, author_api = person("author")
    source = text_record(author_api, "Source", None)
    text_record(lead_api, "Private remix", slug, (source,))
    assert not inbox(author, "record.cited")
    open_slug = make_project(lead_api, "public")
    text_record(lead_api, "Public remix", open_slug, (source,))
    cited = inbox(author, "record.cited")
    assert len(cited) == 1 and "cites your record 'Source'" in cited[0].reason
    text_record(author_api, "Self remix", None, (source,))
    assert len(inbox(author, "record.cited")) == 1, "citing yourself is no news"


def test_bursts_group_into_one_entry_and_mute_silences() -> None:
    lead, lead_api = person("lead")
    slug = make_project(lead_api)
    call_id = lead_api.post(
        f"/api/projects/{slug}/calls", {"title": "Draw", "interest": "illustration"}
    ).json()["id"]
    _, artist_api = person("artist")
    for n in range(3):
        rid = text_record(artist_api, f"Sketch {n}", slug)
        artist_api.post(f"/api/projects/{slug}/calls/{call_id}/responses", {"record": rid})
    entries = inbox(lead, "response.created")
    assert len(entries) == 1 and entries[0].count == 3 and "Sketch 2" in entries[0].reason
    # Once read, the next response starts a new entry.
    lead_api.post(f"/api/notifications/{entries[0].pk}/read")
    rid = text_record(artist_api, "Sketch 3", slug)
    artist_api.post(f"/api/projects/{slug}/calls/{call_id}/responses", {"record": rid})
    assert len(inbox(lead, "response.created")) == 2
    # Older than the window: a new entry too.
    Notification.objects.filter(user=lead).update(updated_at=timezone.now() - timedelta(minutes=11))
    rid = text_record(artist_api, "Sketch 4", slug)
    artist_api.post(f"/api/projects/{slug}/calls/{call_id}/responses", {"record": rid})
    assert len(inbox(lead, "response.created")) == 3
    # Muted: nothing more.
    assert lead_api.send("PUT", f"/api/projects/{slug}/mute").json() == {"muted": True}
    rid = text_record(artist_api, "Sketch 5", slug)
    artist_api.post(f"/api/projects/{slug}/calls/{call_id}/responses", {"record": rid})
    assert sum(n.count for n in inbox(lead, "response.created")) == 5
    assert lead_api.send("DELETE", f"/api/projects/{slug}/mute").json() == {"muted": False}


def test_membership_added_and_removed_and_the_inbox_api() -> None:
    lead, lead_api = person("lead")
    slug = make_project(lead_api, "private")
    project = Project.objects.get(slug=slug)
    newbie, newbie_api = person("newbie")
    membership_set(project=project, user=newbie, role=Role.VIEWER, actor=lead)
    membership_set(project=project, user=newbie, role=Role.EDITOR, actor=lead)
    membership_remove(project=project, user=newbie, actor=lead)
    box = newbie_api.get("/api/notifications").json()
    assert box["unread"] == 2
    assert [n["event"] for n in box["items"]] == ["membership.removed", "membership.added"]
    assert box["items"][0]["reason"].startswith("You were removed from")
    first = box["items"][0]["id"]
    assert newbie_api.post(f"/api/notifications/{first}/read").json() == {"unread": 1}
    assert newbie_api.get("/api/notifications", unread=1).json()["items"][0]["read"] is False
    assert newbie_api.post("/api/notifications/read-all").json() == {"marked": 1, "unread": 0}
    assert newbie_api.post(f"/api/notifications/{first}/done").status_code == 200
    assert len(newbie_api.get("/api/notifications").json()["items"]) == 1
    assert len(newbie_api.get("/api/notifications", done=1).json()["items"]) == 2
    assert lead_api.post(f"/api/notifications/{first}/read").status_code == 404, "not yours"
    assert Api(None).get("/api/notifications").status_code == 401
    snapshot = inbox_snapshot(newbie.pk)
    assert snapshot["type"] == "notifications.snapshot" and snapshot["unread"] == 0


# ----------------------------------------------------------------------------- sessions


def test_session_record_lists_participants_documents_snapshots_and_calls() -> None:
    lead, lead_api = person("lead")
    slug = make_project(lead_api, "private")
    project = Project.objects.get(slug=slug)
    editor, _ = person("editor")
    membership_set(project=project, user=editor, role=Role.EDITOR, actor=lead)
    script = Document.objects.create(
        project=project, slug="script", title="Script", kind=DocumentKind.SCRIPT
    )
    Document.objects.create(
        project=project, slug="board", title="Board", kind=DocumentKind.STORYBOARD
    )
    DocumentUpdate.objects.create(
        document=script,
        update=b"\x00\x00",
        user=editor,
        created_at=timezone.now() - timedelta(hours=1),
    )
    before = call_create(project=project, title="Before", interest=Interest.MUSIC)
    Call.objects.filter(pk=before.pk).update(created_at=timezone.now() - timedelta(hours=1))
    session = session_start(project=project, lead=lead, title="Table read", agenda="Act 1")
    with pytest.raises(SessionRefused):
        session_start(project=project, lead=lead, title="Twice")
    session_join(project_id=project.pk, user=editor)
    DocumentUpdate.objects.create(
        document=script, update=b"\x00\x00", user=editor, created_at=timezone.now()
    )
    during = call_create(
        project=project, title="During", interest=Interest.WRITING, created_by=lead
    )
    ended = session_end(project_id=project.pk)
    record = session_record(ended)
    assert record["title"] == "Table read" and record["agenda"] == "Act 1"
    assert record["participants"] == sorted([lead.username, editor.username])
    assert record["documents_touched"] == ["script"]
    assert record["calls"] == [{"id": during.pk, "title": "During"}]
    assert record["duration_seconds"] >= 0 and record["ended_at"]
    assert live_session(project.pk) is None
    via_api = lead_api.get(f"/api/projects/{slug}/sessions/{session.pk}").json()
    assert via_api["participants"] == record["participants"]
    assert call_edit(call=during, filled=True).filled_at is not None


# ----------------------------------------------------------------------------- metrics


def test_metrics_on_a_small_fixture() -> None:
    lead, lead_api = person("lead")
    slug = make_project(lead_api)
    project = Project.objects.get(slug=slug)
    editor, _ = person("editor")
    script = Document.objects.create(
        project=project, slug="script", title="Script", kind=DocumentKind.SCRIPT
    )
    monday = timezone.now().replace(year=2026, month=1, day=5, hour=12)  # ISO 2026-W02
    for weeks, user in ((0, editor), (1, editor), (3, editor), (0, lead)):
        DocumentUpdate.objects.create(
            document=script,
            update=b"\x00\x00",
            user=user,
            created_at=monday + timedelta(weeks=weeks),
        )
    call = call_create(project=project, title="One", interest=Interest.MUSIC)
    call_create(project=project, title="Two", interest=Interest.MUSIC)
    call_edit(call=call, filled=True)
    for status in ("in_production", "finished"):
        lead_api.post(f"/api/projects/{slug}/status", {"status": status})
    stage = project.stage
    stage.refresh_from_db()
    assert stage.finished_at is not None
    type(stage).objects.filter(pk=stage.pk).update(opened_at=stage.finished_at - timedelta(days=10))
    body = lead_api.get(f"/api/projects/{slug}/metrics").json()
    weeks = body["contributors_per_week"]
    assert weeks["2026-W02"] == 2 and weeks["2026-W03"] == 1 and weeks["2026-W05"] == 1
    streaks = {c["username"]: c["streak_weeks"] for c in body["contributors"]}
    assert streaks == {editor.username: 2, lead.username: 1}
    assert body["calls"] == {"opened": 2, "filled": 1}
    assert body["projects_by_status"]["finished"] == 1
    assert body["median_days_to_finish"] == 10.0
    overall = lead_api.get("/api/metrics").json()
    assert overall["calls"]["opened"] >= 2 and overall["projects_by_status"]["finished"] >= 1
