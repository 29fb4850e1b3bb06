"""The report of a real run — the demo's canary on the embedded stack (broker, four function
processes, two sample apps on 127.0.0.1, built-in metrics) — opened in a real headless Chromium
(Debian's `chromium`, driven by playwright; never a browser playwright downloads): it loads with
no console error and no request beyond the file, every plot is drawn with a non-zero size, and a
screenshot is written. Skips when chromium or playwright is absent; fails instead under CI=true.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from iter8.cli.main import cli
from iter8.demo.app import Behaviour, SampleApp
from iter8.demo.experiment import BASELINE, CANDIDATE, NAMESPACE, canary, knative_service
from tests.e2e.harness import running

CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def needed(what: str) -> None:
    message = f"{what}; install it with: apt-get install -y chromium && pip install -e '.[test]'"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's canary run to the end on the embedded stack; its report."""
    root = tmp_path_factory.mktemp("browser")
    apps = [
        SampleApp(BASELINE, Behaviour(latency_ms=50, error_rate=0.005), seed=1).start(),
        SampleApp(CANDIDATE, Behaviour(latency_ms=30, error_rate=0.002), seed=2).start(),
    ]
    try:
        with running(root / "stack") as harness:
            urls = {app.version: app.url for app in apps}
            ref = harness.submit(knative_service(), canary(urls, interval_seconds=1))
            final = harness.wait(ref, timeout=120)
    finally:
        for app in apps:
            app.stop()
    assert final.status is not None and final.status.stage == "Completed"
    out = root / "report.html"
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "--store",
            str(root / "stack" / "store.db"),
            f"{NAMESPACE}/demo",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_the_report_renders_in_chromium(page_file: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        needed("no chromium on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        needed("playwright is not installed")
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh profile
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1100, "height": 900},
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_file.as_uri(), wait_until="load")
            plots = page.locator("figure.plot")
            ids = [plots.nth(i).get_attribute("id") for i in range(plots.count())]
            sizes = {i: box(page.locator(f"[id='{i}'] svg")) for i in ids}
            drawn = {i: page.locator(f"[id='{i}'] svg path").count() for i in ids}
            decision = page.locator("#decision").inner_text()
            timeline_rows = page.locator("#timeline tr").count()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [page_file.as_uri()]  # nothing fetched beyond the file itself
    assert ids == [
        "plot-split",
        "plot-metric-iter8-system-request-count",
        "plot-metric-iter8-system-mean-latency",
        "plot-metric-iter8-system-latency-95th-percentile",
        "plot-metric-iter8-system-error-rate",
        "plot-evidence",
    ]
    assert all(width > 100 and height > 100 for width, height in sizes.values()), sizes
    assert all(count > 10 for count in drawn.values()), drawn  # axes, bars, lines, bands
    assert f"Promote {CANDIDATE}" in decision and "Why:" in decision
    assert timeline_rows > 5
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")


def box(locator: Any) -> tuple[float, float]:
    bounds = locator.bounding_box()
    return (0.0, 0.0) if bounds is None else (bounds["width"], bounds["height"])
