"""Writes of proposals: draft, lines, prefill, publish, comment, accept, finalise; notices."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from workspace import events
from workspace.access import is_lead
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
    RecordKind,
    Snapshot,
)
from workspace.notifications.services import notification_send
from workspace.proposals import clock, payouts
from workspace.proposals.rules import (
    LineSpec,
    PoolSpec,
    ProposalRefused,
    board_points,
    check_money,
    current_hash,
    fraction_text,
    json_ready,
    lines_of,
    min_window_days,
    money_line,
    money_of,
    payload,
    pools_of,
    problems,
    weights_to_bp,
    window_open,
)
from workspace.proposals.selectors import (
    included_users,
    line_json,
    project_leads,
    proposal_settings_json,
    proposal_visible,
    unanswered,
)
from workspace.records.selectors import snapshot_content


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
    at = clock.now()
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
        notification_send(
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
        events.project_event(
            project_id=proposal.project_id,
            event={"type": kind, "proposal_id": proposal.pk, **fields},
        ),
    )


def _locked(proposal: Proposal) -> Proposal:
    return (
        Proposal.objects.select_for_update()
        .select_related("project", "production")
        .get(pk=proposal.pk)
    )


def _require_lead(user: User, proposal: Proposal) -> None:
    if not is_lead(user=user, project_id=proposal.project_id):
        raise ProposalRefused("only leads do this", 403)


def _require_editable(proposal: Proposal) -> None:
    if proposal.state == ProposalState.DRAFT or window_open(proposal):
        return
    if proposal.state == ProposalState.FINAL:
        raise ProposalRefused("the proposal is final", 409)
    raise ProposalRefused("the comment window has closed; lines can no longer change", 409)


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
    if not is_lead(user=user, project_id=project.pk):
        raise ProposalRefused("only leads do this", 403)
    if production.project_id != project.pk:
        raise ProposalRefused("the production must be a record of this project")
    check_money(currency, revenue, costs)
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
            created_at=clock.now(),
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
            check_money(proposal.currency, Decimal(new_revenue), Decimal(new_costs))
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
        at=clock.now(),
    )


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


def proposal_line_add(*, proposal: Proposal, user: User, spec: LineSpec) -> ProposalLine:
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


def proposal_line_edit(
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


def proposal_line_delete(*, proposal: Proposal, user: User, line: ProposalLine) -> None:
    """Remove a line (leads; in a draft or during the window); logged."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        _require_editable(proposal)
        line = ProposalLine.objects.select_related("contributor").get(pk=line.pk, proposal=proposal)
        before, contributor = line_json(line), line.contributor
        line.delete()
        _line_changed(proposal, user, "delete", before["key"], before, None, [contributor])


def _board_panels(record: Record) -> list[dict[str, Any]]:
    # The panels of a storyboard snapshot's credit (none for other records).
    if record.kind != RecordKind.STORYBOARD_SNAPSHOT:
        return []
    snap = Snapshot.objects.filter(record=record).first()
    panels: list[dict[str, Any]] = snap.credit.get("panels", []) if snap is not None else []
    return panels


def _credit_weights(record: Record) -> tuple[dict[int, Fraction], dict[int, str]]:
    """Per-user weights of a record and how each is explained.

    Scripts: one point per surviving character. Storyboards: points for text, panels,
    shot sizes and durations, and images (``board_points``). Other records, or snapshots
    crediting nobody: one point per author.
    """
    snap = Snapshot.objects.filter(record=record).first()
    weights: dict[int, Fraction] = {}
    reasons: dict[int, str] = {}
    if snap is not None and snap.credit:
        credit: dict[str, Any] = snap.credit
        users: dict[str, dict[str, Any]] = credit.get("users", {})
        if credit.get("kind") == "script":
            length = int(credit.get("length", 0))
            for info in users.values():
                owner, count = info.get("user_id"), int(info.get("surviving", 0))
                if owner is not None and count > 0:
                    weights[int(owner)] = Fraction(count)
                    reasons[int(owner)] = f"{count} characters of {length} in “{record.title}”"
        else:
            content = snapshot_content(record)
            points = board_points(credit, content if isinstance(content, list) else [])
            total = fraction_text(sum((p.total for p in points.values()), Fraction(0)))
            for owner, found in points.items():
                weights[owner] = found.total
                reasons[owner] = (
                    f"“{record.title}”: {found.explain()} = "
                    f"{fraction_text(found.total)} of {total} pts"
                )
        if weights:
            return weights, reasons
    authors = list(RecordAuthor.objects.filter(record=record).order_by("position"))
    for author in authors:
        weights[author.user_id] = Fraction(1)
        reasons[author.user_id] = f"author of “{record.title}” (1 of {len(authors)})"
    return weights, reasons


