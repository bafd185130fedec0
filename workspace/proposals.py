"""Payment-split proposals: draft -> published (comment window) -> final, exact to the cent.

A lead drafts a proposal for a production (a record, usually a snapshot): money (revenue,
costs, currency), the artists' share of profit (5,000 bp by default), optional separate
pools, and lines (a contributor or a named person whose money is held, the records the
line credits, a role category, a share in basis points and the reasoning). Publishing
notifies everyone included and opens the comment window (at least
``TROUPE_PROPOSAL_MIN_WINDOW_DAYS`` days, 14 by default). Anyone who can see the project
comments on any line, threaded; leads answer and may edit lines until the window closes,
each edit logged with the JSON before and after and notified to those whose line changed.
A lead finalises only after the deadline and once every comment has a lead's answer: the
proposal is frozen, hashed with :func:`workspace.payouts.proposal_hash` and each line's
payout stored in minor units. Included contributors accept a version: an acceptance binds
to the hash of that moment and shows as stale once the proposal changes.

All money arithmetic is :mod:`workspace.payouts`; the clock is :func:`now` (tests patch it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from workspace import notifications, payouts
from workspace.events import emit_on_commit
from workspace.groups import project_presence_group
from workspace.models import (
    Citation,
    Project,
    Proposal,
    ProposalAcceptance,
    ProposalComment,
    ProposalEdit,
    ProposalLine,
    ProposalNotice,
    ProposalPool,
    ProposalState,
    Record,
    RecordAuthor,
    Role,
    Snapshot,
    Visibility,
)
from workspace.selectors import project_role


def now() -> datetime:
    """The proposals' clock: every deadline check goes through here (tests patch it)."""
    return timezone.now()


def min_window_days() -> int:
    """The shortest comment window (``TROUPE_PROPOSAL_MIN_WINDOW_DAYS``, 14 by default)."""
    return max(int(settings.TROUPE["PROPOSAL_MIN_WINDOW_DAYS"]), 1)


class ProposalRefused(Exception):
    """A refused proposal operation; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------- access


def can_see_project(user: User | AnonymousUser, project: Project) -> bool:
    """Public projects are seen by everyone signed in or not; private ones by members."""
    if project.visibility == Visibility.PUBLIC:
        return True
    return project_role(user=user, project_id=project.pk) is not None


def is_lead(user: User | AnonymousUser, project: Project) -> bool:
    """Whether ``user`` leads ``project``."""
    return project_role(user=user, project_id=project.pk) == Role.LEAD


def proposal_visible(user: User | AnonymousUser, proposal: Proposal) -> bool:
    """Drafts are for leads; published and final proposals for whoever sees the project."""
    if proposal.state == ProposalState.DRAFT:
        return is_lead(user, proposal.project)
    return can_see_project(user, proposal.project)


def proposals_visible(user: User | AnonymousUser, project: Project) -> QuerySet[Proposal]:
    """The project's proposals ``user`` may see, oldest first."""
    if not can_see_project(user, project):
        return Proposal.objects.none()
    found = Proposal.objects.filter(project=project)
    if not is_lead(user, project):
        found = found.exclude(state=ProposalState.DRAFT)
    return found.order_by("pk")


# ----------------------------------------------------------------------------- money


def _check_money(currency: str, revenue: Decimal, costs: Decimal) -> None:
    try:
        places = payouts.minor_units(currency)
        payouts.Money(currency, revenue, costs)
    except (ValueError, TypeError) as exc:
        raise ProposalRefused(str(exc)) from exc
    for name, value in (("revenue", revenue), ("costs", costs)):
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise ProposalRefused(f"{name} has more decimals than {currency} has ({places})")
        if value >= Decimal(10) ** 14:
            raise ProposalRefused(f"{name} is too large")


def money_of(proposal: Proposal) -> payouts.Money:
    """The proposal's money, quantized to its currency's minor unit (one spelling per amount)."""
    quantum = Decimal(1).scaleb(-payouts.minor_units(proposal.currency))
    return payouts.Money(
        proposal.currency,
        Decimal(proposal.revenue).quantize(quantum),
        Decimal(proposal.costs).quantize(quantum),
    )


