"""`metrics/collect` as a task: load to a local receiver, accumulated across runs."""

from __future__ import annotations

from iter8.tasks import TaskContext, run_action
from tests.tasks.conftest import Receiver, tasks
from tests.tasks.test_notifications import closed_port_url


def test_collect_accumulates_into_the_context(context: TaskContext, receiver: Receiver) -> None:
    spec = {
        "task": "metrics/collect",
        "with": {
            "numQueries": 4,
            "qps": 0,
            "connections": 1,
            "versions": [
                {"name": "sample-app-v1", "url": receiver.url},
                {"name": "sample-app-v2", "url": closed_port_url()},
            ],
        },
    }
    first = run_action(tasks(spec), context)
    assert first.ok, first.message
    assert first.outcomes[0].message == (
        "sample-app-v1: 4 requests, 0 errors, sample-app-v2: 4 requests, 4 errors"
    )
    assert len(receiver.requests) == 4 and receiver.requests[0].method == "GET"
    assert run_action(tasks(spec), context).ok
    assert context.builtin_hists is not None
    data = context.builtin_hists.root
    assert data["sample-app-v1"].ret_codes == {"200": 8}
    assert data["sample-app-v2"].ret_codes == {"-1": 8}
    assert data["sample-app-v1"].duration_histogram.count == 8


def test_bad_options_fail_before_any_load(context: TaskContext, receiver: Receiver) -> None:
    spec = {"task": "metrics/collect", "with": {"versions": []}}
    result = run_action(tasks(spec), context)
    assert not result.ok and "with.versions" in result.message
    timed = {"time": "soon", "versions": [{"name": "v", "url": receiver.url}]}
    result = run_action(tasks({"task": "metrics/collect", "with": timed}), context)
    assert not result.ok and "with.time" in result.message
    assert receiver.requests == []
