"""The target's Lease: a holder identity that is not one of ours never blocks a target."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.lease import acquire, lease_name, lease_namespace
from iter8.events import ExperimentRef
from iter8.store.resources import LEASES
from iter8.store.sqlite import SqliteStore

TARGET = "default/app"
NEWCOMER = ExperimentRef(namespace="default", name="new", uid="u-2")


def _lease_held_by(store: SqliteStore, identity: str) -> None:
    store.create(
        LEASES,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": lease_name(TARGET), "namespace": lease_namespace()},
            "spec": {"holderIdentity": identity},
        },
    )


def _holder(store: SqliteStore) -> str:
    lease = store.get(LEASES, lease_namespace(), lease_name(TARGET))
    return str(lease["spec"]["holderIdentity"])


@pytest.mark.parametrize(
    "identity", ["/exp/u-1", "Default/exp/u-1", "default/exp/" + "u" * 200, "garbage"]
)
def test_a_lease_held_by_no_experiment_we_could_name_is_taken_over(
    tmp_path: Path, identity: str
) -> None:
    store = SqliteStore(tmp_path / "store.db")
    _lease_held_by(store, identity)
    asked: list[ExperimentRef] = []
    assert acquire(store, TARGET, NEWCOMER, lambda holder: asked.append(holder) or True)
    assert asked == []  # nobody to ask about: no experiment has that name
    assert _holder(store) == "default/new/u-2"


def test_a_lease_held_by_a_live_experiment_is_kept(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    _lease_held_by(store, "default/old/u-1")
    asked: list[ExperimentRef] = []
    assert not acquire(store, TARGET, NEWCOMER, lambda holder: asked.append(holder) or True)
    assert asked == [ExperimentRef(namespace="default", name="old", uid="u-1")]
    assert _holder(store) == "default/old/u-1"
