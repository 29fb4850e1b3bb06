"""Iter8 v2's own Knative quickstart: its experiment routes its experimental Service."""

from __future__ import annotations

import yaml

from iter8.api.experiment import Experiment
from iter8.routing import apply_weights, read_weights
from iter8.store.resources import KNATIVE_SERVICES
from iter8.store.sqlite import SqliteStore
from tests.compat import samples_dir


def test_knative_quickstart_sample_end_to_end(store: SqliteStore) -> None:
    samples = samples_dir()
    service = yaml.safe_load((samples / "knative-quickstart-experimentalservice.yaml").read_text())
    experiment = Experiment.from_wire(
        yaml.safe_load((samples / "knative-quickstart-experiment.yaml").read_text())
    )
    store.create(KNATIVE_SERVICES, service)
    assert read_weights(store, experiment) == {"sample-app-v1": 100, "sample-app-v2": 0}
    applied = apply_weights(store, experiment, {"sample-app-v1": 45, "sample-app-v2": 55})
    assert len(applied.patched) == 1
    stored = store.get(KNATIVE_SERVICES, "default", "sample-app")
    assert [t["percent"] for t in stored["spec"]["traffic"]] == [45, 55]
    assert stored["spec"]["traffic"][1]["tag"] == "candidate"  # nothing else changed
    assert stored["spec"]["template"] == service["spec"]["template"]
