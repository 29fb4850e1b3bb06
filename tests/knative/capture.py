"""A subscriber that records every request it gets as one JSON line (arrival time, method, path,
headers, body) and answers as the event's `answer` extension asks (202 with no body when it
asks nothing): run inside the Knative network namespace as
`python -m tests.knative.capture --host 127.0.2.10 --out FILE` to see exactly what Knative's
filter and dispatcher deliver, and in-process (`serve`) behind the embedded broker, so that the
conformance tests send the same sequence through both and compare what arrived."""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 1 << 20
ERROR_BODY = b"nope from the subscriber"
SLEEP = 2.5  # seconds: longer than the fault Trigger's delivery.timeout
TRICKLE_PAUSE = 0.3  # seconds between the bytes of a trickled answer (each read is quick)
Answer = tuple[int, list[tuple[str, str]], bytes]
# Headers on a reply's response, beside the event: which of them travel on with the reply.
REPLY_HEADERS = {"knative-custom": "k", "x-request-id": "req-2", "x-b3-traceid": "5b8aa5a2d2c872e8"}


def record_lines(path: Path) -> list[dict[str, Any]]:
    """The complete records: a last line without its newline is still being written (the
    server may write a long line in more than one piece) and is read on the next poll."""
    if not path.exists():
        return []
    complete, _, _being_written = path.read_text().rpartition("\n")
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def body_of(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["body"])


def answer(path: str, headers: dict[str, str]) -> Answer:
    """What the subscriber answers; `ce-answer` is the script (the dead-letter path takes all)."""
    wanted = "" if path.startswith("/dead") else headers.get("ce-answer", "")
    if wanted.startswith("status-"):
        return int(wanted.removeprefix("status-")), [("content-type", "text/plain")], ERROR_BODY
    if wanted == "retry-after":
        return 429, [("retry-after", "1")], b""
    if wanted == "sleep":
        time.sleep(SLEEP)
    if wanted == "trickle":  # a reply whose body comes a byte at a time: past the timeout
        return 200, _reply_headers(headers, "tools.iter8.conformance.reply"), b'"abcdef"'
    if wanted == "not-an-event":
        return 200, [("content-type", "text/plain")], b"hello"
    if wanted == "bad-event":  # a binary-mode reply without id and source
        return 200, [("ce-specversion", "1.0"), ("ce-type", "tools.iter8.conformance.bad")], b""
    if wanted == "reply":
        return 200, [*_reply_headers(headers, "tools.iter8.conformance.reply")], b"{}"
    if wanted == "reply-again":  # a reply of the same type, which the same Trigger gets
        reply = _reply_headers(headers, headers.get("ce-type", ""))
        return 200, [*reply, *REPLY_HEADERS.items()], b"{}"
    return 202, [], b""


def _reply_headers(headers: dict[str, str], kind: str) -> list[tuple[str, str]]:
    return [
        ("ce-specversion", "1.0"),
        ("ce-id", f"reply-{headers.get('ce-id', '')}"),
        ("ce-source", "/conformance/capture"),
        ("ce-type", kind),
        ("content-type", "application/json"),
    ]


def serve(host: str, port: int, out: Path) -> ThreadingHTTPServer:
    """The recording server (not yet serving: call `serve_forever`)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            arrived = time.time()
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            line = {
                "t": arrived,
                "method": "POST",
                "path": self.path,
                "headers": headers,
                "body": base64.b64encode(body).decode(),
            }
            with lock, out.open("a") as f:
                f.write(json.dumps(line) + "\n")
            status, extra, content = answer(self.path, headers)
            self.send_response(status)
            for name, value in extra:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if headers.get("ce-answer") == "trickle" and not self.path.startswith("/dead"):
                self.wfile.flush()
                for byte in content:
                    time.sleep(TRICKLE_PAUSE)
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            else:
                self.wfile.write(content)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    serve(args.host, args.port, args.out).serve_forever()


if __name__ == "__main__":
    main()
