"""Reads of proposals: who sees them, who is included, their JSON."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from workspace.access import can_see_project, is_lead
from workspace.models import (
    Project,
    Proposal,
    ProposalComment,
    ProposalLine,
    ProposalState,
    Role,
)
from workspace.proposals import payouts
from workspace.proposals.rules import (
    computed_amounts,
    current_hash,
    lines_of,
    money_of,
    pools_of,
    problems,
    window_open,
)


def proposal_visible(user: User | AnonymousUser, proposal: Proposal) -> bool:
    """Drafts are for leads; published and final proposals for whoever sees the project."""
    if proposal.state == ProposalState.DRAFT:
        return is_lead(user=user, project_id=proposal.project_id)
    return can_see_project(user=user, project=proposal.project)


def proposals_visible(user: User | AnonymousUser, project: Project) -> QuerySet[Proposal]:
    """The project's proposals ``user`` may see, oldest first."""
    if not can_see_project(user=user, project=project):
        return Proposal.objects.none()
    found = Proposal.objects.filter(project=project)
    if not is_lead(user=user, project_id=project.pk):
        found = found.exclude(state=ProposalState.DRAFT)
    return found.order_by("pk")


def included_users(proposal: Proposal) -> list[User]:
    """The contributors with an account who have a line."""
    return [line.contributor for line in lines_of(proposal) if line.contributor is not None]


def project_leads(project: Project) -> list[User]:
    """The project's leads."""
    return [m.user for m in project.memberships.filter(role=Role.LEAD).select_related("user")]


def proposal_settings_json(proposal: Proposal) -> dict[str, Any]:
    """The proposal's money and window as logged and shown."""
    money = money_of(proposal)
    return {
        "title": proposal.title,
        "currency": money.currency,
        "revenue": str(money.revenue),
        "costs": str(money.costs),
        "artists_share_bp": proposal.artists_share_bp,
        "window_days": proposal.window_days,
        "pools": [
            {
                "name": p.name,
                "amount_minor": p.amount_minor,
                "share_of_profit_bp": p.share_of_profit_bp,
            }
            for p in proposal.pools.order_by("name")
        ],
    }


def line_json(line: ProposalLine) -> dict[str, Any]:
    """A line as logged (the edit log's before and after) and shown."""
    return {
        "key": line.key,
        "contributor": line.contributor.get_username() if line.contributor else None,
        "held_name": line.held_name,
        "held": line.contributor is None,
        "records": sorted(r.rid for r in line.records.all()),
        "role": line.role,
        "pool": line.pool,
        "share_bp": line.share_bp,
        "reasoning": line.reasoning,
    }


def unanswered(proposal: Proposal) -> list[ProposalComment]:
    """Comments by non-leads that no lead has replied to yet."""
    answered = set(
        ProposalComment.objects.filter(
            proposal=proposal, by_lead=True, parent__isnull=False
        ).values_list("parent_id", flat=True)
    )
    return [
        c
        for c in ProposalComment.objects.filter(proposal=proposal, by_lead=False)
        if c.pk not in answered
    ]


def proposal_json(proposal: Proposal, user: User | AnonymousUser) -> dict[str, Any]:
    """Everything a reader sees: money, lines with amounts, comments, log, acceptances."""
    lines = lines_of(proposal)
    digest = current_hash(proposal)
    amounts = computed_amounts(proposal)
    pool_amounts = (
        payouts.pool_amounts(money_of(proposal), pools_of(proposal))
        if amounts is not None
        else None
    )
    comments = list(ProposalComment.objects.filter(proposal=proposal).select_related("author"))
    waiting = {c.pk for c in unanswered(proposal)}
    lead = is_lead(user=user, project_id=proposal.project_id)
    money = money_of(proposal)
    return {
        "id": proposal.pk,
        "project": proposal.project.slug,
        "production": proposal.production.rid,
        "title": proposal.title,
        "state": proposal.state,
        "currency": money.currency,
        "revenue": str(money.revenue),
        "costs": str(money.costs),
        "profit_minor": payouts.profit_minor(money),
        "artists_share_bp": proposal.artists_share_bp,
        "pools": proposal_settings_json(proposal)["pools"],
        "pool_amounts": pool_amounts,
        "window_days": proposal.window_days,
        "published_at": proposal.published_at.isoformat() if proposal.published_at else None,
        "deadline": proposal.closes_at.isoformat() if proposal.closes_at else None,
        "window_open": window_open(proposal),
        "hash": digest,
        "problems": problems(proposal) if proposal.state != ProposalState.FINAL else [],
        "lines": [
            {
                **line_json(line),
                "amount_minor": amounts.get(line.key) if amounts is not None else None,
            }
            for line in lines
        ],
        "comments": [
            {
                "id": c.pk,
                "line": c.line_key or None,
                "parent": c.parent_id,
                "author": c.author.get_username(),
                "by_lead": c.by_lead,
                "body": c.body,
                "created_at": c.created_at.isoformat(),
                "needs_answer": c.pk in waiting,
            }
            for c in comments
        ],
        "unanswered": len(waiting),
        "acceptances": [
            {
                "user": a.user.get_username(),
                "hash": a.proposal_hash,
                "accepted_at": a.accepted_at.isoformat(),
                "stale": a.proposal_hash != digest,
            }
            for a in proposal.acceptances.select_related("user").order_by("accepted_at", "pk")
        ],
        "edits": [
            {
                "actor": e.actor.get_username(),
                "action": e.action,
                "line": e.line_key or None,
                "at": e.at.isoformat(),
                "before": e.before,
                "after": e.after,
            }
            for e in proposal.edits.select_related("actor")
        ],
        "final": {
            "hash": proposal.final_hash,
            "finalised_at": proposal.finalised_at.isoformat() if proposal.finalised_at else None,
        }
        if proposal.state == ProposalState.FINAL
        else None,
        "you": {
            "lead": lead,
            "included": user.is_authenticated
            and any(line.contributor_id == user.pk for line in lines),
        },
    }
