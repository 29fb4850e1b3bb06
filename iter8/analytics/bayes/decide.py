"""When to stop, and with what outcome: error-controlled promotion, quick rollback.

The asymmetry (decision-anchors.md): a promotion must be *proven* (anytime-valid tests at α, so
looking every iteration cannot inflate false promotions), while giving up on a candidate only
needs it to be unlikely to be proven soon; a wrong rollback costs a missed promotion, not an
incident. Per testing pattern:
* Conformance: promote the baseline once every objective is proven to hold; roll back once one
  is proven to fail, or P(it holds) < `futility_probability` once the data hold
  `futility_events` bad events at the limit's rate (e.g. 8 errors' worth of requests), or
  P(it holds) < `late_futility_probability` after `late_futility_events` (a candidate that
  hovers near its limit is dropped instead of being exposed for the whole experiment).
* Canary: promote the first candidate whose objectives are all proven to hold; eliminate a
  candidate proven to fail an objective or futile as above; roll back when none is left.
* A/B, A/B/N: promote a candidate proven feasible and proven better than the baseline on
  `rewards[0]` at α/K (K candidates, Bonferroni), and proven better than every other surviving
  candidate at α. Eliminate a candidate that is infeasible or futile as above, proven worse than
  the baseline or than another candidate, or with P(gain ≥ `minimum_effect`) below
  `reward_futility_probability`. With more rewards, a candidate proven worse on any of them is
  not promoted (Pareto). Roll back when every candidate is eliminated.
Also: nothing stops before a version has `min_samples` requests; no promotion while the traffic
shows a sample-ratio mismatch; an objective with `rollback_on_failure` proven failing rolls back
at once; the last iteration without a decision ends as `no-winner` (keep the baseline).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from iter8.analytics.algorithm import Decision
from iter8.analytics.bayes import evidence as rules
from iter8.analytics.bayes.objectives import Check
from iter8.analytics.bayes.rewards import Comparison
from iter8.analytics.bayes.settings import Settings
from iter8.analytics.bayes.srm import SrmResult


@dataclass(frozen=True)
class Evidence:
    names: Sequence[str]  # baseline first
    pattern: str
    checks: Mapping[str, Sequence[Check]]  # version → one per objective
    feasible: Mapping[str, float | None]  # posterior P(every objective holds)
    requests: Mapping[str, float | None]
    comparisons: Sequence[Mapping[tuple[str, str], Comparison]]  # per reward, (better, other)
    has_reward: bool
    srm: SrmResult
    iteration: int
    max_iterations: int


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    eliminated: dict[str, str] = field(default_factory=dict)  # version → why


def verdict(checks: Sequence[Check]) -> str:
    if any(c.verdict == "fails" for c in checks):
        return "fails"
    if all(c.verdict == "holds" for c in checks):
        return "holds"
    return "undecided"


def better(comparisons: Mapping[tuple[str, str], Comparison], a: str, b: str, level: float) -> bool:
    """Whether `a` is proven better than `b` at `level`."""
    if (a, b) in comparisons:
        return comparisons[(a, b)].proven(level)
    if (b, a) in comparisons:
        return comparisons[(b, a)].disproven(level)
    return False


def decide(evidence: Evidence, settings: Settings) -> Outcome:
    names = list(evidence.names)
    baseline, candidates = names[0], names[1:]
    failing = _rollback_failures(evidence)
    if failing:
        reason = "objectives with rollback_on_failure are proven to fail: " + "; ".join(failing)
        return Outcome(Decision(action="rollback", version=baseline, reason=reason))
    if evidence.pattern == "Conformance":
        outcome = _conformance(evidence, settings)
    elif evidence.pattern == "Canary" or not evidence.has_reward:
        outcome = _canary(evidence, settings, candidates)
    else:
        outcome = _rewarded(evidence, settings, candidates)
    if outcome.decision.action == "continue" and evidence.iteration >= evidence.max_iterations:
        reason = (
            f"iteration {evidence.iteration} of {evidence.max_iterations} (the last) without a "
            f"proven winner, keeping baseline {baseline}: {outcome.decision.reason}"
        )
        decision = Decision(action="no-winner", version=baseline, reason=reason)
        return Outcome(decision, outcome.eliminated)
    return outcome


def _rollback_failures(evidence: Evidence) -> list[str]:
    return [
        f"{version}: {c.limits.describe()} (P(holds) {_p(c.probability)}, e-value {_e(c.log_e_fails)})"
        for version, checks in evidence.checks.items()
        for c in checks
        if c.limits.rollback and c.verdict == "fails"
    ]


def _enough(evidence: Evidence, version: str, settings: Settings) -> bool:
    return rules.enough(evidence.requests.get(version), settings.min_samples)


def _slo_elimination(evidence: Evidence, version: str, settings: Settings) -> str | None:
    checks = evidence.checks.get(version, [])
    failed = [c for c in checks if c.verdict == "fails"]
    if failed:
        c = failed[0]
        return (
            f"{c.limits.describe()} proven to fail (e-value {_e(c.log_e_fails)} ≥ "
            f"{1 / settings.alpha:g}, n {c.n:,.0f}, P(holds) {_p(c.probability)})"
        )
    for c in checks:
        p = c.probability
        if p is None or c.n < settings.min_samples:
            continue
        for bar, events in (
            (settings.futility_probability, settings.futility_events),
            (settings.late_futility_probability, settings.late_futility_events),
        ):
            if p < bar and c.expected_events >= events:
                return (
                    f"futile: P({c.limits.describe()}) {p:.3f} < {bar:g} after {c.n:,.0f} requests"
                )
    return None


def _proven_safe(evidence: Evidence, version: str) -> str:
    checks = evidence.checks.get(version, [])
    if not checks:
        return "no objectives"
    return ", ".join(
        f"{c.limits.describe()} proven (e-value {_e(c.log_e_holds)}, n {c.n:,.0f})" for c in checks
    )


def _conformance(evidence: Evidence, settings: Settings) -> Outcome:
    baseline = evidence.names[0]
    why = _slo_elimination(evidence, baseline, settings)
    if why:
        return Outcome(Decision(action="rollback", version=baseline, reason=f"{baseline}: {why}"))
    if verdict(evidence.checks.get(baseline, [])) == "holds" and _enough(
        evidence, baseline, settings
    ):
        reason = f"{baseline} meets every objective at α = {settings.alpha:g}: {_proven_safe(evidence, baseline)}"
        return Outcome(Decision(action="promote", version=baseline, reason=reason))
    return Outcome(Decision(action="continue", reason=_waiting(evidence, [baseline])))


def _canary(evidence: Evidence, settings: Settings, candidates: Sequence[str]) -> Outcome:
    baseline = evidence.names[0]
    eliminated = {c: why for c in candidates if (why := _slo_elimination(evidence, c, settings))}
    for c in candidates:
        if c in eliminated or not _enough(evidence, c, settings):
            continue
        if verdict(evidence.checks.get(c, [])) == "holds":
            if evidence.srm.mismatch:
                return Outcome(Decision(action="continue", reason=_srm(evidence, c)), eliminated)
            reason = f"candidate {c} meets every objective at α = {settings.alpha:g}: {_proven_safe(evidence, c)}"
            return Outcome(Decision(action="promote", version=c, reason=reason), eliminated)
    if candidates and len(eliminated) == len(candidates):
        reason = "; ".join(f"{c}: {why}" for c, why in eliminated.items())
        return Outcome(Decision(action="rollback", version=baseline, reason=reason), eliminated)
    live = [c for c in candidates if c not in eliminated]
    return Outcome(Decision(action="continue", reason=_waiting(evidence, live)), eliminated)


def _rewarded(evidence: Evidence, settings: Settings, candidates: Sequence[str]) -> Outcome:
    baseline = evidence.names[0]
    first = evidence.comparisons[0]
    level = settings.alpha / max(1, len(candidates))
    eliminated: dict[str, str] = {}
    for c in candidates:
        why = _slo_elimination(evidence, c, settings) or _reward_elimination(
            first, baseline, c, evidence, settings
        )
        if why:
            eliminated[c] = why
    for c in candidates:  # proven worse than a surviving rival
        if c in eliminated:
            continue
        for d in candidates:
            if d != c and d not in eliminated and better(first, d, c, settings.alpha):
                eliminated[c] = f"proven worse than {d} on the reward ({_cmp(first, d, c)})"
                break
    live = [c for c in candidates if c not in eliminated]
    for c in live:
        if not (_enough(evidence, c, settings) and _enough(evidence, baseline, settings)):
            continue
        if verdict(evidence.checks.get(c, [])) != "holds":
            continue
        if not better(first, c, baseline, level):
            continue
        if any(not better(first, c, d, settings.alpha) for d in live if d != c):
            continue
        worse_elsewhere = [
            i
            for i, other in enumerate(evidence.comparisons[1:], 1)
            if better(other, baseline, c, settings.alpha)
        ]
        if worse_elsewhere:
            continue
        if evidence.srm.mismatch:
            return Outcome(Decision(action="continue", reason=_srm(evidence, c)), eliminated)
        reason = (
            f"candidate {c} is better than baseline {baseline} on the reward at α/{len(candidates)} "
            f"({_cmp(first, c, baseline)}) and meets every objective: {_proven_safe(evidence, c)}"
        )
        return Outcome(Decision(action="promote", version=c, reason=reason), eliminated)
    if candidates and not live:
        reason = "no candidate can win: " + "; ".join(f"{c}: {w}" for c, w in eliminated.items())
        return Outcome(Decision(action="rollback", version=baseline, reason=reason), eliminated)
    return Outcome(Decision(action="continue", reason=_waiting(evidence, live, first)), eliminated)


def _reward_elimination(
    comparisons: Mapping[tuple[str, str], Comparison],
    baseline: str,
    candidate: str,
    evidence: Evidence,
    settings: Settings,
) -> str | None:
    if better(comparisons, baseline, candidate, settings.alpha):
        return f"proven worse than baseline {baseline} on the reward ({_cmp(comparisons, baseline, candidate)})"
    comparison = comparisons.get((candidate, baseline))
    n = evidence.requests.get(candidate)
    enough = max(settings.min_samples, settings.reward_futility_samples)
    if comparison is None or not rules.enough(n, enough):
        return None
    if comparison.gain_probability < settings.reward_futility_probability:
        return (
            f"futile: P(reward gain ≥ {settings.minimum_effect:.0%} of baseline) "
            f"{comparison.gain_probability:.3f} < {settings.reward_futility_probability:g}"
        )
    return None


def _waiting(
    evidence: Evidence,
    live: Sequence[str],
    comparisons: Mapping[tuple[str, str], Comparison] | None = None,
) -> str:
    baseline = evidence.names[0]
    parts = [f"iteration {evidence.iteration} of {evidence.max_iterations}"]
    for v in live:
        pending = [c for c in evidence.checks.get(v, []) if c.verdict != "holds"]
        text = ", ".join(
            f"{c.limits.describe()} {'no data' if c.verdict == 'unknown' else 'not yet proven'} "
            f"(P(holds) {_p(c.probability)}, e-value {_e(c.log_e_holds)})"
            for c in pending
        )
        n = evidence.requests.get(v)
        count = "" if n is None else f", {n:,.0f} requests"
        if comparisons is not None and v != baseline and (v, baseline) in comparisons:
            text = ", ".join(filter(None, [text, f"reward {_cmp(comparisons, v, baseline)}"]))
        parts.append(f"{v}: {text or 'waiting for the minimum sample'}{count}")
    return "; ".join(parts)


def _srm(evidence: Evidence, version: str) -> str:
    srm = evidence.srm
    observed = ", ".join(f"{v} {srm.observed[v]:,.0f}" for v in srm.observed)
    expected = ", ".join(f"{v} {srm.expected[v]:,.0f}" for v in srm.expected)
    return (
        f"{version} would win, but the traffic does not follow the intended split "
        f"(sample-ratio mismatch, p = {srm.p_value:.2g}; requests {observed}; expected {expected}): "
        f"holding until it does"
    )


def _cmp(comparisons: Mapping[tuple[str, str], Comparison], a: str, b: str) -> str:
    if (a, b) in comparisons:
        c = comparisons[(a, b)]
        delta, log_e = c.delta, c.log_e
    elif (b, a) in comparisons:
        c = comparisons[(b, a)]
        delta, log_e = -c.delta, c.log_e_worse
    else:
        return "no data"
    probability = c.probability if (a, b) in comparisons else 1 - c.probability
    if not c.testable:
        return (
            f"{a} − {b} = {delta:+.4g}, P({a} better) {probability:.3f} "
            f"(no test yet: fewer than two iterations with both values, so no proof either way)"
        )
    return (
        f"{a} − {b} = {delta:+.4g} ± {c.radius:.2g} (anytime-valid), "
        f"P({a} better) {probability:.3f}, e-value {_e(log_e)}"
    )


def _p(probability: float | None) -> str:
    return "unknown" if probability is None else f"{probability:.3f}"


def _e(log_e: float) -> str:
    if log_e == math.inf:
        return "∞"
    if log_e > 700:
        return "> 1e300"
    return f"{math.exp(log_e):.3g}"
