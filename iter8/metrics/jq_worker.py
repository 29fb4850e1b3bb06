"""The jq worker: a child process that evaluates jq expressions for `jq_sandbox`, under limits.

A jqExpression is the Metric author's code: `[range(1e8)] | length` or `def f: f; f` never
ends and grows without bound. Run in the parent, it would hold the analyze function (C code
cannot be interrupted) and its memory. Here it runs in this process, which has an address-space
limit (RLIMIT_AS) and a CPU limit renewed before each request (RLIMIT_CPU), dies with its parent
(PR_SET_PDEATHSIG), and is killed by the parent at the request's deadline.

Protocol, on stdin/stdout: a request or reply is a 4-byte big-endian length then UTF-8 JSON.
Request `{"expression", "document"}` (the document as JSON text); reply `{"value": number, null
or {"iter8-special": "NaN"|"+Inf"|"-Inf"}}`, `{"other": excerpt}` for any other JSON value,
`{"empty": true}` when there was no output, or `{"error": message, "compile": bool}`.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import resource
import signal
import struct
import sys
from collections import OrderedDict
from typing import Any, BinaryIO

import jq

_HEADER = struct.Struct(">I")
_PR_SET_PDEATHSIG = 1
_EXCERPT = 200
_CACHED_PROGRAMS = 64

# jq prints NaN as null and ±Inf as ±DBL_MAX, so tag them before they leave jq.
_TAGGED = (
    '({}) | if type == "number" then (if isnan then {{"iter8-special": "NaN"}}'
    ' elif isinfinite then {{"iter8-special": (if . > 0 then "+Inf" else "-Inf" end)}}'
    " else . end) else . end"
)


def die_with_parent(parent: int) -> None:
    """SIGKILL when the parent dies (Linux); exit now if it is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def read_message(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None  # the parent closed the pipe: time to go
    (length,) = _HEADER.unpack(header)
    return json.loads(stream.read(length))


def write_message(stream: BinaryIO, message: Any) -> None:
    data = json.dumps(message).encode()
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


class Evaluator:
    """Compiled programs, kept for the expressions seen last (the same few, iteration after
    iteration)."""

    def __init__(self) -> None:
        self._programs: OrderedDict[str, Any] = OrderedDict()

    def program(self, expression: str) -> Any:
        program = self._programs.get(expression)
        if program is None:
            try:
                program = jq.compile(_TAGGED.format(expression))
            except ValueError:
                program = jq.compile(expression)  # raises ValueError if it does not compile
            self._programs[expression] = program
            if len(self._programs) > _CACHED_PROGRAMS:
                self._programs.popitem(last=False)
        self._programs.move_to_end(expression)
        return program

    def evaluate(self, expression: str, document: str) -> dict[str, Any]:
        try:
            program = self.program(expression)
        except ValueError as error:
            return {"error": str(error), "compile": True}
        try:
            value = next(iter(program.input_text(document)))
        except StopIteration:
            return {"empty": True}
        except ValueError as error:
            return {"error": str(error), "compile": False}
        return _reply(value)


def _reply(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, dict) and set(value) == {"iter8-special"}):
        return {"value": value}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"value": value} if math.isfinite(value) else {"other": str(value)}
    return {"other": json.dumps(value)[:_EXCERPT]}


def limit_cpu(seconds: int) -> None:
    """Allow `seconds` more of CPU from now (RLIMIT_CPU counts the whole life of the process)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = math.ceil(used.ru_utime + used.ru_stime)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = spent + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def main(argv: list[str]) -> None:
    parent, memory, cpu = int(argv[0]), int(argv[1]), int(argv[2])
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent; it ends us
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    evaluator = Evaluator()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (request := read_message(stdin)) is not None:
        limit_cpu(cpu)
        write_message(stdout, evaluator.evaluate(request["expression"], request["document"]))


if __name__ == "__main__":
    main(sys.argv[1:])
