"""The proposal page over the Django test client: who sees and does what, every form,
escaping, acceptances (bound to a hash, stale after edits), the countdown's data."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.workspace.test_proposals import Clock, Crew, line, make_crew, standard
from workspace.models import (
    Proposal,
    ProposalAcceptance,
    ProposalComment,
    ProposalLine,
    ProposalState,
    Visibility,
)
from workspace.pages import bundles
from workspace.proposals import clock as proposal_clock
from workspace.proposals.rules import PoolSpec, computed_amounts, current_hash
from workspace.proposals.services import proposal_create, proposal_line_delete, proposal_publish

pytestmark = [pytest.mark.django_db]

PAYLOADS = ["<img src=x onerror=window.__xss=1>", "<script>window.__xss=1</script>"]
VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    found = Clock()
    monkeypatch.setattr(proposal_clock, "now", found)
    return found


# ----------------------------------------------------------------------------- a tiny DOM


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def words(self) -> str:
        return " ".join(self.text().split())

    def walk(self) -> list[Node]:
        out: list[Node] = []
        for c in self.children:
            if isinstance(c, Node):
                out.append(c)
                out.extend(c.walk())
        return out

    def find(self, element_id: str) -> Node:
        found = [n for n in self.walk() if n.attrs.get("id") == element_id]
        assert len(found) == 1, f"#{element_id}: {len(found)} found"
        return found[0]

    def has(self, element_id: str) -> bool:
        return any(n.attrs.get("id") == element_id for n in self.walk())

    def all(self, tag: str = "", cls: str = "") -> list[Node]:
        return [
            n
            for n in self.walk()
            if (not tag or n.tag == tag) and (not cls or cls in n.attrs.get("class", "").split())
        ]

    def ancestors(self) -> list[Node]:
        out, at = [], self.parent
        while at is not None:
            out.append(at)
            at = at.parent
        return out


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.at = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.at)
        self.at.children.append(node)
        if tag not in VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        at: Node | None = self.at
        while at is not None and at.tag != tag:
            at = at.parent
        if at is not None and at.parent is not None:
            self.at = at.parent

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def dom(response: Any) -> Node:
    builder = _Builder()
    builder.feed(response.content.decode())
    return builder.root


# ----------------------------------------------------------------------------- helpers


def page_url(proposal: Proposal) -> str:
    return f"/p/{proposal.project.slug}/proposals/{proposal.pk}"


def client(crew: Crew, who: str, *, csrf: bool = False) -> Client:
    found = Client(enforce_csrf_checks=csrf)
    found.force_login(crew.users[who])
    return found


def published(crew: Crew) -> tuple[Proposal, dict[str, ProposalLine]]:
    proposal, lines = standard(crew)
    proposal_publish(proposal=proposal, user=crew.users["lead"])
    proposal.refresh_from_db()
    return proposal, lines


def post(browser: Client, proposal: Proposal, **form: str) -> Any:
    return browser.post(page_url(proposal), form)


# ----------------------------------------------------------------------------- visibility


def test_who_sees_the_page_and_its_forms(clock: Clock) -> None:
    crew = make_crew()
    proposal, lines = standard(crew)
    url = page_url(proposal)
    assert client(crew, "lead").get(url).status_code == 200
    for who in ("editor", "viewer", "outsider"):
        assert client(crew, who).get(url).status_code == 404, who  # a draft
    assert Client().get(url).status_code == 404
    proposal_publish(proposal=proposal, user=crew.users["lead"])
    assert client(crew, "outsider").get(url).status_code == 404  # a private project
    assert Client().get(url).status_code == 404
    assert client(crew, "lead").get(f"/p/{crew.project.slug}/proposals/999999").status_code == 404

    viewer = dom(client(crew, "viewer").get(url))
    root = viewer.find("proposal")
    assert root.attrs["data-live"] == "true"
    assert root.attrs["data-project"] == crew.project.slug
    assert root.attrs["data-proposal-id"] == str(proposal.pk)
    assert viewer.find("live-notice").attrs.get("hidden") is not None
    key = lines["viewer"].key
    assert viewer.has(f"comment-on-{key}")
    assert viewer.has("accept")  # the viewer has a line
    assert not viewer.has(f"line-edit-{key}") and not viewer.has("line-add")
    assert not viewer.has("lifecycle") and not viewer.has("settings")
    lead = dom(client(crew, "lead").get(url))
    assert lead.has(f"line-edit-{key}") and lead.has("line-add") and lead.has("settings")
    assert lead.find("finalise").attrs.get("disabled") is not None  # the window is open


def test_public_page_is_read_only_when_signed_out(clock: Clock) -> None:
    crew = make_crew(Visibility.PUBLIC)
    proposal, lines = published(crew)
    shown = Client().get(page_url(proposal))
    assert shown.status_code == 200
    tree = dom(shown)
    assert not tree.all("form", "comment-form") and not tree.has("accept")
    assert tree.find("proposal").attrs["data-live"] == "false"  # the room socket needs a user
    sent = Client().post(page_url(proposal), {"line": lines["lead"].key, "body": "hi"})
    assert sent.status_code == 302 and sent["Location"].startswith("/accounts/login/?next=")
    assert not ProposalComment.objects.exists()


def test_non_leads_are_refused_lead_forms_with_the_error_shown(clock: Clock) -> None:
    crew = make_crew()
    proposal, lines = published(crew)
    key = lines["viewer"].key
    editor = client(crew, "editor")
    refused = post(editor, proposal, action="line-edit", line=key, share="90", role="x")
    assert refused.status_code == 403
    assert "only leads do this" in dom(refused).find("form-error").text()
    assert ProposalLine.objects.get(key=key).share_bp == 2_000
    assert post(editor, proposal, action="finalise").status_code == 403
    stale = post(editor, proposal, action="accept", hash="x")
    assert stale.status_code == 409 and "changed after you opened it" in stale.content.decode()
    proposal_line_delete(proposal=proposal, user=crew.users["lead"], line=lines["editor"])
    digest = current_hash(proposal) or ""
    assert post(editor, proposal, action="accept", hash=digest).status_code == 403  # no line
    assert not ProposalAcceptance.objects.exists()
    assert post(editor, proposal, action="nonsense").status_code == 400


def test_forms_need_the_csrf_token(clock: Clock) -> None:
    crew = make_crew()
    proposal, _ = published(crew)
    viewer = client(crew, "viewer", csrf=True)
    form = viewer.get(page_url(proposal))
    token = form.cookies["csrftoken"].value
    digest = current_hash(proposal) or ""
    assert post(viewer, proposal, action="accept", hash=digest).status_code == 403
    assert not ProposalAcceptance.objects.exists()
    done = post(viewer, proposal, action="accept", hash=digest, csrfmiddlewaretoken=token)
    assert done.status_code == 302
    assert ProposalAcceptance.objects.filter(user=crew.users["viewer"]).exists()


# ----------------------------------------------------------------------------- lines


def test_lines_per_pool_with_percentages_and_amounts(clock: Clock) -> None:
    crew = make_crew()
    proposal = proposal_create(
        project=crew.project,
        user=crew.users["lead"],
        production=crew.snapshot,
        title="Pools",
        currency="EUR",
        revenue=Decimal("1000.00"),
        costs=Decimal("100.01"),
        pools=[PoolSpec("music", amount_minor=10_000)],
    )
    first = line(crew, proposal, "lead", 3_333)
    second = line(crew, proposal, "editor", 6_667)
    third = line(crew, proposal, "viewer", 10_000, pool="music")
    tree = dom(client(crew, "lead").get(page_url(proposal)))
    amounts = computed_amounts(proposal)
    assert amounts is not None
    artists = tree.find("pool-artists")
    music = tree.find("pool-music")
    # profit 899.99; music takes 100.00 off the top, artists get half of 799.99
    assert tree.find("profit").words() == "899.99 EUR"
    assert "= 399.99 EUR" in tree.find("pool-artists-heading").words()
    assert "= 100.00 EUR" in tree.find("pool-music-heading").words()
    assert [n.attrs["data-key"] for n in artists.all("article", "line")] == [first.key, second.key]
    assert [n.attrs["data-key"] for n in music.all("article", "line")] == [third.key]
    shown = {}
    for article in tree.all("article", "line"):
        share = article.all(cls="share")[0].words()
        amount = article.all(cls="amount")[0].words()
        shown[article.attrs["data-key"]] = (share, amount)
    assert shown == {
        first.key: ("33.33 %", f"{amounts[first.key] / 100:.2f} EUR"),
        second.key: ("66.67 %", f"{amounts[second.key] / 100:.2f} EUR"),
        third.key: ("100.00 %", "100.00 EUR"),
    }
    assert amounts[first.key] + amounts[second.key] == 39_999
    assert "shares total 100.00 %" in artists.words()


def test_lead_adds_edits_and_removes_lines_through_the_forms(clock: Clock) -> None:
    crew = make_crew()
    proposal, lines = standard(crew)
    lead = client(crew, "lead")
    bad = post(lead, proposal, action="line-add", held_name="Ann", share="12.345", role="r")
    assert bad.status_code == 400
    tree = dom(bad)
    assert "at most two decimals" in tree.find("line-add").words()
    assert tree.find("line-add-held").attrs["value"] == "Ann"  # what was typed is kept
    assert post(lead, proposal, action="line-add", share="abc", held_name="A").status_code == 400
    assert post(lead, proposal, action="line-add", share="101", held_name="A").status_code == 400
    both = post(lead, proposal, action="line-add", contributor="nobody-xyz", share="1")
    assert both.status_code == 400 and "no user is called" in dom(both).find("form-error").text()
    added = post(lead, proposal, action="line-add", held_name="Ann", share="0", role="grip")
    assert added.status_code == 302
    new = ProposalLine.objects.get(proposal=proposal, held_name="Ann")
    assert added["Location"] == f"{page_url(proposal)}#line-{new.key}"
    key = lines["editor"].key
    edited = post(
        lead, proposal, action="line-edit", line=key, share="25,5 %", role="writer", pool="artists"
    )
    assert edited.status_code == 302 and edited["Location"].endswith(f"#line-{key}")
    assert ProposalLine.objects.get(key=key).share_bp == 2_550
    assert list(ProposalLine.objects.get(key=key).records.all()) == [crew.snapshot]  # kept
    gone = post(lead, proposal, action="line-delete", line=new.key)
    assert gone.status_code == 302
    assert not ProposalLine.objects.filter(key=new.key).exists()
    assert post(lead, proposal, action="line-delete", line=new.key).status_code == 404
    log = dom(lead.get(page_url(proposal))).find("edit-log").words()
    assert "edited a line" in log and "share: 30.00 % → 25.50 %" in log
    assert "added a line: Ann (held) (0.00 %)" in log and "removed a line" in log


def test_terms_prefill_publish_and_finalise_through_the_forms(clock: Clock) -> None:
    crew = make_crew()
    proposal = proposal_create(
        project=crew.project,
        user=crew.users["lead"],
        production=crew.snapshot,
        title="Lifecycle",
        currency="EUR",
        revenue=Decimal("100"),
        costs=Decimal("0"),
    )
    lead = client(crew, "lead")
    assert post(lead, proposal, action="publish").status_code == 409  # no lines
    assert post(lead, proposal, action="prefill").status_code == 302
    settings = post(
        lead,
        proposal,
        action="settings",
        title="Renamed",
        revenue="200",
        costs="20",
        artists_share="60",
    )
    assert settings.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.title, proposal.revenue, proposal.artists_share_bp) == (
        "Renamed",
        Decimal(200),
        6_000,
    )
    bad = post(lead, proposal, action="settings", revenue="1.234", costs="0", artists_share="50")
    assert bad.status_code == 400 and "decimals" in dom(bad).find("settings").words()
    assert post(lead, proposal, action="publish").status_code == 302
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.PUBLISHED
    early = post(lead, proposal, action="finalise")
    assert early.status_code == 409 and "open until" in dom(early).find("lifecycle").words()
    clock.advance(days=14, seconds=1)
    done = post(lead, proposal, action="finalise")
    assert done.status_code == 302 and done["Location"].endswith("#final")
    tree = dom(client(crew, "viewer").get(page_url(proposal)))
    proposal.refresh_from_db()
    assert tree.find("final-hash").text() == proposal.final_hash
    assert tree.find("lines-heading").text() == "Payouts"
    payouts = {
        a.attrs["data-key"]: int(a.attrs["data-amount-minor"]) for a in tree.all("article", "line")
    }
    assert sum(payouts.values()) == 10_800  # 60 % of 180.00
    assert payouts == {ln.key: ln.amount_minor for ln in proposal.lines.all()}
    # Contributors may still accept the final version, bound to its frozen hash.
    assert tree.find("accept").all("input")[-1].attrs["value"] == proposal.final_hash
    final = post(client(crew, "viewer"), proposal, action="accept", hash=proposal.final_hash)
    assert final.status_code == 302
    assert not tree.all("form", "comment-form")


# ----------------------------------------------------------------------------- comments


def test_comment_threads_show_the_leads_answer_under_the_comment(clock: Clock) -> None:
    crew = make_crew()
    proposal, lines = published(crew)
    key = lines["viewer"].key
    viewer = client(crew, "viewer")
    sent = post(viewer, proposal, action="comment", line=key, body="Why only 20 %?")
    asked = ProposalComment.objects.get()
    assert sent.status_code == 302 and sent["Location"].endswith(f"#comment-{asked.pk}")
    blank = post(viewer, proposal, action="comment", line=key, body="   ")
    assert blank.status_code == 400
    assert "needs a body" in dom(blank).find(f"comment-on-{key}").words()
    general = post(viewer, proposal, action="comment", body="Overall fine.")
    assert general.status_code == 302
    lead = client(crew, "lead")
    tree = dom(lead.get(page_url(proposal)))
    assert tree.find(f"comment-{asked.pk}").attrs["data-needs-answer"] == "true"
    assert "2 comments await a lead's answer" in tree.find("unanswered").words()
    assert "Answer" in tree.find(f"reply-{asked.pk}").words()
    answered = post(lead, proposal, action="comment", parent=str(asked.pk), body="Composer rate.")
    assert answered.status_code == 302
    answer = ProposalComment.objects.get(parent=asked)
    assert answer.by_lead
    follow = post(viewer, proposal, action="comment", parent=str(answer.pk), body="OK, thanks.")
    assert follow.status_code == 302
    thanks = ProposalComment.objects.get(parent=answer)

    tree = dom(viewer.get(page_url(proposal)))
    thread = tree.find(f"line-{key}")
    question = tree.find(f"comment-{asked.pk}")
    shown = tree.find(f"comment-{answer.pk}")
    later = tree.find(f"comment-{thanks.pk}")
    assert thread in question.ancestors() and thread in shown.ancestors()
    # The answer sits in the reply list of the item that holds the question.
    item = question.parent
    assert item is not None and item.tag == "li"
    replies = [n for n in item.all("ol", "replies")]
    assert len(replies) == 1 and replies[0] in shown.ancestors() and replies[0] in later.ancestors()
    assert "lead's answer" in shown.words() and "Composer rate." in shown.words()
    assert "replying to" in later.words()
    assert question.attrs["data-needs-answer"] == "false"
    assert "Why only 20 %?" in question.words()
    assert "Overall fine." in tree.find("general").words()
    other = tree.find(f"line-{lines['lead'].key}")
    assert "Comments on this line (0)" in other.words()
    assert post(viewer, proposal, action="comment", parent="999999", body="x").status_code == 404


def test_after_the_window_only_leads_answer(clock: Clock) -> None:
    crew = make_crew()
    proposal, lines = published(crew)
    viewer = client(crew, "viewer")
    post(viewer, proposal, action="comment", line=lines["viewer"].key, body="Hm.")
    asked = ProposalComment.objects.get()
    clock.advance(days=15)
    tree = dom(viewer.get(page_url(proposal)))
    assert not tree.all("form", "comment-form") and not tree.all("form", "reply-form")
    late = post(viewer, proposal, action="comment", parent=str(asked.pk), body="late")
    assert late.status_code == 409 and "window has closed" in dom(late).find("form-error").text()
    lead = client(crew, "lead")
    assert dom(lead.get(page_url(proposal))).has(f"reply-{asked.pk}")
    assert (
        post(lead, proposal, action="comment", parent=str(asked.pk), body="Yes.").status_code == 302
    )


# ----------------------------------------------------------------------------- acceptance


def test_accept_binds_to_the_hash_and_goes_stale_after_an_edit(clock: Clock) -> None:
    crew = make_crew()
    proposal, lines = published(crew)
    viewer = client(crew, "viewer")
    seen = dom(viewer.get(page_url(proposal)))
    digest = seen.find("accept").all("input")[-1].attrs["value"]
    assert digest == current_hash(proposal)
    assert "have not accepted" in seen.find("my-acceptance").text()
    accepted = post(viewer, proposal, action="accept", hash=digest)
    assert accepted.status_code == 302 and accepted["Location"].endswith("#acceptances")
    tree = dom(viewer.get(page_url(proposal)))
    mine = [
        li
        for li in tree.all("li", "acceptance")
        if li.attrs["data-user"] == crew.users["viewer"].username
    ]
    assert len(mine) == 1 and mine[0].attrs["data-stale"] == "false"
    assert "current version" in mine[0].words()
    assert tree.find("my-acceptance").text() == "You accepted this version."
    assert not [b for b in tree.find("accept").all("button")]

    clock.advance(hours=1)
    lead = client(crew, "lead")
    key = lines["editor"].key
    assert (
        post(
            lead,
            proposal,
            action="line-edit",
            line=key,
            share="30",
            role="writer",
            reasoning="more",
        ).status_code
        == 302
    )
    tree = dom(viewer.get(page_url(proposal)))
    (li,) = tree.all("li", "acceptance")
    assert li.attrs["data-stale"] == "true" and "stale: the proposal changed since" in li.words()
    assert "Your acceptance is stale" in tree.find("my-acceptance").text()
    # Accepting with the hash of the page read before the edit is refused.
    old = post(viewer, proposal, action="accept", hash=digest)
    assert (
        old.status_code == 409 and "changed after you opened it" in dom(old).find("accept").words()
    )
    fresh = dom(viewer.get(page_url(proposal))).find("accept").all("input")[-1].attrs["value"]
    assert fresh != digest
    assert post(viewer, proposal, action="accept", hash=fresh).status_code == 302
    assert ProposalAcceptance.objects.get(user=crew.users["viewer"]).proposal_hash == fresh


# ----------------------------------------------------------------------------- countdown


def test_countdown_carries_the_deadline_and_the_servers_clock(clock: Clock) -> None:
    crew = make_crew()
    proposal, _ = standard(crew)
    assert not dom(client(crew, "lead").get(page_url(proposal))).has("countdown")  # a draft
    proposal_publish(proposal=proposal, user=crew.users["lead"])
    proposal.refresh_from_db()
    assert proposal.closes_at is not None
    clock.advance(days=3, seconds=1.5)
    box = dom(client(crew, "viewer").get(page_url(proposal))).find("countdown")
    assert box.attrs["data-deadline"] == "2030-01-15T12:00:00.000+00:00"
    assert box.attrs["data-now"] == "2030-01-04T12:00:01.500+00:00"
    assert box.attrs["data-state"] == "open"
    (time,) = box.all("time")
    assert time.attrs["datetime"] == box.attrs["data-deadline"]
    assert "15 January 2030, 12:00" in time.text()  # readable without the script
    assert "Comments are open until" in box.words()
    clock.advance(days=11)
    box = dom(client(crew, "viewer").get(page_url(proposal))).find("countdown")
    assert box.attrs["data-state"] == "closed"
    assert "Window closed" in box.words()


def test_page_loads_its_own_small_bundle(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    crew = make_crew()
    proposal, _ = published(crew)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "src/main.ts": {"file": "troupe/room-1.js", "isEntry": True},
                "src/proposal.ts": {"file": "troupe/proposal-2.js", "isEntry": True},
            }
        )
    )
    monkeypatch.setattr(bundles, "MANIFEST", manifest)
    body = client(crew, "viewer").get(page_url(proposal)).content.decode()
    assert re.findall(r'<script[^>]*src="([^"]+)"', body) == ["/static/troupe/proposal-2.js"]
    monkeypatch.setattr(bundles, "MANIFEST", tmp_path / "missing.json")
    body = client(crew, "viewer").get(page_url(proposal)).content.decode()
    assert "<script" not in body and "data-deadline" in body


# ----------------------------------------------------------------------------- escaping


def test_everything_users_write_is_escaped(clock: Clock) -> None:
    crew = make_crew()
    payload = " ".join(PAYLOADS)
    for who in ("lead", "viewer"):
        user: User = crew.users[who]
        user.first_name, user.last_name = PAYLOADS
        user.save(update_fields=["first_name", "last_name"])
    crew.project.title = payload
    crew.project.save(update_fields=["title"])
    proposal = proposal_create(
        project=crew.project,
        user=crew.users["lead"],
        production=crew.snapshot,
        title=payload,
        currency="EUR",
        revenue=Decimal("10"),
        costs=Decimal("0"),
        pools=[PoolSpec(payload[:60], amount_minor=100)],
    )
    line(crew, proposal, "viewer", 5_000, role=payload[:100], reasoning=payload)
    line(crew, proposal, None, 5_000, role="x", reasoning="y")
    ProposalLine.objects.filter(proposal=proposal, contributor=None).update(held_name=payload)
    line(crew, proposal, "lead", 10_000, pool=payload[:60], reasoning=payload)
    proposal_publish(proposal=proposal, user=crew.users["lead"])
    viewer = client(crew, "viewer")
    key = proposal.lines.get(contributor=crew.users["viewer"]).key
    post(viewer, proposal, action="comment", line=key, body=payload)
    asked = ProposalComment.objects.get()
    post(client(crew, "lead"), proposal, action="comment", parent=str(asked.pk), body=payload)
    post(viewer, proposal, action="accept", hash=current_hash(proposal) or "")
    bad = post(viewer, proposal, action="comment", line=key, body=" ")  # error page, echoes input
    for response in (viewer.get(page_url(proposal)), bad):
        body = response.content.decode()
        assert "<img src=x" not in body and "<script>window" not in body
        assert body.count("&lt;img src=x onerror=window.__xss=1&gt;") >= 8
        tree = dom(response)
        assert not tree.all("img")
        assert all(s.attrs.get("src") for s in tree.all("script"))  # no inline script
    tree = dom(viewer.get(page_url(proposal)))
    assert tree.find("proposal-title").words().startswith(payload)
    assert payload in tree.find(f"comment-{asked.pk}").words()
