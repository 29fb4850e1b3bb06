from __future__ import annotations

import copy

from iter8.api.defaults import defaulted_view, max_iterations, with_defaults
from iter8.api.experiment import Experiment


def experiment(**spec: object) -> Experiment:
    base = {"target": "t", "strategy": {"testingPattern": "Canary"}}
    return Experiment.from_wire({"spec": {**base, **spec}})


def test_iter8_v2_defaults() -> None:
    given = experiment(criteria={"objectives": [{"metric": "m", "upperLimit": 1}]})
    result = with_defaults(given)
    spec = result.to_wire()["spec"]
    assert spec["strategy"]["deploymentPattern"] == "Progressive"
    assert spec["strategy"]["weights"] == {
        "maxCandidateWeight": 100,
        "maxCandidateWeightIncrement": 10,
    }
    assert spec["duration"] == {"intervalSeconds": 20, "iterationsPerLoop": 15, "maxLoops": 1}
    assert spec["criteria"]["objectives"][0]["rollback_on_failure"] is False
    assert max_iterations(given) == 15


def test_defaults_never_touch_the_input_or_override_what_is_set() -> None:
    given = experiment(
        duration={"intervalSeconds": 3, "maxLoops": 2},
        strategy={
            "testingPattern": "Canary",
            "deploymentPattern": "BlueGreen",
            "weights": {"maxCandidateWeight": 50},
        },
        criteria={
            "objectives": [
                {"metric": "a", "upperLimit": 1},
                {"metric": "b", "upperLimit": 1, "rollback_on_failure": False},
            ]
        },
    )
    before = given.to_wire()
    spec = with_defaults(given).to_wire()["spec"]
    assert given.to_wire() == before
    assert spec["duration"] == {"intervalSeconds": 3, "iterationsPerLoop": 15, "maxLoops": 2}
    assert spec["strategy"]["weights"] == {
        "maxCandidateWeight": 50,
        "maxCandidateWeightIncrement": 10,
    }
    # BlueGreen: rollback on failure unless the user said otherwise
    assert [o["rollback_on_failure"] for o in spec["criteria"]["objectives"]] == [True, False]
    assert max_iterations(given) == 30


def test_a_defaulted_view_defaults_a_copy_of_the_spec_and_shares_the_status() -> None:
    given = Experiment.from_wire(
        {
            "spec": {"target": "t", "strategy": {"testingPattern": "Canary"}},
            "status": {"stage": "Running", "completedIterations": 3},
        }
    )
    view = defaulted_view(given)
    assert view.to_wire()["spec"] == with_defaults(given).to_wire()["spec"]
    assert given.spec.strategy.deployment_pattern is None  # the input's spec is left alone
    assert view.status is given.status  # not copied: a reader's view


def test_a_defaulted_view_of_an_experiment_with_every_default_is_the_experiment() -> None:
    """What the analyze function hands over is defaulted already: nothing is copied."""
    given = with_defaults(
        Experiment.from_wire(
            {
                "spec": {"target": "t", "strategy": {"testingPattern": "Canary"}},
                "status": {"stage": "Running", "completedIterations": 3},
            }
        )
    )
    assert defaulted_view(given) is given
    given.spec.duration.max_loops = None  # one default missing: a defaulted copy again
    view = defaulted_view(given)
    assert view is not given and view.spec.duration.max_loops == 1
    assert view.status is given.status


def _leaves(tree: object, path: tuple = ()) -> dict[tuple, object]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, (*path, key)).items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in _leaves(sub, (*path, i)).items()}
    return {path: tree}


def test_the_no_copy_check_knows_every_default_with_defaults_fills() -> None:
    """`defaulted_view` skips the copy only when nothing is missing; the check lists the fields
    again, so each one `with_defaults` fills (found by diffing, not listed here: a default added
    there is covered) is removed in turn, and the view must still be the defaulted experiment."""
    bare = experiment(criteria={"objectives": [{"metric": "m", "upperLimit": 1}]})
    full = with_defaults(bare).to_wire()
    filled = _leaves(full["spec"]).keys() - _leaves(bare.to_wire()["spec"]).keys()
    assert len(filled) >= 7, filled  # what with_defaults fills today, at the least
    for path in sorted(filled, key=str):
        wire = copy.deepcopy(full)
        parent = wire["spec"]
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        given = Experiment.from_wire(wire)
        assert defaulted_view(given).to_wire()["spec"] == with_defaults(given).to_wire()["spec"], (
            path
        )
