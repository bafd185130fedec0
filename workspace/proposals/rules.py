"""Proposal rules without writes: money, pools, problems, the payload and its hash, the window."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from crdt.storyboard import DEFAULT_DURATION_MS
from workspace.models import (
    Proposal,
    ProposalLine,
    ProposalState,
    Record,
)
from workspace.proposals import clock, payouts


def min_window_days() -> int:
    """The shortest comment window (``TROUPE_PROPOSAL_MIN_WINDOW_DAYS``, 14 by default)."""
    return max(int(settings.TROUPE["PROPOSAL_MIN_WINDOW_DAYS"]), 1)


class ProposalRefused(Exception):
    """A refused proposal operation; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_money(currency: str, revenue: Decimal, costs: Decimal) -> None:
    """Refuse an unknown currency, amounts finer than its minor unit, or too large."""
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


def lines_of(proposal: Proposal) -> list[ProposalLine]:
    """The proposal's lines in their order, with contributors and records loaded."""
    return list(
        proposal.lines.select_related("contributor")
        .prefetch_related("records")
        .order_by("position", "pk")
    )


def _contributor_label(line: ProposalLine) -> str:
    if line.contributor is not None:
        return f"user:{line.contributor.get_username()}"
    return f"held:{line.held_name}"


def money_line(line: ProposalLine) -> payouts.Line:
    """The line as the money core sees it."""
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
    lines = lines_of(proposal)
    found = payouts.validate([money_line(line) for line in lines], pools_of(proposal))
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
    lines = lines_of(proposal)
    core = payouts.proposal_payload(
        money_of(proposal),
        pools_of(proposal),
        [money_line(line) for line in lines],
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
        return {line.key: int(line.amount_minor or 0) for line in lines_of(proposal)}
    if problems(proposal):
        return None
    return payouts.payouts(
        money_of(proposal),
        pools_of(proposal),
        [money_line(line) for line in lines_of(proposal)],
    )


def window_open(proposal: Proposal) -> bool:
    """Published and before the deadline."""
    return (
        proposal.state == ProposalState.PUBLISHED
        and proposal.closes_at is not None
        and clock.now() < proposal.closes_at
    )


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """A separate pool: a fixed amount in minor units, or a share of profit in bp."""

    name: str
    amount_minor: int | None = None
    share_of_profit_bp: int | None = None


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


def weights_to_bp(weights: dict[str, Fraction]) -> dict[str, int]:
    """Positive weights as basis points totalling exactly 10,000 (largest remainder).

    The same rule as :func:`workspace.proposals.payouts.allocate`: floors first, then one bp each to
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


def json_ready(data: object) -> Any:
    """``data`` with decimals as strings, ready for a JSON field."""
    if isinstance(data, Decimal):
        return str(data)
    if isinstance(data, dict):
        return {str(k): json_ready(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_ready(v) for v in data]
    return data


# ----------------------------------------------------------------------------- prefill weights
# A script snapshot weighs one point per surviving character (UTF-16 unit) to its writer. A
# storyboard snapshot weighs these, in the same points, so that words stay the measure:
# One point per surviving UTF-16 unit of panel text (action, dialogue, notes), as a script.
BOARD_POINTS_PER_TEXT_UNIT = 1
# Making a panel decides a shot, worth a short line of description. Moving one (its order
# key) rearranges what exists and counts for nobody.
BOARD_POINTS_PER_PANEL = 20
# Choosing a shot size or a duration: a few words' worth. Only values other than what every
# new panel gets ("" and 2000 ms) count, as those come with making the panel; attaching an
# image counts for nothing either (the image itself is paid, below).
BOARD_POINTS_PER_FIELD = 5
BOARD_POINTED_FIELDS = ("shot_size", "duration_ms")
BOARD_FIELD_DEFAULTS: dict[str, object] = {"shot_size": "", "duration_ms": DEFAULT_DURATION_MS}
# A panel's picture carries as much as a paragraph of description; its record's authors
# share it equally (a picture with no record here is paid to nobody).
BOARD_POINTS_PER_IMAGE = 200


def fraction_text(value: Fraction) -> str:
    """``3``, ``1/3``: a fraction as the reasoning shows it."""
    return str(value.numerator) if value.denominator == 1 else f"{value}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass(slots=True)
class BoardPoints:
    """One person's prefill points on a storyboard snapshot, and what they are for."""

    units: int = 0
    panels: int = 0
    fields: int = 0
    # how many images they author, by how many authors each image has
    images: Counter[int] = field(default_factory=Counter)

    @property
    def total(self) -> Fraction:
        """Their points (a shared image gives fractions)."""
        return (
            Fraction(self.units * BOARD_POINTS_PER_TEXT_UNIT)
            + self.panels * BOARD_POINTS_PER_PANEL
            + self.fields * BOARD_POINTS_PER_FIELD
            + sum(
                (Fraction(n * BOARD_POINTS_PER_IMAGE, k) for k, n in self.images.items()),
                Fraction(0),
            )
        )

    def explain(self) -> str:
        """``120 characters (120 pts) + 2 panels created (40 pts) + 1 image (200 pts)``."""
        parts = []
        if self.units:
            parts.append(
                f"{_plural(self.units, 'character', 'characters')} "
                f"({self.units * BOARD_POINTS_PER_TEXT_UNIT} pts)"
            )
        if self.panels:
            parts.append(
                f"{_plural(self.panels, 'panel', 'panels')} created "
                f"({self.panels * BOARD_POINTS_PER_PANEL} pts)"
            )
        if self.fields:
            parts.append(
                f"{_plural(self.fields, 'shot size or duration', 'shot sizes or durations')} "
                f"set ({self.fields * BOARD_POINTS_PER_FIELD} pts)"
            )
        for k, n in sorted(self.images.items()):
            shared = f" shared by {k}" if k > 1 else ""
            pts = fraction_text(Fraction(n * BOARD_POINTS_PER_IMAGE, k))
            parts.append(f"{_plural(n, 'image', 'images')}{shared} ({pts} pts)")
        return " + ".join(parts)


def board_points(credit: dict[str, Any], panels: list[dict[str, Any]]) -> dict[int, BoardPoints]:
    """Prefill points per user id from a storyboard snapshot's credit JSON and its panels.

    ``panels`` is the snapshot's content (for the values of shot sizes and durations).
    People without an account (``user_id`` null) get nothing; their work is not in the total.
    """
    users: dict[str, dict[str, Any]] = credit.get("users", {})
    ids = {name: info.get("user_id") for name, info in users.items()}
    values = {str(p.get("id")): p for p in panels}
    out: dict[int, BoardPoints] = {}

    def of(name: str | None) -> BoardPoints | None:
        owner = ids.get(name) if name is not None else None
        return out.setdefault(int(owner), BoardPoints()) if owner is not None else None

    for name, info in users.items():
        found = of(name) if int(info.get("surviving", 0)) > 0 else None
        if found is not None:
            found.units = int(info["surviving"])
    for panel in credit.get("panels", []):
        creator = of(panel.get("created_by"))
        if creator is not None:
            creator.panels += 1
        content = values.get(str(panel.get("panel")), {})
        for key in BOARD_POINTED_FIELDS:
            setter = panel.get("fields", {}).get(key)
            if key in content and content[key] != BOARD_FIELD_DEFAULTS[key]:
                found = of(setter)
                if found is not None:
                    found.fields += 1
        authors = list(dict.fromkeys(panel.get("image_authors") or []))
        for author in authors:
            found = of(author)
            if found is not None:
                found.images[len(authors)] += 1
    return {owner: points for owner, points in out.items() if points.total > 0}
