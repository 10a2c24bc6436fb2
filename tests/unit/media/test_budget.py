"""How a call budget travels down the levels: each one strictly shorter than the one above."""
from __future__ import annotations

import pytest

from gateway.downstream.forward import BUDGET_HEADER, DEFAULT_BUDGET, MIN_BUDGET, below, budget_of


def test_each_level_gets_less_than_the_one_above_and_three_levels_fit() -> None:
    city = DEFAULT_BUDGET
    district, leaf, device = below(city), below(below(city)), below(below(below(city)))
    assert city > district > leaf > device > MIN_BUDGET


@pytest.mark.parametrize(("stated", "budget"), [
    ("3.5", 3.5), (" 2 ", 2.0), ("100", DEFAULT_BUDGET), ("0", DEFAULT_BUDGET), ("-1", DEFAULT_BUDGET),
    ("nan", DEFAULT_BUDGET), ("inf", DEFAULT_BUDGET), ("soon", DEFAULT_BUDGET), ("", DEFAULT_BUDGET),
])
def test_a_stated_budget_is_honoured_only_when_usable_and_never_raised(stated: str, budget: float) -> None:
    assert budget_of({BUDGET_HEADER: stated}) == budget
    assert budget_of({}) == DEFAULT_BUDGET
