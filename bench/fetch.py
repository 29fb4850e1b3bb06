"""The cost of one metric fetch's jq step, in-process (how it was) and in the sandbox (how it is).

`python -m bench.fetch [--calls N]` prints, per evaluation: jq compiled and run in this process
(the former code compiled on every fetch), the sandboxed worker pool (a round trip to a
running worker, which keeps compiled programs), and a whole REST fetch from a server on
127.0.0.1 with the sandbox. Medians and p99 over `--calls` calls after a warm-up; a worker's
start-up (paid once per worker) is shown on its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import httpx
import jq

from bench import slow_prometheus
from iter8.api.experiment import VersionDetail
from iter8.api.metric import Metric
from iter8.metrics import jq_sandbox
from iter8.metrics.provider import FetchRequest
from iter8.metrics.registry import fetch

# A Prometheus answer, as metrics usually get.
DOCUMENT = {
    "status": "success",
    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1700000000.0, "0.25"]}]},
}
EXPRESSION = ".data.result[0].value[1] | tonumber"
TAGGED = (
    f'({EXPRESSION}) | if type == "number" then (if isnan then {{"iter8-special": "NaN"}}'
    ' elif isinfinite then {"iter8-special": (if . > 0 then "+Inf" else "-Inf" end)}'
    " else . end) else . end"
)


def timed(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """Median and p99, in microseconds."""
    for _ in range(max(10, calls // 10)):
        call()
    samples = []
    for _ in range(calls):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.99 * len(samples)))]


def in_process() -> object:
    return jq.compile(TAGGED).input_value(DOCUMENT).first()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    calls = parser.parse_args().calls

    sandbox = jq_sandbox.JqSandbox(workers=1)
    began = time.perf_counter()
    sandbox.evaluate(".", "1")
    startup = (time.perf_counter() - began) * 1e6
    text = json.dumps(DOCUMENT)
    rows = [
        ("jq in-process (compile + run)", *timed(in_process, calls)),
        (
            "jq sandboxed (worker round trip)",
            *timed(lambda: sandbox.evaluate(EXPRESSION, text), calls),
        ),
    ]
    sandbox.close()
    server = slow_prometheus.serve(0.0)  # answers DOCUMENT's sample at once
    metric = Metric.from_wire(
        {
            "metadata": {"name": "m", "namespace": "bench"},
            "spec": {
                "urlTemplate": f"http://127.0.0.1:{server.server_address[1]}/api/v1/query",
                "params": [{"name": "query", "value": "up"}],
                "jqExpression": EXPRESSION,
            },
        }
    )
    with httpx.Client() as client:  # shared, as `fetch_all` shares one
        request = FetchRequest(metric=metric, version=VersionDetail(name="v1"), client=client)
        rows.append(("whole REST fetch (sandboxed jq)", *timed(lambda: fetch(request), calls)))
    server.shutdown()
    print(f"{'per evaluation':<36}{'median us':>12}{'p99 us':>12}")
    for name, median, p99 in rows:
        print(f"{name:<36}{median:>12.1f}{p99:>12.1f}")
    print(f"{'worker start-up (once per worker)':<36}{startup:>12.1f}")


if __name__ == "__main__":
    main()
