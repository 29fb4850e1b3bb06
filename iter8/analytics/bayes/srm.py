"""Sample-ratio mismatch: did each version get the traffic the split in force asked for?

With bandit weights, a naive test against today's split is wrong (peers.md §7); here each
period's new requests are expected in that period's intended split, and the sums are tested
with a chi-square goodness-of-fit (conservative for such sums of multinomials). Periods whose
request counts did not arrive are folded into the next period that has them, at the average of
their intended splits. The state is O(versions): cumulative observed and expected counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scipy.special import chdtrc

MIN_REQUESTS = 100  # too few requests make any split look odd


@dataclass(frozen=True)
class SrmState:
    last: dict[str, float] = field(default_factory=dict)  # cumulative requests seen last time
    observed: dict[str, float] = field(default_factory=dict)  # requests in tracked periods
    expected: dict[str, float] = field(default_factory=dict)  # expected in tracked periods
    pending: list[dict[str, float]] = field(default_factory=list)  # intended splits not yet seen

    def to_wire(self) -> dict[str, object]:
        return {
            "last": self.last,
            "observed": self.observed,
            "expected": self.expected,
            "pending": self.pending,
        }

    @classmethod
    def from_wire(cls, data: object) -> SrmState:
        if not isinstance(data, Mapping):
            return cls()
        try:
            return cls(
                last={k: float(v) for k, v in data.get("last", {}).items()},
                observed={k: float(v) for k, v in data.get("observed", {}).items()},
                expected={k: float(v) for k, v in data.get("expected", {}).items()},
                pending=[{k: float(v) for k, v in p.items()} for p in data.get("pending", [])][
                    -50:
                ],
            )
        except (AttributeError, TypeError, ValueError):
            return cls()


@dataclass(frozen=True)
class SrmResult:
    p_value: float | None  # None: not enough tracked traffic to test
    mismatch: bool
    observed: dict[str, float]
    expected: dict[str, float]


def update(
    state: SrmState,
    names: Sequence[str],
    requests: Mapping[str, float | None],
    intended: Mapping[str, float] | None,
) -> SrmState:
    """Account the period that just ended; `intended` are its fractions (None: unknown)."""
    pending = [*state.pending, dict(intended)] if intended else list(state.pending)
    counts = [requests.get(name) for name in names]
    if any(c is None for c in counts):
        return SrmState(state.last, state.observed, state.expected, pending[-50:])
    now = {name: float(c) for name, c in zip(names, counts, strict=True) if c is not None}
    new = {name: max(0.0, now[name] - state.last.get(name, 0.0)) for name in names}
    observed, expected = dict(state.observed), dict(state.expected)
    if pending:
        total = sum(new.values())
        for name in names:
            share = sum(p.get(name, 0.0) for p in pending) / len(pending)
            expected[name] = expected.get(name, 0.0) + total * share
            observed[name] = observed.get(name, 0.0) + new[name]
    return SrmState(now, observed, expected, [])


def test(state: SrmState, names: Sequence[str], threshold: float) -> SrmResult:
    observed = {n: state.observed.get(n, 0.0) for n in names}
    expected = {n: state.expected.get(n, 0.0) for n in names}
    if sum(observed.values()) < MIN_REQUESTS or len(names) < 2:
        return SrmResult(None, False, observed, expected)
    statistic = sum(
        (observed[n] - max(expected[n], 0.5)) ** 2 / max(expected[n], 0.5) for n in names
    )
    p_value = float(chdtrc(len(names) - 1, statistic))
    return SrmResult(p_value, p_value < threshold, observed, expected)
