"""Payment-split proposals: lifecycle, window, edit log, stale acceptances, exact payouts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.workspace.test_records import Api
from tests.workspace.test_snapshots import Writer
from workspace import events
from workspace.documents.services import document_create
from workspace.models import (
    DocumentKind,
    Notification,
    Proposal,
    ProposalAcceptance,
    ProposalEdit,
    ProposalLine,
    ProposalNotice,
    ProposalState,
    Record,
    RecordKind,
    Role,
    Visibility,
)
from workspace.projects.services import membership_set, project_create, token_issue
from workspace.proposals import clock as proposal_clock
from workspace.proposals import payouts
from workspace.proposals.rules import (
    LineSpec,
    PoolSpec,
    ProposalRefused,
    computed_amounts,
    current_hash,
    money_of,
    pools_of,
    problems,
    weights_to_bp,
)
from workspace.proposals.selectors import line_json, proposal_json, unanswered
from workspace.proposals.services import (
    proposal_accept,
    proposal_comment,
    proposal_create,
    proposal_finalise,
    proposal_line_add,
    proposal_line_delete,
    proposal_line_edit,
    proposal_prefill,
    proposal_publish,
    proposal_settings_edit,
)
from workspace.records.rules import text_content
from workspace.records.services import record_create, snapshot_create

pytestmark = [pytest.mark.django_db]


class Clock:
    """The proposals' clock, moved by hand."""

    def __init__(self) -> None:
        self.at = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.get_current_timezone())

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    found = Clock()
    monkeypatch.setattr(proposal_clock, "now", found)
    return found


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Channel-layer messages actually sent (only after commit)."""
    out: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "_send", lambda group, message: out.append((group, message)))
    return out


@dataclass
class Crew:
    project: Any
    users: dict[str, Any]
    apis: dict[str, Api]
    snapshot: Record
    cited: Record

    @property
    def base(self) -> str:
        return f"/api/projects/{self.project.slug}/proposals"


def make_crew(visibility: Visibility = Visibility.PRIVATE) -> Crew:
    model = get_user_model()
    users = {
        name: model.objects.create_user(username=f"{name}-{uuid.uuid4().hex[:6]}")
        for name in ["lead", "editor", "viewer", "outsider"]
    }
    project = project_create(
        slug=f"p-{uuid.uuid4().hex[:8]}",
        title="P",
        created_by=users["lead"],
        visibility=visibility,
    )
    membership_set(project=project, user=users["editor"], role=Role.EDITOR)
    membership_set(project=project, user=users["viewer"], role=Role.VIEWER)
    script = document_create(
        project=project, slug="script", title="Script", kind=DocumentKind.SCRIPT
    )
    Writer(users["lead"], script, 11).insert(0, "INT. HOUSE - DAY\n")  # 17 characters
    Writer(users["editor"], script, 12).insert(17, "Rose hums.\n")  # 11 characters
    cited = record_create(
        user=users["viewer"],
        kind=RecordKind.TEXT,
        title="Lullaby lyrics",
        content=text_content("hush"),
        text="hush",
        project=project,
    )
    snap = snapshot_create(document=script, user=users["lead"], resources=[cited])
    apis = {name: Api(token_issue(user=user)) for name, user in users.items()}
    apis["anonymous"] = Api(None)
    return Crew(project, users, apis, snap, cited)


def draft(crew: Crew, **extra: Any) -> Proposal:
    fields: dict[str, Any] = {
        "title": "Lullaby short",
        "currency": "EUR",
        "revenue": Decimal("1000.00"),
        "costs": Decimal("100.01"),
        **extra,
    }
    return proposal_create(
        project=crew.project, user=crew.users["lead"], production=crew.snapshot, **fields
    )


def line(crew: Crew, proposal: Proposal, who: str | None, bp: int, **extra: Any) -> ProposalLine:
    spec = LineSpec(
        contributor=crew.users[who] if who else None,
        held_name="" if who else "Rose Alvarez",
        role=extra.pop("role", "writer"),
        share_bp=bp,
        reasoning=extra.pop("reasoning", f"{who or 'Rose'} did things"),
        **extra,
    )
    return proposal_line_add(proposal=proposal, user=crew.users["lead"], spec=spec)


def standard(crew: Crew) -> tuple[Proposal, dict[str, ProposalLine]]:
    """A draft with three contributors and a held share for a person without an account."""
    proposal = draft(crew)
    lines = {
        "lead": line(crew, proposal, "lead", 4_000, records=(crew.snapshot,)),
        "editor": line(crew, proposal, "editor", 3_000, records=(crew.snapshot,)),
        "viewer": line(crew, proposal, "viewer", 2_000, role="composer"),
        "held": line(crew, proposal, None, 1_000, role="editors' influence"),
    }
    return proposal, lines


def notified(proposal: Proposal, event: str) -> set[int]:
    return set(
        ProposalNotice.objects.filter(proposal=proposal, event=event).values_list(
            "user_id", flat=True
        )
    )


def room_events(crew: Crew, sent: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The ``project.event`` types the project room received."""
    group = f"troupe.project.{crew.project.pk}"
    out = []
    for name, message in sent:
        if name == group:
            assert message["type"] == "project.event"
            assert message["project_id"] == crew.project.pk
            out.append(message["event"]["type"])
    return out


