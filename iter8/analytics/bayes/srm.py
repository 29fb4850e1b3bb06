"""Sample-ratio mismatch: did each version get the traffic the split in force asked for?

With bandit weights, a naive test against today's split is wrong (peers.md §7); here each
period's new requests are expected in that period's intended split, and the sums are tested
with a chi-square goodness-of-fit (conservative for such sums of multinomials). Periods whose
request counts did not arrive are folded into the next period that has them, at the average of
their intended splits. The state is O(versions): cumulative observed and expected counts.

Metrics often arrive one scrape late: the counts read at the end of a period then hold the
previous period's traffic, which was routed by the previous split. That is a lag, not a broken
split, so the expected counts are kept twice — on time, and one period late — and a mismatch is
declared only when both reject (the check holds promotion; it never proves anything).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from iter8.analytics.bayes.special import chdtrc

MIN_REQUESTS = 100  # too few requests make any split look odd


@dataclass(frozen=True)
class SrmState:
    last: dict[str, float] = field(default_factory=dict)  # cumulative requests seen last time
    observed: dict[str, float] = field(default_factory=dict)  # requests in tracked periods
    expected: dict[str, float] = field(default_factory=dict)  # expected in tracked periods
    pending: list[dict[str, float]] = field(default_factory=list)  # intended splits not yet seen
    expected_late: dict[str, float] = field(default_factory=dict)  # if counts lag one period
    before: dict[str, float] = field(default_factory=dict)  # the split before `pending`'s first

    def to_wire(self) -> dict[str, object]:
        return {
            "last": self.last,
            "observed": self.observed,
            "expected": self.expected,
            "pending": self.pending,
            "expectedLate": self.expected_late,
            "before": self.before,
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
                expected_late={k: float(v) for k, v in data.get("expectedLate", {}).items()},
                before={k: float(v) for k, v in data.get("before", {}).items()},
            )
        except (AttributeError, TypeError, ValueError):
            return cls()


@dataclass(frozen=True)
class SrmResult:
    p_value: float | None  # None: not enough tracked traffic to test; else the larger of the
    mismatch: bool  # on-time and one-period-late p-values
    observed: dict[str, float]
    expected: dict[str, float]

    @property
    def pooled(self) -> bool:
        """A mismatch where every version was measured the same requests: the signature of
        queries that do not select the version and answer each one the totals."""
        counts = set(self.observed.values())
        return self.mismatch and len(self.observed) > 1 and len(counts) == 1 and min(counts) > 0


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
        return replace(state, pending=pending[-50:])
    now = {name: float(c) for name, c in zip(names, counts, strict=True) if c is not None}
    if not pending:
        return replace(state, last=now)
    new = {name: max(0.0, now[name] - state.last.get(name, 0.0)) for name in names}
    late = ([state.before] if state.before else []) + pending[:-1] or pending
    return SrmState(
        last=now,
        observed=_plus(state.observed, new, names),
        expected=_plus(state.expected, _spread(new, pending, names), names),
        pending=[],
        expected_late=_plus(state.expected_late, _spread(new, late, names), names),
        before=pending[-1],
    )


def _spread(
    new: Mapping[str, float], splits: Sequence[Mapping[str, float]], names: Sequence[str]
) -> dict[str, float]:
    """The new requests, as the average of `splits` would have routed them."""
    total = sum(new.values())
    return {name: total * sum(p.get(name, 0.0) for p in splits) / len(splits) for name in names}


def _plus(a: Mapping[str, float], b: Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    return {name: a.get(name, 0.0) + b.get(name, 0.0) for name in names}


def test(state: SrmState, names: Sequence[str], threshold: float) -> SrmResult:
    observed = {n: state.observed.get(n, 0.0) for n in names}
    expected = {n: state.expected.get(n, 0.0) for n in names}
    if sum(observed.values()) < MIN_REQUESTS or len(names) < 2:
        return SrmResult(None, False, observed, expected)
    late = {n: state.expected_late.get(n, 0.0) for n in names}
    p_value = max(_p_value(observed, expected, names), _p_value(observed, late, names))
    return SrmResult(p_value, p_value < threshold, observed, expected)


def _p_value(
    observed: Mapping[str, float], expected: Mapping[str, float], names: Sequence[str]
) -> float:
    statistic = sum(
        (observed[n] - max(expected[n], 0.5)) ** 2 / max(expected[n], 0.5) for n in names
    )
    return float(chdtrc(len(names) - 1, statistic))
