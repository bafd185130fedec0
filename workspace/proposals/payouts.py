"""The money core of payment-split proposals: pools, per-line payouts and proposal hashes.

Pure Python, no database and no floats: amounts are integers in the currency's minor unit
(cents, yen, fils), shares are integer basis points (10,000 bp = 100 %), and the only
non-integer inputs, revenue and costs, are ``Decimal`` converted exactly through
``Fraction``.

Rules (see the "Money" paragraph of the domain notes):

* **Profit** = ``max(revenue - costs, 0)``, rounded *down* to the currency's minor unit.
* **Fixed pools** (``Pool.amount_minor``, e.g. a fixed budget line) come off the top first.
  If they add up to more than the profit, :class:`InsufficientProfitError` is raised.
* **Share pools** (``Pool.share_of_profit_bp``) each get ``floor(rest * bp / 10,000)`` of
  what remains after the fixed pools. A pool named ``"artists"`` that sets neither field
  gets the default :data:`ARTISTS_DEFAULT_BP` (5,000 bp, the 50/50 company/artists split).
  Whatever no pool receives (the company's share and the rounding crumbs) stays with the
  company; it is not a pool and has no lines.
* **Lines** split their pool with the largest-remainder (Hamilton) method, see
  :func:`allocate`; the lines of a pool always add up to exactly the pool's amount.
* :func:`proposal_hash` fingerprints a whole proposal (money, pools, lines with their
  reasoning, computed amounts) so an acceptance binds to one exact version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

TOTAL_BP = 10_000
"""Basis points in 100 %: the shares of each pool's lines must total exactly this."""

ARTISTS_POOL = "artists"
ARTISTS_DEFAULT_BP = 5_000
"""The artists' pool gets 50 % of profit unless it says otherwise."""

# ISO 4217 minor units (exponents) for the codes a production is likely to be paid in.
MINOR_UNITS: Mapping[str, int] = {
    **dict.fromkeys(
        (
            "AED ARS AUD BDT BGN BRL CAD CHF CNY COP CZK DKK DOP DZD EGP EUR GBP GEL GHS "
            "HKD HUF IDR ILS INR JMD KES KZT LKR MAD MXN MYR NGN NOK NZD PEN PHP PKR PLN QAR "
            "RON RSD RUB SAR SEK SGD THB TRY TTD TWD TZS UAH USD UZS ZAR"
        ).split(),
        2,
    ),
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
}


class InsufficientProfitError(ValueError):
    """The fixed pools ask for more than the profit there is."""


def minor_units(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit; unknown (or lower-case) codes raise."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unknown currency code {currency!r} (ISO 4217, upper case)") from None


@dataclass(frozen=True)
class Line:
    """One line of a proposal: a contributor (or role category) and their share of a pool.

    ``held`` marks a named person without an account, whose money is held for them.
    """

    key: str
    contributor: str
    held: bool
    role: str
    share_bp: int
    pool: str = ARTISTS_POOL


@dataclass(frozen=True)
class Pool:
    """A pot of money split between lines: a fixed amount or a share of profit (not both)."""

    name: str
    amount_minor: int | None = None
    share_of_profit_bp: int | None = None


