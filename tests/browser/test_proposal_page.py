"""The proposal page in Chromium: countdown, a comment answered, acceptance going stale."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.browser.conftest import ARTIFACTS, BrowserRun
from tests.support.factories import ProjectRoom
from tests.workspace.test_snapshots import Writer
from workspace.models import Proposal, ProposalAcceptance, ProposalComment
from workspace.proposals.rules import LineSpec, current_hash
from workspace.proposals.services import proposal_create, proposal_line_add, proposal_publish
from workspace.records.services import snapshot_create

pytestmark = [pytest.mark.live, pytest.mark.slow]

QUESTION = "Why is the composer at 20 %?"
ANSWER = "The score came late; we agreed on 20 % in March."


def _user(room: ProjectRoom, name: str) -> User:
    user = room.members[name].user
    assert isinstance(user, User)
    return user


def published_proposal(room: ProjectRoom) -> Proposal:
    """A published proposal of the room's script with a line for lead, editor and viewer."""
    lead = _user(room, "lead")
    Writer(lead, room.script, 901).insert(0, "INT. HOUSE - DAY\n\nRose hums.\n")
    snap = snapshot_create(document=room.script, user=lead, title="Lullaby")
    proposal = proposal_create(
        project=room.project,
        user=lead,
        production=snap,
        title="Lullaby payments",
        currency="EUR",
        revenue=Decimal("1000.00"),
        costs=Decimal("100.00"),
    )
    shares = [
        ("lead", 5_000, "director"),
        ("editor", 3_000, "writer"),
        ("viewer", 2_000, "composer"),
    ]
    for name, bp, role in shares:
        spec = LineSpec(
            contributor=_user(room, name),
            held_name="",
            role=role,
            share_bp=bp,
            reasoning=f"{role} of the short",
        )
        proposal_line_add(proposal=proposal, user=lead, spec=spec)
    return proposal_publish(proposal=proposal, user=lead)


def test_countdown_comment_answer_accept_and_stale(browser: BrowserRun) -> None:
    room = browser.room
    proposal = published_proposal(room)
    lines = {ln.contributor_id: ln.key for ln in proposal.lines.all()}
    viewer, editor = _user(room, "viewer"), _user(room, "editor")

    def act(event: str) -> None:
        assert event == "short-window"
        Proposal.objects.filter(pk=proposal.pk).update(
            closes_at=timezone.now() + timedelta(seconds=3)
        )

    (ARTIFACTS / "proposal-page.png").unlink(missing_ok=True)
    result = browser(
        "proposal",
        on_event=act,
        proposalPath=f"/p/{room.project.slug}/proposals/{proposal.pk}",
        viewerLine=lines[viewer.pk],
        editorLine=lines[editor.pk],
        question=QUESTION,
        answer=ANSWER,
    )
    # The countdown ticks down from 14 days.
    assert result["countdownState"] == "open"
    assert result["countdownFirst"].startswith("13 days 23:5"), result["countdownFirst"]
    assert result["countdownNext"] != result["countdownFirst"]
    assert result["countdownNext"].endswith(" left")
    # The question sits in the line's thread; the lead's answer right under it.
    assert result["questionInLine"] == {"text": QUESTION, "needsAnswer": "true"}
    assert result["answerLabel"] == "Answer"
    assert result["thread"] == {
        "answerUnderQuestion": True,
        "answerText": ANSWER,
        "answerBadge": "lead's answer",
        "questionNeedsAnswer": "false",
        "answerBox": True,
    }
    question = ProposalComment.objects.get(body=QUESTION)
    assert question.line is not None and question.line.key == lines[viewer.pk]
    assert ProposalComment.objects.get(parent=question).body == ANSWER
    # Pages already open hear of it on the room socket.
    lead_name, viewer_name = (browser.users()[n]["username"] for n in ("lead", "viewer"))
    assert result["liveBeforeReload"] == {
        "hidden": False,
        "text": f"{lead_name} commented. Reload to see it",
    }
    assert result["liveAccepted"]["text"] == f"{viewer_name} accepted it. Reload to see it"
    # Accepted and marked; stale after the lead's edit.
    assert result["accepted"]["stale"] == "false"
    assert "current version" in result["accepted"]["text"]
    assert result["accepted"]["mine"] == "You accepted this version."
    assert result["accepted"]["button"] == 0
    assert result["afterEdit"]["stale"] == "true"
    assert "stale: the proposal changed since" in result["afterEdit"]["text"]
    assert result["afterEdit"]["mine"].startswith("Your acceptance is stale")
    assert result["afterEdit"]["button"] == 1
    assert "reasoning: writer of the short → Rewrote the second act." in result["logText"]
    acceptance = ProposalAcceptance.objects.get(user=viewer)
    assert acceptance.proposal_hash != current_hash(proposal)
    # The countdown reaches zero: closed, comment forms off, finalise on (for the lead).
    assert result["beforeClose"]["state"] == "open"
    assert result["beforeClose"]["left"].startswith("00:00:0")
    assert result["beforeClose"]["finaliseDisabled"] is True
    for side in ("closedViewer", "closedLead"):
        closed = result[side]
        assert closed["left"] == "Window closed"
        assert closed["status"] == "The comment window has closed."
        assert closed["closingForms"] > 0 and closed["openForms"] == 0, side
    assert result["closedViewer"]["finaliseDisabled"] is None
    assert result["closedLead"]["finaliseDisabled"] is False
    assert result["serverAfterClose"] == {
        "state": "closed",
        "left": "Window closed",
        "commentForms": 0,
    }
    assert result["phoneOverflow"] <= 0, "the proposal page scrolls sideways on a phone"
    assert result["injection"] == {"xss": "undefined", "images": 0, "handlers": 0, "scripts": 0}
    assert result["errors"] == [] and result["dialogs"] == []
    assert (ARTIFACTS / "proposal-page.png").stat().st_size > 10_000
