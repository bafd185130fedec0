"""JSON API of payment-split proposals (mounted on ``workspace.api``; tag ``proposals``).

The page that shows one (``/p/<slug>/proposals/<id>``) is ``workspace.pages.proposal``.

Same conventions as the rest of the API: ``{"error": ...}`` with 401 (signed out),
403 (role too low), 404 (missing or invisible: drafts to non-leads, private projects to
non-members), 400 for bad input and 409 for the wrong moment (window open or closed,
unanswered comments, an invalid split).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.utils import check_csrf

from workspace.access import can_see_project, is_lead
from workspace.models import Project, Proposal, ProposalComment, ProposalLine, Record
from workspace.proposals.rules import LineSpec, PoolSpec, ProposalRefused
from workspace.proposals.selectors import (
    line_json,
    proposal_json,
    proposal_visible,
    proposals_visible,
)
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

router = Router(tags=["proposals"])


# ----------------------------------------------------------------------------- helpers


def _viewer(request: HttpRequest) -> User | AnonymousUser:
    return request.user if isinstance(request.user, User) else AnonymousUser()


def _actor(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise ProposalRefused("authentication required", 401)
    if not getattr(request, "_dont_enforce_csrf_checks", False):
        if check_csrf(request) is not None:
            raise ProposalRefused("CSRF token missing or incorrect", 403)
    return user


def _project(request: HttpRequest, slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None or not can_see_project(user=_viewer(request), project=project):
        raise ProposalRefused("no such project", 404)
    return project


def _proposal(request: HttpRequest, slug: str, proposal_id: int) -> Proposal:
    project = _project(request, slug)
    found = (
        Proposal.objects.select_related("project", "production")
        .filter(project=project, pk=proposal_id)
        .first()
    )
    if found is None or not proposal_visible(_viewer(request), found):
        raise ProposalRefused("no such proposal", 404)
    return found


def _lead(user: User, proposal: Proposal) -> None:
    if not is_lead(user=user, project_id=proposal.project_id):
        raise ProposalRefused("only leads do this", 403)


def _line(proposal: Proposal, key: str) -> ProposalLine:
    line = ProposalLine.objects.filter(proposal=proposal, key=key).first()
    if line is None:
        raise ProposalRefused("no such line", 404)
    return line


def _out(request: HttpRequest, proposal: Proposal) -> dict[str, Any]:
    proposal.refresh_from_db()
    return proposal_json(proposal, _viewer(request))


# ----------------------------------------------------------------------------- schemas


class PoolIn(Schema):
    name: str
    amount_minor: int | None = None
    share_of_profit_bp: int | None = None


class ProposalIn(Schema):
    production: str
    title: str = ""
    currency: str
    revenue: Decimal
    costs: Decimal = Decimal(0)
    artists_share_bp: int = 5_000
    window_days: int | None = None
    pools: list[PoolIn] = []


class ProposalEditIn(Schema):
    title: str | None = None
    revenue: Decimal | None = None
    costs: Decimal | None = None
    artists_share_bp: int | None = None
    window_days: int | None = None


class LineIn(Schema):
    contributor: str | None = None
    held_name: str = ""
    records: list[str] = []
    role: str = ""
    share_bp: int
    reasoning: str = ""
    pool: str = "artists"


class CommentIn(Schema):
    body: str
    line: str | None = None
    parent: int | None = None


def _spec(proposal: Proposal, body: LineIn) -> LineSpec:
    contributor = None
    if body.contributor:
        contributor = User.objects.filter(username=body.contributor).first()
        if contributor is None:
            raise ProposalRefused(f"no such user {body.contributor}")
    records = []
    for rid in body.records:
        record = Record.objects.filter(rid=rid).first()
        if record is None:
            raise ProposalRefused(f"no such record {rid}")
        records.append(record)
    return LineSpec(
        contributor=contributor,
        held_name=body.held_name,
        role=body.role,
        share_bp=body.share_bp,
        reasoning=body.reasoning,
        records=tuple(records),
        pool=body.pool,
    )


# ----------------------------------------------------------------------------- endpoints


@router.get("/projects/{project}/proposals", response=list[dict[str, Any]])
def list_proposals(request: HttpRequest, project: str) -> list[dict[str, Any]]:
    """The project's proposals you may see (drafts only for leads)."""
    found = _project(request, project)
    return [
        {
            "id": p.pk,
            "title": p.title,
            "state": p.state,
            "production": p.production.rid,
            "deadline": p.closes_at.isoformat() if p.closes_at else None,
        }
        for p in proposals_visible(_viewer(request), found).select_related("production")
    ]


@router.post("/projects/{project}/proposals", response={201: dict[str, Any]})
def create_proposal(request: HttpRequest, project: str, body: ProposalIn) -> Status[dict[str, Any]]:
    """Draft a proposal for a production record of the project (leads)."""
    user = _actor(request)
    found = _project(request, project)
    production = Record.objects.filter(rid=body.production, project=found).first()
    if production is None:
        raise ProposalRefused("the production must be a record of this project")
    proposal = proposal_create(
        project=found,
        user=user,
        production=production,
        title=body.title,
        currency=body.currency,
        revenue=body.revenue,
        costs=body.costs,
        artists_share_bp=body.artists_share_bp,
        window_days=body.window_days,
        pools=[PoolSpec(p.name, p.amount_minor, p.share_of_profit_bp) for p in body.pools],
    )
    return Status(201, _out(request, proposal))


