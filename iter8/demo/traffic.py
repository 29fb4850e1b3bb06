"""The demo's users: real HTTP requests to the embedded router, which decides where each goes.
A user belongs to a group (the headers it sends, whether it keeps its cookies); the version that
answered is read from the answer's body (the sample app names itself). Each request is recorded
with its user, the demo's phase when it was sent, and the routing object's resourceVersion that
decided it (the router's `X-Iter8-Route-Version`), so `tally` can tell what users saw before,
during and after the experiment, and who switched version.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import httpx

from iter8.dataplane.proxy import ROUTE_VERSION_HEADER
from iter8.demo.scenarios import Group

NO_VERSION = "no answer"  # the router had no route, or the request failed
PHASES = ("before", "during", "after")
MAX_RECORDS = 200_000  # about 3 hours at the demo's rate; later requests are not recorded


@dataclass(frozen=True)
class Sent:
    phase: str  # the demo's phase when it was sent: before, during or after
    group: str
    user: int
    version: str  # which version answered (NO_VERSION: none)
    route_version: str  # the routing object's resourceVersion that decided ("": none)


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
        self.records: list[Sent] = []
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
        phase, route_version = self.phase, ""
        try:
            answer = client.get(self.url, headers=headers)
            version = answer.text.split(":", 1)[0] if answer.status_code != 503 else NO_VERSION
            route_version = answer.headers.get(ROUTE_VERSION_HEADER, "")
            ok = answer.status_code < 400
            if user.group.keeps_cookies:
                user.cookies.update(answer.cookies)
        except httpx.HTTPError:
            version, ok = NO_VERSION, False
        client.cookies.clear()  # each user has its own cookies, not the shared client's
        with self._lock:
            self.served[version] += 1
            self.failed[version] += not ok
            if len(self.records) < MAX_RECORDS:
                self.records.append(
                    Sent(phase, user.group.name, user.number, version, route_version)
                )
        user.sent += 1
        if self.requests_per_user and user.sent >= self.requests_per_user:
            self._users[index] = _User(user.group, next(self._numbers))  # a new user arrives


@dataclass(frozen=True)
class Tally:
    seen: dict[tuple[str, str], Counter[str]]  # (group, phase) → version → requests
    switched: dict[str, float | None]  # group → share of its users who saw two versions during


def tally(records: Iterable[Sent], initial: str, final: str) -> Tally:
    """What each group saw, by phase. A request sent while the experiment ran is "after" when
    the final routing object (resourceVersion `final`, when the experiment changed it from
    `initial`) decided it, since the split was then final; one sent after the end but still
    routed by an older object is "during". With no change (a BlueGreen rollback), the
    phase is when it was sent. `switched`: over the users heard from during the experiment."""
    seen: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    versions_of: dict[tuple[str, int], set[str]] = defaultdict(set)
    for sent in records:
        phase = sent.phase
        if phase != "before" and final != initial:
            phase = "after" if sent.route_version == final else "during"
        seen[(sent.group, phase)][sent.version] += 1
        if phase == "during":
            versions = versions_of[(sent.group, sent.user)]
            if sent.version != NO_VERSION:
                versions.add(sent.version)
    groups = {group for group, _ in seen}
    switched: dict[str, float | None] = {}
    for group in sorted(groups):
        users = [v for (g, _), v in versions_of.items() if g == group]
        switched[group] = sum(len(v) > 1 for v in users) / len(users) if users else None
    return Tally(dict(seen), switched)