def pools_of(proposal: Proposal) -> list[payouts.Pool]:
    """The artists' pool (its share of profit) and the proposal's separate pools."""
    pools = [payouts.Pool(payouts.ARTISTS_POOL, share_of_profit_bp=proposal.artists_share_bp)]
    for pool in proposal.pools.order_by("name"):
        pools.append(payouts.Pool(pool.name, pool.amount_minor, pool.share_of_profit_bp))
    return pools


def _lines(proposal: Proposal) -> list[ProposalLine]:
    return list(
        proposal.lines.select_related("contributor")
        .prefetch_related("records")
        .order_by("position", "pk")
    )


def _contributor_label(line: ProposalLine) -> str:
    if line.contributor is not None:
        return f"user:{line.contributor.get_username()}"
    return f"held:{line.held_name}"


def _money_line(line: ProposalLine) -> payouts.Line:
    return payouts.Line(
        key=line.key,
        contributor=_contributor_label(line),
        held=line.contributor is None,
        role=line.role,
        share_bp=line.share_bp,
        pool=line.pool,
    )


def problems(proposal: Proposal) -> list[str]:
    """Everything that keeps the proposal from being published, accepted or finalised."""
    lines = _lines(proposal)
    found = payouts.validate([_money_line(line) for line in lines], pools_of(proposal))
    if not lines:
        found.insert(0, "the proposal has no lines")
    if not found:
        try:
            payouts.pool_amounts(money_of(proposal), pools_of(proposal))
        except payouts.InsufficientProfitError as exc:
            found.append(str(exc))
    return found


def payload(proposal: Proposal) -> dict[str, object]:
    """What the hash covers: production, money, pools and every line with its amount.

    Raises ``ProposalRefused`` (409) while the proposal is invalid (e.g. mid-edit).
    """
    found = problems(proposal)
    if found:
        raise ProposalRefused("the proposal is not valid: " + "; ".join(found), 409)
    lines = _lines(proposal)
    core = payouts.proposal_payload(
        money_of(proposal),
        pools_of(proposal),
        [_money_line(line) for line in lines],
        {line.key: line.reasoning for line in lines},
    )
    return {
        "proposal": core,
        "production": proposal.production.rid,
        "project": proposal.project.slug,
        "credits": {line.key: sorted(r.rid for r in line.records.all()) for line in lines},
    }


def current_hash(proposal: Proposal) -> str | None:
    """The hash of the proposal as it stands (the frozen one once final); None if invalid."""
    if proposal.state == ProposalState.FINAL:
        return proposal.final_hash
    try:
        return payouts.proposal_hash(payload(proposal))
    except ProposalRefused:
        return None


def computed_amounts(proposal: Proposal) -> dict[str, int] | None:
    """Each line's payout in minor units as things stand (stored once final); None if invalid."""
    if proposal.state == ProposalState.FINAL:
        return {line.key: int(line.amount_minor or 0) for line in _lines(proposal)}
    if problems(proposal):
        return None
    return payouts.payouts(
        money_of(proposal), pools_of(proposal), [_money_line(line) for line in _lines(proposal)]
    )


# ----------------------------------------------------------------------------- notify + events


def proposal_notify(
    *, proposal: Proposal, users: Iterable[User], event: str, reason: str, actor: User | None
) -> list[User]:
    """Tell ``users`` about ``event`` (the hook notifications plug into).

    The actor is never told about their own action, and nobody is told about something
    they cannot see. Each notice is kept as a :class:`ProposalNotice` and handed to the
    inbox service (``workspace.notifications``).
    """
    seen: dict[int, User] = {}
    for user in users:
        if actor is not None and user.pk == actor.pk:
            continue
        if user.pk in seen or not proposal_visible(user, proposal):
            continue
        seen[user.pk] = user
    recipients = list(seen.values())
    at = now()
    ProposalNotice.objects.bulk_create(
        [
            ProposalNotice(proposal=proposal, user=u, event=event, reason=reason, created_at=at)
            for u in recipients
        ]
    )
    _deliver(proposal, recipients, event, reason)
    return recipients


