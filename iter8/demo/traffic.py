"""The demo's users: real HTTP requests to the embedded router, which decides where each goes.
A user belongs to a group (the headers it sends, whether it keeps its cookies); the version that
answered is read from the answer's body (the sample app names itself), and counted by group and
by phase (before, during, after the experiment), and by user, to measure who switched version.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from iter8.demo.scenarios import Group

NO_VERSION = "no answer"  # the router had no route, or the request failed


@dataclass
class _User:
    group: Group
    number: int
    cookies: dict[str, str] = field(default_factory=dict)
    sent: int = 0


class Users:
    def __init__(
        self,
        router_url: str,
        groups: Sequence[Group],
        users_per_group: int = 10,
        requests_per_user: int = 0,
        rate_per_second: float = 20,
    ) -> None:
        self.url = router_url
        self.interval = 1 / rate_per_second
        self.requests_per_user = requests_per_user
        self.phase = "before"
        self.served: Counter[str] = Counter()  # version → requests it answered
        self.failed: Counter[str] = Counter()
        self.seen: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)  # (group, phase)
        self.versions_of: dict[tuple[str, int], set[str]] = defaultdict(set)  # during only
        self._numbers = itertools.count()
        self._users = [  # the groups interleaved, so that each is heard from at once
            _User(group, next(self._numbers)) for _ in range(users_per_group) for group in groups
        ]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-users", daemon=True)

    def start(self) -> Users:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def switched_share(self, group: str) -> float | None:
        """The share of the group's users who saw more than one version during the experiment
        (None: none of them sent a request then)."""
        with self._lock:
            seen = [v for (g, _), v in self.versions_of.items() if g == group]
        return sum(len(v) > 1 for v in seen) / len(seen) if seen else None

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            for index in itertools.cycle(range(len(self._users))):
                if self._stop.wait(self.interval):
                    return
                self._send(client, index)

    def _send(self, client: httpx.Client, index: int) -> None:
        user = self._users[index]
        headers = dict(user.group.headers)
        if user.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in user.cookies.items())
        try:
            answer = client.get(self.url, headers=headers)
            version = answer.text.split(":", 1)[0] if answer.status_code != 503 else NO_VERSION
            ok = answer.status_code < 400
            if user.group.keeps_cookies:
                user.cookies.update(answer.cookies)
        except httpx.HTTPError:
            version, ok = NO_VERSION, False
        client.cookies.clear()  # each user has its own cookies, not the shared client's
        with self._lock:
            self.served[version] += 1
            self.failed[version] += not ok
            self.seen[(user.group.name, self.phase)][version] += 1
            if self.phase == "during" and version != NO_VERSION:
                self.versions_of[(user.group.name, user.number)].add(version)
        user.sent += 1
        if self.requests_per_user and user.sent >= self.requests_per_user:
            self._users[index] = _User(user.group, next(self._numbers))  # a new user arrives
