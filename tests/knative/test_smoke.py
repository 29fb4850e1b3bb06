"""The setup alone: eventing/config on Knative's own code reaches Ready."""

from __future__ import annotations

from tests.knative.local import Iter8OnKnative


def test_broker_triggers_and_sources_become_ready(iter8_knative: Iter8OnKnative) -> None:
    assert (
        iter8_knative.sink
        == "http://broker-ingress.knative-eventing.svc.cluster.local/iter8-system/iter8"
    )
