"""The load generator behind the `metrics/collect` task (Iter8 v2 ran Fortio; this is httpx).

Each version gets `numQueries` requests (or requests for `time`), paced at `qps` in total
(0 = as fast as `connections` parallel clients go), and every request's latency and status is
recorded in the built-in data model. Versions are loaded at the same time, so a slow moment of
the cluster hurts them alike. Clock and sleep are injectable so pacing can be tested without
waiting.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from iter8.metrics.builtin_data import NO_RESPONSE, BuiltinHists, version_data

DEFAULT_QUERIES = 100
# Bounds of a manifest's load, so that no accepted value stalls the task or floods a version
MAX_QUERIES = 100_000
MAX_QPS = 10_000.0
MAX_CONNECTIONS = 100
MAX_DURATION = 3600.0  # seconds of `time`
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class LoadTarget(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    url: str
    headers: dict[str, str] | None = None


class LoadSpec(BaseModel):
    """The `with` of `metrics/collect`, in Iter8 v2's field names."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    versions: list[LoadTarget] = Field(min_length=1)
    num_queries: int | None = Field(default=None, alias="numQueries", ge=0, le=MAX_QUERIES)
    time: str | None = None  # a Go duration ("30s", "1m30s"); numQueries wins when both are set
    qps: float = Field(default=8.0, ge=0, le=MAX_QPS)
    connections: int = Field(default=4, ge=1, le=MAX_CONNECTIONS)
    payload_str: str | None = Field(default=None, alias="payloadStr")
    payload_url: str | None = Field(default=None, alias="payloadURL")  # wins over payloadStr
    content_type: str | None = Field(default=None, alias="contentType")
    timeout: float = Field(default=5.0, gt=0, le=60)  # seconds per request

    @classmethod
    def from_task(cls, with_: Mapping[str, Any]) -> LoadSpec:
        return cls.model_validate(with_)

    @property
    def duration(self) -> float | None:
        """Seconds of load when the run is bounded by time rather than by a number of queries."""
        if self.num_queries is not None or self.time is None:
            return None
        seconds = parse_duration(self.time)
        if not seconds <= MAX_DURATION:  # `not <=` refuses an infinite sum of huge numbers too
            raise ValueError(f"{self.time!r} is longer than {MAX_DURATION:g} seconds")
        return seconds

    @property
    def queries(self) -> int | None:
        if self.num_queries is not None:
            return self.num_queries
        return None if self.time is not None else DEFAULT_QUERIES


def parse_duration(text: str) -> float:
    """A Go duration (`1h2m3.5s`, `300ms`) in seconds."""
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    if not re.fullmatch(f"(?:{_DURATION.pattern})+", text):
        raise ValueError(f"{text!r} is not a duration (examples: 30s, 1m30s, 500ms)")
    return sum(float(n) * _UNIT[unit] for n, unit in _DURATION.findall(text))


class _Run:
    """One version's share of the load: a request schedule shared by its connections."""

    def __init__(self, target: LoadTarget, spec: LoadSpec, clock: Callable[[], float]) -> None:
        self.target, self.spec, self.clock = target, spec, clock
        self.results: list[tuple[float, str]] = []
        self._next = itertools.count()
        self._lock = threading.Lock()
        self.start = clock()

    def slot(self) -> float | None:
        """When to send the next request, or None when this version has had its load."""
        with self._lock:
            i = next(self._next)
        limit, duration, qps = self.spec.queries, self.spec.duration, self.spec.qps
        if limit is not None and i >= limit:
            return None
        at = self.start + i / qps if qps > 0 else self.clock()
        if duration is not None and at - self.start >= duration:
            return None
        return at

    def record(self, seconds: float, code: str) -> None:
        with self._lock:
            self.results.append((seconds, code))


def generate(
    spec: LoadSpec,
    *,
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> BuiltinHists:
    """Send the load to every version; what was measured, per version name."""
    own = client is None
    workers = spec.connections * len(spec.versions)
    client = client or httpx.Client(limits=httpx.Limits(max_connections=workers))
    try:
        payload = _payload(spec, client)
        runs = [_Run(target, spec, clock) for target in spec.versions]

        def work(run: _Run) -> None:
            while (at := run.slot()) is not None:
                wait = at - clock()
                if wait > 0:
                    sleep(wait)
                began = clock()
                code = _send(client, run.target, spec, payload)
                run.record(max(clock() - began, 0.0), code)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(work, r) for r in runs for _ in range(spec.connections)]
            for future in futures:
                future.result()
        return BuiltinHists({r.target.name: version_data(r.results) for r in runs})
    finally:
        if own:
            client.close()


def _payload(spec: LoadSpec, client: httpx.Client) -> bytes | None:
    if spec.payload_url:
        response = client.get(spec.payload_url, timeout=spec.timeout)
        response.raise_for_status()
        return response.content
    return spec.payload_str.encode() if spec.payload_str is not None else None


def _send(client: httpx.Client, target: LoadTarget, spec: LoadSpec, payload: bytes | None) -> str:
    """The response's status code, or Fortio's `-1` when there was no response."""
    headers = dict(target.headers or {})
    if spec.content_type:
        headers.setdefault("Content-Type", spec.content_type)
    method = "POST" if payload is not None or spec.content_type else "GET"
    try:
        response = client.request(
            method, target.url, headers=headers, content=payload, timeout=spec.timeout
        )
    except httpx.HTTPError:
        return NO_RESPONSE
    return str(response.status_code)