def _deliver(proposal: Proposal, users: list[User], event: str, reason: str) -> None:
    """Hand the notices to the inbox (which also skips muted projects), live after commit."""
    for user in users:
        notifications.notify(
            user_id=user.pk,
            event=event,
            project=proposal.project,
            object_type="proposal",
            object_id=proposal.pk,
            reason=reason,
            actor_id=None,
        )


def _emit(proposal: Proposal, kind: str, **fields: Any) -> None:
    """Send a live ``project.event`` to the project room after commit (never for drafts)."""
    if proposal.state == ProposalState.DRAFT:
        return
    emit_on_commit(
        project_presence_group(proposal.project_id),
        {
            "type": "project.event",
            "project_id": proposal.project_id,
            "event": {"type": kind, "proposal_id": proposal.pk, **fields},
        },
    )


def included_users(proposal: Proposal) -> list[User]:
    """The contributors with an account who have a line."""
    return [line.contributor for line in _lines(proposal) if line.contributor is not None]


def _leads(project: Project) -> list[User]:
    return [m.user for m in project.memberships.filter(role=Role.LEAD).select_related("user")]


# ----------------------------------------------------------------------------- lifecycle


def _locked(proposal: Proposal) -> Proposal:
    return (
        Proposal.objects.select_for_update()
        .select_related("project", "production")
        .get(pk=proposal.pk)
    )


def _require_lead(user: User, proposal: Proposal) -> None:
    if not is_lead(user, proposal.project):
        raise ProposalRefused("only leads do this", 403)


def window_open(proposal: Proposal) -> bool:
    """Published and before the deadline."""
    return (
        proposal.state == ProposalState.PUBLISHED
        and proposal.closes_at is not None
        and now() < proposal.closes_at
    )


def _require_editable(proposal: Proposal) -> None:
    if proposal.state == ProposalState.DRAFT or window_open(proposal):
        return
    if proposal.state == ProposalState.FINAL:
        raise ProposalRefused("the proposal is final", 409)
    raise ProposalRefused("the comment window has closed; lines can no longer change", 409)


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """A separate pool: a fixed amount in minor units, or a share of profit in bp."""

    name: str
    amount_minor: int | None = None
    share_of_profit_bp: int | None = None


def proposal_create(
    *,
    project: Project,
    user: User,
    production: Record,
    title: str,
    currency: str,
    revenue: Decimal,
    costs: Decimal,
    artists_share_bp: int = payouts.ARTISTS_DEFAULT_BP,
    window_days: int | None = None,
    pools: Sequence[PoolSpec] = (),
) -> Proposal:
    """A draft proposal (leads). The production must be a record of the project."""
    if not is_lead(user, project):
        raise ProposalRefused("only leads do this", 403)
    if production.project_id != project.pk:
        raise ProposalRefused("the production must be a record of this project")
    _check_money(currency, revenue, costs)
    days = min_window_days() if window_days is None else window_days
    if days < min_window_days():
        raise ProposalRefused(f"the comment window is at least {min_window_days()} days")
    specs = [payouts.Pool(p.name, p.amount_minor, p.share_of_profit_bp) for p in pools]
    all_pools = [payouts.Pool(payouts.ARTISTS_POOL, share_of_profit_bp=artists_share_bp), *specs]
    pool_problems = [p for p in payouts.validate([], all_pools) if "line shares total" not in p]
    if pool_problems:
        raise ProposalRefused("; ".join(pool_problems))
    with transaction.atomic():
        proposal = Proposal.objects.create(
            project=project,
            production=production,
            title=title.strip() or f"Payment proposal for {production.title}",
            currency=currency,
            revenue=revenue,
            costs=costs,
            artists_share_bp=artists_share_bp,
            window_days=days,
            created_by=user,
            created_at=now(),
        )
        ProposalPool.objects.bulk_create(
            [
                ProposalPool(
                    proposal=proposal,
                    name=p.name,
                    amount_minor=p.amount_minor,
                    share_of_profit_bp=p.share_of_profit_bp,
                )
                for p in pools
            ]
        )
        _log(proposal, user, "create", "", None, proposal_settings_json(proposal))
    return proposal


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


