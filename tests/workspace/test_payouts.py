"""The money core of payment proposals: pools, Hamilton allocation, proposal hashes (no DB)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workspace.proposals.payouts import (
    MINOR_UNITS,
    InsufficientProfitError,
    Line,
    Money,
    Pool,
    allocate,
    canonical_json,
    minor_units,
    payouts,
    pool_amounts,
    profit_minor,
    proposal_hash,
    proposal_payload,
    validate,
)

ARTISTS = [Pool("artists")]


def lines_of(*shares: int, pool: str = "artists") -> list[Line]:
    return [Line(f"l{i}", f"person{i}", False, "writer", bp, pool) for i, bp in enumerate(shares)]


# --- exact examples -----------------------------------------------------------------------


def test_minor_units_table() -> None:
    assert [minor_units(c) for c in ("USD", "EUR", "GBP", "JPY", "KRW", "KWD", "BHD")] == [
        2,
        2,
        2,
        0,
        0,
        3,
        3,
    ]
    for code in ("XYZ", "usd", "", "US"):
        with pytest.raises(ValueError, match="unknown currency"):
            minor_units(code)
    with pytest.raises(ValueError, match="unknown currency"):
        Money("ABC", Decimal(1), Decimal(0))


def test_money_refuses_floats_negatives_and_nan() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        Money("USD", 1.5, Decimal(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative"):
        Money("USD", Decimal("-1"), Decimal(0))
    with pytest.raises(ValueError, match="finite"):
        Money("USD", Decimal("NaN"), Decimal(0))


def test_hundred_split_three_ways() -> None:
    assert allocate(10000, lines_of(3334, 3333, 3333)) == {"l0": 3334, "l1": 3333, "l2": 3333}


def test_one_cent_over_three_lines_goes_to_the_largest_share() -> None:
    assert allocate(1, lines_of(3333, 3334, 3333)) == {"l0": 0, "l1": 1, "l2": 0}
    # Equal shares: the tie goes to the smallest key, whatever the input order.
    equal = lines_of(5000, 2500, 2500)
    assert allocate(1, equal) == {"l0": 1, "l1": 0, "l2": 0}
    assert allocate(1, equal[::-1]) == {"l0": 1, "l1": 0, "l2": 0}
    assert allocate(2, lines_of(0, 5000, 5000)) == {"l0": 0, "l1": 1, "l2": 1}
    assert allocate(3, lines_of(2500, 2500, 2500, 2500)) == {"l0": 1, "l1": 1, "l2": 1, "l3": 0}


def test_largest_remainder_beats_larger_share() -> None:
    # 7 * 6000 = 4.2 (rem .2), 7 * 4000 = 2.8 (rem .8): the leftover unit goes to the .8.
    assert allocate(7, lines_of(6000, 4000)) == {"l0": 4, "l1": 3}


def test_zero_amount_and_zero_shares() -> None:
    assert allocate(0, lines_of(10000, 0)) == {"l0": 0, "l1": 0}
    assert allocate(999, lines_of(0, 10000, 0)) == {"l0": 0, "l1": 999, "l2": 0}


def test_allocate_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="must be exactly 10000"):
        allocate(100, lines_of(5000, 4999))
    with pytest.raises(ValueError, match="must be exactly 10000"):
        allocate(0, [])
    with pytest.raises(ValueError, match="negative"):
        allocate(100, lines_of(10001, -1))
    with pytest.raises(ValueError, match="more than once"):
        allocate(100, lines_of(5000) * 2)
    with pytest.raises(ValueError, match="non-negative integer"):
        allocate(-1, lines_of(10000))


def test_usd_payouts_half_of_profit() -> None:
    money = Money("USD", Decimal("1000.00"), Decimal("800.01"))  # profit 199.99
    assert profit_minor(money) == 19999
    assert pool_amounts(money, ARTISTS) == {"artists": 9999}  # 99.995 rounded down
    # Floors 3333/3332/3332, remainders .6666/.6667/.6667: the two leftovers go to l1, l2.
    assert payouts(money, ARTISTS, lines_of(3334, 3333, 3333)) == {
        "l0": 3333,
        "l1": 3333,
        "l2": 3333,
    }


def test_jpy_rounds_down_to_whole_yen() -> None:
    money = Money("JPY", Decimal("1000.99"), Decimal("0.5"))  # profit 1000.49 -> 1000 yen
    assert pool_amounts(money, ARTISTS) == {"artists": 500}
    assert payouts(money, ARTISTS, lines_of(3334, 3333, 3333)) == {
        "l0": 167,
        "l1": 167,
        "l2": 166,
    }


def test_kwd_has_three_decimals() -> None:
    money = Money("KWD", Decimal("10.0005"), Decimal("0"))  # 10.000 KWD = 10000 fils
    assert pool_amounts(money, ARTISTS) == {"artists": 5000}
    assert payouts(money, ARTISTS, lines_of(3334, 3333, 3333)) == {
        "l0": 1667,
        "l1": 1667,
        "l2": 1666,
    }


def test_loss_means_nothing_to_share() -> None:
    money = Money("EUR", Decimal("10"), Decimal("25"))
    assert pool_amounts(money, ARTISTS) == {"artists": 0}
    assert payouts(money, ARTISTS, lines_of(5000, 5000)) == {"l0": 0, "l1": 0}


def test_fixed_pools_come_off_the_top() -> None:
    money = Money("USD", Decimal("1000.00"), Decimal("0"))
    pools = [Pool("artists"), Pool("editing", amount_minor=20000), Pool("fund", None, 1000)]
    # 100000 - 20000 fixed = 80000; artists 50 % = 40000; fund 10 % = 8000.
    assert pool_amounts(money, pools) == {"artists": 40000, "editing": 20000, "fund": 8000}
    lines = [
        *lines_of(6000, 4000),
        Line("ed", "Ed", True, "editor", 10000, "editing"),
        Line("fd", "Fund", False, "fund", 10000, "fund"),
    ]
    assert payouts(money, pools, lines) == {"l0": 24000, "l1": 16000, "ed": 20000, "fd": 8000}


def test_fixed_pools_exceeding_profit_raise() -> None:
    money = Money("USD", Decimal("100.00"), Decimal("50.00"))
    with pytest.raises(InsufficientProfitError, match=r"need 5001 .* only 5000"):
        pool_amounts(money, [Pool("artists"), Pool("editing", amount_minor=5001)])
    assert pool_amounts(money, [Pool("editing", amount_minor=5000)]) == {"editing": 5000}


def test_artists_share_can_be_overridden() -> None:
    money = Money("GBP", Decimal("100"), Decimal("0"))
    assert pool_amounts(money, [Pool("artists", share_of_profit_bp=7000)]) == {"artists": 7000}


# --- validate -----------------------------------------------------------------------------


def test_validate_accepts_a_good_proposal() -> None:
    assert validate(lines_of(3334, 3333, 3333), ARTISTS) == []


@pytest.mark.parametrize(
    ("lines", "pools", "expected"),
    [
        (lines_of(5000, 4999), ARTISTS, ["pool 'artists' line shares total 9999 bp"]),
        (lines_of(5000, 5001), ARTISTS, ["pool 'artists' line shares total 10001 bp"]),
        (lines_of(10001, -1), ARTISTS, ["line 'l1' has a negative share: -1 bp"]),
        (lines_of(5000) * 2, ARTISTS, ["line key 'l0' is used more than once"]),
        (lines_of(10000, pool="nope"), ARTISTS, ["pool 'nope', which does not exist", "total 0"]),
        ([Line("", "x", False, "r", 10000)], ARTISTS, ["a line has an empty key"]),
        ([], ARTISTS, ["pool 'artists' line shares total 0 bp"]),
        (lines_of(10000), ARTISTS * 2, ["pool 'artists' is defined more than once"]),
        (lines_of(10000), [*ARTISTS, Pool("x")], ["'x' has neither"]),
        (lines_of(10000), [Pool("artists", 5, 5)], ["both a fixed amount and a share"]),
        (lines_of(10000), [Pool("artists", -5)], ["amount must be a non-negative integer"]),
        (lines_of(10000), [Pool("artists", None, 10001)], ["share must be an integer 0-10000"]),
        (
            [*lines_of(10000), Line("f", "f", False, "r", 10000, "f")],
            [Pool("artists"), Pool("f", None, 5001)],
            ["shares of profit total 10001 bp"],
        ),
        (
            [Line("a", "a", False, "r", True)],
            ARTISTS,
            ["share must be an integer: True"],
        ),
    ],
)
def test_validate_reports_problems(
    lines: list[Line], pools: list[Pool], expected: list[str]
) -> None:
    problems = validate(lines, pools)
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)


def test_payouts_refuses_an_invalid_proposal() -> None:
    money = Money("USD", Decimal(100), Decimal(0))
    with pytest.raises(ValueError, match=r"invalid proposal: .*9999 bp"):
        payouts(money, ARTISTS, lines_of(5000, 4999))


# --- properties ---------------------------------------------------------------------------

CURRENCIES = st.sampled_from(sorted(MINOR_UNITS))
AMOUNTS = st.decimals(min_value=0, max_value=10**9, places=2)


@st.composite
def partitions(draw: st.DrawFn, min_size: int = 1, max_size: int = 40) -> list[int]:
    """Basis points summing to exactly 10,000, by cutting [0, 10000] at random points."""
    n = draw(st.integers(min_size, max_size))
    cuts = sorted(draw(st.lists(st.integers(0, 10000), min_size=n - 1, max_size=n - 1)))
    bounds = [0, *cuts, 10000]
    return [b - a for a, b in itertools.pairwise(bounds)]


@st.composite
def line_sets(draw: st.DrawFn, pool: str = "artists") -> list[Line]:
    shares = draw(partitions())
    keys = draw(
        st.lists(
            st.text("abcxyz0123_", min_size=1, max_size=6),
            min_size=len(shares),
            max_size=len(shares),
            unique=True,
        )
    )
    return [
        Line(key, f"c-{key}", draw(st.booleans()), "role", bp, pool)
        for key, bp in zip(keys, shares, strict=True)
    ]


def check_allocation(amount: int, lines: list[Line], result: dict[str, int]) -> None:
    assert set(result) == {line.key for line in lines}
    assert sum(result.values()) == amount
    for line in lines:
        exact = Fraction(amount * line.share_bp, 10000)
        assert abs(result[line.key] - exact) < 1
        if line.share_bp == 0:
            assert result[line.key] == 0
    for a in lines:
        for b in lines:
            if a.share_bp > b.share_bp:
                assert result[a.key] >= result[b.key]


@given(amount=st.integers(0, 10**15), lines=line_sets(), data=st.data())
def test_allocate_properties(amount: int, lines: list[Line], data: st.DataObject) -> None:
    result = allocate(amount, lines)
    check_allocation(amount, lines, result)
    shuffled = data.draw(st.permutations(lines))
    assert allocate(amount, shuffled) == result


@given(
    currency=CURRENCIES,
    revenue=AMOUNTS,
    costs=AMOUNTS,
    lines=line_sets(),
    data=st.data(),
)
def test_payouts_properties(
    currency: str, revenue: Decimal, costs: Decimal, lines: list[Line], data: st.DataObject
) -> None:
    money = Money(currency, revenue, costs)
    profit = max(revenue - costs, Decimal(0)) * 10 ** minor_units(currency)
    assert profit_minor(money) == int(profit)  # exact for these magnitudes; int() truncates
    pools = [Pool("artists")]
    amounts = pool_amounts(money, pools)
    assert amounts == {"artists": profit_minor(money) // 2}
    result = payouts(money, pools, lines)
    check_allocation(amounts["artists"], lines, result)
    assert payouts(money, pools, data.draw(st.permutations(lines))) == result


@given(
    currency=CURRENCIES,
    revenue=AMOUNTS,
    fixed=st.integers(0, 10**6),
    fund_bp=st.integers(0, 5000),
    artists=line_sets(),
    fund=line_sets("fund"),
)
def test_payouts_with_fixed_and_share_pools(
    currency: str,
    revenue: Decimal,
    fixed: int,
    fund_bp: int,
    artists: list[Line],
    fund: list[Line],
) -> None:
    fund = [dataclasses.replace(line, key="f-" + line.key) for line in fund]
    lines = [*artists, Line("editor", "Ed", True, "editor", 10000, "edit"), *fund]
    pools = [Pool("artists"), Pool("edit", amount_minor=fixed), Pool("fund", None, fund_bp)]
    money = Money(currency, revenue, Decimal(0))
    profit = profit_minor(money)
    if fixed > profit:
        with pytest.raises(InsufficientProfitError):
            payouts(money, pools, lines)
        return
    amounts = pool_amounts(money, pools)
    rest = profit - fixed
    assert amounts == {"artists": rest // 2, "edit": fixed, "fund": rest * fund_bp // 10000}
    assert sum(amounts.values()) <= profit
    result = payouts(money, pools, lines)
    assert result["editor"] == fixed
    check_allocation(amounts["artists"], artists, {a.key: result[a.key] for a in artists})
    fund_lines = [line for line in lines if line.pool == "fund"]
    check_allocation(amounts["fund"], fund_lines, {f.key: result[f.key] for f in fund_lines})


# --- proposal hash ------------------------------------------------------------------------


def sample_payload() -> dict[str, object]:
    money = Money("USD", Decimal("1234.56"), Decimal("234.50"))
    lines = [
        Line("writing", "ana", False, "writer", 4000),
        Line("voice", "Bo (no account)", True, "narrator", 3500),
        Line("editors", "editors' influence", False, "editor", 2500),
    ]
    reasoning = {"writing": "wrote the script — all of it", "voice": "narration"}
    return proposal_payload(money, ARTISTS, lines, reasoning)


def test_proposal_payload_contents() -> None:
    payload = sample_payload()
    assert payload["money"] == {
        "currency": "USD",
        "revenue": Decimal("1234.56"),
        "costs": Decimal("234.50"),
    }
    assert payload["pools"] == [
        {"name": "artists", "amount_minor": None, "share_of_profit_bp": None, "amount": 50003}
    ]
    lines = payload["lines"]
    assert isinstance(lines, list)
    assert [(x["key"], x["amount"], x["reasoning"]) for x in lines] == [
        ("editors", 12501, ""),
        ("voice", 17501, "narration"),
        ("writing", 20001, "wrote the script — all of it"),
    ]
    with pytest.raises(ValueError, match="unknown lines: ghost"):
        proposal_payload(Money("USD", Decimal(1), Decimal(0)), ARTISTS, [], {"ghost": "boo"})


def test_canonical_json_spelling() -> None:
    payload = {"b": [Decimal("1.50"), 2, True, None], "a": {"z": "é", "y": -3}}
    assert canonical_json(payload) == '{"a":{"y":-3,"z":"é"},"b":["1.50",2,true,null]}'.encode()
    assert proposal_hash({}) == "sha256:" + hashlib.sha256(b"{}").hexdigest()
    digest = proposal_hash(sample_payload())
    assert digest.startswith("sha256:")
    assert len(digest) == 7 + 64
    assert json.loads(canonical_json(sample_payload()))["money"]["revenue"] == "1234.56"


@pytest.mark.parametrize(
    "bad", [{"x": 1.5}, {"x": Decimal("NaN")}, {"x": {1: "a"}}, {"x": {1, 2}}, {"x": b"a"}]
)
def test_canonical_json_refuses_ambiguous_values(bad: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json(bad)


def reorder(value: object) -> object:
    """The same data with every dict's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value


