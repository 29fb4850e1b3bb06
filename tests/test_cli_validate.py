"""`iter8 validate` as a user runs it: exit codes and one `FILE: field.path: problem` per line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from iter8.cli.main import cli
from tests.compat import samples_dir
from tests.validation.test_invalid import valid_canary


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    return result.exit_code, result.stdout


def test_valid_files_exit_zero(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(valid_canary()))
    assert run(str(path))[0] == 0


def test_every_problem_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    manifest = valid_canary()
    manifest["spec"]["target"] = ""
    manifest["spec"]["duration"]["intervalSeconds"] = 0
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(manifest))
    code, output = run(str(path))
    assert code == 2
    assert sorted(output.splitlines()) == sorted(
        [
            f"{path}: spec.target: must not be empty: it names what the experiment routes",
            f"{path}: spec.duration.intervalSeconds: must be at least 1",
        ]
    )


def test_an_experiment_and_its_metrics_file_are_one_set(tmp_path: Path) -> None:
    manifest = valid_canary()
    manifest["spec"]["criteria"]["objectives"][0]["metric"] = "latency"
    metric = {"apiVersion": "iter8.tools/v2alpha2", "kind": "Metric"}
    metric |= {
        "metadata": {"name": "latency", "namespace": "shop"},
        "spec": {"mock": [{"name": "v1", "level": 3}]},
    }
    experiment_file, metrics_file = tmp_path / "exp.yaml", tmp_path / "metrics.yaml"
    experiment_file.write_text(yaml.safe_dump(manifest))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    metrics_file.write_text(yaml.safe_dump_all([namespace, metric]))  # other kinds are passed over
    assert run(str(experiment_file))[0] == 2
    assert run(str(experiment_file), str(metrics_file)) == (0, "")


def test_yaml_syntax_errors_give_the_line_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kind: Experiment\nspec:\n  target: [a,\n  b: c\n")
    code, output = run(str(path), str(tmp_path / "missing.yaml"))
    assert code == 2
    lines = output.splitlines()
    assert lines[0].startswith(f"{path}: line ") and "YAML syntax error" in lines[0]
    assert lines[1].startswith(f"{tmp_path / 'missing.yaml'}: cannot read")
    assert "Traceback" not in output


def test_two_experiments_in_one_file_are_told_apart(tmp_path: Path) -> None:
    good, bad = valid_canary(), valid_canary()
    bad["metadata"]["name"] = "second"
    bad["spec"]["strategy"]["testingPattern"] = "Conformance"
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump_all([good, bad]))
    code, output = run(str(path))
    assert code == 2
    assert output.startswith(f"{path}: spec.versionInfo.candidates: ")
    assert "(in Experiment second, line " in output


def test_the_console_script_validates_the_samples() -> None:
    directory = samples_dir()
    iter8 = shutil.which("iter8") or str(Path(sys.executable).parent / "iter8")
    files = [directory / "knative-quickstart-experiment.yaml", directory / "builtin-metrics.yaml"]
    completed = subprocess.run(
        [iter8, "validate", *map(str, files)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout == ""


@pytest.mark.kube
def test_kubeconfig_resolves_metrics_from_the_cluster(
    tmp_path: Path,
    kube_config: str,
    kube_client: object,
    kube_namespace: str,
    iter8_crds: list[str],
) -> None:
    from iter8.store import METRICS
    from iter8.store.kubernetes import KubernetesStore

    manifest = valid_canary()
    manifest["metadata"]["namespace"] = kube_namespace
    manifest["spec"]["criteria"]["objectives"][0]["metric"] = "latency"  # bare: the namespace's
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(manifest))
    code, output = run(str(path), "--kubeconfig", kube_config)
    assert code == 2 and f"metric {kube_namespace}/latency not found" in output
    store = KubernetesStore(kube_client)  # type: ignore[arg-type]
    store.create(
        METRICS,
        {
            "apiVersion": "iter8.tools/v2alpha2",
            "kind": "Metric",
            "metadata": {"name": "latency", "namespace": kube_namespace},
            "spec": {"mock": [{"name": "v1", "level": "3"}, {"name": "v2", "level": "4"}]},
        },
    )
    assert run(str(path), "--kubeconfig", kube_config) == (0, "")


def _hostile(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    code, output = run(str(path))
    assert "Traceback" not in output
    return code, output.replace(str(path), "FILE")


def test_billion_laughs_under_an_unknown_key_is_refused(tmp_path: Path) -> None:
    from tests.validation.test_loader_bounds import billion_laughs

    text = yaml.safe_dump(valid_canary()) + "unknown:\n" + billion_laughs("  ")
    code, output = _hostile(tmp_path, text)
    assert code == 2
    assert output.startswith("FILE: line 1: YAML refused: aliases expand")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: " + "[" * 10_000 + "]" * 10_000, "FILE: line 1: YAML refused: nested deeper than"),
        ("a: " + "9" * 5000, "FILE: line 1: YAML refused: an integer longer than 100"),
        ("a: 1\na: 2\n", "FILE: line 2: YAML refused: duplicate key 'a'"),
    ],
    ids=["10000-deep", "5000-digit integer", "duplicate key"],
)
def test_hostile_yaml_exits_2_naming_the_line(tmp_path: Path, text: str, expected: str) -> None:
    code, output = _hostile(tmp_path, text)
    assert (code, output.splitlines()[0][: len(expected)]) == (2, expected)


def test_an_unquoted_date_in_a_string_field_is_the_string_written(tmp_path: Path) -> None:
    text = yaml.safe_dump(valid_canary()).replace("target: shop/app", "target: 2021-01-02")
    assert "target: 2021-01-02\n" in text
    assert _hostile(tmp_path, text) == (0, "")


def test_validate_dev_zero_ends(tmp_path: Path) -> None:
    """Read no further than the bound: an endless file is refused, not read into memory."""
    import resource

    def limit_memory() -> None:  # so that an unbounded read fails fast instead of taking the host
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    iter8 = shutil.which("iter8") or str(Path(sys.executable).parent / "iter8")
    completed = subprocess.run(
        [iter8, "validate", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_memory,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (2, "/dev/zero: larger than 4 MiB\n")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("upperLimit", "'1e999999999'", "spec.criteria.objectives[0].upperLimit: '1e999999999' is"),
        ("upperLimit", "1e400", "spec.criteria.objectives[0].upperLimit: '1e400' is not a finite"),
    ],
)
def test_huge_limits_exit_2_naming_the_field(
    tmp_path: Path, field: str, value: str, expected: str
) -> None:
    text = yaml.safe_dump(valid_canary()).replace("upperLimit: 50", f"{field}: {value}")
    code, output = _hostile(tmp_path, text)
    assert code == 2 and output.startswith(f"FILE: {expected}"), output
