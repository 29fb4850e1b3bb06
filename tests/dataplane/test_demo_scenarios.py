"""Every `iter8 demo --scenario` end to end: the sample app's two versions, the embedded router in
front of them, users sending real HTTP through it, the experiment on the embedded stack; and
what each group of users saw, before, during and after. The canary runs as the README's command
(`iter8 demo`, a subprocess); the others through `iter8.demo.run.play`, which the command calls.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from iter8.demo.app import Behaviour
from iter8.demo.experiment import BASELINE, CANDIDATE
from iter8.demo.run import Observation, Settings, play
from iter8.demo.scenarios import SCENARIOS
from iter8.demo.traffic import NO_VERSION

pytestmark = pytest.mark.slow
ITER8 = Path(sys.executable).parent / "iter8"
SETTINGS = Settings(interval_seconds=1, settle_seconds=1.0, timeout=150)


def run(name: str, settings: Settings = SETTINGS, kept: str = CANDIDATE) -> Observation:
    lines: list[str] = []
    observation = play(SCENARIOS[name], settings, lines.append)
    status = observation.experiment.status
    assert observation.succeeded and status is not None, "\n".join(lines)
    assert status.version_recommended_for_promotion == kept, "\n".join(lines)
    return observation


def versions(observation: Observation, group: str, phase: str) -> set[str]:
    return set(observation.seen.get((group, phase), Counter()))


def split(baseline: int, candidate: int) -> dict[str, int]:
    return {BASELINE: baseline, CANDIDATE: candidate}


def test_canary_the_readme_command() -> None:
    done = subprocess.run(
        [str(ITER8), "demo", "--interval", "1", "--timeout", "150"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "promoted demo-app-v2" in done.stderr
    users = next(line for line in done.stderr.splitlines() if line.strip().startswith("users "))
    assert "before: v1 100%" in users and "after: v2 100%" in users, users
    assert "v2" in users.split("during:")[1].split("|")[0], users  # the ramp reached users


def test_segment_only_matching_users_are_split() -> None:
    seen = run("segment")
    for phase in ("before", "during", "after"):
        assert versions(seen, "everyone else", phase) == {BASELINE}, phase
    assert versions(seen, "beta users", "before") == {BASELINE}
    assert versions(seen, "beta users", "during") == {BASELINE, CANDIDATE}
    assert versions(seen, "beta users", "after") == {CANDIDATE}
    assert seen.leftovers == 0 and seen.unavailable == 0


def test_mirror_users_see_only_the_baseline_while_the_candidate_gets_copies() -> None:
    seen = run("mirror")
    assert versions(seen, "users", "before") == versions(seen, "users", "during") == {BASELINE}
    assert versions(seen, "users", "after") == {CANDIDATE}  # the switch, at the end
    assert seen.mirrored > 0
    assert seen.splits == [split(100, 0), split(0, 100)]
    assert seen.leftovers == 0  # no mirror survives the experiment


def test_mirror_of_a_failing_candidate_is_removed_and_nobody_was_exposed() -> None:
    failing = replace(SETTINGS, candidate=Behaviour(latency_ms=30, error_rate=0.1))
    seen = run("mirror", failing, kept=BASELINE)
    for phase in ("before", "during", "after"):
        assert versions(seen, "users", phase) == {BASELINE}, phase
    assert seen.mirrored > 0 and seen.leftovers == 0
    assert seen.splits == [split(100, 0)]  # the rollback wrote no weights


def test_sticky_users_never_switch_and_cookieless_users_do() -> None:
    seen = run("sticky")
    assert seen.switched["keep the cookie"] == 0
    switched = seen.switched["drop the cookie"]
    assert switched is not None and switched > 0.2
    assert len(seen.splits) > 2  # the split moved while they were there
    assert versions(seen, "keep the cookie", "during") == {BASELINE, CANDIDATE}  # new users


def test_bluegreen_never_splits_and_testers_reach_the_candidate() -> None:
    seen = run("bluegreen")
    assert seen.splits == [split(100, 0), split(0, 100)]  # one switch, nothing in between
    assert versions(seen, "testers", "during") == {CANDIDATE}
    assert versions(seen, "users", "during") == {BASELINE}
    assert versions(seen, "users", "after") == {CANDIDATE}


def test_fixedsplit_keeps_the_split_and_promotes_the_winner() -> None:
    seen = run("fixedsplit")
    assert seen.splits == [split(70, 30), split(0, 100)]
    during = seen.seen[("users", "during")]
    assert NO_VERSION not in during
    assert 0.1 < during[CANDIDATE] / sum(during.values()) < 0.5  # about 30%
    assert versions(seen, "users", "after") == {CANDIDATE}
