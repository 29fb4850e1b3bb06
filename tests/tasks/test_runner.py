"""`run_action`: order, `if:` guards with Iter8 v2's facts, first failure stops the action."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from iter8.store.sqlite import SqliteStore
from iter8.tasks import TaskContext, TaskFailed, TaskResult, all_tasks, condition_facts, run_action
from tests.tasks.conftest import experiment, tasks


@pytest.mark.parametrize(
    ("candidates", "winner", "testing", "candidate_won", "winner_found"),
    [
        (("v2",), "v2", "Canary", True, True),
        (("v2",), "sample-app-v1", "Canary", False, True),
        (("v2",), None, "Canary", False, False),
        (("v2",), "v2", "A/B", True, True),
        (("v2", "v3"), "v2", "A/B/N", False, True),  # never with two candidates
        (("v2", "v3"), "v3", "A/B/N", False, True),
    ],
)
def test_candidate_won_needs_exactly_one_candidate_that_won(
    candidates: tuple[str, ...],
    winner: str | None,
    testing: str,
    candidate_won: bool,
    winner_found: bool,
) -> None:
    facts = condition_facts(experiment(candidates=candidates, winner=winner, testing=testing))
    assert facts == {"CandidateWon": candidate_won, "WinnerFound": winner_found}


class Recorder:
    name: ClassVar[str] = "test/record"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def run(self, params: Mapping[str, Any], context: TaskContext) -> TaskResult:
        self.calls.append(dict(params))
        if params.get("fail"):
            raise TaskFailed("asked to fail", "some output")
        if params.get("crash"):
            raise RuntimeError("a bug")
        return TaskResult(f"recorded {params.get('n')}")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def run(specs: list, store: SqliteStore, tmp_path: Path, recorder: Recorder, **exp: Any):
    context = TaskContext(experiment=experiment(**exp), store=store, work_dir=tmp_path)
    return run_action(specs, context, registry={recorder.name: recorder})


def test_guards_pick_the_promotion_like_the_quickstart(
    store: SqliteStore, tmp_path: Path, recorder: Recorder
) -> None:
    specs = tasks(
        {"if": "CandidateWon()", "task": "test/record", "with": {"n": "candidate"}},
        {"if": "not CandidateWon()", "task": "test/record", "with": {"n": "baseline"}},
    )
    result = run(specs, store, tmp_path, recorder)
    assert result.ok and [c["n"] for c in recorder.calls] == ["candidate"]
    assert [o.status for o in result.outcomes] == ["succeeded", "skipped"]
    assert result.outcomes[1].message == "if: not CandidateWon() is false"

    recorder.calls.clear()
    run(specs, store, tmp_path, recorder, candidates=("c1", "c2"), winner="c1", testing="A/B/N")
    assert [c["n"] for c in recorder.calls] == ["baseline"]


def test_the_first_failure_stops_the_action_with_its_reason(
    store: SqliteStore, tmp_path: Path, recorder: Recorder
) -> None:
    specs = tasks(
        {"task": "test/record", "with": {"n": 1}},
        {"task": "test/record", "with": {"n": 2, "fail": True}},
        {"task": "test/record", "with": {"n": 3}},
    )
    result = run(specs, store, tmp_path, recorder)
    assert not result.ok
    assert [c["n"] for c in recorder.calls] == [1, 2]
    assert result.message == "task 1 (test/record) failed: asked to fail"
    assert result.failed is not None and result.failed.output == "some output"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"task": "nope/nothing"}, "unknown task 'nope/nothing'"),
        ({"task": "test/record", "run": "true"}, "exactly one of 'task' and 'run'"),
        ({"if": "CandidateWon", "task": "test/record"}, "does not parse"),
        ({"task": "test/record", "with": {"crash": True}}, "RuntimeError: a bug"),
    ],
)
def test_bad_tasks_fail_the_action_instead_of_raising(
    spec: dict, message: str, store: SqliteStore, tmp_path: Path, recorder: Recorder
) -> None:
    result = run(tasks(spec), store, tmp_path, recorder)
    assert not result.ok and message in result.message


def test_an_empty_action_succeeds(store: SqliteStore, tmp_path: Path, recorder: Recorder) -> None:
    result = run([], store, tmp_path, recorder)
    assert result.ok and result.outcomes == ()


def test_the_library_holds_the_documented_tasks() -> None:
    names = set(all_tasks())
    assert {
        "run",
        "notification/http",
        "notification/slack",
        "common/readiness",
        "common/apply",
        "common/exec",
        "helm/upgrade",
        "kustomize/apply",
    } <= names


def test_a_temporary_work_directory_is_removed_after_the_action(store: SqliteStore) -> None:
    context = TaskContext(experiment=experiment(), store=store)
    result = run_action(tasks({"run": 'pwd > /dev/null; test -d "$SCRATCH_DIR"'}), context)
    assert result.ok, result.message
    assert context._temporary is None
