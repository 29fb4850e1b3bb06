"""When to stop, and with what outcome: every stop is a test with its error controlled.

Promotion must be *proven* (anytime-valid tests at α, so looking every iteration cannot inflate
false promotions), and so must rollback: a version is given up on only once "it is harmful" is
proven by its own e-value at α (a rate above its limit, a percentile beyond it, a reward worse
than the baseline's). A compliant version is then wrongly rolled back in at most α of
experiments, however often we look. The earlier rule (give up when P(holds) < 0.3 after 8
limit-events' worth of requests) rolled back ~60% of candidates whose heavy-tailed p95 was 5%
*under* the limit: a posterior probability is not a test. What replaces its speed is the
allocation: a version likely to fail gets only its floor of traffic (`traffic`), so keeping it
until proof or the horizon costs few requests, and the horizon ends an undecided experiment
keeping the baseline (`no-winner`), which is the safe outcome.
With a horizon, a version that can no longer be proven compliant (an objective) or better than
the baseline (the reward, at α/K) by the horizon is given up early for futility
(`sequential.futile`: a version at the effect the horizon proves with 80% power is given up in
at most 5% of experiments). Futility proves no harm, so when only futility is left the outcome
is `no-winner` (the baseline kept), not a rollback, and the reason says "futility". Per
testing pattern:
* Conformance: promote the baseline once every objective is proven to hold; roll back once one
  is proven to fail.
* Canary: promote the first candidate whose objectives are all proven to hold; eliminate a
  candidate proven to fail one (or futile on one); roll back when none is left.
* A/B, A/B/N: promote a candidate proven feasible and proven better than the baseline on
  `rewards[0]` at α/K (K candidates, Bonferroni), and proven better than every other surviving
  candidate at α that is itself proven better than the baseline (others: more likely worse
  than it, P ≥ 1 − α; `_ahead`). Eliminate a candidate proven to fail an objective, proven worse than the
  baseline or than another candidate on the reward, or futile (an objective, or the reward
  against the baseline). With more rewards, a candidate proven worse
  on any of them is not promoted. Roll back when every candidate is eliminated.
* Pareto (several rewards, none first): promote a feasible candidate proven to dominate the
  baseline: better on at least one reward at α/(K·R) (R rewards), and not worse than the
  baseline by more than `pareto_tolerance` of its value on every reward at α/K (non-inferiority;
  an intersection-union test, so level α/K per candidate). Eliminate a candidate proven to fail
  an objective or proven worse than the baseline on some reward by more than that tolerance
  (the complement of the non-inferiority claim, at α: exactly the candidates that can no longer
  be promoted). Proven worse by any margin, as before, eliminated a candidate the promotion
  rule would still accept, and wrongly rolled back an equal-signups dominating candidate in
  2.1% of the bench's runs (a two-sided look at a null reward, at α). The Pareto front is
  reported (`bayesian`).
Also: nothing stops before a version has `min_samples` requests (where nothing counts requests,
its values' own minimum applies instead: `evidence` rule 4); no promotion while the traffic
shows a sample-ratio mismatch (nor any gain of traffic: `evidence` rule 7); an objective with
`rollback_on_failure` proven failing rolls back at once; the last iteration without a decision
ends as `no-winner` (keep the baseline).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from iter8.analytics.algorithm import Decision
from iter8.analytics.bayes import evidence as rules
from iter8.analytics.bayes.objectives import Check
from iter8.analytics.bayes.rewards import Comparison
from iter8.analytics.bayes.sequential import FUTILITY_BETA, POWER
from iter8.analytics.bayes.settings import Settings
from iter8.analytics.bayes.srm import SrmResult

FUTILITY = (
    f"non-binding futility: a version at the effect the horizon proves with {POWER:.0%} power "
    f"is given up this way in at most {FUTILITY_BETA:.0%} of experiments"
)


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
    reward_scales: Sequence[float] = ()  # per reward: |the baseline's value| (Pareto tolerance)
    # versions measured by nothing that counts requests (`evidence.uncounted`)
    uncounted: frozenset[str] = frozenset()


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
    elif evidence.pattern == "Pareto":
        outcome = _pareto(evidence, settings, candidates)
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
    if version in evidence.uncounted:
        return True  # nothing to count: its values' own minimum applies (`objectives.check`)
    return rules.enough(evidence.requests.get(version), settings.min_samples)


def _slo_elimination(evidence: Evidence, version: str, settings: Settings) -> str | None:
    """Why the version is given up on: an objective proven to fail (module docstring)."""
    failed = [c for c in evidence.checks.get(version, []) if c.verdict == "fails"]
    if not failed:
        return None
    c = failed[0]
    return (
        f"{c.limits.describe()} proven to fail (e-value {_e(c.log_e_fails)} ≥ "
        f"{1 / settings.alpha:g}, n {c.n:,.0f}, P(holds) {_p(c.probability)})"
    )


def _futility(evidence: Evidence, version: str, settings: Settings) -> str | None:
    """Why the version is given up on without proven harm: an objective it can no longer be
    proven to meet by the horizon (`sequential.futile`; module docstring)."""
    hopeless = [c for c in evidence.checks.get(version, []) if c.futile or c.stalled]
    if not hopeless:
        return None
    c = hopeless[0]
    if not c.futile:
        size = f"{c.n:,.0f} values" if c.by_values else f"n {c.n:,.0f}"
        return (
            f"futility: {c.limits.describe()} is likely failing and cannot be proven by the "
            f"horizon at the share of traffic it has ({size}, P(holds) "
            f"{_p(c.probability)}; non-binding: nothing proven against it, the baseline kept)"
        )
    return (
        f"futility: {c.limits.describe()} cannot be proven by the horizon (n {c.n:,.0f}, "
        f"P(holds) {_p(c.probability)}; {FUTILITY})"
    )


def _reward_futility(
    comparisons: Mapping[tuple[str, str], Comparison],
    baseline: str,
    candidate: str,
    level: float,
) -> str | None:
    pair = comparisons.get((candidate, baseline))
    if pair is None or not pair.futile(level):
        return None
    return (
        f"futility: cannot be proven better than baseline {baseline} on the reward by the "
        f"horizon ({_cmp(comparisons, candidate, baseline)}; {FUTILITY})"
    )


def _given_up(eliminated: Mapping[str, str], baseline: str, prefix: str) -> Decision:
    """Every candidate is out: a rollback when one was proven harmful, else (futility only)
    the baseline is kept as `no-winner`, since nothing was proven against the candidates."""
    reason = prefix + "; ".join(f"{c}: {why}" for c, why in eliminated.items())
    harmful = any(not why.startswith("futility") for why in eliminated.values())
    return Decision(action="rollback" if harmful else "no-winner", version=baseline, reason=reason)


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
    eliminated = {
        c: why
        for c in candidates
        if (why := _slo_elimination(evidence, c, settings) or _futility(evidence, c, settings))
    }
    for c in candidates:
        if c in eliminated or not _enough(evidence, c, settings):
            continue
        if verdict(evidence.checks.get(c, [])) == "holds":
            if evidence.srm.mismatch:
                return Outcome(Decision(action="continue", reason=_srm(evidence, c)), eliminated)
            reason = f"candidate {c} meets every objective at α = {settings.alpha:g}: {_proven_safe(evidence, c)}"
            return Outcome(Decision(action="promote", version=c, reason=reason), eliminated)
    if candidates and len(eliminated) == len(candidates):
        return Outcome(_given_up(eliminated, baseline, ""), eliminated)
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
        if why is None and _enough(evidence, c, settings) and _enough(evidence, baseline, settings):
            why = _futility(evidence, c, settings) or _reward_futility(first, baseline, c, level)
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
        if any(not _ahead(first, c, d, baseline, level, settings.alpha) for d in live if d != c):
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
        return Outcome(_given_up(eliminated, baseline, "no candidate can win: "), eliminated)
    return Outcome(Decision(action="continue", reason=_waiting(evidence, live, first)), eliminated)


def _ahead(
    comparisons: Mapping[tuple[str, str], Comparison],
    c: str,
    d: str,
    baseline: str,
    level: float,
    alpha: float,
) -> bool:
    """Whether `c` may be chosen over rival `d`: proven better at α, or — when `d` is not itself
    proven better than the baseline — better with posterior probability ≥ 1 − α. The second
    arm is a selection rule, not a test: `c`'s promotion still needs its proof against the
    baseline, so it can pick a lesser improvement but never a non-improvement."""
    if better(comparisons, c, d, alpha):
        return True
    if better(comparisons, d, baseline, level):
        return False
    if (c, d) in comparisons:
        return comparisons[(c, d)].probability >= 1 - alpha
    if (d, c) in comparisons:
        return 1 - comparisons[(d, c)].probability >= 1 - alpha
    return False


def _reward_elimination(
    comparisons: Mapping[tuple[str, str], Comparison],
    baseline: str,
    candidate: str,
    evidence: Evidence,
    settings: Settings,
) -> str | None:
    if better(comparisons, baseline, candidate, settings.alpha):
        return f"proven worse than baseline {baseline} on the reward ({_cmp(comparisons, baseline, candidate)})"
    return None


def _pareto(evidence: Evidence, settings: Settings, candidates: Sequence[str]) -> Outcome:
    baseline = evidence.names[0]
    rewards = len(evidence.comparisons)
    level = settings.alpha / max(1, len(candidates))
    margins = [
        settings.pareto_tolerance
        * (evidence.reward_scales[i] if i < len(evidence.reward_scales) else 0.0)
        for i in range(rewards)
    ]
    eliminated: dict[str, str] = {}
    for c in candidates:
        worse = [
            i
            for i, comparisons in enumerate(evidence.comparisons)
            if (pair := comparisons.get((c, baseline))) is not None
            and pair.worse_beyond(margins[i], settings.alpha)
        ]
        why = _slo_elimination(evidence, c, settings)
        if why is None and worse:
            why = (
                f"proven worse than baseline {baseline} on reward {worse[0] + 1} by more than "
                f"{settings.pareto_tolerance:.0%} of its value, so it cannot dominate it "
                f"({_cmp(evidence.comparisons[worse[0]], baseline, c)})"
            )
        if why:
            eliminated[c] = why
    live = [c for c in candidates if c not in eliminated]
    winners: list[tuple[float, str, str]] = []
    for c in live:
        if not (_enough(evidence, c, settings) and _enough(evidence, baseline, settings)):
            continue
        if verdict(evidence.checks.get(c, [])) != "holds":
            continue
        pairs = [comparisons.get((c, baseline)) for comparisons in evidence.comparisons]
        if any(p is None for p in pairs):
            continue
        found = [p for p in pairs if p is not None]
        gains = [i for i, p in enumerate(found) if p.proven(level / rewards)]
        if gains and all(p.not_worse(m, level) for p, m in zip(found, margins, strict=True)):
            best = max(found[i].log_e for i in gains)
            why = ", ".join(
                f"reward {i + 1}: {_cmp(evidence.comparisons[i], c, baseline)}"
                for i in range(rewards)
            )
            winners.append((best, c, why))
    if winners:
        _, c, why = max(winners)
        if evidence.srm.mismatch:
            return Outcome(Decision(action="continue", reason=_srm(evidence, c)), eliminated)
        reason = (
            f"candidate {c} dominates baseline {baseline} (better on a reward at α/{len(candidates) * rewards:g}, "
            f"not worse than {settings.pareto_tolerance:.0%} of the baseline on any at α/{len(candidates)}: "
            f"{why}) and meets every objective: {_proven_safe(evidence, c)}"
        )
        return Outcome(Decision(action="promote", version=c, reason=reason), eliminated)
    if candidates and not live:
        reason = "no candidate can dominate the baseline: " + "; ".join(
            f"{c}: {w}" for c, w in eliminated.items()
        )
        return Outcome(Decision(action="rollback", version=baseline, reason=reason), eliminated)
    return Outcome(
        Decision(action="continue", reason=_waiting(evidence, live, evidence.comparisons[0])),
        eliminated,
    )


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
    if evidence.srm.mismatch:
        parts.append(f"{_mismatch(evidence.srm)}: no version gains traffic until it does")
    return "; ".join(parts)


def _srm(evidence: Evidence, version: str) -> str:
    return f"{version} would win, but {_mismatch(evidence.srm)}: holding until it does"


def _mismatch(srm: SrmResult) -> str:
    observed = ", ".join(f"{v} {srm.observed[v]:,.0f}" for v in srm.observed)
    expected = ", ".join(f"{v} {srm.expected[v]:,.0f}" for v in srm.expected)
    text = (
        f"the traffic does not follow the intended split (sample-ratio mismatch, "
        f"p = {srm.p_value:.2g}; requests {observed}; expected {expected})"
    )
    if srm.pooled:
        text += (
            "; every version was measured the same requests: does each query select its "
            "version (for example with a label matcher on $name, the version's name)?"
        )
    return text


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
