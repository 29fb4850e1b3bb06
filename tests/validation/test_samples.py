"""Iter8 v2's own samples are accepted as written, and round-trip unchanged."""

from __future__ import annotations

import pytest
import yaml

from iter8.api.experiment import Experiment
from iter8.api.metric import Metric
from iter8.manifests import read_documents
from iter8.security.namespaces import REFERENCE_NAMESPACES_ENV
from iter8.validation.documents import check_documents
from tests.compat import experiment_files, metrics_file_for, samples_dir

MODELS = {"Experiment": Experiment, "Metric": Metric}


# Iter8 v2's Istio sample runs its experiment in `default` and routes `bookinfo-iter8`: across the
# namespace boundary, which an operator must allow (iter8.security.namespaces).
CROSS_NAMESPACE = {"istio-quickstart-experiment.yaml": "default:bookinfo-iter8"}


@pytest.mark.parametrize("experiment_file", experiment_files() or ["(samples missing)"])
def test_sample_experiment_validates_with_its_metrics(
    experiment_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = samples_dir()
    documents = read_documents(directory / experiment_file)
    documents += read_documents(directory / metrics_file_for(experiment_file))
    assert any(d.kind == "Experiment" for d in documents)
    problems = [p.problem for p in check_documents(documents)]
    if experiment_file in CROSS_NAMESPACE:
        assert {p.path.rpartition(".")[2] for p in problems} == {"namespace"}
        assert all(REFERENCE_NAMESPACES_ENV in p.message for p in problems)
        monkeypatch.setenv(REFERENCE_NAMESPACES_ENV, CROSS_NAMESPACE[experiment_file])
        problems = [p.problem for p in check_documents(documents)]
    assert [str(p) for p in problems] == []


def test_every_sample_document_round_trips() -> None:
    checked = 0
    for path in sorted(samples_dir().glob("*.yaml")):
        for data in yaml.safe_load_all(path.read_text()):
            model = MODELS.get((data or {}).get("kind"))
            if model is None:
                continue
            assert model.from_wire(data).to_wire() == data, f"{path.name}: {data['metadata']}"
            checked += 1
    assert checked >= 15


def test_unknown_fields_are_kept_at_every_level() -> None:
    data = {
        "apiVersion": "iter8.tools/v2alpha2",
        "kind": "Experiment",
        "metadata": {"name": "e", "newMetaField": 1},
        "spec": {
            "target": "t",
            "futureField": {"a": [1, 2]},
            "strategy": {"testingPattern": "Canary", "stepper": "x"},
            "criteria": {"objectives": [{"metric": "m", "upperLimit": "10m", "extra": True}]},
            "versionInfo": {"baseline": {"name": "a", "color": "blue"}},
        },
        "status": {"stage": "Running", "ourAnnotation": {"k": "v"}},
    }
    assert Experiment.from_wire(data).to_wire() == data


def test_snake_case_wire_names_are_not_taken_for_fields() -> None:
    """Only the wire spelling counts: `max_loops` is an unknown field, not `maxLoops`."""
    data = {
        "spec": {
            "target": "t",
            "strategy": {"testingPattern": "Canary"},
            "duration": {"max_loops": 3},
        }
    }
    experiment = Experiment.from_wire(data)
    assert experiment.spec.duration is not None
    assert experiment.spec.duration.max_loops is None
    assert experiment.to_wire()["spec"] == data["spec"]
