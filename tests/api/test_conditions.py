from __future__ import annotations

import itertools

import pytest

from iter8.api.conditions import ConditionError, evaluate, parse


@pytest.mark.parametrize(
    ("text", "truth"),
    [
        ("CandidateWon()", lambda c, w: c),
        ("not CandidateWon()", lambda c, w: not c),
        ("!WinnerFound()", lambda c, w: not w),
        ("WinnerFound() and not CandidateWon()", lambda c, w: w and not c),
        ("CandidateWon() || !WinnerFound()", lambda c, w: c or not w),
        ("not (CandidateWon() or WinnerFound())", lambda c, w: not (c or w)),
        ("not CandidateWon() and WinnerFound() or CandidateWon()", lambda c, w: (not c and w) or c),
        ("true && WinnerFound()", lambda c, w: w),
    ],
)
def test_guards_evaluate_like_boolean_logic(text: str, truth: object) -> None:
    node = parse(text)
    for candidate_won, winner_found in itertools.product([False, True], repeat=2):
        facts = {"CandidateWon": candidate_won, "WinnerFound": winner_found}
        assert evaluate(node, facts) == truth(candidate_won, winner_found)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("CandidateWon", "must be called"),
        ("CandidateWon() and", "ends too early"),
        ("(WinnerFound()", "ends too early"),
        ("Deploy()", "unknown 'Deploy'"),
        ("CandidateWon() WinnerFound()", "unexpected"),
        ("CandidateWon() == true", "unexpected"),
    ],
)
def test_bad_guards_say_why(text: str, says: str) -> None:
    with pytest.raises(ConditionError, match=says):
        parse(text)