def proposal_settings_edit(
    *,
    proposal: Proposal,
    user: User,
    title: str | None = None,
    revenue: Decimal | None = None,
    costs: Decimal | None = None,
    artists_share_bp: int | None = None,
    window_days: int | None = None,
) -> Proposal:
    """Change the money or (in a draft) the window; logged, and told to everyone included."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        _require_editable(proposal)
        before = proposal_settings_json(proposal)
        if title is not None:
            proposal.title = title.strip() or proposal.title
        new_revenue = proposal.revenue if revenue is None else revenue
        new_costs = proposal.costs if costs is None else costs
        if revenue is not None or costs is not None:
            _check_money(proposal.currency, Decimal(new_revenue), Decimal(new_costs))
            proposal.revenue, proposal.costs = new_revenue, new_costs
        if artists_share_bp is not None:
            if not 0 <= artists_share_bp <= payouts.TOTAL_BP:
                raise ProposalRefused("the artists' share is 0-10,000 bp")
            proposal.artists_share_bp = artists_share_bp
        if window_days is not None:
            if proposal.state != ProposalState.DRAFT:
                raise ProposalRefused("the window is set before publishing", 409)
            if window_days < min_window_days():
                raise ProposalRefused(f"the comment window is at least {min_window_days()} days")
            proposal.window_days = window_days
        proposal.save()
        after = proposal_settings_json(proposal)
        if after == before:
            return proposal
        _log(proposal, user, "settings", "", before, after)
        if proposal.state == ProposalState.PUBLISHED:
            proposal_notify(
                proposal=proposal,
                users=included_users(proposal),
                event="proposal.edited",
                reason=f"{user.get_username()} changed the terms of “{proposal.title}”",
                actor=user,
            )
            _emit(proposal, "proposal.edited", line=None, actor=user.get_username())
    return proposal


def _log(
    proposal: Proposal,
    user: User,
    action: str,
    line_key: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> ProposalEdit:
    return ProposalEdit.objects.create(
        proposal=proposal,
        actor=user,
        action=action,
        line_key=line_key,
        before=before,
        after=after,
        at=now(),
    )


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


@dataclass(frozen=True, slots=True)
class LineSpec:
    """What a line says; ``contributor`` None with ``held_name`` holds the money for them."""

    contributor: User | None
    held_name: str
    role: str
    share_bp: int
    reasoning: str = ""
    records: tuple[Record, ...] = ()
    pool: str = payouts.ARTISTS_POOL


def _check_line(proposal: Proposal, spec: LineSpec) -> None:
    if (spec.contributor is None) == (not spec.held_name.strip()):
        raise ProposalRefused("a line names a user or (without an account) a person, not both")
    if not 0 <= spec.share_bp <= payouts.TOTAL_BP:
        raise ProposalRefused("a share is 0-10,000 bp")
    names = {p.name for p in pools_of(proposal)}
    if spec.pool not in names:
        raise ProposalRefused(f"no pool {spec.pool!r} in this proposal")
    for record in spec.records:
        if record.project_id != proposal.project_id and record.pk not in _cited_ids(proposal):
            raise ProposalRefused(f"{record.rid} is neither of this project nor cited by it")


def _cited_ids(proposal: Proposal) -> set[int]:
    return set(
        Citation.objects.filter(record_id=proposal.production_id).values_list(
            "resource_id", flat=True
        )
    )


def _apply(line: ProposalLine, spec: LineSpec) -> None:
    line.contributor = spec.contributor
    line.held_name = "" if spec.contributor is not None else spec.held_name.strip()
    line.role = spec.role.strip()
    line.share_bp = spec.share_bp
    line.reasoning = spec.reasoning
    line.pool = spec.pool


def _line_changed(
    proposal: Proposal,
    user: User,
    action: str,
    key: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    touched: list[User | None],
) -> None:
    _log(proposal, user, action, key, before, after)
    if proposal.state != ProposalState.PUBLISHED:
        return
    proposal_notify(
        proposal=proposal,
        users=[u for u in touched if u is not None],
        event="proposal.edited",
        reason=f"{user.get_username()} changed your line in “{proposal.title}”",
        actor=user,
    )
    _emit(proposal, "proposal.edited", line=key, action=action, actor=user.get_username())


def line_add(*, proposal: Proposal, user: User, spec: LineSpec) -> ProposalLine:
    """Add a line (leads; in a draft or during the window)."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        _require_editable(proposal)
        _check_line(proposal, spec)
        line = ProposalLine(proposal=proposal, key=uuid.uuid4().hex[:12])
        _apply(line, spec)
        line.position = proposal.lines.count()
        line.save()
        line.records.set(spec.records)
        _line_changed(proposal, user, "add", line.key, None, line_json(line), [line.contributor])
    return line


