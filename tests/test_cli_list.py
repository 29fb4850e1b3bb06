"""`iter8 list` and `iter8 get` on an embedded store: kubectl-like columns, the state an operator
put an experiment in, and the whole object as YAML or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from iter8.cli.main import cli
from iter8.store import EXPERIMENTS
from iter8.store.sqlite import SqliteStore
from tests.validation.test_invalid import valid_canary


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    for name in ("second", "first"):
        manifest = valid_canary()
        manifest["metadata"]["name"] = name
        store.create(EXPERIMENTS, manifest)
    raw = store.get(EXPERIMENTS, "shop", "first")
    raw["status"] = {
        "stage": "Running",
        "completedIterations": 3,
        "currentWeightDistribution": [{"name": "v1", "value": 60}, {"name": "v2", "value": 40}],
        "conditions": [{"type": "Paused", "status": "True"}],
        "analysis": {"winnerAssessment": {"data": {"winnerFound": True, "winner": "v2"}}},
    }
    store.replace_status(EXPERIMENTS, raw)
    store.close()
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_list_shows_kubectl_like_columns(store_file: Path) -> None:
    code, output = invoke("list", "--store", str(store_file))
    assert code == 0, output
    header, first, second = output.splitlines()
    assert header.split() == [
        "NAMESPACE", "NAME", "PATTERN", "STAGE", "ITERATION", "WINNER", "SPLIT", "AGE",
    ]  # fmt: skip
    assert first.split()[:8] == [
        "shop",
        "first",
        "Canary",
        "Running",
        "(Paused)",
        "3/5",
        "v2",
        "v1=60",
    ]
    assert second.split()[:6] == ["shop", "second", "Canary", "Pending", "0/5", "-"]
    assert first.split()[-1].endswith("s")  # the age


def test_list_filters_a_namespace_and_prints_json(store_file: Path) -> None:
    code, output = invoke("list", "--store", str(store_file), "-n", "other")
    assert code == 0 and output.strip() == "No experiments found."
    code, output = invoke("list", "--store", str(store_file), "-o", "json")
    assert [i["metadata"]["name"] for i in json.loads(output)["items"]] == ["first", "second"]


def test_get_prints_one_row_or_the_object(store_file: Path) -> None:
    code, output = invoke("get", "shop/first", "--store", str(store_file))
    assert code == 0 and len(output.splitlines()) == 2
    code, output = invoke("get", "shop/first", "--store", str(store_file), "-o", "yaml")
    assert yaml.safe_load(output)["status"]["completedIterations"] == 3
    code, output = invoke("get", "shop/none", "--store", str(store_file))
    assert code == 2 and "experiment shop/none not found" in output


def test_without_a_store_it_says_which_to_give() -> None:
    code, output = invoke("list")
    assert code == 2 and "--store FILE" in output and "--kubeconfig FILE" in output