@dataclass(frozen=True)
class Money:
    """What a production earned and spent, in one currency (checked on construction)."""

    currency: str
    revenue: Decimal
    costs: Decimal

    def __post_init__(self) -> None:
        minor_units(self.currency)
        for field in ("revenue", "costs"):
            value = getattr(self, field)
            if not isinstance(value, Decimal):
                raise TypeError(f"{field} must be a Decimal, not {type(value).__name__}")
            if not value.is_finite() or value < 0:
                raise ValueError(f"{field} must be a finite, non-negative amount: {value}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pool_share_bp(pool: Pool) -> int | None:
    """The pool's share of profit, with the artists' default; None for a fixed pool."""
    if pool.amount_minor is None and pool.share_of_profit_bp is None:
        return ARTISTS_DEFAULT_BP if pool.name == ARTISTS_POOL else None
    return pool.share_of_profit_bp


def _pool_problems(pools: list[Pool]) -> list[str]:
    problems: list[str] = []
    names: set[str] = set()
    share_total = 0
    for pool in pools:
        if pool.name in names:
            problems.append(f"pool {pool.name!r} is defined more than once")
        names.add(pool.name)
        fixed, share = pool.amount_minor, _pool_share_bp(pool)
        if fixed is not None and share is not None:
            problems.append(f"pool {pool.name!r} has both a fixed amount and a share of profit")
        elif fixed is None and share is None:
            problems.append(f"pool {pool.name!r} has neither a fixed amount nor a share of profit")
        if fixed is not None and (not _is_int(fixed) or fixed < 0):
            problems.append(f"pool {pool.name!r} amount must be a non-negative integer: {fixed}")
        if share is not None:
            if not _is_int(share) or not 0 <= share <= TOTAL_BP:
                problems.append(
                    f"pool {pool.name!r} share must be an integer 0-{TOTAL_BP} bp: {share}"
                )
            else:
                share_total += share
    if share_total > TOTAL_BP:
        problems.append(f"pools' shares of profit total {share_total} bp, more than {TOTAL_BP}")
    return problems


def _line_problems(lines: list[Line]) -> list[str]:
    problems: list[str] = []
    keys: set[str] = set()
    for line in lines:
        if not line.key:
            problems.append("a line has an empty key")
        elif line.key in keys:
            problems.append(f"line key {line.key!r} is used more than once")
        keys.add(line.key)
        if not _is_int(line.share_bp):
            problems.append(f"line {line.key!r} share must be an integer: {line.share_bp!r}")
        elif line.share_bp < 0:
            problems.append(f"line {line.key!r} has a negative share: {line.share_bp} bp")
    return problems


def _shares_total(lines: list[Line]) -> int:
    return sum(line.share_bp for line in lines if _is_int(line.share_bp))


def validate(lines: Iterable[Line], pools: Iterable[Pool]) -> list[str]:
    """Every problem with a proposal's lines and pools, in a stable order; empty when fine.

    Pools: unique names, exactly one of fixed amount / share of profit (the ``"artists"``
    pool may omit both), non-negative integers, shares of profit totalling at most
    10,000 bp. Lines: unique non-empty keys, integer non-negative shares, an existing pool,
    and the lines of every pool totalling exactly 10,000 bp.
    """
    lines, pools = list(lines), list(pools)
    problems = _pool_problems(pools) + _line_problems(lines)
    names = {pool.name for pool in pools}
    for line in lines:
        if line.pool not in names:
            problems.append(f"line {line.key!r} is in pool {line.pool!r}, which does not exist")
    for name in sorted(names):
        total = _shares_total([line for line in lines if line.pool == name])
        if total != TOTAL_BP:
            problems.append(
                f"pool {name!r} line shares total {total} bp, must be exactly {TOTAL_BP}"
            )
    return problems


def _raise_problems(problems: list[str]) -> None:
    if problems:
        raise ValueError("invalid proposal: " + "; ".join(problems))


def profit_minor(money: Money) -> int:
    """``max(revenue - costs, 0)`` in minor units, rounded down (exact, no float, no context)."""
    profit = max(Fraction(money.revenue) - Fraction(money.costs), Fraction(0))
    scaled = profit * Fraction(10) ** minor_units(money.currency)
    return scaled.numerator // scaled.denominator


def pool_amounts(money: Money, pools: Iterable[Pool]) -> dict[str, int]:
    """Each pool's amount in minor units: fixed pools off the top, then shares of the rest.

    Share pools get ``floor(rest * bp / 10,000)`` where ``rest`` is the profit left after
    every fixed pool; what is left over stays with the company. Raises
    :class:`InsufficientProfitError` when the fixed pools exceed the profit, and
    ``ValueError`` for invalid pools.
    """
    pools = list(pools)
    _raise_problems(_pool_problems(pools))
    profit = profit_minor(money)
    fixed = {p.name: p.amount_minor for p in pools if p.amount_minor is not None}
    fixed_total = sum(fixed.values())
    if fixed_total > profit:
        raise InsufficientProfitError(
            f"fixed pools need {fixed_total} minor units of {money.currency} "
            f"but the profit is only {profit}"
        )
    rest = profit - fixed_total
    amounts: dict[str, int] = {}
    for pool in pools:
        if pool.amount_minor is not None:
            amounts[pool.name] = pool.amount_minor
        else:
            amounts[pool.name] = rest * (_pool_share_bp(pool) or 0) // TOTAL_BP
    return amounts


def allocate(amount_minor: int, lines: Iterable[Line]) -> dict[str, int]:
    """Split ``amount_minor`` between lines by the largest-remainder (Hamilton) method.

    Each line first gets ``floor(amount * bp / 10,000)``; the minor units left over go one
    each to the lines with the largest remainders ``amount * bp mod 10,000``. Ties are
    broken by the larger share, then by the smaller line key (plain string order), so the
    result never depends on the order of ``lines``. The result sums exactly to
    ``amount_minor``, every line is within one minor unit of its exact share, a larger
    share never gets less than a smaller one, and a zero share gets 0.

    The lines' shares must total exactly 10,000 bp, with unique keys and no negatives.
    """
    lines = list(lines)
    if not _is_int(amount_minor) or amount_minor < 0:
        raise ValueError(f"amount must be a non-negative integer: {amount_minor!r}")
    problems = _line_problems(lines)
    if not problems and _shares_total(lines) != TOTAL_BP:
        problems.append(f"line shares total {_shares_total(lines)} bp, must be exactly {TOTAL_BP}")
    _raise_problems(problems)

    amounts: dict[str, int] = {}
    remainders: list[tuple[int, int, str]] = []
    for line in lines:
        amounts[line.key], remainder = divmod(amount_minor * line.share_bp, TOTAL_BP)
        remainders.append((-remainder, -line.share_bp, line.key))
    leftover = amount_minor - sum(amounts.values())
    # leftover * 10,000 == sum of remainders, each < 10,000, so more than ``leftover`` lines
    # have a positive remainder and rank first: a zero share (remainder 0) never gets a unit.
    for _, _, key in sorted(remainders)[:leftover]:
        amounts[key] += 1
    return amounts


def payouts(money: Money, pools: Iterable[Pool], lines: Iterable[Line]) -> dict[str, int]:
    """Every line's payout in minor units, keyed by line key (raises on invalid input)."""
    pools, lines = list(pools), list(lines)
    _raise_problems(validate(lines, pools))
    result: dict[str, int] = {}
    for name, amount in pool_amounts(money, pools).items():
        result.update(allocate(amount, [line for line in lines if line.pool == name]))
    return {line.key: result[line.key] for line in lines}


def proposal_payload(
    money: Money,
    pools: Iterable[Pool],
    lines: Iterable[Line],
    reasoning: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The whole proposal as plain data for :func:`proposal_hash`, amounts included.

    ``reasoning`` maps line keys to the team's explanation (missing keys mean ""). Pools
    are listed by name and lines by key, so the input order never changes the hash.
    """
    pools, lines = list(pools), list(lines)
    reasoning = dict(reasoning or {})
    unknown = sorted(set(reasoning) - {line.key for line in lines})
    if unknown:
        raise ValueError(f"reasoning for unknown lines: {', '.join(unknown)}")
    amounts = payouts(money, pools, lines)
    pooled = pool_amounts(money, pools)
    return {
        "money": dataclasses.asdict(money),
        "pools": [
            {**dataclasses.asdict(pool), "amount": pooled[pool.name]}
            for pool in sorted(pools, key=lambda pool: pool.name)
        ],
        "lines": [
            {
                **dataclasses.asdict(line),
                "reasoning": reasoning.get(line.key, ""),
                "amount": amounts[line.key],
            }
            for line in sorted(lines, key=lambda line: line.key)
        ],
    }


def _canonical(value: object, path: str) -> object:
    """``value`` as JSON-native data, refusing anything that has no single spelling."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{path}: non-finite Decimal {value}")
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: keys must be strings, not {type(key).__name__}")
            out[str(key)] = _canonical(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_canonical(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canonical({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, path)
    raise TypeError(f"{path}: {type(value).__name__} is not allowed in a proposal (no floats)")


def canonical_json(payload: Mapping[str, object]) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not \\u escapes), Decimals as strings, ints as ints."""
    data = _canonical(payload, "$")
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def proposal_hash(payload: Mapping[str, object]) -> str:
    """``sha256:<hex>`` of the payload's canonical JSON: dict key order does not matter,
    any other change (a line, a reasoning, an amount, ``1.0`` vs ``1.00``) does."""
    return "sha256:" + hashlib.sha256(canonical_json(payload)).hexdigest()
