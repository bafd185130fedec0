"""Site pages: projects, new project from a template, open calls, inbox and the header bell."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from workspace.models import (
    Call,
    Interest,
    Membership,
    Notification,
    Preference,
    Project,
    ProjectStage,
    ProjectStatus,
    Role,
    Visibility,
)
from workspace.notifications.selectors import unread_count
from workspace.notifications.services import interests_set, notification_send
from workspace.pages import bundles
from workspace.productions.services import call_create, project_create_from_template
from workspace.projects.services import membership_set

pytestmark = [pytest.mark.django_db]

PAYLOAD = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def person(name: str, username: str | None = None) -> User:
    user: User = get_user_model().objects.create_user(
        username=username or f"{name}-{uuid.uuid4().hex[:6]}", password="x"
    )
    return user


def signed_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def project(lead: User, *, title: str = "A project", public: bool = True, **kw: Any) -> Project:
    return project_create_from_template(
        slug=f"p-{uuid.uuid4().hex[:8]}",
        title=title,
        created_by=lead,
        visibility=Visibility.PUBLIC if public else Visibility.PRIVATE,
        **kw,
    )


def body(response: Any) -> str:
    return str(response.content.decode())


def element(page: str, element_id: str) -> str:
    """The opening tag and text up to the closing tag of the element with that id."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>.*?</\1>', page, re.S)
    assert match, f"no #{element_id}"
    return match[0]


def bell(page: str) -> tuple[str, str, bool]:
    """The bell's data-count, the count's text and whether the count is hidden."""
    tag = element(page, "bell")
    count = re.search(r'<span id="bell-count"( hidden)?>(\d+)</span>', tag)
    assert count, tag
    data = re.search(r'data-count="(\d+)"', tag)
    assert data
    return data[1], count[2], bool(count[1])


def no_payload(page: str) -> None:
    assert "<script>window.__xss" not in page
    assert "<img src=x" not in page