def line_edit(
    *, proposal: Proposal, user: User, line: ProposalLine, spec: LineSpec
) -> ProposalLine:
    """Replace what a line says (leads; in a draft or during the window); logged."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        _require_editable(proposal)
        line = ProposalLine.objects.select_related("contributor").get(pk=line.pk, proposal=proposal)
        _check_line(proposal, spec)
        before, old_contributor = line_json(line), line.contributor
        _apply(line, spec)
        line.save()
        line.records.set(spec.records)
        after = line_json(line)
        if after != before:
            _line_changed(
                proposal, user, "edit", line.key, before, after, [old_contributor, line.contributor]
            )
    return line


def line_delete(*, proposal: Proposal, user: User, line: ProposalLine) -> None:
    """Remove a line (leads; in a draft or during the window); logged."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        _require_editable(proposal)
        line = ProposalLine.objects.select_related("contributor").get(pk=line.pk, proposal=proposal)
        before, contributor = line_json(line), line.contributor
        line.delete()
        _line_changed(proposal, user, "delete", before["key"], before, None, [contributor])


# ----------------------------------------------------------------------------- prefill


def _credit_weights(record: Record) -> tuple[dict[int, int], dict[int, str]]:
    """Per-user weights of a record and how each is explained."""
    snap = Snapshot.objects.filter(record=record).first()
    weights: dict[int, int] = {}
    reasons: dict[int, str] = {}
    if snap is not None and snap.credit:
        credit: dict[str, Any] = snap.credit
        users: dict[str, dict[str, Any]] = credit.get("users", {})
        if credit.get("kind") == "script":
            length = int(credit.get("length", 0))
            for info in users.values():
                owner, count = info.get("user_id"), int(info.get("surviving", 0))
                if owner is not None and count > 0:
                    weights[int(owner)] = count
                    reasons[int(owner)] = f"{count} characters of {length} in “{record.title}”"
        else:
            panels = len(credit.get("panels", []))
            for info in users.values():
                owner = info.get("user_id")
                made, fields = int(info.get("panels_created", 0)), int(info.get("fields_set", 0))
                if owner is not None and made + fields > 0:
                    weights[int(owner)] = made + fields
                    reasons[int(owner)] = (
                        f"{made} panels created and {fields} fields set "
                        f"({panels} panels) in “{record.title}”"
                    )
        if weights:
            return weights, reasons
    authors = list(RecordAuthor.objects.filter(record=record).order_by("position"))
    for author in authors:
        weights[author.user_id] = 1
        reasons[author.user_id] = f"author of “{record.title}” (1 of {len(authors)})"
    return weights, reasons


def weights_to_bp(weights: dict[str, Fraction]) -> dict[str, int]:
    """Positive weights as basis points totalling exactly 10,000 (largest remainder).

    The same rule as :func:`workspace.payouts.allocate`: floors first, then one bp each to
    the largest remainders, ties to the larger weight, then the smaller key.
    """
    total = sum(weights.values(), Fraction(0))
    if total <= 0:
        raise ProposalRefused("nothing to prefill from: no credited contributor", 409)
    exact = {key: w * payouts.TOTAL_BP / total for key, w in weights.items()}
    result = {key: int(value) for key, value in exact.items()}
    leftover = payouts.TOTAL_BP - sum(result.values())
    order = sorted(exact, key=lambda k: (-(exact[k] - result[k]), -weights[k], k))
    for key in order[:leftover]:
        result[key] += 1
    return result


