"""What a served function's process leaves out while it loads the function: work its cold start
paid for and no event uses (CPU measured on a 2-core machine; bench/README.md, "Issue 13,
fourth round").

* **OpenBLAS's threads.** numpy and scipy each load an OpenBLAS, which starts a thread per core
  as it loads (two libraries: two pools; on a large node, dozens of threads per process, whatever
  the container's CPU limit). No event calls BLAS: the analyses are elementwise numpy and
  scipy.special's ufuncs, so their results do not depend on it. One thread each (unless the
  environment says otherwise): ~0.09 s less CPU to import numpy and scipy.special. OpenBLAS
  reads the setting as it loads, so it is taken out of the environment again afterwards: the
  processes that tasks start inherit the environment the server was given.
* **httpx's command line.** httpx's `__init__` imports its CLI (`httpx._main`: rich, pygments,
  click) inside `try/except ImportError`, to offer `httpx.main` to the `httpx` console script;
  ~0.05 s of the server's startup. A `None` in `sys.modules` makes that import fail as if rich
  were not installed: httpx is whole (clients, transports, exceptions) and `httpx.main` is its
  own stub saying the CLI is missing. A server never runs the `httpx` console script.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

BLAS_THREADS = "OPENBLAS_NUM_THREADS"
HTTPX_CLI = "httpx._main"


@contextmanager
def without_what_no_event_uses() -> Iterator[None]:
    """Around the function's imports. Changes nothing already loaded."""
    ours = BLAS_THREADS not in os.environ
    if ours:
        os.environ[BLAS_THREADS] = "1"  # read by OpenBLAS as numpy or scipy load it
    if "httpx" not in sys.modules:
        sys.modules.setdefault(HTTPX_CLI, None)  # type: ignore[arg-type]
    try:
        yield
    finally:
        if ours:
            os.environ.pop(BLAS_THREADS, None)
