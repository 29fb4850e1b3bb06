"""`iter8 analyze` as a user runs it: JSON in the v2 shapes on stdout, one-line errors, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from iter8.analytics.registry import algorithms
from iter8.cli.main import cli
from tests.compat import samples_dir

EXPERIMENT: dict[str, Any] = {
    "apiVersion": "iter8.tools/v2alpha2",
    "kind": "Experiment",
    "metadata": {"name": "exp", "namespace": "shop"},
    "spec": {
        "target": "shop/app",
        "strategy": {"testingPattern": "A/B/N"},
        "criteria": {
            "rewards": [{"metric": "conversion", "preferredDirection": "High"}],
            "objectives": [{"metric": "iter8-system/mean-latency", "upperLimit": 50}],
        },
        "duration": {"iterationsPerLoop": 5},
        "versionInfo": {
            "baseline": {"name": "v1"},
            "candidates": [{"name": "v2"}, {"name": "v3"}],
        },
    },
}
METRIC: dict[str, Any] = {
    "apiVersion": "iter8.tools/v2alpha2",
    "kind": "Metric",
    "metadata": {"name": "conversion", "namespace": "shop"},
    "spec": {"type": "Gauge", "provider": "prometheus"},
}
VALUES: dict[str, Any] = {
    "conversion": {"v1": 0.1, "v2": {"value": 0.3, "sampleSize": 1000}, "v3": 0.2},
    "iter8-system/mean-latency": {
        "v1": 20,
        "v2": {"value": "21.5", "histogram": {"buckets": [{"upper": 30, "count": 4}]}},
        "v3": None,
    },
}


def files(tmp_path: Path, experiment: Any = None, values: Any = None) -> tuple[str, str]:
    manifest, values_file = tmp_path / "exp.yaml", tmp_path / "values.json"
    manifest.write_text(yaml.safe_dump_all([experiment or EXPERIMENT, METRIC]))
    values_file.write_text(values if isinstance(values, str) else json.dumps(values or VALUES))
    return str(manifest), str(values_file)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["analyze", *args])
    return result.exit_code, result.stdout, result.stderr


def test_prints_the_v2_blocks_decision_and_details(tmp_path: Path) -> None:
    manifest, values = files(tmp_path)
    code, out, _ = run(manifest, "--metrics", values, "--algorithm", "iter8-v2")
    assert code == 0
    document = json.loads(out)
    assert {"aggregatedMetrics", "versionAssessments", "winnerAssessment", "weights"} <= set(
        document
    )
    assert {"decision", "details"} <= set(document)
    assert document["aggregatedMetrics"]["data"]["shop/conversion"]["data"]["v2"] == {
        "value": "0.3",
        "sampleSize": 1000,
    }
    assert document["versionAssessments"]["data"] == {"v1": [True], "v2": [True], "v3": [False]}
    assert document["winnerAssessment"]["data"]["winnerFound"] is True
    assert document["winnerAssessment"]["data"]["winner"] == "v2"
    assert [w["name"] for w in document["weights"]["data"]] == ["v1", "v2", "v3"]
    assert [w["value"] for w in document["weights"]["data"]][1] == 10  # +10 from 0
    assert document["decision"]["action"] == "continue"
    assert document["details"]["algorithm"] == "iter8-v2"


def test_weights_in_status_are_read_by_name_and_the_seed_fixes_rounding(tmp_path: Path) -> None:
    experiment = json.loads(json.dumps(EXPERIMENT))
    experiment["status"] = {
        "completedIterations": 2,
        "currentWeightDistribution": [
            {"name": "v3", "value": 4},
            {"name": "v2", "value": 92},
            {"name": "v1", "value": 4},
        ],
    }
    manifest, values = files(tmp_path, experiment)

    def weights(seed: int) -> list[int]:
        code, out, _ = run(
            manifest, "--metrics", values, "--algorithm", "iter8-v2", "--seed", str(seed)
        )
        assert code == 0
        return [w["value"] for w in json.loads(out)["weights"]["data"]]

    assert weights(5) == weights(5)
    outcomes = {tuple(weights(seed)) for seed in range(20)}
    assert len(outcomes) > 1  # 3.33 / 93.33 / 3.33 is rounded at random
    assert all(sum(o) == 100 and o[1] in (92, 93, 94) for o in outcomes)


def test_a_metric_file_adds_metrics(tmp_path: Path) -> None:
    samples = samples_dir()
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"iter8-knative/user-engagement": {"sample-app-v2": 20}}))
    args = [str(samples / "knative-hybrid-experiment.yaml"), "--metrics", str(values)]
    code, _, err = run(*args, "--algorithm", "iter8-v2")
    assert code == 2
    assert "iter8-knative/user-engagement not found" in err
    extra = ["--metric-file", str(samples / "knative-hybrid-metrics.yaml")]
    code, out, _ = run(*args, *extra, "--algorithm", "iter8-v2")
    assert code == 0
    assert json.loads(out)["winnerAssessment"]["data"]["winnerFound"] is False  # no latency data


def test_the_default_algorithm_is_bayesian(tmp_path: Path) -> None:
    manifest, values = files(tmp_path)
    code, out, err = run(manifest, "--metrics", values)
    if "bayesian" in algorithms():
        assert code == 0
        assert "weights" in json.loads(out)
    else:
        assert code == 2
        assert err.strip() == (
            "iter8 analyze: the default algorithm 'bayesian' is not available in this build; "
            "choose one with --algorithm (known: iter8-v2)"
        )


def test_an_unknown_algorithm_is_named_with_the_known_ones(tmp_path: Path) -> None:
    manifest, values = files(tmp_path)
    code, _, err = run(manifest, "--metrics", values, "--algorithm", "nope")
    assert code == 2
    assert err.startswith("iter8 analyze: unknown algorithm 'nope' (known: ")


BAD_INPUTS = [
    ("values", "{not json", "values.json: line 1: not JSON"),
    ("values", "[1, 2]", "values.json: must be an object"),
    (
        "values",
        {"conversion": {"v9": 1}},
        "values.json: conversion.v9: no such version (v1, v2, v3)",
    ),
    ("values", {"shop/nope": {"v1": 1}}, "values.json: shop/nope: metric shop/nope is not defined"),
    ("values", {"a/b/c": {"v1": 1}}, "values.json: a/b/c: not a metric reference"),
    (
        "values",
        {"conversion": {"v1": "fast"}},
        "values.json: conversion.v1: 'fast' is not a quantity",
    ),
    ("values", {"conversion": {"v1": True}}, "values.json: conversion.v1: True is not a quantity"),
    (
        "values",
        {"conversion": {"v1": {"value": 1, "n": 3}}},
        "values.json: conversion.v1.n: unknown field",
    ),
    (
        "values",
        {"conversion": {"v1": {"value": 1, "sampleSize": -3}}},
        "conversion.v1.sampleSize: must not be negative",
    ),
    (
        "values",
        {"conversion": {"v1": {"value": 1, "histogram": {"buckets": [{"count": 3}]}}}},
        "values.json: conversion.v1.histogram.buckets.0.upper: Field required",
    ),
    ("values", {"conversion": [1]}, "values.json: conversion: must be an object"),
    ("experiment", "spec: [", "exp.yaml: line 1: YAML syntax error"),
    (
        "experiment",
        {"kind": "Experiment", "spec": {"target": "t"}},
        "exp.yaml: spec.strategy: is required",
    ),
    ("experiment", {"kind": "Metric"}, "exp.yaml: needs exactly one Experiment document, found 0"),
    (
        "criteria",
        "nowhere",
        "exp.yaml: spec.criteria.rewards[0].metric: metric shop/nowhere not found",
    ),
    ("versions", None, "exp.yaml: spec.versionInfo: is required"),
]


@pytest.mark.parametrize(("what", "content", "expected"), BAD_INPUTS)
def test_bad_input_is_one_line_naming_file_and_field(
    tmp_path: Path, what: str, content: Any, expected: str
) -> None:
    experiment = json.loads(json.dumps(EXPERIMENT))
    manifest, values = files(tmp_path, experiment)
    if what == "values":
        Path(values).write_text(content if isinstance(content, str) else json.dumps(content))
    elif what == "experiment":
        Path(manifest).write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    elif what == "criteria":
        experiment["spec"]["criteria"]["rewards"][0]["metric"] = content
        manifest, values = files(tmp_path, experiment)
    else:
        del experiment["spec"]["versionInfo"]
        manifest, values = files(tmp_path, experiment)
    code, out, err = run(manifest, "--metrics", values, "--algorithm", "iter8-v2")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert expected in err
    assert "Traceback" not in err


def test_missing_files_are_one_line(tmp_path: Path) -> None:
    manifest, values = files(tmp_path)
    code, _, err = run(
        str(tmp_path / "absent.yaml"), "--metrics", values, "--algorithm", "iter8-v2"
    )
    assert code == 2 and err.count("\n") == 1 and "absent.yaml: cannot read" in err
    code, _, err = run(
        manifest, "--metrics", str(tmp_path / "absent.json"), "--algorithm", "iter8-v2"
    )
    assert code == 2 and err.count("\n") == 1 and "absent.json: cannot read" in err


def test_the_installed_console_script(tmp_path: Path) -> None:
    manifest, values = files(tmp_path)
    script = Path(sys.executable).parent / "iter8"
    done = subprocess.run(
        [
            str(script),
            "analyze",
            manifest,
            "--metrics",
            values,
            "--algorithm",
            "iter8-v2",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["winnerAssessment"]["data"]["winner"] == "v2"
    assert sum(w["value"] for w in document["weights"]["data"]) == 100