def prefill(*, proposal: Proposal, user: User) -> list[ProposalLine]:
    """Replace a draft's lines with one per credited person of the production and its
    cited records (each record counts equally, split by its credit figures)."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.state != ProposalState.DRAFT:
            raise ProposalRefused("only a draft is prefilled", 409)
        sources = [proposal.production, *Record.objects.filter(pk__in=_cited_ids(proposal))]
        weights: dict[int, Fraction] = {}
        reasons: dict[int, list[str]] = {}
        credited: dict[int, list[Record]] = {}
        for record in sources:
            figures, why = _credit_weights(record)
            total = sum(figures.values())
            for owner, weight in figures.items():
                weights[owner] = weights.get(owner, Fraction(0)) + Fraction(weight, total)
                reasons.setdefault(owner, []).append(why[owner])
                credited.setdefault(owner, []).append(record)
        people = {u.pk: u for u in get_user_model().objects.filter(pk__in=list(weights))}
        weights = {pk: w for pk, w in weights.items() if pk in people}
        shares = weights_to_bp({str(pk): w for pk, w in weights.items()})
        for old in _lines(proposal):
            _log(proposal, user, "delete", old.key, line_json(old), None)
            old.delete()
        order = sorted(weights, key=lambda pk: (-weights[pk], pk))
        created = []
        for position, pk in enumerate(order):
            role = "writer" if proposal.production.kind == "script_snapshot" else "contributor"
            line = ProposalLine.objects.create(
                proposal=proposal,
                key=uuid.uuid4().hex[:12],
                contributor=people[pk],
                role=role,
                share_bp=shares[str(pk)],
                reasoning="prefilled from credit: " + "; ".join(reasons[pk]),
                position=position,
            )
            line.records.set(credited[pk])
            _log(proposal, user, "prefill", line.key, None, line_json(line))
            created.append(line)
    return created


# ----------------------------------------------------------------------------- publish


def publish(*, proposal: Proposal, user: User) -> Proposal:
    """Open the comment window and tell everyone included (leads; a valid draft)."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.state != ProposalState.DRAFT:
            raise ProposalRefused("only a draft is published", 409)
        found = problems(proposal)
        if found:
            raise ProposalRefused("the proposal is not valid: " + "; ".join(found), 409)
        at = now()
        proposal.state = ProposalState.PUBLISHED
        proposal.published_at = at
        proposal.closes_at = at + timedelta(days=proposal.window_days)
        proposal.save()
        _log(proposal, user, "publish", "", None, {"closes_at": proposal.closes_at.isoformat()})
        proposal_notify(
            proposal=proposal,
            users=included_users(proposal),
            event="proposal.published",
            reason=(
                f"you are included in “{proposal.title}”; comments are open until "
                f"{proposal.closes_at:%Y-%m-%d %H:%M} UTC"
            ),
            actor=user,
        )
        _emit(
            proposal,
            "proposal.published",
            closes_at=proposal.closes_at.isoformat(),
            hash=current_hash(proposal),
        )
    return proposal


# ----------------------------------------------------------------------------- comments


def comment(
    *,
    proposal: Proposal,
    user: User,
    body: str,
    line: ProposalLine | None = None,
    parent: ProposalComment | None = None,
) -> ProposalComment:
    """Comment on a line (or reply to a comment). Anyone who sees the project comments
    during the window; leads may also answer after it, until the proposal is final."""
    if not body.strip():
        raise ProposalRefused("a comment needs a body")
    with transaction.atomic():
        proposal = _locked(proposal)
        if not proposal_visible(user, proposal):
            raise ProposalRefused("no such proposal", 404)
        if proposal.state != ProposalState.PUBLISHED:
            raise ProposalRefused("comments are taken while the proposal is published", 409)
        lead = is_lead(user, proposal.project)
        if not lead and not window_open(proposal):
            raise ProposalRefused("the comment window has closed", 409)
        if parent is not None:
            if parent.proposal_id != proposal.pk:
                raise ProposalRefused("that comment is not on this proposal")
            line = parent.line
        elif line is not None and line.proposal_id != proposal.pk:
            raise ProposalRefused("that line is not in this proposal")
        found = ProposalComment.objects.create(
            proposal=proposal,
            line=line,
            line_key=line.key if line is not None else (parent.line_key if parent else ""),
            parent=parent,
            author=user,
            by_lead=lead,
            body=body,
            created_at=now(),
        )
        if parent is not None:
            told = [parent.author]
            reason = f"{user.get_username()} replied to your comment on “{proposal.title}”"
        else:
            told = _leads(proposal.project)
            reason = f"{user.get_username()} commented on “{proposal.title}”"
        proposal_notify(
            proposal=proposal, users=told, event="proposal.commented", reason=reason, actor=user
        )
        _emit(
            proposal,
            "proposal.commented",
            comment_id=found.pk,
            parent_id=parent.pk if parent else None,
            line=found.line_key or None,
            author=user.get_username(),
        )
    return found


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


