"""A real Prometheus for tests (`scripts/prometheus.sh start`), fed through remote write.

Each test writes its own timestamped series, under a label unique to the test, and queries with
an explicit `time=`, so results are exact and tests never see each other's data. Without a
server the tests skip with the command to run; in CI (`CI=true`) they fail instead.

The remote-write body is protobuf (`WriteRequest{timeseries=1}`, `TimeSeries{labels=1,
samples=2}`, `Label{name=1, value=2}`, `Sample{value=1 double, timestamp=2 int64 ms}`) in a
snappy block made of literal chunks only: valid snappy, merely uncompressed, so no library.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import httpx
import pytest

START_HINT = "no Prometheus: run scripts/prometheus.sh start"


@dataclass(frozen=True)
class Series:
    name: str
    labels: Mapping[str, str]
    samples: list[tuple[float, float]]  # (unix seconds, value), oldest first


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _sample(value: float, timestamp_ms: int) -> bytes:
    fixed64 = _varint(1 << 3 | 1) + struct.pack("<d", value)
    return fixed64 + _varint(2 << 3) + _varint(timestamp_ms & 0xFFFFFFFFFFFFFFFF)


def encode(series: Iterable[Series]) -> bytes:
    """A remote-write 1.0 `WriteRequest` (protobuf, not yet compressed)."""
    request = bytearray()
    for s in series:
        labels = sorted({**s.labels, "__name__": s.name}.items())
        body = b"".join(_field(1, _field(1, k.encode()) + _field(2, v.encode())) for k, v in labels)
        body += b"".join(_field(2, _sample(v, round(t * 1000))) for t, v in s.samples)
        request += _field(1, body)
    return bytes(request)


def snappy_block(data: bytes) -> bytes:
    """`data` as a snappy block of literal chunks (tag: length-1, little-endian, after 60)."""
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start : start + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + n.to_bytes(2, "little")
        out += chunk
    return bytes(out)


def push(url: str, series: Iterable[Series]) -> None:
    """Write the series through `POST /api/v1/write`; raises with Prometheus's reason if refused."""
    response = httpx.post(
        f"{url}/api/v1/write",
        content=snappy_block(encode(series)),
        headers={
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        },
        timeout=10,
    )
    if response.status_code != 204:
        raise AssertionError(f"remote write refused: {response.status_code} {response.text}")


def linear(
    name: str, labels: Mapping[str, str], start: float, end: float, rate: float, base: float = 1000
) -> Series:
    """A counter growing by `rate` per second, one sample every 15 s: `increase()` is exact."""
    steps = int((end - start) // 15)
    return Series(name, labels, [(start + 15 * i, base + rate * 15 * i) for i in range(steps + 1)])


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: prometheus tests must not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def prometheus_url() -> Iterator[str]:
    """The base URL of a ready Prometheus (PROMETHEUS_URL, or 127.0.0.1:PROMETHEUS_PORT)."""
    port = os.environ.get("PROMETHEUS_PORT", "19090")
    url = os.environ.get("PROMETHEUS_URL", f"http://127.0.0.1:{port}").rstrip("/")
    try:
        ready = httpx.get(f"{url}/-/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        ready = False
    if not ready:
        _unavailable(f"{START_HINT} ({url} is not ready)")
    yield url
