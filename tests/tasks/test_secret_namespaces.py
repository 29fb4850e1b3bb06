"""A task reads Secrets of its experiment's namespace only, unless the operator allows another
(ITER8_ALLOWED_SECRET_NAMESPACES): otherwise a `run` script or a notification could send any
namespace's credentials anywhere. Real store, real bash, real receiver."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from iter8.store.resources import SECRETS
from iter8.store.sqlite import SqliteStore
from iter8.tasks import TaskContext, run_action
from tests.tasks.conftest import Receiver, tasks


@pytest.fixture(autouse=True)
def cluster_secret(store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ITER8_ALLOWED_SECRET_NAMESPACES", raising=False)
    data = {"token": base64.b64encode(b"cluster-admin-token").decode()}
    store.create(SECRETS, {"metadata": {"name": "admin", "namespace": "kube-system"}, "data": data})


def test_a_run_script_cannot_read_another_namespaces_secret(
    context: TaskContext, tmp_path: Path
) -> None:
    script = 'printf %s "@< .Secret "token" >@" > stolen'
    spec = {"run": script, "with": {"secret": "kube-system/admin"}}
    result = run_action(tasks(spec), context)
    assert not result.ok
    assert "secret kube-system/admin is outside the experiment's namespace 'default'" in (
        result.message
    )
    assert "ITER8_ALLOWED_SECRET_NAMESPACES=default:kube-system" in result.message
    assert not (tmp_path / "work" / "stolen").exists()


def test_a_notification_cannot_send_another_namespaces_secret(
    context: TaskContext, receiver: Receiver
) -> None:
    spec = {
        "url": receiver.url,
        "authType": "Bearer",
        "secret": "kube-system/admin",
        "ignoreFailure": False,
    }
    result = run_action(tasks({"task": "notification/http", "with": spec}), context)
    assert not result.ok and "is outside the experiment's namespace" in result.message
    assert receiver.requests == []


def test_an_operator_may_allow_it(
    context: TaskContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ITER8_ALLOWED_SECRET_NAMESPACES", "default:kube-system")
    script = 'printf %s "@< .Secret "token" >@" > allowed'
    result = run_action(tasks({"run": script, "with": {"secret": "kube-system/admin"}}), context)
    assert result.ok, result.message
    assert (tmp_path / "work" / "allowed").read_text() == "cluster-admin-token"