# ----------------------------------------------------------------------------- accept, finalise


def accept(
    *, proposal: Proposal, user: User, expected_hash: str | None = None
) -> ProposalAcceptance:
    """An included contributor accepts the proposal as it is now (bound to its hash).

    With ``expected_hash`` (the version the contributor read) the acceptance is refused
    (409) if the proposal changed since, so nobody accepts terms they have not seen.
    """
    with transaction.atomic():
        proposal = _locked(proposal)
        if not proposal_visible(user, proposal):
            raise ProposalRefused("no such proposal", 404)
        if proposal.state == ProposalState.DRAFT:
            raise ProposalRefused("a draft cannot be accepted", 409)
        if not proposal.lines.filter(contributor=user).exists():
            raise ProposalRefused("only contributors with a line accept", 403)
        digest = current_hash(proposal)
        if digest is None:
            raise ProposalRefused("the proposal is not valid right now; try after the edit", 409)
        if expected_hash is not None and expected_hash != digest:
            raise ProposalRefused(
                "the proposal changed after you opened it; read this version and accept again",
                409,
            )
        acceptance, _ = ProposalAcceptance.objects.update_or_create(
            proposal=proposal,
            user=user,
            defaults={"proposal_hash": digest, "accepted_at": now()},
        )
        _emit(proposal, "proposal.accepted", user=user.get_username(), hash=digest)
    return acceptance


def finalise(*, proposal: Proposal, user: User) -> Proposal:
    """Freeze, hash and compute payouts (leads; after the deadline, every comment answered)."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.state != ProposalState.PUBLISHED:
            raise ProposalRefused("only a published proposal is finalised", 409)
        if proposal.closes_at is None or now() < proposal.closes_at:
            raise ProposalRefused(
                f"the comment window is open until {proposal.closes_at:%Y-%m-%d %H:%M} UTC", 409
            )
        waiting = unanswered(proposal)
        if waiting:
            raise ProposalRefused(f"{len(waiting)} comment(s) still need a lead's answer", 409)
        data = payload(proposal)
        amounts = payouts.payouts(
            money_of(proposal),
            pools_of(proposal),
            [_money_line(line) for line in _lines(proposal)],
        )
        for line in _lines(proposal):
            line.amount_minor = amounts[line.key]
            line.save(update_fields=["amount_minor"])
        proposal.final_hash = payouts.proposal_hash(data)
        proposal.final_payload = _json_ready(data)
        proposal.state = ProposalState.FINAL
        proposal.finalised_at = now()
        proposal.finalised_by = user
        proposal.save()
        _log(proposal, user, "finalise", "", None, {"hash": proposal.final_hash})
        proposal_notify(
            proposal=proposal,
            users=included_users(proposal),
            event="proposal.finalised",
            reason=f"“{proposal.title}” is final: your payout is set",
            actor=user,
        )
        _emit(proposal, "proposal.finalised", hash=proposal.final_hash)
    return proposal


def _json_ready(data: object) -> Any:
    if isinstance(data, Decimal):
        return str(data)
    if isinstance(data, dict):
        return {str(k): _json_ready(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_json_ready(v) for v in data]
    return data


# ----------------------------------------------------------------------------- reading


def proposal_json(proposal: Proposal, user: User | AnonymousUser) -> dict[str, Any]:
    """Everything a reader sees: money, lines with amounts, comments, log, acceptances."""
    lines = _lines(proposal)
    digest = current_hash(proposal)
    amounts = computed_amounts(proposal)
    pool_amounts = (
        payouts.pool_amounts(money_of(proposal), pools_of(proposal))
        if amounts is not None
        else None
    )
    comments = list(ProposalComment.objects.filter(proposal=proposal).select_related("author"))
    waiting = {c.pk for c in unanswered(proposal)}
    lead = is_lead(user, proposal.project)
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