# ----------------------------------------------------------------------------- sign-in


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/projects/"),
        ("get", "/projects/new"),
        ("post", "/projects/new"),
        ("get", "/calls/"),
        ("post", "/calls/interests"),
        ("get", "/inbox/"),
        ("post", "/inbox/read-all"),
        ("post", "/inbox/1/read"),
    ],
)
def test_pages_send_signed_out_visitors_to_sign_in(method: str, path: str) -> None:
    response = getattr(Client(), method)(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_header_links_the_pages_and_home_links_projects() -> None:
    page = body(signed_in(person("a")).get("/"))
    assert 'href="/projects/"' in element(page, "home-links")
    nav = re.search(r'<nav class="site-nav".*?</nav>', page, re.S)
    assert nav
    for href in ('href="/projects/"', 'href="/calls/"', 'href="/inbox/"'):
        assert href in nav[0]


def test_signed_out_pages_have_no_bell_or_app_script() -> None:
    page = body(Client().get("/accounts/login/"))
    assert 'id="bell"' not in page
    assert "app-" not in page


# ----------------------------------------------------------------------------- projects


def test_projects_page_lists_own_projects_with_role_status_and_public_ones() -> None:
    me, other = person("me"), person("other")
    led = project(me, title="Led by me", public=False)
    edited = project(other, title="I edit this", public=False)
    membership_set(project=edited, user=me, role=Role.EDITOR)
    ProjectStage.objects.filter(project=edited).update(status=ProjectStatus.IN_PRODUCTION)
    public = project(other, title="Someone's public project", logline="A line")
    hidden = project(other, title="Someone's private project", public=False)
    page = body(signed_in(me).get("/projects/"))
    mine = element(page, "my-projects")
    assert f'href="/p/{led.slug}/"' in mine and f'href="/p/{edited.slug}/"' in mine
    led_row = re.search(rf'data-slug="{led.slug}".*?</li>', mine, re.S)
    edited_row = re.search(rf'data-slug="{edited.slug}".*?</li>', mine, re.S)
    assert led_row and "Lead" in led_row[0] and "Open" in led_row[0]
    assert edited_row and "Editor" in edited_row[0] and "In production" in edited_row[0]
    listed = element(page, "public-projects")
    assert f'href="/p/{public.slug}/"' in listed and "A line" in listed
    assert led.slug not in listed
    assert hidden.slug not in page


def test_projects_page_escapes_titles() -> None:
    me = person("me")
    made = project(me, title=PAYLOAD, logline=PAYLOAD)
    page = body(signed_in(me).get("/projects/"))
    no_payload(page)
    assert html.escape(PAYLOAD, quote=False) in page or html.escape(PAYLOAD) in page
    assert f'href="/p/{made.slug}/"' in page


# ----------------------------------------------------------------------------- new project


def test_new_project_form_offers_each_template_with_its_description() -> None:
    page = body(signed_in(person("me")).get("/projects/new"))
    assert 'id="template-blank"' in page
    assert 'id="template-life-narrated"' in page
    assert "A true moment from a life" in page
    assert "Illustrate the panels" in page
    assert re.search(r'id="template-life-narrated" checked', page)


def test_creating_from_a_template_lands_in_the_room_with_its_documents() -> None:
    me = person("me")
    client = signed_in(me, csrf=False)
    response = client.post(
        "/projects/new",
        {
            "title": "Grandma's Kitchen",
            "logline": "Flour everywhere.",
            "visibility": "public",
            "template": "life-narrated",
        },
    )
    assert response.status_code == 302
    made = Project.objects.get(slug="grandmas-kitchen")
    assert response["Location"] == "/p/grandmas-kitchen/"
    assert made.title == "Grandma's Kitchen" and made.logline == "Flour everywhere."
    assert made.visibility == Visibility.PUBLIC
    assert Membership.objects.get(project=made).role == Role.LEAD
    assert ProjectStage.objects.get(project=made).template == "life-narrated"
    assert Call.objects.filter(project=made).count() == 4
    room = body(client.get(response["Location"]))
    documents = re.search(r'data-documents="([^"]*)"', room)
    assert documents
    assert {d["slug"] for d in json.loads(html.unescape(documents[1]))} == {
        "script",
        "storyboard",
    }


def test_new_project_refuses_without_csrf_token() -> None:
    client = signed_in(person("me"), csrf=True)
    response = client.post(
        "/projects/new", {"title": "T", "visibility": "private", "template": "blank"}
    )
    assert response.status_code == 403
    assert not Project.objects.filter(slug="t").exists()


def test_empty_title_is_shown_inline_and_nothing_is_made() -> None:
    before = Project.objects.count()
    response = signed_in(person("me")).post(
        "/projects/new", {"title": "   ", "visibility": "private", "template": "blank"}
    )
    assert response.status_code == 400
    page = body(response)
    title_group = re.search(r'<label for="id_title".*?</ul>', page, re.S)
    assert title_group and "This field is required." in title_group[0]
    assert 'aria-invalid="true"' in element(page, "project-form")
    assert Project.objects.count() == before


def test_duplicate_slug_is_shown_on_the_address_field() -> None:
    me = person("me")
    taken = project(me, title="First")
    response = signed_in(me).post(
        "/projects/new",
        {"title": "Second", "slug": taken.slug, "visibility": "private", "template": "blank"},
    )
    assert response.status_code == 400
    page = body(response)
    slug_group = re.search(r'<label for="id_slug".*?</ul>', page, re.S)
    assert slug_group and "that project slug is taken" in slug_group[0]
    assert Project.objects.filter(slug=taken.slug).get().title == "First"


def test_title_without_letters_needs_an_address_and_bad_template_is_refused() -> None:
    client = signed_in(person("me"))
    response = client.post(
        "/projects/new", {"title": "!!!", "visibility": "private", "template": "blank"}
    )
    assert response.status_code == 400
    assert "no letters or digits" in body(response)
    response = client.post(
        "/projects/new", {"title": "Fine", "visibility": "private", "template": "nope"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in element(body(response), "template-errors")
    assert not Project.objects.filter(slug="fine").exists()


def test_rejected_title_is_escaped_when_the_form_comes_back() -> None:
    me = person("me")
    taken = project(me)
    response = signed_in(me).post(
        "/projects/new",
        {"title": PAYLOAD, "slug": taken.slug, "visibility": "private", "template": "blank"},
    )
    assert response.status_code == 400
    no_payload(body(response))


# ----------------------------------------------------------------------------- calls


def calls_listed(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-call="(\d+)"', element(page, "calls"))]


def test_calls_page_lists_open_calls_of_public_and_own_projects() -> None:
    me, other = person("me"), person("other")
    public = project(other, title="Open to all")
    mine = project(me, title="My private one", public=False)
    theirs = project(other, title="Their private one", public=False)
    wanted = call_create(project=public, title="Draw a fox", interest=Interest.ILLUSTRATION)
    own = call_create(project=mine, title="Score it", interest=Interest.MUSIC)
    hidden = call_create(project=theirs, title="Secret", interest=Interest.MUSIC)
    closed = call_create(project=public, title="Closed", interest=Interest.WRITING)
    Call.objects.filter(pk=closed.pk).update(is_open=False)
    expired = call_create(
        project=public,
        title="Expired",
        interest=Interest.WRITING,
        deadline=timezone.now() + timedelta(hours=1),
    )
    Call.objects.filter(pk=expired.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    page = body(signed_in(me).get("/calls/"))
    listed = calls_listed(page)
    assert wanted.pk in listed and own.pk in listed
    assert hidden.pk not in listed and closed.pk not in listed and expired.pk not in listed
    assert listed.index(own.pk) < listed.index(wanted.pk), "newest first"
    row = element(page, f"call-{wanted.pk}")
    assert "Draw a fox" in row and "Illustration" in row and "Open to all" in row
    assert f'href="/p/{public.slug}/"' in row
    assert "(your project)" in element(page, f"call-{own.pk}")


def test_calls_filter_narrows_by_interest_and_ignores_unknown_ones() -> None:
    me, other = person("me"), person("other")
    public = project(other)
    music = call_create(project=public, title="Score", interest=Interest.MUSIC)
    writing = call_create(project=public, title="Write", interest=Interest.WRITING)
    drawing = call_create(project=public, title="Draw", interest=Interest.ILLUSTRATION)
    client = signed_in(me)
    assert set(calls_listed(body(client.get("/calls/?interest=music")))) >= {music.pk}
    only_music = calls_listed(body(client.get("/calls/?interest=music")))
    assert writing.pk not in only_music and drawing.pk not in only_music
    two = calls_listed(body(client.get("/calls/?interest=music&interest=writing")))
    assert music.pk in two and writing.pk in two and drawing.pk not in two
    page = body(client.get("/calls/?interest=music&interest=bogus"))
    assert re.search(r'value="music" checked', page)
    assert drawing.pk not in calls_listed(page)


def test_calls_page_offers_saved_interests_and_saves_new_ones() -> None:
    me = person("me")
    interests_set(user_id=me.pk, interests=["narration"])
    client = signed_in(me)
    page = body(client.get("/calls/?interest=music"))
    narration = re.search(r'data-interest="narration">.*?</label>', page, re.S)
    assert narration and "one of your interests" in narration[0]
    assert 'href="/calls/?interest=narration"' in element(page, "my-interests-filter")
    assert 'action="/calls/interests?interest=music"' in page
    response = client.post(
        "/calls/interests?interest=music", {"interests": ["writing", "animation"]}
    )
    assert response.status_code == 302
    assert response["Location"] == "/calls/?interest=music"
    assert Preference.objects.get(user=me).interests == ["animation", "writing"]
    after = body(client.get(response["Location"]))
    assert "Your interests are saved." in after
    assert "<summary>Your interests: Animation, Writing</summary>" in after
    assert 'href="/calls/?interest=animation&amp;interest=writing"' in after
    response = client.post("/calls/interests", {"interests": ["juggling"]})
    assert response.status_code == 400
    assert "Select a valid choice" in body(response)
    assert Preference.objects.get(user=me).interests == ["animation", "writing"]
    assert client.post("/calls/interests", {}).status_code == 302
    assert Preference.objects.get(user=me).interests == []


def test_saving_interests_needs_the_csrf_token() -> None:
    me = person("me")
    response = signed_in(me, csrf=True).post("/calls/interests", {"interests": ["music"]})
    assert response.status_code == 403
    assert not Preference.objects.filter(user=me).exists()


def test_calls_page_escapes_call_and_project_text() -> None:
    me, other = person("me"), person("other")
    public = project(other, title=PAYLOAD)
    call = call_create(project=public, title=PAYLOAD, interest=Interest.MUSIC, instructions=PAYLOAD)
    page = body(signed_in(me).get("/calls/"))
    assert call.pk in calls_listed(page)
    no_payload(page)


def test_calls_page_pages_keep_the_filter() -> None:
    me, other = person("me"), person("other")
    public = project(other)
    made = [
        call_create(project=public, title=f"Call {i}", interest=Interest.MUSIC) for i in range(21)
    ]
    client = signed_in(me)
    page = body(client.get("/calls/?interest=music"))
    assert len(calls_listed(page)) == 20
    assert 'href="?interest=music&amp;page=2"' in page
    second = calls_listed(body(client.get("/calls/?interest=music&page=2")))
    assert second == [made[0].pk]


def test_api_calls_still_lists_public_projects_only() -> None:
    me, other = person("me"), person("other")
    mine = project(me, public=False)
    public = project(other)
    own = call_create(project=mine, title="Own", interest=Interest.MUSIC)
    shared = call_create(project=public, title="Shared", interest=Interest.MUSIC)
    ids = [c["id"] for c in signed_in(me).get("/api/calls?interest=music").json()["results"]]
    assert shared.pk in ids and own.pk not in ids


# ----------------------------------------------------------------------------- inbox and bell


def notify(user: User, reason: str, *, project_: Project | None = None, **kw: Any) -> Notification:
    entry = notification_send(
        user_id=user.pk,
        event=kw.pop("event", "test.event"),
        project=project_,
        object_type=kw.pop("object_type", "project"),
        object_id=kw.pop("object_id", project_.slug if project_ else "x"),
        reason=reason,
        actor_id=None,
        **kw,
    )
    assert entry is not None
    return entry


def test_bell_count_is_rendered_server_side_on_every_page() -> None:
    me = person("me")
    client = signed_in(me)
    assert bell(body(client.get("/projects/"))) == ("0", "0", True)
    notify(me, "one")
    notify(me, "two", object_id="y")
    for path in ("/", "/projects/", "/calls/", "/inbox/"):
        assert bell(body(client.get(path))) == ("2", "2", False), path
    assert 'aria-label="Inbox: 2 unread"' in element(body(client.get("/")), "bell")
    assert 'aria-live="polite"' in element(body(client.get("/")), "bell-live")


def test_inbox_lists_entries_newest_first_grouped_with_links() -> None:
    me, other = person("me"), person("other")
    shared = project(other)
    old = notify(me, "Old news", project_=shared)
    Notification.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    call = call_create(project=shared, title="Draw", interest=Interest.ILLUSTRATION)
    first = notify(me, "A call", project_=shared, object_type="call", object_id=call.pk)
    again = notify(me, "A call again", project_=shared, object_type="call", object_id=call.pk)
    assert again.pk == first.pk and again.count == 2
    cited = notify(me, "Cited", project_=shared, object_type="record", object_id="r-abc")
    notify(me, "Removed", project_=shared, event="membership.removed")
    Notification.objects.filter(pk=cited.pk).update(read_at=timezone.now())
    page = body(signed_in(me).get("/inbox/"))
    ids = [int(n) for n in re.findall(r'<li class="entry[^"]*" id="n-(\d+)"', page)]
    assert ids[-1] == old.pk and len(ids) == 4
    grouped = element(page, f"n-{first.pk}")
    assert "A call again" in grouped and "&times;2" in grouped
    assert f'href="/p/{shared.slug}/"' in grouped
    assert 'class="entry unread"' in grouped and 'action="/inbox/' in grouped
    read = element(page, f"n-{cited.pk}")
    assert 'data-read="true"' in read and 'href="/records/r-abc"' in read
    assert "Mark read" not in read
    assert 'data-unread="3"' in page


def test_inbox_escapes_reasons_and_usernames() -> None:
    sneaky = person("x", username=f"{PAYLOAD}-{uuid.uuid4().hex[:4]}")
    notify(sneaky, f"{PAYLOAD} answered your call")
    page = body(signed_in(sneaky).get("/inbox/"))
    no_payload(page)
    assert html.escape(PAYLOAD, quote=False)[:20] in page


def test_marking_read_brings_the_bell_count_down() -> None:
    me, other = person("me"), person("other")
    one, two = notify(me, "one", object_id="a"), notify(me, "two", object_id="b")
    mine_elsewhere = notify(other, "not yours")
    client = signed_in(me)
    response = client.post(f"/inbox/{one.pk}/read")
    assert response.status_code == 302 and response["Location"] == f"/inbox/#n-{one.pk}"
    page = body(client.get("/inbox/"))
    assert bell(page) == ("1", "1", False)
    assert 'data-read="true"' in element(page, f"n-{one.pk}")
    assert client.post(f"/inbox/{mine_elsewhere.pk}/read").status_code == 404
    assert Notification.objects.get(pk=mine_elsewhere.pk).read_at is None
    assert client.get(f"/inbox/{two.pk}/read").status_code == 405
    response = client.post("/inbox/read-all")
    assert response.status_code == 302
    page = body(client.get("/inbox/"))
    assert bell(page) == ("0", "0", True)
    assert "Marked 1 read." in page
    assert 'id="read-all"' not in page
    assert Notification.objects.get(pk=mine_elsewhere.pk).read_at is None


def test_marking_read_needs_the_csrf_token() -> None:
    me = person("me")
    entry = notify(me, "one")
    client = signed_in(me, csrf=True)
    assert client.post(f"/inbox/{entry.pk}/read").status_code == 403
    assert client.post("/inbox/read-all").status_code == 403
    assert unread_count(me.pk) == 1


def test_usernames_are_escaped_in_the_header() -> None:
    sneaky = person("x", username=f"{PAYLOAD}-{uuid.uuid4().hex[:4]}")
    page = body(signed_in(sneaky).get("/calls/"))
    no_payload(page)


def test_pages_load_the_app_bundle_when_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps({"src/app.ts": {"file": "troupe/app-abc.js", "imports": ["_backoff.js"]}})
    )
    monkeypatch.setattr(bundles, "MANIFEST", manifest)
    page = body(signed_in(person("me")).get("/inbox/"))
    assert '<script type="module" src="/static/troupe/app-abc.js"></script>' in page
    monkeypatch.setattr(bundles, "MANIFEST", tmp_path / "missing.json")
    page = body(signed_in(person("me")).get("/inbox/"))
    assert "app-abc" not in page
    assert bell(page)[0] == "0"
