"""`iter8 validate` names a control annotation whose value the functions would read as asking
nothing (`iter8.lifecycle.control`), instead of letting it silently do nothing."""

from __future__ import annotations

import pytest

from iter8.api.experiment import Experiment
from iter8.validation.annotations import check_annotations
from tests.validation.test_invalid import valid_canary


def problems(annotations: dict[str, str]) -> list[str]:
    manifest = valid_canary()
    manifest["metadata"]["annotations"] = annotations
    return [str(p) for p in check_annotations(Experiment.from_wire(manifest))]


def test_well_formed_control_annotations_pass() -> None:
    assert (
        problems(
            {
                "iter8.tools/paused": "true",
                "iter8.tools/approval": "required",
                "iter8.tools/approval-timeout": "30m",
                "iter8.tools/approval-timeout-outcome": "promote",
                "iter8.tools/approved": "false",
                "other.example/anything": "x",
            }
        )
        == []
    )


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("iter8.tools/paused", "yes", '"true" or "false"'),
        ("iter8.tools/approval", "please", '"required"'),
        ("iter8.tools/approval-timeout", "soon", "seconds"),
        ("iter8.tools/approval-timeout-outcome", "wait", "rollback or promote"),
        ("iter8.tools/promote", "v9", "one of the versions"),
    ],
)
def test_a_value_that_asks_nothing_is_named(key: str, value: str, says: str) -> None:
    (problem,) = problems({key: value})
    assert problem.startswith(f'metadata.annotations["{key}"]') and says in problem
