"""What each entry point imports, checked in a fresh interpreter: an experiment pays for its own
algorithm only, the functions and the CLI load numpy and scipy only when they need them, and a
served analyze function has them loaded before its first event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from iter8.analytics.registry import UnknownAlgorithm, get_algorithm

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "numpy",
    "scipy",
    "iter8.analytics.algorithms.bayesian",
    "iter8.analytics.algorithms.iter8_v2",
)


RULES = ("iter8.validation.rules", "iter8.validation.tasks", "iter8.tasks.library")


def loaded_after(code: str, modules: tuple[str, ...] = HEAVY) -> dict[str, bool]:
    """Which of `modules` are in `sys.modules` once `code` has run in a new interpreter."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {modules!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_iter8_v2_does_not_import_the_bayesian_algorithm_or_scipy() -> None:
    loaded = loaded_after(
        "from iter8.analytics.registry import get_algorithm\n"
        "assert get_algorithm('iter8-v2').name == 'iter8-v2'"
    )
    assert loaded["iter8.analytics.algorithms.iter8_v2"]
    assert not loaded["iter8.analytics.algorithms.bayesian"]
    assert not loaded["scipy"]


def test_importing_the_analyze_function_loads_neither_numpy_nor_scipy() -> None:
    loaded = loaded_after("import functions.analyze.main")
    assert not loaded["numpy"] and not loaded["scipy"]


def test_iter8_validate_loads_neither_numpy_nor_scipy() -> None:
    loaded = loaded_after(
        "from iter8.cli.main import cli\n"
        "try:\n"
        "    cli.main(['validate', 'examples/canary.yaml'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass"
    )
    assert not loaded["numpy"] and not loaded["scipy"]


def test_the_served_analyze_function_is_warm_before_its_first_event() -> None:
    loaded = loaded_after(
        "from functions.server import create_app\n"
        "create_app('analyze', 'functions/analyze/main.py')"
    )
    assert all(loaded.values()), loaded


def test_a_served_function_without_a_warm_up_loads_no_algorithm() -> None:
    loaded = loaded_after(
        "from functions.server import create_app\ncreate_app('route', 'functions/route/main.py')"
    )
    assert not loaded["scipy"] and not loaded["iter8.analytics.algorithms.bayesian"]


@pytest.mark.parametrize(
    "code",
    ["import functions.analyze.planning", "import iter8.cli.listing", "import iter8.cli.control"],
)
def test_parsing_experiments_loads_no_validation_rules_and_no_task(code: str) -> None:
    """The tick's planning and the CLI's listing read experiments with `validation.loading`;
    the whole rule set (the tasks' checks, the task library, YAML, the routers) was ~120 ms of
    CPU in each of them while `iter8.validation` imported it with the package."""
    loaded = loaded_after(code, RULES)
    assert not any(loaded.values()), loaded


def test_an_experiment_without_actions_is_validated_without_the_task_library() -> None:
    loaded = loaded_after(
        "from iter8.demo.experiment import mock_canary\n"
        "from iter8.api.experiment import Experiment\n"
        "from iter8.validation.rules import validate_experiment\n"
        "experiment = Experiment.from_wire(mock_canary('e', 'svc', 3, 'bayesian', 'ns'))\n"
        "assert validate_experiment(experiment, {}) is not None",
        RULES,
    )
    assert loaded["iter8.validation.rules"]
    assert not loaded["iter8.validation.tasks"] and not loaded["iter8.tasks.library"], loaded


def test_the_rehearsed_analyze_function_has_loaded_no_task() -> None:
    """Its rehearsal admits and starts experiments without actions: neither the tasks' checks
    nor a task module (an empty action discovers no task)."""
    loaded = loaded_after(
        "from functions.server import REHEARSE, create_app\n"
        "app = create_app('analyze', 'functions/analyze/main.py')\n"
        "app.extensions[REHEARSE]()",
        ("iter8.validation.tasks", "iter8.tasks.library.run", "iter8.tasks.library.helm_upgrade"),
    )
    assert not any(loaded.values()), loaded


@pytest.mark.parametrize("name", ["sys", "../bayesian", "Bayesian", "bayesian.py", "", "algorithm"])
def test_a_name_that_is_not_an_algorithm_is_unknown(name: str) -> None:
    with pytest.raises(UnknownAlgorithm, match=r"known: bayesian, iter8-v2"):
        get_algorithm(name)
