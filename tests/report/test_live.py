"""The live report of `iter8 run --report-port`: real HTTP on 127.0.0.1, a page per experiment
of the run, drawn again only when the experiment changed; and the whole command, run for real."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from iter8.demo.experiment import knative_service
from iter8.events import ExperimentRef
from iter8.report.live import REFRESH_SECONDS, LiveReport
from iter8.store.sqlite import SqliteStore
from tests.functions.harness import canary, mock_metric
from tests.report.runs import run_canary


def test_pages_of_the_run_only_on_loopback(tmp_path: Path) -> None:
    final = run_canary(tmp_path / "store.db", iterations=3)
    store = SqliteStore(tmp_path / "store.db")
    ref = ExperimentRef(namespace="default", name="exp", uid=final.metadata.uid or "")
    with LiveReport(store, 0) as live:
        assert live.url.startswith("http://127.0.0.1:")
        assert httpx.get(live.url).status_code == 404  # nothing shown yet
        live.show([ref])
        first = httpx.get(live.url)
        again = httpx.get(live.url + "default/exp")
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
        assert f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' in first.text
        assert 'id="plot-evidence"' in first.text
        assert again.content == first.content  # unchanged experiment: not drawn again
        assert httpx.get(live.url + "default/other").status_code == 404
        assert httpx.post(live.url, content=b"x").status_code == 501
    store.close()


def test_iter8_run_serves_the_report_while_it_runs(tmp_path: Path) -> None:
    manifest = canary(algorithm="bayesian", duration={"intervalSeconds": 1, "iterationsPerLoop": 3})
    file = tmp_path / "exp.yaml"
    file.write_text(
        yaml.safe_dump_all(
            [
                knative_service("app", "default"),
                mock_metric("latency", {"v1": 100, "v2": 50}),
                manifest,
            ]
        )
    )
    command = [str(Path(sys.executable).parent / "iter8"), "run", str(file), "--report-port", "0"]
    command += ["--store", str(tmp_path / "store.db"), "--seed", "3"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        url, seen = None, []
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            seen.append(line)
            if "live report at " in line:
                url = line.split("live report at ")[1].strip()
        assert url is not None, "".join(seen)
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "Experiment default/exp" in page.text
        process.stderr.read()  # to the end of the run
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
