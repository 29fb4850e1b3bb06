"""The `run` task end to end: a real bash, a real file, a real deadline."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from iter8.store.resources import SECRETS
from iter8.store.sqlite import SqliteStore
from iter8.tasks import TaskContext, run_action
from tests.tasks.conftest import experiment, tasks

VARIABLES = {"sample-app-v2": {"promote": "candidate"}, "sample-app-v1": {"promote": "baseline"}}


def test_placeholders_are_rendered_from_the_experiment(store: SqliteStore, tmp_path: Path) -> None:
    context = TaskContext(
        experiment=experiment(variables=VARIABLES), store=store, work_dir=tmp_path, action="finish"
    )
    script = (
        'echo "@< .Status.VersionRecommendedForPromotion >@ @< .Name >@ @< .Namespace >@" '
        '> "$SCRATCH_DIR/out.txt"\n'
        "echo @< .Vars.promote >@ $EXPERIMENT_NAME $ACTION >> $SCRATCH_DIR/out.txt\n"
    )
    result = run_action(tasks({"if": "CandidateWon()", "run": script}), context)
    assert result.ok, result.message
    assert (tmp_path / "scratch" / "out.txt").read_text().splitlines() == [
        "sample-app-v2 quickstart-exp default",
        "candidate quickstart-exp finish",
    ]


def test_the_baseline_variables_when_it_is_recommended(store: SqliteStore, tmp_path: Path) -> None:
    exp = experiment(variables=VARIABLES, winner=None)
    context = TaskContext(experiment=exp, store=store, work_dir=tmp_path)
    specs = tasks({"if": "not CandidateWon()", "run": "echo @< .Vars.promote >@ > out.txt"})
    assert run_action(specs, context).ok
    assert (tmp_path / "out.txt").read_text() == "baseline\n"


def test_hostile_values_arrive_as_data(store: SqliteStore, tmp_path: Path) -> None:
    """A variable crafted to break out of quotes is passed as an environment variable; the
    script sees it verbatim and nothing it contains is executed."""
    hostile = "x\"'; touch PWNED; $(touch PWNED2) `touch PWNED3`"
    exp = experiment(variables={"sample-app-v2": {"promote": hostile}})
    context = TaskContext(experiment=exp, store=store, work_dir=tmp_path)
    script = 'printf %s @< .Vars.promote >@ > a; printf %s "@< .Vars.promote >@" > b'
    result = run_action(tasks({"run": script}), context)
    assert result.ok, result.message
    assert (tmp_path / "a").read_text() == hostile == (tmp_path / "b").read_text()
    assert not any((tmp_path / name).exists() for name in ("PWNED", "PWNED2", "PWNED3"))
    assert result.outcomes[0].details == {"placeholders": 1}


def test_the_deadline_kills_the_script_and_its_children(store: SqliteStore, tmp_path: Path) -> None:
    context = TaskContext(experiment=experiment(), store=store, work_dir=tmp_path)
    script = "sleep 300 & echo $! > child.pid; echo started; wait"
    result = run_action(tasks({"run": script, "with": {"timeout": 0.5}}), context)
    assert not result.ok
    assert "did not finish within 0.5s and was killed" in result.message
    child = Path("/proc") / (tmp_path / "child.pid").read_text().strip()
    # gone, or a zombie waiting for init to reap it: either way no longer running. SIGKILL is
    # delivered asynchronously, so the child may still be on its way out for a moment.
    deadline = time.monotonic() + 10
    while not _stopped(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _stopped(child)


def _stopped(proc: Path) -> bool:
    try:
        return (proc / "stat").read_text().split(") ")[1][0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_a_failing_script_reports_its_status_and_output(store: SqliteStore, tmp_path: Path) -> None:
    context = TaskContext(experiment=experiment(), store=store, work_dir=tmp_path)
    result = run_action(tasks({"run": "echo working; echo boom >&2; exit 3"}), context)
    assert result.message == "task 0 (run) failed: the script exited with status 3: boom"
    assert result.failed is not None
    assert "working" in result.failed.output and "boom" in result.failed.output


def test_long_output_is_truncated(store: SqliteStore, tmp_path: Path) -> None:
    context = TaskContext(experiment=experiment(), store=store, work_dir=tmp_path)
    result = run_action(tasks({"run": "head -c 100000 /dev/zero | tr '\\0' x; echo END"}), context)
    assert result.ok
    output = result.outcomes[0].output
    assert len(output) < 5000 and "characters cut" in output and output.endswith("END\n")


def test_secret_placeholders_and_redacted_output(store: SqliteStore, tmp_path: Path) -> None:
    token = base64.b64encode(b"t0ps3cret").decode()
    store.create(
        SECRETS, {"metadata": {"name": "gh", "namespace": "default"}, "data": {"token": token}}
    )
    context = TaskContext(experiment=experiment(), store=store, work_dir=tmp_path)
    script = 'test "@< .Secret "token" >@" = t0ps3cret && echo "token is @< .Secret "token" >@"'
    result = run_action(tasks({"run": script, "with": {"secret": "default/gh"}}), context)
    assert result.ok, result.message
    assert result.outcomes[0].output == "token is ***\n"


def test_a_template_error_fails_the_task_before_bash_runs(
    store: SqliteStore, tmp_path: Path
) -> None:
    context = TaskContext(experiment=experiment(), store=store, work_dir=tmp_path)
    result = run_action(tasks({"run": "touch ran; echo @< .Status.StartTime >@"}), context)
    assert not result.ok and "cannot render the script" in result.message
    assert not (tmp_path / "ran").exists()


def test_unknown_options_are_refused(store: SqliteStore, tmp_path: Path) -> None:
    context = TaskContext(experiment=experiment(), store=store, work_dir=tmp_path)
    result = run_action(tasks({"run": "true", "with": {"timout": 5}}), context)
    assert not result.ok and "with.timout: Extra inputs are not permitted" in result.message