def ids(crew: Crew, *names: str) -> set[int]:
    return {crew.users[name].pk for name in names}


# ----------------------------------------------------------------------------- lifecycle


def test_full_lifecycle_three_contributors_and_a_held_share(
    clock: Clock, sent: list[tuple[str, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    crew = make_crew()
    lead, base = crew.apis["lead"], crew.base
    with django_capture_on_commit_callbacks(execute=True):
        created = lead.post(
            base,
            {
                "production": crew.snapshot.rid,
                "title": "Lullaby short",
                "currency": "EUR",
                "revenue": "1000.00",
                "costs": "100.01",
            },
        )
        assert created.status_code == 201, created.content
        pid = created.json()["id"]
        assert created.json()["artists_share_bp"] == 5_000
        assert created.json()["window_days"] == 14
        url = f"{base}/{pid}"
        for who, bp, role in [("lead", 4000, "writer"), ("editor", 3000, "writer")]:
            got = lead.post(
                f"{url}/lines",
                {
                    "contributor": crew.users[who].username,
                    "records": [crew.snapshot.rid],
                    "role": role,
                    "share_bp": bp,
                    "reasoning": "wrote it",
                },
            )
            assert got.status_code == 201, got.content
        composer = lead.post(
            f"{url}/lines",
            {"contributor": crew.users["viewer"].username, "role": "composer", "share_bp": 2000},
        )
        held = lead.post(
            f"{url}/lines",
            {"held_name": "Rose Alvarez", "role": "editors' influence", "share_bp": 1000},
        )
        assert held.status_code == 201 and held.json()["held"] is True
        assert sent == []  # a draft is never broadcast
        published = lead.post(f"{url}/publish")
        assert published.status_code == 200, published.content
    body = published.json()
    assert body["state"] == "published"
    assert body["deadline"] == (clock.at + timedelta(days=14)).isoformat()
    # profit 89,999 cents; the artists' half rounds down to 44,999, split to the cent
    assert body["profit_minor"] == 89_999
    amounts = {ln["key"]: ln["amount_minor"] for ln in body["lines"]}
    assert sum(amounts.values()) == 44_999
    proposal = Proposal.objects.get(pk=pid)
    assert notified(proposal, "proposal.published") == ids(crew, "editor", "viewer")
    assert set(
        Notification.objects.filter(event="proposal.published").values_list("user_id", flat=True)
    ) == ids(crew, "editor", "viewer")
    assert room_events(crew, sent) == ["proposal.published"]
    delivered = [m for g, m in sent if g == f"troupe.user.{crew.users['viewer'].pk}"]
    assert delivered[0]["notification"]["event"] == "proposal.published"

    # the composer asks, the lead answers; both accept the published version
    with django_capture_on_commit_callbacks(execute=True):
        asked = crew.apis["viewer"].post(
            f"{url}/comments", {"line": composer.json()["key"], "body": "Why only 20%?"}
        )
        assert asked.status_code == 201, asked.content
        answer = lead.post(
            f"{url}/comments", {"parent": asked.json()["id"], "body": "Music came late."}
        )
        assert answer.status_code == 201 and answer.json()["by_lead"] is True
        assert answer.json()["line"] == composer.json()["key"]
        for who in ["editor", "viewer"]:
            assert crew.apis[who].post(f"{url}/accept").status_code == 200
    assert lead.get(url).json()["unanswered"] == 0
    assert notified(proposal, "proposal.commented") == ids(crew, "lead", "viewer")

    # a lead edit during the window: logged, the acceptances go stale
    clock.advance(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        edited = lead.send(
            "PUT",
            f"{url}/lines/{held.json()['key']}",
            {
                "held_name": "Rose Alvarez",
                "role": "editors' influence",
                "share_bp": 1000,
                "reasoning": "her notes shaped the edit",
            },
        )
        assert edited.status_code == 200, edited.content
    view = lead.get(url).json()
    assert all(a["stale"] for a in view["acceptances"])
    assert crew.apis["viewer"].post(f"{url}/accept").status_code == 200
    view = lead.get(url).json()
    stale = {a["user"]: a["stale"] for a in view["acceptances"]}
    assert stale == {crew.users["editor"].username: True, crew.users["viewer"].username: False}

    # finalise: refused before the deadline, then frozen, hashed and paid to the cent
    assert lead.post(f"{url}/finalise").status_code == 409
    clock.advance(days=11)
    assert crew.apis["editor"].post(f"{url}/finalise").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        final = lead.post(f"{url}/finalise")
    assert final.status_code == 200, final.content
    out = final.json()
    assert out["state"] == "final"
    proposal.refresh_from_db()
    assert out["hash"] == proposal.final_hash == payouts.proposal_hash(proposal.final_payload or {})
    stored = dict(ProposalLine.objects.filter(proposal=proposal).values_list("key", "amount_minor"))
    assert sum(amount or 0 for amount in stored.values()) == 44_999
    assert stored == {ln["key"]: ln["amount_minor"] for ln in out["lines"]}
    assert stored[held.json()["key"]] == 4_500  # 4,499.9: the largest remainder gets a crumb
    assert notified(proposal, "proposal.finalised") == ids(crew, "editor", "viewer")
    assert room_events(crew, sent) == [
        "proposal.published",
        "proposal.commented",
        "proposal.commented",
        "proposal.accepted",
        "proposal.accepted",
        "proposal.edited",
        "proposal.finalised",
    ]
    # frozen: no more edits or comments; acceptance of the final version still binds
    assert lead.post(f"{url}/lines", {"held_name": "X", "share_bp": 0}).status_code == 409
    assert crew.apis["viewer"].post(f"{url}/comments", {"body": "late"}).status_code == 409
    assert crew.apis["editor"].post(f"{url}/accept").json()["hash"] == proposal.final_hash


# ----------------------------------------------------------------------------- window


def test_window_enforced_by_the_clock_and_unanswered_comments(clock: Clock, settings: Any) -> None:
    crew = make_crew()
    settings.TROUPE = {**settings.TROUPE, "PROPOSAL_MIN_WINDOW_DAYS": 20}
    with pytest.raises(ProposalRefused, match="at least 20 days"):
        draft(crew, window_days=14)
    proposal = draft(crew, window_days=21)
    assert proposal.window_days == 21
    settings.TROUPE = {**settings.TROUPE, "PROPOSAL_MIN_WINDOW_DAYS": 14}
    proposal, lines = standard(crew)
    lead, viewer = crew.users["lead"], crew.users["viewer"]
    with pytest.raises(ProposalRefused, match="only a published"):
        proposal_finalise(proposal=proposal, user=lead)
    proposal_publish(proposal=proposal, user=lead)
    proposal.refresh_from_db()
    assert proposal.closes_at == clock.at + timedelta(days=14)

    question = proposal_comment(
        proposal=proposal, user=viewer, body="And Rose?", line=lines["held"]
    )
    clock.advance(days=14, seconds=-1)
    with pytest.raises(ProposalRefused, match="window is open") as refused:
        proposal_finalise(proposal=proposal, user=lead)
    assert refused.value.status == 409
    clock.advance(seconds=1)  # the deadline itself: the window is closed
    with pytest.raises(ProposalRefused, match="window has closed"):
        proposal_comment(proposal=proposal, user=viewer, body="one more", line=lines["held"])
    with pytest.raises(ProposalRefused, match="window has closed"):
        proposal_line_edit(
            proposal=proposal,
            user=lead,
            line=lines["held"],
            spec=LineSpec(None, "Rose Alvarez", "x", 1_000),
        )
    with pytest.raises(ProposalRefused, match="1 comment"):
        proposal_finalise(proposal=proposal, user=lead)
    # a non-lead reply does not answer it; a lead's does, even after the window
    proposal_comment(
        proposal=proposal, user=crew.users["lead"], body="Held for her.", parent=question
    )
    final = proposal_finalise(proposal=proposal, user=lead)
    assert final.state == ProposalState.FINAL
    assert final.finalised_at == clock.at


def test_a_reply_by_a_non_lead_does_not_answer(clock: Clock) -> None:
    crew = make_crew()
    proposal, lines = standard(crew)
    proposal_publish(proposal=proposal, user=crew.users["lead"])
    first = proposal_comment(
        proposal=proposal, user=crew.users["viewer"], body="?", line=lines["viewer"]
    )
    plus = proposal_comment(proposal=proposal, user=crew.users["editor"], body="+1", parent=first)
    assert len(unanswered(proposal)) == 2
    proposal_comment(proposal=proposal, user=crew.users["lead"], body="ok", parent=first)
    assert [c.pk for c in unanswered(proposal)] == [plus.pk]


# ----------------------------------------------------------------------------- edit log


def test_every_edit_is_logged_and_told_to_whose_line_changed(clock: Clock) -> None:
    crew = make_crew()
    proposal, lines = standard(crew)
    lead = crew.users["lead"]
    proposal_publish(proposal=proposal, user=lead)
    clock.advance(days=2)
    before = line_json(lines["viewer"])
    # the composer's 2,000 bp move to the editor: both lines changed, both are told
    proposal_line_edit(
        proposal=proposal,
        user=lead,
        line=lines["viewer"],
        spec=LineSpec(crew.users["viewer"], "", "composer", 1_500, "shorter score"),
    )
    proposal_line_edit(
        proposal=proposal,
        user=lead,
        line=lines["editor"],
        spec=LineSpec(crew.users["editor"], "", "writer", 3_500, "wrote it", (crew.snapshot,)),
    )
    log = list(ProposalEdit.objects.filter(proposal=proposal, action="edit"))
    assert [(e.actor_id, e.line_key, e.at) for e in log] == [
        (lead.pk, lines["viewer"].key, clock.at),
        (lead.pk, lines["editor"].key, clock.at),
    ]
    assert log[0].before == before
    assert log[0].after == {**before, "share_bp": 1_500, "reasoning": "shorter score"}
    assert notified(proposal, "proposal.edited") == ids(crew, "viewer", "editor")
    notices = ProposalNotice.objects.filter(proposal=proposal, event="proposal.edited")
    assert notices.filter(user=crew.users["viewer"]).count() == 1
    assert "changed your line" in notices.first().reason  # type: ignore[union-attr]

    # the held line changing tells nobody (no account); reassigning tells old and new
    proposal_line_edit(
        proposal=proposal,
        user=lead,
        line=lines["held"],
        spec=LineSpec(None, "Rose Alvarez", "editors' influence", 1_000, "notes"),
    )
    assert notices.count() == 2
    proposal_line_edit(
        proposal=proposal,
        user=lead,
        line=lines["viewer"],
        spec=LineSpec(crew.users["outsider"], "", "composer", 1_500, "it was them"),
    )
    # the outsider cannot see the private project: never told
    assert set(notices.values_list("user_id", flat=True)) == ids(crew, "viewer", "editor")
    assert notices.count() == 3
    # an edit that changes nothing is not logged
    count = ProposalEdit.objects.count()
    proposal_line_edit(
        proposal=proposal,
        user=lead,
        line=lines["held"],
        spec=LineSpec(None, "Rose Alvarez", "editors' influence", 1_000, "notes"),
    )
    assert ProposalEdit.objects.count() == count
    delete = proposal_line_delete
    delete(proposal=proposal, user=lead, line=lines["held"])
    gone = ProposalEdit.objects.filter(action="delete").get()
    assert gone.before is not None and gone.before["held_name"] == "Rose Alvarez"
    assert gone.after is None
    # the split is now 9,000 bp: nothing can be accepted or finalised until it adds up
    assert current_hash(proposal) is None
    with pytest.raises(ProposalRefused, match="not valid"):
        proposal_accept(proposal=proposal, user=crew.users["editor"])


def test_acceptances_go_stale_after_any_edit_and_bind_to_the_hash(clock: Clock) -> None:
    crew = make_crew()
    proposal, lines = standard(crew)
    lead = crew.users["lead"]
    with pytest.raises(ProposalRefused, match="no such proposal"):  # drafts are for leads
        proposal_accept(proposal=proposal, user=crew.users["editor"])
    proposal_publish(proposal=proposal, user=lead)
    first = current_hash(proposal)
    accepted = proposal_accept(proposal=proposal, user=crew.users["editor"])
    assert accepted.proposal_hash == first
    with pytest.raises(ProposalRefused, match="no such proposal") as refused:
        proposal_accept(proposal=proposal, user=crew.users["outsider"])
    assert refused.value.status == 404
    membership_set(project=crew.project, user=crew.users["outsider"], role=Role.VIEWER)
    with pytest.raises(ProposalRefused, match="only contributors") as refused:
        proposal_accept(proposal=proposal, user=crew.users["outsider"])
    assert refused.value.status == 403
    # changing only the credited records of a line changes the hash as well
    proposal_line_edit(
        proposal=proposal,
        user=lead,
        line=lines["viewer"],
        spec=LineSpec(
            crew.users["viewer"], "", "composer", 2_000, "viewer did things", (crew.cited,)
        ),
    )
    second = current_hash(proposal)
    assert second not in (None, first)
    shown = proposal_json(proposal, lead)["acceptances"]
    assert [(a["hash"], a["stale"]) for a in shown] == [(first, True)]
    proposal_accept(proposal=proposal, user=crew.users["editor"])
    assert ProposalAcceptance.objects.get(user=crew.users["editor"]).proposal_hash == second
    # money edits during the window also make acceptances stale and tell everyone included
    proposal = proposal_settings_edit(proposal=proposal, user=lead, revenue=Decimal("2000"))
    assert proposal_json(proposal, lead)["acceptances"][0]["stale"] is True
    assert notified(proposal, "proposal.edited") == ids(crew, "editor", "viewer")


# ----------------------------------------------------------------------------- prefill


def test_prefill_from_credit_of_the_snapshot_and_the_records_it_cites(clock: Clock) -> None:
    crew = make_crew()
    proposal = draft(crew)
    line(crew, proposal, None, 10_000)
    made = proposal_prefill(proposal=proposal, user=crew.users["lead"])
    by_user = {ln.contributor_id: ln for ln in made}
    assert set(by_user) == ids(crew, "lead", "editor", "viewer")
    assert sum(ln.share_bp for ln in made) == 10_000
    # each record counts equally: the script (17 + 11 characters) and the cited lyrics
    assert by_user[crew.users["viewer"].pk].share_bp == 5_000
    assert by_user[crew.users["lead"].pk].share_bp == 3_036  # 17/56 = 3,035.7
    assert by_user[crew.users["editor"].pk].share_bp == 1_964  # 11/56 = 1,964.3
    assert by_user[crew.users["lead"].pk].reasoning.startswith(
        "prefilled from credit: 17 characters of 28"
    )
    assert "author of “Lullaby lyrics”" in by_user[crew.users["viewer"].pk].reasoning
    assert list(by_user[crew.users["viewer"].pk].records.all()) == [crew.cited]
    assert problems(proposal) == []
    assert ProposalEdit.objects.filter(proposal=proposal, action="prefill").count() == 3
    proposal_publish(proposal=proposal, user=crew.users["lead"])
    with pytest.raises(ProposalRefused, match="only a draft"):
        proposal_prefill(proposal=proposal, user=crew.users["lead"])


def test_weights_to_bp_is_exact() -> None:
    assert weights_to_bp({"a": Fraction(1), "b": Fraction(1), "c": Fraction(1)}) == {
        "a": 3_334,
        "b": 3_333,
        "c": 3_333,
    }
    with pytest.raises(ProposalRefused):
        weights_to_bp({})


@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=12))
@hsettings(max_examples=50, deadline=None)
def test_weights_to_bp_always_totals_10000(raw: list[int]) -> None:
    shares = weights_to_bp({f"k{i}": Fraction(w) for i, w in enumerate(raw)})
    assert sum(shares.values()) == 10_000
    total = sum(raw)
    for i, w in enumerate(raw):
        assert abs(shares[f"k{i}"] - Fraction(w * 10_000, total)) < 1


# ----------------------------------------------------------------------------- pools, money


def test_fixed_pool_and_validation(clock: Clock) -> None:
    crew = make_crew()
    proposal = draft(crew, pools=[PoolSpec("budget", amount_minor=10_000)])
    line(crew, proposal, "lead", 10_000)
    with pytest.raises(ProposalRefused, match="pool 'budget' line shares total 0"):
        proposal_publish(proposal=proposal, user=crew.users["lead"])
    line(crew, proposal, "editor", 10_000, pool="budget", role="fixed budget: sound")
    proposal_publish(proposal=proposal, user=crew.users["lead"])
    amounts = computed_amounts(proposal)
    assert amounts is not None
    # profit 89,999 - fixed 10,000 = 79,999; the artists get half, rounded down
    assert sorted(amounts.values()) == [10_000, 39_999]
    with pytest.raises(ProposalRefused, match="more decimals"):
        draft(crew, costs=Decimal("0.001"))
    with pytest.raises(ProposalRefused, match="unknown currency"):
        proposal_create(
            project=crew.project,
            user=crew.users["lead"],
            production=crew.snapshot,
            title="x",
            currency="eur",
            revenue=Decimal(1),
            costs=Decimal(0),
        )
    with pytest.raises(ProposalRefused, match="only leads"):
        proposal_create(
            project=crew.project,
            user=crew.users["editor"],
            production=crew.snapshot,
            title="x",
            currency="EUR",
            revenue=Decimal(1),
            costs=Decimal(0),
        )


def test_payouts_sum_exactly_to_the_pool_through_the_service(clock: Clock) -> None:
    crew = make_crew()

    @given(
        revenue=st.decimals(min_value=0, max_value=10**9, places=2),
        costs=st.decimals(min_value=0, max_value=10**6, places=2),
        artists_bp=st.integers(0, 10_000),
        weights=st.lists(st.integers(0, 1_000), min_size=1, max_size=8).filter(
            lambda w: sum(w) > 0
        ),
    )
    @hsettings(max_examples=15, deadline=None)
    def check(revenue: Decimal, costs: Decimal, artists_bp: int, weights: list[int]) -> None:
        with transaction.atomic():
            lead = crew.users["lead"]
            proposal = draft(crew, artists_share_bp=artists_bp, revenue=revenue, costs=costs)
            shares = weights_to_bp({f"{i:02}": Fraction(w) for i, w in enumerate(weights) if w})
            for key, bp in sorted(shares.items()):
                spec = LineSpec(None, f"person {key}", "role", bp)
                proposal_line_add(proposal=proposal, user=lead, spec=spec)
            proposal_publish(proposal=proposal, user=lead)
            clock.advance(days=15)
            proposal_finalise(proposal=proposal, user=lead)
            stored = ProposalLine.objects.filter(proposal=proposal).values_list(
                "amount_minor", flat=True
            )
            pool = payouts.pool_amounts(money_of(proposal), pools_of(proposal))
            assert sum(a or 0 for a in stored) == pool["artists"]
            profit = max(revenue - costs, Decimal(0))
            assert pool["artists"] == int(profit * 100) * artists_bp // 10_000
            transaction.set_rollback(True)

    check()
