import pytest

from solver.engine import objective as lex

SENSES = {"high": "max", "low": "max", "evictions": "min"}


def test_lexicographic_order_respects_tiers_and_senses():
    assert lex.better({"high": 3, "low": 0, "evictions": 9}, {"high": 2, "low": 50, "evictions": 0}, SENSES)
    assert lex.better({"high": 3, "low": 1, "evictions": 1}, {"high": 3, "low": 1, "evictions": 2}, SENSES)
    assert not lex.better(
        {"high": 3, "low": 1, "evictions": 1}, {"high": 3, "low": 1, "evictions": 1}, SENSES
    )
    assert lex.no_worse({"high": 3, "low": 1, "evictions": 1}, {"high": 3, "low": 1, "evictions": 1}, SENSES)


def test_gap_is_on_first_differing_component():
    obj = {"high": 8, "low": 3, "evictions": 2}
    assert lex.gap(obj, {"high": 10, "low": 0, "evictions": 0}, SENSES) == pytest.approx(0.2)
    assert lex.gap(obj, {"high": 8, "low": 4, "evictions": 0}, SENSES) == pytest.approx(0.25)
    assert lex.gap(obj, {"high": 8, "low": 3, "evictions": 2}, SENSES) == 0.0
    assert lex.gap(obj, {"high": 8, "low": None, "evictions": None}, SENSES) is None
    assert lex.meets(obj, dict(obj), SENSES)


def test_a_plan_beating_its_bound_is_reported():
    with pytest.raises(ValueError):
        lex.gap({"high": 9, "low": 0, "evictions": 0}, {"high": 8, "low": 0, "evictions": 0}, SENSES)


def test_tighter_picks_the_smaller_bound_and_unbounded_loses():
    a = {"high": 10, "low": 5, "evictions": 0}
    b = {"high": 10, "low": 4, "evictions": 3}
    assert lex.tighter(a, b, SENSES) == b
    assert lex.tighter(a, {"high": 10, "low": None, "evictions": None}, SENSES) == a
    assert lex.tighter(None, a, SENSES) == a
    assert lex.normalise_bound({"high": 10, "low": None, "evictions": 0}, SENSES) == {
        "high": 10,
        "low": None,
        "evictions": None,
    }


def test_a_bound_proven_on_a_later_tier_beats_an_open_one():
    proven = {"high": 5, "low": 3, "evictions": 0}
    open_ = {"high": 5, "low": None, "evictions": None}
    assert lex.tighter(open_, proven, SENSES) == proven
    assert lex.tighter(proven, open_, SENSES) == proven
