"""An ApiServerSource for any `Store`: the embedded SQLite one or a real API server.

It reproduces Knative's adapter (knative.md §A4) so that `init` cannot tell the two apart:
the same types, `source`, `subject`, extensions and data, in Resource or Reference mode. Like
Knative it sends nothing for objects that exist when it starts, nor for what a re-list shows
after the watch expired: the informer's Replace and Resync do nothing, and only live watch
events become CloudEvents. Status updates are `update`s, off by default, because a Trigger on
them would loop (every function writes the status).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from cloudevents.http import CloudEvent

from eventing.sources.delivery import KNATIVE_BACKOFF, Backoff, Sender
from iter8.store import EXPERIMENTS, Expired, Resource, Store, WatchEvent
from iter8.store.base import Object

log = logging.getLogger("iter8.eventing.sources")

_TYPE_PREFIX = "dev.knative.apiserver"
_ACTIONS = {"ADDED": "add", "MODIFIED": "update", "DELETED": "delete"}
_RETRY_AFTER_ERROR = 1.0  # seconds before watching again after the store failed


class Mode(StrEnum):
    """Knative's `spec.mode`; Reference is its default."""

    RESOURCE = "Resource"
    REFERENCE = "Reference"


def event_type(mode: Mode, action: str) -> str:
    """E.g. `dev.knative.apiserver.resource.add` or `dev.knative.apiserver.ref.update`."""
    return f"{_TYPE_PREFIX}.{'resource' if mode is Mode.RESOURCE else 'ref'}.{action}"


def subject_of(obj: Object) -> str:
    """Knative's self-link guess: `/apis/<apiVersion>/namespaces/<ns>/<plural>/<name>`, the
    plural being the lowercase kind plus `s`, and `/versionUnknown` after a bare group."""
    api_version = str(obj.get("apiVersion", ""))
    if "." in api_version and "/" not in api_version:
        api_version += "/versionUnknown"
    meta = obj.get("metadata") or {}
    plural = str(obj.get("kind", "")).lower() + "s"
    return f"/apis/{api_version}/namespaces/{meta.get('namespace', '')}/{plural}/{meta.get('name', '')}"


def make_event(source: str, mode: Mode, action: str, obj: Object) -> CloudEvent:
    """The CloudEvent Knative's adapter makes for one watch event (`time` and a new UUID `id`
    are filled in by the SDK, as sdk-go's client does)."""
    meta = obj.get("metadata") or {}
    kind, api_version = str(obj.get("kind", "")), str(obj.get("apiVersion", ""))
    data: Any = obj
    if mode is Mode.REFERENCE:  # a corev1.ObjectReference, in its field order
        data = {
            "kind": kind,
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "apiVersion": api_version,
        }
    attributes = {
        "type": event_type(mode, action),
        "source": source,
        "subject": subject_of(obj),
        "datacontenttype": "application/json",
        "kind": kind,
        "apiversion": api_version,
        "name": str(meta.get("name", "")),
        "namespace": str(meta.get("namespace", "")),
    }
    return CloudEvent(attributes, data)


def source_url(store: Store) -> str:
    """Knative uses the API server's URL from the adapter's REST config; the embedded store has
    no server, so its database file stands in: `sqlite:///abs/path/store.db`."""
    api = getattr(store, "api", None)
    host = getattr(getattr(api, "configuration", None), "host", None)
    if host:
        return str(host)
    path = getattr(store, "path", None)
    if path:
        return "sqlite://" + str(Path(path).resolve())
    raise ValueError(f"cannot tell the URL of a {type(store).__name__}: pass source=")


class ApiServerSource:
    """Watches one resource (Experiments by default) and POSTs each change to `sink`.

    `start()` lists before it returns, so every object created after it returns is announced.
    `stop()` returns within about `watch_timeout` seconds: the watch is re-opened that often,
    which is also when a stop is noticed (a store's watch cannot be interrupted from outside).
    """

    def __init__(
        self,
        store: Store,
        sink: str,
        *,
        mode: Mode | str = Mode.REFERENCE,
        namespace: str | None = None,
        resource: Resource = EXPERIMENTS,
        source: str | None = None,
        updates: bool = False,
        deletes: bool = False,
        extensions: Mapping[str, str] | None = None,
        backoff: Backoff = KNATIVE_BACKOFF,
        watch_timeout: float = 1.0,
    ) -> None:
        self.store = store
        self.mode = Mode(mode)
        self.namespace = namespace
        self.resource = resource
        self.source = source or source_url(store)
        self.actions = (
            {"add"} | ({"update"} if updates else set()) | ({"delete"} if deletes else set())
        )
        self.watch_timeout = watch_timeout
        self.sender = Sender(sink, backoff=backoff, overrides=extensions)
        self.delivered = 0
        self.dropped = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._rv = ""

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("ApiServerSource already started")
        _, self._rv = self.store.list(self.resource, self.namespace)  # no events for these
        self._thread = threading.Thread(
            target=self._run, name=f"apiserversource-{self.resource.plural}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """No event is sent once this returns (unless `timeout` ran out first)."""
        self._stopping.set()
        self.sender.interrupt()
        if self._thread is not None:
            self._thread.join(self.watch_timeout + 15 if timeout is None else timeout)

    def __enter__(self) -> ApiServerSource:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    if not self._rv:  # as an informer does: re-list, announce nothing, watch on
                        _, self._rv = self.store.list(self.resource, self.namespace)
                    self._watch_once()
                except Expired:
                    log.info("watch of %s expired at %s; re-listing", self.resource.key, self._rv)
                    self._rv = ""
                except Exception:
                    log.exception("watch of %s failed; watching again", self.resource.key)
                    self._stopping.wait(_RETRY_AFTER_ERROR)
        finally:
            self.sender.close()

    def _watch_once(self) -> None:
        events = self.store.watch(
            self.resource,
            self.namespace,
            resource_version=self._rv,
            timeout_seconds=self.watch_timeout,
        )
        try:
            for change in events:
                if self._stopping.is_set():
                    return
                self._rv = change.resource_version
                self._emit(change)
        finally:
            close = getattr(events, "close", None)  # a generator: closes a server's stream now
            if close is not None:
                close()

    def _emit(self, change: WatchEvent) -> None:
        action = _ACTIONS[change.type]
        if action not in self.actions:
            return
        obj = change.object
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        if self.sender.send(make_event(self.source, self.mode, action, obj)):
            self.delivered += 1
        else:
            self.dropped += 1
