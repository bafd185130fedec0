"""Site pages in Chromium: a project from a template, the calls filter, the live bell, inbox."""

import uuid

import httpx
import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import ARTIFACTS, BrowserRun
from workspace.models import Call, Interest, Notification, Preference, Project, Visibility
from workspace.notifications.selectors import unread_count
from workspace.notifications.services import interests_set, notifications_mark_read
from workspace.productions.services import call_create, project_create_from_template

pytestmark = [pytest.mark.live, pytest.mark.slow]

PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
INERT = {"xss": None, "injected": 0}


def _user(browser: BrowserRun, name: str) -> User:
    user = browser.room.members[name].user
    assert isinstance(user, User)
    return user


def _fresh(*names: str) -> None:
    for name in names:
        (ARTIFACTS / name).unlink(missing_ok=True)


def test_project_from_a_template_through_the_form_lands_in_its_room(browser: BrowserRun) -> None:
    slug = f"rosa-{uuid.uuid4().hex[:6]}"
    title = f"Rosa's kitchen {PAYLOAD}"
    _fresh("projects-page.png")
    result = browser("sitecreate", title=title, slug=slug, takenSlug=browser.room.project.slug)
    assert any("Life Narrated" in t and "A true moment" in t for t in result["templates"])
    assert result["emptyTitle"] == {
        "error": "This field is required.",
        "invalid": "true",
        "describedBy": "id_title_error",
    }
    assert result["takenSlug"] == {
        "error": "that project slug is taken",
        "titleKept": title,
        "templateKept": True,
    }
    made = Project.objects.get(slug=slug)
    assert made.title == title and made.logline == title
    assert made.visibility == Visibility.PUBLIC
    assert made.memberships.get().user == _user(browser, "lead")
    assert set(Call.objects.filter(project=made).values_list("interest", flat=True)) == {
        "writing",
        "narration",
        "illustration",
        "animation",
    }
    room = result["room"]
    assert room["project"] == slug and room["title"] == title and room["role"] == "lead"
    assert room["documents"] == ["script", "storyboard"]
    assert title in room["heading"]
    assert result["listed"]["href"] == f"/p/{slug}/"
    assert result["listed"]["title"] == title
    assert "Lead" in result["listed"]["text"] and "Open" in result["listed"]["text"]
    for probe in ("xssForm", "xssRoom", "xssList"):
        assert result[probe] == INERT, probe
    assert "dialog" not in result
    assert result["errors"] == []
    assert (ARTIFACTS / "projects-page.png").stat().st_size > 10_000


def test_calls_page_filters_by_interest_and_keeps_payloads_inert(browser: BrowserRun) -> None:
    room = browser.room
    outsider = _user(browser, "outsider")
    public = project_create_from_template(
        slug=f"pub-{uuid.uuid4().hex[:6]}",
        title=f"Harbour {PAYLOAD}",
        created_by=outsider,
        visibility=Visibility.PUBLIC,
    )
    hidden = project_create_from_template(
        slug=f"priv-{uuid.uuid4().hex[:6]}", title="Not yours", created_by=outsider
    )
    writing = call_create(project=public, title="Write the ferry scene", interest=Interest.WRITING)
    music = call_create(
        project=public, title=f"Score {PAYLOAD}", interest=Interest.MUSIC, instructions=PAYLOAD
    )
    own_music = call_create(project=room.project, title="Hum the theme", interest=Interest.MUSIC)
    secret = call_create(project=hidden, title="Secret music", interest=Interest.MUSIC)
    _fresh("calls-page.png", "calls-phone.png")

    result = browser("sitecalls")

    assert sorted(result["all"]) == sorted([writing.pk, music.pk, own_music.pk])
    assert secret.pk not in result["all"]
    assert f"Score {PAYLOAD}" in result["titles"]
    assert PAYLOAD in result["instructions"]
    assert {"text": f"Harbour {PAYLOAD}", "href": f"/p/{public.slug}/"} in result["projects"]
    assert result["xss"] == INERT
    assert result["filteredUrl"].endswith("/calls/?interest=music")
    assert sorted(result["music"]) == sorted([music.pk, own_music.pk])
    assert set(result["musicInterests"]) == {"music"}
    assert result["countText"] == "2 open calls for music."
    assert result["noJsMusic"] == result["music"]
    saved = result["afterSave"]
    assert saved["url"].endswith("/calls/?interest=music")
    assert saved["message"] == "Your interests are saved."
    assert saved["starred"] == ["writing", "music"]
    assert saved["shortcut"] == "/calls/?interest=music&interest=writing"
    assert Preference.objects.get(user=_user(browser, "viewer")).interests == [
        "music",
        "writing",
    ]
    overflow = result["phoneOverflow"]
    assert set(overflow) == {"/", "/projects/", "/projects/new", "/calls/", "/inbox/"}
    assert all(px <= 0 for px in overflow.values()), overflow
    assert "dialog" not in result
    assert result["errors"] == []
    assert (ARTIFACTS / "calls-page.png").stat().st_size > 10_000
    assert (ARTIFACTS / "calls-phone.png").stat().st_size > 10_000


def test_bell_counts_up_live_and_the_inbox_marks_read(browser: BrowserRun) -> None:
    room = browser.room
    viewer = _user(browser, "viewer")
    interests_set(user_id=viewer.pk, interests=["music"])
    # Being added to the project was a notification too: start from an empty count.
    notifications_mark_read(user_id=viewer.pk)
    title = f"Score the storm {PAYLOAD}"
    _fresh("inbox.png", "inbox-phone.png")

    def on_event(event: str) -> None:
        assert event == "notify"
        # Through the live server, so its channel layer delivers to the open socket.
        made = httpx.post(
            f"{browser.server.http_url}/api/projects/{room.project.slug}/calls",
            json={"title": title, "interest": "music", "instructions": PAYLOAD},
            headers={"Authorization": f"Bearer {room.members['lead'].token}"},
            timeout=10,
        )
        assert made.status_code == 201, made.text

    result = browser("sitebell", on_event=on_event)

    assert result["before"] == {
        "count": "0",
        "text": "0",
        "hidden": True,
        "state": "online",
        "label": "Inbox: 0 unread",
    }
    assert result["after"] == {
        "count": "1",
        "text": "1",
        "hidden": False,
        "state": "online",
        "label": "Inbox: 1 unread",
    }
    assert result["live"].startswith("New notification: New music call in Test: ")
    assert title in result["live"]
    assert result["liveAttrs"] == {"live": "polite", "role": "status"}
    call = Call.objects.get(project=room.project, title=title)
    entry, added = result["inbox"]  # newest first
    assert entry["read"] == "false" and title in entry["reason"]
    assert added["read"] == "true" and added["reason"] == "You were added to Test"
    assert entry["href"] == f"/p/{room.project.slug}/"
    assert result["bellOnInbox"]["count"] == "1"
    assert result["afterRead"]["count"] == "0" and result["afterRead"]["hidden"] is True
    assert result["entryAfterRead"] == "true"
    assert result["afterReadLive"]["count"] == "0"
    assert result["stopped"]["state"] == "stopped"
    for probe in ("xssLive", "xssInbox"):
        assert result[probe] == INERT, probe
    assert result["inboxPhoneOverflow"] <= 0
    assert unread_count(viewer.pk) == 0
    assert call.pk == int(Notification.objects.get(user=viewer, event="call.created").object_id)
    assert "dialog" not in result
    assert result["errors"] == []
    assert (ARTIFACTS / "inbox.png").stat().st_size > 10_000
