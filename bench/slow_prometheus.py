"""A Prometheus `/api/v1/query` on 127.0.0.1 that answers one sample after a delay, in a process
of its own (as a Prometheus is): served in the bench's process, its request handling took the
GIL from the fetches it was answering, and their wall time measured the mock as much as them.

    python -m bench.slow_prometheus SECONDS    # prints its port, serves until stdin closes

`spawned(delay)` starts it and yields the query URL; the process ends with the block, or with
the bench's process (its stdin closes)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = json.dumps(
    {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, "0.25"]}]},
    }
).encode()


def serve(delay: float) -> ThreadingHTTPServer:
    """The server, answering on a thread of this process, on a free loopback port."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add 40 ms to each answer

        def do_GET(self) -> None:
            if delay:
                time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextmanager
def spawned(delay: float) -> Iterator[str]:
    """The query URL of a server started in a process of its own, ended after the block."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.slow_prometheus", str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/api/v1/query"
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    server = serve(float(sys.argv[1]))
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the bench closes it, or ends


if __name__ == "__main__":
    main()