@router.get("/projects/{project}/proposals/{proposal_id}", response=dict[str, Any])
def get_proposal(request: HttpRequest, project: str, proposal_id: int) -> dict[str, Any]:
    """A proposal: money, lines with amounts, deadline, comments, edit log, acceptances."""
    return _out(request, _proposal(request, project, proposal_id))


@router.patch("/projects/{project}/proposals/{proposal_id}", response=dict[str, Any])
def edit_proposal(
    request: HttpRequest, project: str, proposal_id: int, body: ProposalEditIn
) -> dict[str, Any]:
    """Change title or money (leads; draft or window); the window only in a draft."""
    user = _actor(request)
    proposal = _proposal(request, project, proposal_id)
    proposal_settings_edit(
        proposal=proposal,
        user=user,
        title=body.title,
        revenue=body.revenue,
        costs=body.costs,
        artists_share_bp=body.artists_share_bp,
        window_days=body.window_days,
    )
    return _out(request, proposal)


@router.post("/projects/{project}/proposals/{proposal_id}/lines", response={201: dict[str, Any]})
def add_line(
    request: HttpRequest, project: str, proposal_id: int, body: LineIn
) -> Status[dict[str, Any]]:
    """Add a line (leads; draft or window)."""
    user = _actor(request)
    proposal = _proposal(request, project, proposal_id)
    line = proposal_line_add(proposal=proposal, user=user, spec=_spec(proposal, body))
    return Status(201, line_json(line))


@router.put("/projects/{project}/proposals/{proposal_id}/lines/{key}", response=dict[str, Any])
def edit_line(
    request: HttpRequest, project: str, proposal_id: int, key: str, body: LineIn
) -> dict[str, Any]:
    """Replace a line (leads; draft or window); logged with before and after."""
    user = _actor(request)
    proposal = _proposal(request, project, proposal_id)
    _lead(user, proposal)
    line = proposal_line_edit(
        proposal=proposal, user=user, line=_line(proposal, key), spec=_spec(proposal, body)
    )
    return line_json(line)


@router.delete("/projects/{project}/proposals/{proposal_id}/lines/{key}", response=dict[str, Any])
def delete_line(request: HttpRequest, project: str, proposal_id: int, key: str) -> dict[str, Any]:
    """Remove a line (leads; draft or window); logged."""
    user = _actor(request)
    proposal = _proposal(request, project, proposal_id)
    _lead(user, proposal)
    proposal_line_delete(proposal=proposal, user=user, line=_line(proposal, key))
    return {"deleted": key}


@router.post("/projects/{project}/proposals/{proposal_id}/prefill", response=dict[str, Any])
def prefill_proposal(request: HttpRequest, project: str, proposal_id: int) -> dict[str, Any]:
    """Replace a draft's lines with the credit of the production and the records it cites."""
    user = _actor(request)
    proposal = _proposal(request, project, proposal_id)
    proposal_prefill(proposal=proposal, user=user)
    return _out(request, proposal)


@router.post("/projects/{project}/proposals/{proposal_id}/publish", response=dict[str, Any])
def publish_proposal(request: HttpRequest, project: str, proposal_id: int) -> dict[str, Any]:
    """Open the comment window and notify everyone included (leads)."""
    user = _actor(request)
    proposal = _proposal(request, project, proposal_id)
    proposal_publish(proposal=proposal, user=user)
    return _out(request, proposal)


@router.post("/projects/{project}/proposals/{proposal_id}/comments", response={201: dict[str, Any]})
def comment_proposal(
    request: HttpRequest, project: str, proposal_id: int, body: CommentIn
) -> Status[dict[str, Any]]:
    """Comment on a line, or reply to a comment (``parent``); leads' replies answer it."""
    user = _actor(request)
    proposal = _proposal(request, project, proposal_id)
    line = _line(proposal, body.line) if body.line else None
    parent = None
    if body.parent is not None:
        parent = ProposalComment.objects.filter(proposal=proposal, pk=body.parent).first()
        if parent is None:
            raise ProposalRefused("no such comment", 404)
    found = proposal_comment(proposal=proposal, user=user, body=body.body, line=line, parent=parent)
    return Status(
        201,
        {
            "id": found.pk,
            "line": found.line_key or None,
            "parent": found.parent_id,
            "by_lead": found.by_lead,
            "body": found.body,
        },
    )


@router.post("/projects/{project}/proposals/{proposal_id}/accept", response=dict[str, Any])
def accept_proposal(request: HttpRequest, project: str, proposal_id: int) -> dict[str, Any]:
    """Accept the proposal as it is now (contributors with a line); binds to its hash."""
    user = _actor(request)
    proposal = _proposal(request, project, proposal_id)
    acceptance = proposal_accept(proposal=proposal, user=user)
    return {"hash": acceptance.proposal_hash, "accepted_at": acceptance.accepted_at.isoformat()}


@router.post("/projects/{project}/proposals/{proposal_id}/finalise", response=dict[str, Any])
def finalise_proposal(request: HttpRequest, project: str, proposal_id: int) -> dict[str, Any]:
    """Freeze, hash and compute payouts (leads; window closed, every comment answered)."""
    user = _actor(request)
    proposal = _proposal(request, project, proposal_id)
    proposal_finalise(proposal=proposal, user=user)
    return _out(request, proposal)
