"""Proposals over the API against every kind of caller, the OpenAPI schema, page and admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.workspace.test_proposals import Clock, Crew, make_crew
from workspace.models import Proposal, ProposalComment, Visibility
from workspace.proposals import clock as proposal_clock

pytestmark = [pytest.mark.django_db]

CALLERS = ["anonymous", "outsider", "viewer", "editor", "lead"]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    found = Clock()
    monkeypatch.setattr(proposal_clock, "now", found)
    return found


def expect(crew: Crew, call: Any, *wanted: int) -> list[Any]:
    """Call as each caller in order (lead last); compare the status codes."""
    responses = [call(crew.apis[caller], caller) for caller in CALLERS]
    got = [r.status_code for r in responses]
    assert got == list(wanted), (got, [r.content[:120] for r in responses])
    return responses


def create(crew: Crew, api: Any) -> Any:
    return api.post(
        crew.base,
        {"production": crew.snapshot.rid, "currency": "EUR", "revenue": "500", "costs": "0"},
    )


def test_private_project_matrix(clock: Clock) -> None:
    crew = make_crew(Visibility.PRIVATE)
    base = crew.base
    expect(crew, lambda a, _: a.get(base), 404, 404, 200, 200, 200)
    made = expect(crew, lambda a, _: create(crew, a), 401, 404, 403, 403, 201)
    url = f"{base}/{made[-1].json()['id']}"
    # a draft is for leads only: invisible (404) to everyone else, members included
    expect(crew, lambda a, _: a.get(url), 404, 404, 404, 404, 200)
    assert crew.apis["viewer"].get(base).json() == []
    expect(crew, lambda a, _: a.post(f"{url}/prefill"), 401, 404, 404, 404, 200)
    lines = crew.apis["lead"].get(url).json()["lines"]
    assert sum(ln["share_bp"] for ln in lines) == 10_000
    key = lines[0]["key"]
    held = {"held_name": "Rose", "share_bp": 0, "role": "editors' influence"}
    expect(crew, lambda a, _: a.post(f"{url}/lines", held), 401, 404, 404, 404, 201)
    expect(crew, lambda a, _: a.post(f"{url}/comments", {"body": "x"}), 401, 404, 404, 404, 409)
    expect(crew, lambda a, _: a.post(f"{url}/publish"), 401, 404, 404, 404, 200)

    expect(crew, lambda a, _: a.get(url), 404, 404, 200, 200, 200)
    assert len(crew.apis["viewer"].get(base).json()) == 1
    line = {**lines[0], "reasoning": "clearer"}
    expect(crew, lambda a, _: a.send("PUT", f"{url}/lines/{key}", line), 401, 404, 403, 403, 200)
    expect(crew, lambda a, _: a.send("DELETE", f"{url}/lines/x"), 401, 404, 403, 403, 404)
    expect(crew, lambda a, _: a.send("PATCH", url, {"costs": "1"}), 401, 404, 403, 403, 200)
    comments = expect(
        crew,
        lambda a, caller: a.post(f"{url}/comments", {"line": key, "body": f"from {caller}"}),
        401,
        404,
        201,
        201,
        201,
    )
    expect(crew, lambda a, _: a.post(f"{url}/accept"), 401, 404, 200, 200, 200)
    expect(crew, lambda a, _: a.post(f"{url}/finalise"), 401, 404, 403, 403, 409)
    clock.advance(days=14)
    refused = crew.apis["lead"].post(f"{url}/finalise")
    assert refused.status_code == 409 and "2 comment(s)" in refused.json()["error"]
    for asked in comments[2:4]:
        reply = {"parent": asked.json()["id"], "body": "answered"}
        assert crew.apis["lead"].post(f"{url}/comments", reply).status_code == 201
    done = expect(crew, lambda a, _: a.post(f"{url}/finalise"), 401, 404, 403, 403, 200)
    assert done[-1].json()["state"] == "final"
    assert ProposalComment.objects.filter(proposal_id=done[-1].json()["id"]).count() == 5


def test_public_project_matrix(clock: Clock) -> None:
    crew = make_crew(Visibility.PUBLIC)
    made = create(crew, crew.apis["lead"])
    url = f"{crew.base}/{made.json()['id']}"
    expect(crew, lambda a, _: a.get(url), 404, 404, 404, 404, 200)
    crew.apis["lead"].post(f"{url}/prefill")
    crew.apis["lead"].post(f"{url}/publish")
    expect(crew, lambda a, _: a.get(url), 200, 200, 200, 200, 200)
    expect(crew, lambda a, _: a.post(f"{url}/comments", {"body": "hi"}), 401, 201, 201, 201, 201)
    held = {"held_name": "Rose", "share_bp": 0}
    expect(crew, lambda a, _: a.post(f"{url}/lines", held), 401, 403, 403, 403, 201)
    expect(crew, lambda a, _: a.post(f"{url}/accept"), 401, 403, 200, 200, 200)


def test_bad_input_is_refused_with_an_error(clock: Clock) -> None:
    crew = make_crew()
    lead = crew.apis["lead"]
    made = create(crew, lead)
    url = f"{crew.base}/{made.json()['id']}"
    both = {"contributor": crew.users["editor"].username, "held_name": "Rose", "share_bp": 1}
    assert lead.post(f"{url}/lines", both).status_code == 400
    assert lead.post(f"{url}/lines", {"contributor": "nobody-here", "share_bp": 1}).status_code == (
        400
    )
    too_much = lead.post(f"{url}/lines", {"held_name": "R", "share_bp": 10_001})
    assert too_much.status_code == 400 and "error" in too_much.json()
    unpublishable = lead.post(f"{url}/lines", {"held_name": "R", "share_bp": 9_000})
    assert unpublishable.status_code == 201
    refused = lead.post(f"{url}/publish")
    assert refused.status_code == 409 and "total 9000 bp" in refused.json()["error"]
    short = lead.post(
        crew.base,
        {
            "production": crew.snapshot.rid,
            "currency": "EUR",
            "revenue": "1",
            "window_days": 7,
        },
    )
    assert short.status_code == 400 and "at least 14 days" in short.json()["error"]
    other = make_crew()
    foreign = lead.post(
        crew.base, {"production": other.snapshot.rid, "currency": "EUR", "revenue": "1"}
    )
    assert foreign.status_code == 400


def test_openapi_lists_the_proposal_endpoints() -> None:
    schema = Client().get("/api/openapi.json").json()
    paths = schema["paths"]
    base = "/api/projects/{project}/proposals"
    for suffix in [
        "",
        "/{proposal_id}",
        "/{proposal_id}/lines",
        "/{proposal_id}/lines/{key}",
        "/{proposal_id}/prefill",
        "/{proposal_id}/publish",
        "/{proposal_id}/comments",
        "/{proposal_id}/accept",
        "/{proposal_id}/finalise",
    ]:
        assert base + suffix in paths, suffix


def test_page_renders_escaped_and_respects_visibility(clock: Clock) -> None:
    crew = make_crew()
    made = create(crew, crew.apis["lead"])
    pid = made.json()["id"]
    url = f"{crew.base}/{pid}"
    crew.apis["lead"].post(f"{url}/lines", {"held_name": "<b>Rose</b>", "share_bp": 10_000})
    page = f"/p/{crew.project.slug}/proposals/{pid}"
    browser = Client()
    browser.force_login(crew.users["viewer"])
    assert browser.get(page).status_code == 404  # a draft
    crew.apis["lead"].post(f"{url}/publish")
    shown = browser.get(page)
    assert shown.status_code == 200
    assert b"&lt;b&gt;Rose&lt;/b&gt;" in shown.content and b"<b>Rose</b>" not in shown.content
    outsider = Client()
    outsider.force_login(crew.users["outsider"])
    assert outsider.get(page).status_code == 404


def test_page_comments_and_replies_through_its_form(clock: Clock) -> None:
    crew = make_crew()
    pid = create(crew, crew.apis["lead"]).json()["id"]
    url = f"{crew.base}/{pid}"
    crew.apis["lead"].post(f"{url}/lines", {"held_name": "Rose", "share_bp": 10_000})
    crew.apis["lead"].post(f"{url}/publish")
    key = Proposal.objects.get(pk=pid).lines.get().key
    page = f"/p/{crew.project.slug}/proposals/{pid}"
    viewer = Client(enforce_csrf_checks=True)
    viewer.force_login(crew.users["viewer"])
    form = viewer.get(page)
    assert b'name="body"' in form.content
    token = form.cookies["csrftoken"].value
    assert viewer.post(page, {"line": key, "body": "Why 100%?"}).status_code == 403  # no CSRF
    posted = viewer.post(
        page, {"line": key, "body": "Why <i>100%</i>?", "csrfmiddlewaretoken": token}
    )
    assert posted.status_code == 302
    comment = ProposalComment.objects.get(proposal_id=pid)
    assert comment.line is not None and comment.line.key == key
    lead = Client()
    lead.force_login(crew.users["lead"])
    assert (
        lead.post(page, {"parent": str(comment.pk), "body": "Rose did it all."}).status_code == 302
    )
    reply = ProposalComment.objects.exclude(pk=comment.pk).get(proposal_id=pid)
    assert reply.parent_id == comment.pk
    shown = viewer.get(page).content
    assert b"Why &lt;i&gt;100%&lt;/i&gt;?" in shown and b"Rose did it all." in shown
    assert (
        viewer.post(page, {"line": key, "body": "  ", "csrfmiddlewaretoken": token}).status_code
        == 400
    )


def test_admin_lists_every_proposal_model(clock: Clock) -> None:
    crew = make_crew()
    create(crew, crew.apis["lead"])
    admin = get_user_model().objects.create_superuser("root-proposals", "r@example.org", "pw")
    browser = Client()
    browser.force_login(admin)
    for model in [
        "proposal",
        "proposalpool",
        "proposalline",
        "proposaledit",
        "proposalcomment",
        "proposalacceptance",
        "proposalnotice",
    ]:
        assert browser.get(f"/admin/workspace/{model}/").status_code == 200, model
    pk = Proposal.objects.get().pk
    assert browser.get(f"/admin/workspace/proposal/{pk}/change/").status_code == 200