def proposal_prefill(*, proposal: Proposal, user: User) -> list[ProposalLine]:
    """Replace a draft's lines with one per credited person of the production and its
    cited records (each record counts equally, split by its credit figures).

    Each line's reasoning shows its figures per record, the average over the records and
    the resulting share, so that anyone reading the proposal can redo the sum.
    """
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.state != ProposalState.DRAFT:
            raise ProposalRefused("only a draft is prefilled", 409)
        cited = list(Record.objects.filter(pk__in=_cited_ids(proposal)).order_by("pk"))
        # A storyboard snapshot pays its panels' images in its own points and cites their
        # records; counting those records again would pay an illustrator twice.
        paid = {
            str(panel.get("image"))
            for record in [proposal.production, *cited]
            for panel in _board_panels(record)
            if panel.get("image")
        }
        sources = [proposal.production, *(r for r in cited if r.rid not in paid)]
        parts: dict[int, list[Fraction]] = {}
        reasons: dict[int, list[str]] = {}
        credited: dict[int, list[Record]] = {}
        counted = 0
        for record in sources:
            figures, why = _credit_weights(record)
            total = sum(figures.values(), Fraction(0))
            if total <= 0:
                continue
            counted += 1
            for owner, weight in figures.items():
                parts.setdefault(owner, []).append(weight / total)
                reasons.setdefault(owner, []).append(why[owner])
                credited.setdefault(owner, []).append(record)
        people = {u.pk: u for u in get_user_model().objects.filter(pk__in=list(parts))}
        weights = {pk: sum(f, Fraction(0)) / counted for pk, f in parts.items() if pk in people}
        shares = weights_to_bp({str(pk): w for pk, w in weights.items()})
        for old in lines_of(proposal):
            _log(proposal, user, "delete", old.key, line_json(old), None)
            old.delete()
        order = sorted(weights, key=lambda pk: (-weights[pk], pk))
        created = []
        for position, pk in enumerate(order):
            role = "writer" if proposal.production.kind == "script_snapshot" else "contributor"
            share = shares[str(pk)]
            summed = " + ".join(fraction_text(f) for f in parts[pk])
            if len(parts[pk]) > 1:
                summed = f"({summed})"
            derivation = (
                f"each record counts equally (1 of {counted}): {summed} ÷ {counted} = "
                f"{fraction_text(weights[pk])} → {share / 100:.2f} % ({share} bp)"
            )
            line = ProposalLine.objects.create(
                proposal=proposal,
                key=uuid.uuid4().hex[:12],
                contributor=people[pk],
                role=role,
                share_bp=share,
                reasoning="prefilled from credit: " + "\n".join([*reasons[pk], derivation]),
                position=position,
            )
            line.records.set(credited[pk])
            _log(proposal, user, "prefill", line.key, None, line_json(line))
            created.append(line)
    return created


def proposal_publish(*, proposal: Proposal, user: User) -> Proposal:
    """Open the comment window and tell everyone included (leads; a valid draft)."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.state != ProposalState.DRAFT:
            raise ProposalRefused("only a draft is published", 409)
        found = problems(proposal)
        if found:
            raise ProposalRefused("the proposal is not valid: " + "; ".join(found), 409)
        at = clock.now()
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


def proposal_comment(
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
        lead = is_lead(user=user, project_id=proposal.project_id)
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
            created_at=clock.now(),
        )
        if parent is not None:
            told = [parent.author]
            reason = f"{user.get_username()} replied to your comment on “{proposal.title}”"
        else:
            told = project_leads(proposal.project)
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


def proposal_accept(
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
            defaults={"proposal_hash": digest, "accepted_at": clock.now()},
        )
        _emit(proposal, "proposal.accepted", user=user.get_username(), hash=digest)
    return acceptance


def proposal_finalise(*, proposal: Proposal, user: User) -> Proposal:
    """Freeze, hash and compute payouts (leads; after the deadline, every comment answered)."""
    _require_lead(user, proposal)
    with transaction.atomic():
        proposal = _locked(proposal)
        if proposal.state != ProposalState.PUBLISHED:
            raise ProposalRefused("only a published proposal is finalised", 409)
        if proposal.closes_at is None or clock.now() < proposal.closes_at:
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
            [money_line(line) for line in lines_of(proposal)],
        )
        for line in lines_of(proposal):
            line.amount_minor = amounts[line.key]
            line.save(update_fields=["amount_minor"])
        proposal.final_hash = payouts.proposal_hash(data)
        proposal.final_payload = json_ready(data)
        proposal.state = ProposalState.FINAL
        proposal.finalised_at = clock.now()
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