def leaves(value: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path


def changed(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, Decimal):
        return value + Decimal("0.01")
    if isinstance(value, str):
        return value + " "
    assert value is None
    return 0


def test_hash_ignores_key_order() -> None:
    payload = sample_payload()
    reordered = reorder(payload)
    assert isinstance(reordered, dict)
    assert list(reordered) != list(payload)
    assert proposal_hash(reordered) == proposal_hash(payload)


def test_hash_changes_with_any_field() -> None:
    base = proposal_hash(sample_payload())
    paths = list(leaves(sample_payload()))
    assert len(paths) > 20
    seen = {base}
    for path in paths:
        payload = sample_payload()
        node: object = payload
        for step in path[:-1]:
            node = node[step]  # type: ignore[index]
        node[path[-1]] = changed(node[path[-1]])  # type: ignore[index]
        digest = proposal_hash(payload)
        assert digest not in seen, path
        seen.add(digest)
    # Decimal spelling is part of the proposal: 1.5 and 1.50 are different documents.
    assert proposal_hash({"x": Decimal("1.5")}) != proposal_hash({"x": Decimal("1.50")})


@given(
    payload=st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.text()
            | st.decimals(allow_nan=False, allow_infinity=False),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=5), inner, max_size=4)
            ),
            max_leaves=20,
        ),
        max_size=6,
    )
)
def test_hash_is_stable_under_reordering(payload: dict[str, object]) -> None:
    reordered = reorder(payload)
    assert isinstance(reordered, dict)
    assert proposal_hash(reordered) == proposal_hash(payload)
    if "extra" not in payload:
        assert proposal_hash({**payload, "extra": 1}) != proposal_hash(payload)
