"""`iter8 report` on experiments run for real (in-process, mock metrics): from the store and
from a file, a page that fetches nothing and runs nothing, escaped text, older statuses, and a
clear message without matplotlib."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from iter8.api.experiment import Experiment
from iter8.cli.main import cli
from iter8.report import html
from iter8.report.model import build
from tests.report.runs import run_canary


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "store.db"
    run_canary(path)
    return path


@pytest.fixture(scope="module")
def final(store: Path) -> Experiment:
    from iter8.store import EXPERIMENTS
    from iter8.store.sqlite import SqliteStore

    sqlite = SqliteStore(store)
    try:
        return Experiment.from_wire(sqlite.get(EXPERIMENTS, "default", "exp"))
    finally:
        sqlite.close()


def report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["report", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def sections(page: str) -> list[str]:
    return re.findall(r'<(?:figure|section|table)[^>]* id="([^"]+)"', page)


def test_from_the_store_and_from_a_file(store: Path, final: Experiment, tmp_path: Path) -> None:
    out = tmp_path / "from-store.html"
    code, said = report("--store", str(store), "default/exp", "-o", str(out))
    assert code == 0 and said == f"iter8: wrote {out} ({len(out.read_bytes()) // 1024} KiB)\n"
    manifest = tmp_path / "exp.yaml"
    manifest.write_text(yaml.safe_dump(final.to_wire(), allow_unicode=True))
    code, page = report(str(manifest), "-o", "-")
    assert code == 0
    expected = [
        "decision",
        "summary",
        "plot-split",
        "plot-metric-default-latency",
        "plot-evidence",
        "timeline",
    ]
    assert sections(out.read_text()) == sections(page) == expected
    assert "Dashed red: the objective&#x27;s limits." in page
    assert page.count("<svg") == 3


def test_the_page_fetches_nothing_and_runs_nothing(final: Experiment) -> None:
    page = html(final, "now")
    assert "<script" not in page.lower() and " on" not in re.sub(r">[^<]*<", "><", page)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links and all(link.startswith("#") for link in links)  # the SVGs' own clip paths


def test_text_from_the_experiment_is_escaped(final: Experiment) -> None:
    hostile = final.model_copy(deep=True)
    assert hostile.status is not None and hostile.status.analysis is not None
    hostile.status.analysis.decision = {
        "action": "promote",
        "version": "<b>v2</b>",
        "reason": "<script>x()</script>",
    }
    page = html(hostile, "<now>")
    assert "<script" not in page and "<b>v2" not in page
    assert "&lt;script&gt;x()&lt;/script&gt;" in page and "&lt;now&gt;" in page


def test_a_status_written_before_the_history_still_reports(final: Experiment) -> None:
    older = final.model_copy(deep=True)
    assert older.status is not None and older.status.analysis is not None
    older.status.analysis.history = None
    report_now, report_then = build(final), build(older)
    assert report_then.iterations == report_now.iterations  # from the bayesian details.history
    assert report_then.evidence.p_best == report_now.evidence.p_best
    assert report_then.metrics[0].bands[1].values[-1] == report_now.metrics[0].bands[1].values[-1]
    assert "plot-evidence" in html(older, "now")


def test_the_iter8_v2_algorithm_shows_its_verdicts(tmp_path: Path) -> None:
    final = run_canary(tmp_path / "store.db", algorithm="iter8-v2", iterations=3)
    evidence = build(final).evidence
    assert evidence.objectives_met == {"v1": [1.0, 1.0, 1.0], "v2": [1.0, 1.0, 1.0]}
    assert not evidence.p_best and evidence.threshold is None
    assert "Share of objectives met" in html(final, "now")


def test_an_experiment_not_started_has_a_page_without_plots(final: Experiment) -> None:
    fresh = final.model_copy(update={"status": None})
    page = html(fresh, "now")
    assert "Not started yet." in page and "<svg" not in page


def test_without_matplotlib_the_command_says_how_to_install_it(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: import fails
    code, said = report("--store", str(store), "default/exp", "-o", "-")
    assert (code, said) == (
        2,
        "iter8 report draws its plots with matplotlib: pip install 'iter8-serverless[report]'\n",
    )


def test_a_name_without_a_store_is_refused() -> None:
    code, said = report("default/exp")
    assert code == 2 and "give --store or --kubeconfig" in said


@pytest.mark.kube
def test_from_the_api_server(
    final: Experiment,
    kube_config: str,
    kube_client: Any,
    kube_namespace: str,
    iter8_crds: list[str],
) -> None:
    """The experiment kept by a real kube-apiserver (the CRD keeps `status.analysis.history`)."""
    from iter8.store import EXPERIMENTS
    from iter8.store.kubernetes import KubernetesStore

    body = final.to_wire()
    status = body.pop("status")
    body["metadata"] = {"name": "exp", "namespace": kube_namespace}
    store = KubernetesStore(kube_client)
    created = store.create(EXPERIMENTS, body)
    kept = store.replace_status(EXPERIMENTS, {**created, "status": status})
    assert kept["status"]["analysis"]["history"] == status["analysis"]["history"]
    code, page = report("--kubeconfig", kube_config, f"{kube_namespace}/exp", "-o", "-")
    assert code == 0
    assert sections(page)[2:5] == ["plot-split", "plot-metric-default-latency", "plot-evidence"]


def test_the_page_says_what_the_last_split_rested_on(final: Experiment) -> None:
    notes = [n for n in build(final).notes if n.startswith("Split: ")]
    assert len(notes) == 1, build(final).notes
    assert "Split: " in html(final, "now")
