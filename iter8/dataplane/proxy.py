"""The embedded router's shell: an aiohttp server on 127.0.0.1 that forwards each request where
`table.choose` says, fires mirror copies (their answers discarded), sets the session cookie, and
re-reads the routing object from the store when it changes (a short poll).

Bounded: request and response bodies (413 / 502 past the cap), one deadline per upstream call
(504), concurrent requests (503 past the limit), and mirror copies in flight (dropped and counted
past the limit). Runs its own event loop in a thread, so synchronous callers (the demo, tests)
start and stop it like the sample app.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter, deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from iter8.dataplane.table import (
    Decision,
    Facts,
    Object,
    RouteTable,
    UnroutableObject,
    choose,
    route_table,
)
from iter8.store.base import NotFound, Store, StoreError
from iter8.store.resources import Resource

# which resourceVersion of the routing object decided where a request went (for whoever watches
# a split change: the demo tells requests routed by the final split from those before it)
ROUTE_VERSION_HEADER = "X-Iter8-Route-Version"
# RFC 9110 §7.6.1 connection-specific fields, and those the proxy recomputes
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 1 << 20
    max_response_bytes: int = 4 << 20
    upstream_deadline_seconds: float = 10.0
    max_concurrent_requests: int = 256
    max_mirrors_in_flight: int = 32
    poll_seconds: float = 0.2


@dataclass
class Counts:
    """What the router did, for the demo's summary and the tests."""

    served: Counter[str]  # backend → requests answered by it
    unavailable: int = 0  # no route, or a destination nobody listens for: 503
    mirrored: int = 0  # copies sent
    mirror_dropped: int = 0  # copies not sent: too many in flight
    tables: int = 0  # routing objects read (a new resourceVersion each)
    history: deque[Object] = field(
        default_factory=lambda: deque(maxlen=1000)
    )  # the objects read, newest last


class Router:
    """Routes by the object `resource` `namespace/name` in `store`, to `upstreams`."""

    def __init__(
        self,
        store: Store,
        resource: Resource,
        namespace: str,
        name: str,
        upstreams: Mapping[str, str],
        limits: Limits = Limits(),
        seed: int = 0,
    ) -> None:
        self.store, self.resource, self.namespace, self.name = store, resource, namespace, name
        self.upstreams = dict(upstreams)
        self.limits = limits
        self.counts = Counts(served=Counter())
        self.table: RouteTable | None = None
        self._random = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="router", daemon=True)
        self._stopped = asyncio.Event()
        self._requests = asyncio.Semaphore(limits.max_concurrent_requests)
        self._mirrors = asyncio.Semaphore(limits.max_mirrors_in_flight)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.url = ""

    def start(self, port: int = 0) -> Router:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(port), self._loop).result(timeout=30)
        except BaseException:
            self.stop()  # a port in use, say: leave no thread or socket behind
            raise
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    async def _start(self, port: int) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.limits.max_concurrent_requests),
            timeout=aiohttp.ClientTimeout(total=self.limits.upstream_deadline_seconds),
            auto_decompress=False,
        )
        await self._refresh()
        app = web.Application(client_max_size=self.limits.max_request_bytes)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        host, bound = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{bound}"
        self._spawn(self._poll())

    async def _stop(self) -> None:
        self._stopped.set()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        await asyncio.get_running_loop().shutdown_default_executor()  # the store reads' thread

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _poll(self) -> None:
        while not self._stopped.is_set():
            await asyncio.sleep(self.limits.poll_seconds)
            await self._refresh()

    async def _refresh(self) -> None:
        """Read the object again; a new resourceVersion makes a new table. An object that is
        gone or of a kind the router does not read routes nowhere (503s), which moves no
        traffic; a store that fails for a moment leaves the table as it was."""
        try:
            obj = await asyncio.to_thread(self.store.get, self.resource, self.namespace, self.name)
            version = str(obj.get("metadata", {}).get("resourceVersion", ""))
            if self.table is None or version != self.table.resource_version:
                self.table = route_table(obj, self.upstreams)
                self.counts.tables += 1
                self.counts.history.append(obj)
        except (NotFound, UnroutableObject):
            self.table = None
        except StoreError:
            pass  # read again at the next poll

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._requests.locked():
            return web.Response(status=503, text="router: too many requests in flight\n")
        async with self._requests:
            body = await request.read()  # client_max_size answers 413 past the cap
            facts = Facts(
                headers={k.lower(): v for k, v in request.headers.items()},
                cookies=dict(request.cookies),
            )
            draws = (self._random.random(), self._random.random())
            table = self.table
            decision = choose(table, facts, draws) if table else Decision(None, None)
            if table is None or decision.backend is None or decision.upstream is None:
                self.counts.unavailable += 1
                return web.Response(status=503, text="router: no route to a live version\n")
            if decision.mirror_upstream:
                self._mirror(request, body, decision.mirror_upstream)
            response = await self._forward(request, body, decision.upstream)
            response.headers[ROUTE_VERSION_HEADER] = table.resource_version
            self.counts.served[decision.backend] += 1
            if decision.cookie is not None:
                name, value = decision.cookie
                response.set_cookie(name, value, path="/", httponly=True, samesite="Lax")
            return response

    async def _forward(self, request: web.Request, body: bytes, upstream: str) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        url = upstream.rstrip("/") + request.rel_url.path_qs
        cap = self.limits.max_response_bytes
        try:
            async with self._session.request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            ) as answer:
                content = await answer.content.read(cap + 1)
                if len(content) > cap:
                    return web.Response(status=502, text="router: upstream answer too large\n")
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=answer.status, body=content, headers=kept)
        except TimeoutError:
            return web.Response(status=504, text="router: upstream missed its deadline\n")
        except aiohttp.ClientError as error:
            return web.Response(status=502, text=f"router: upstream failed: {error}\n")

    def _mirror(self, request: web.Request, body: bytes, upstream: str) -> None:
        """A copy to `upstream`, fire and forget; dropped (and counted) when too many are in
        flight, so a slow mirror never slows users down."""
        if self._mirrors.locked():
            self.counts.mirror_dropped += 1
            return
        self.counts.mirrored += 1

        async def send() -> None:
            async with self._mirrors:
                await self._forward(request, body, upstream)

        self._spawn(send())
