"""User traffic for the demo: requests go to each version in proportion to the split that the
route function wrote into the Knative Service, so the shift is visible as it happens."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping

import httpx

from iter8.store.base import NotFound, Store
from iter8.store.resources import KNATIVE_SERVICES


class Users:
    def __init__(
        self,
        store: Store,
        namespace: str,
        service: str,
        urls: Mapping[str, str],
        rate_per_second: float = 20,
        seed: int = 0,
    ) -> None:
        self.store, self.namespace, self.service = store, namespace, service
        self.urls = dict(urls)  # revision name → URL
        self.interval = 1 / rate_per_second
        self.served: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-users", daemon=True)

    def split(self) -> dict[str, int]:
        """The traffic block in force: revision name → percent."""
        try:
            service = self.store.get(KNATIVE_SERVICES, self.namespace, self.service)
        except NotFound:
            return {}
        return {
            t["revisionName"]: int(t.get("percent") or 0)
            for t in service["spec"].get("traffic", [])
        }

    def start(self) -> Users:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.wait(self.interval):
                split = {r: p for r, p in self.split().items() if p > 0 and r in self.urls}
                if not split:
                    continue
                revision = self._random.choices(list(split), weights=list(split.values()))[0]
                try:
                    ok = client.get(self.urls[revision]).status_code < 400
                except httpx.HTTPError:
                    ok = False
                self.served[revision] += 1
                self.failed[revision] += not ok
