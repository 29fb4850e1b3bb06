"""The embedded store: Kubernetes API semantics on one SQLite file, shared by many processes.

Each write is one `BEGIN IMMEDIATE` transaction that reads the object, checks every
precondition, takes the next global revision (the resourceVersion, as etcd's revision is) and
appends a watch event. Writers in any thread or process thus serialise on the database lock,
and events become visible strictly in resourceVersion order, which is what lets a watch be a
simple poll of the events table.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from iter8.store.base import (
    AlreadyExists,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    Object,
    PatchType,
    StoreError,
    WatchEvent,
)
from iter8.store.patching import (
    apply_patch,
    is_deleting_and_done,
    mark_deleting,
    prepare_create,
    prepare_update,
)
from iter8.store.resources import Resource

_SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS revision (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    rv INTEGER NOT NULL,        -- the last resourceVersion handed out
    compacted INTEGER NOT NULL  -- events up to this resourceVersion have been pruned
);
-- Like etcd, start at 1 so that no list ever returns "0", which a watch reads as "from now".
INSERT OR IGNORE INTO revision VALUES (0, 1, 0);
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,    -- '' for cluster-scoped resources
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS events (
    rv INTEGER PRIMARY KEY,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_resource ON events (resource, rv);
-- A page written and put back as it was, in one transaction (nobody sees it): the write-ahead
-- log is started now, when the store is opened, rather than by the first write of an event
-- (which paid ~10-15 ms for it: the log's header is synced).
UPDATE revision SET rv = -rv;
UPDATE revision SET rv = -rv;
COMMIT;
"""

_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet
_TABLES = {"revision", "objects", "events"}

log = logging.getLogger(__name__)


class CorruptStore(StoreError):
    """The file is not a store, or it (or one object in it) is damaged: the message names the
    file and, where it can, the object. A list or watch skips a damaged object, logging it."""


@contextmanager
def _reading(path: str) -> Iterator[None]:
    """SQLite's "not a database" and "malformed" errors as a CorruptStore naming the file."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorcode", None) not in (
            sqlite3.SQLITE_CORRUPT,
            sqlite3.SQLITE_NOTADB,
        ):
            raise
        raise CorruptStore(f"{path}: not a readable iter8 store ({error})") from None


def check_store_file(path: str | os.PathLike[str]) -> None:
    """Raise CorruptStore unless `path` is an existing store; opens it read-only, so a file of
    something else is never written to (as `SqliteStore(path)` would, creating the tables)."""
    shown = os.fspath(path)
    with _reading(shown):
        try:
            db = sqlite3.connect(f"{Path(shown).resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.OperationalError as error:
            raise CorruptStore(f"{shown}: cannot open ({error})") from None
        try:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            db.close()
    if not _TABLES.issubset(name for (name,) in rows):
        raise CorruptStore(f"{shown}: not an iter8 store (an SQLite file without its tables)")


class SqliteStore:
    """A `Store` in one SQLite file (WAL mode); any number of instances, threads and processes
    may share the file.

    Connections are pooled, not kept per thread: a call takes an idle one (or opens one) and
    gives it back when its transaction ends, so one connection never serves two calls at once,
    and the connection opened by the constructor is the one the next call uses, whatever its
    thread (a function's first event found a new thread of the server with none open: ~1 ms of
    CPU and a cold page cache per thread).

    `history` is how many watch events are kept: a watch from an older resourceVersion raises
    `Expired`, as the API server answers 410 Gone once etcd has compacted that revision.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        history: int = 10_000,
        poll_interval: float = 0.025,
        busy_timeout: float = 60.0,
    ) -> None:
        self.path = os.fspath(path)
        self._real_path = os.path.realpath(self.path)  # the key of this file's writer mutex
        self._history = history
        self._poll_interval = poll_interval
        self._busy_timeout = busy_timeout
        self._opened: list[tuple[int, sqlite3.Connection]] = []
        self._idle: list[sqlite3.Connection] = []  # this process's, free for the next call
        self._idle_pid = os.getpid()
        self._pool_lock = threading.Lock()
        with _reading(self.path), self._connection() as db:
            db.executescript(_SCHEMA)

    # -- reads -----------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str, name: str) -> Object:
        with _reading(self.path), self._connection() as db:
            return self._load(db, resource, namespace, name)

    def list(self, resource: Resource, namespace: str | None = None) -> tuple[list[Object], str]:
        query = "SELECT namespace, name, body FROM objects WHERE resource = ?"
        args: tuple[str, ...] = (resource.key,)
        if namespace is not None and resource.namespaced:
            query, args = query + " AND namespace = ?", (*args, namespace)
        with self._transaction("BEGIN") as db:
            rows = db.execute(query + " ORDER BY namespace, name", args).fetchall()
            (rv,) = db.execute("SELECT rv FROM revision").fetchone()
        items = [self._decode_or_skip(body, resource, ns, name) for ns, name, body in rows]
        return [item for item in items if item is not None], str(rv)

    def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: float = 30,
    ) -> Iterator[WatchEvent]:
        """Poll the events table. As on the API server, "0" or "" means "from now", starting
        with an ADDED event for every object that exists."""
        deadline = time.monotonic() + timeout_seconds
        if str(resource_version) in ("", "0"):
            items, current = self.list(resource, namespace)
            for item in items:
                yield WatchEvent("ADDED", item)
            since = int(current)
        else:
            since = _parse_resource_version(resource_version)
        while time.monotonic() < deadline:
            events = self._events_since(resource, namespace, since)
            for rv, kind, body in events:
                since = rv
                obj = self._decode_or_skip(body, resource, None, f"(event {rv})")
                if obj is not None:
                    yield WatchEvent(kind, obj)
            if not events:
                time.sleep(max(0.0, min(self._poll_interval, deadline - time.monotonic())))

    def _events_since(
        self, resource: Resource, namespace: str | None, since: int
    ) -> list[tuple[int, Literal["ADDED", "MODIFIED", "DELETED"], str]]:
        query = "SELECT rv, type, body FROM events WHERE resource = ? AND rv > ?"
        args: tuple[str | int, ...] = (resource.key, since)
        if namespace is not None and resource.namespaced:
            query, args = query + " AND namespace = ?", (*args, namespace)
        with self._transaction("BEGIN") as db:
            (compacted,) = db.execute("SELECT compacted FROM revision").fetchone()
            if since < compacted:
                raise Expired(f"too old resource version: {since} ({compacted})")
            return db.execute(query + " ORDER BY rv LIMIT 1000", args).fetchall()

    # -- writes ----------------------------------------------------------------------------

    def create(self, resource: Resource, obj: Object) -> Object:
        meta = obj.get("metadata")
        if isinstance(meta, dict) and not meta.get("name") and meta.get("generateName"):
            suffix = "".join(secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))
            obj = {**obj, "metadata": {**meta, "name": meta["generateName"] + suffix}}
        stored = prepare_create(resource, obj, uid=str(uuid.uuid4()), now=_now())
        namespace, name = _namespace_of(resource, stored), stored["metadata"]["name"]
        with self._transaction("BEGIN IMMEDIATE") as db:
            if self._find(db, resource, namespace, name) is not None:
                raise AlreadyExists(f'{_qualified(resource)} "{name}" already exists')
            return self._commit(db, resource, "ADDED", stored)

    def replace(self, resource: Resource, obj: Object) -> Object:
        return self._update(resource, obj, lambda _old: obj, status=False)

    def replace_status(self, resource: Resource, obj: Object) -> Object:
        return self._update(resource, obj, lambda _old: obj, status=True)

    def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        patch: Object | list[Object],
        patch_type: PatchType = PatchType.MERGE,
        *,
        resource_version: str | None = None,
        subresource: Literal["", "status"] = "",
    ) -> Object:
        def patched(old: Object) -> Object:
            new = apply_patch(old, patch, patch_type)
            if resource_version is not None and isinstance(new.get("metadata"), dict):
                new["metadata"]["resourceVersion"] = str(resource_version)
            return new

        ref = {"metadata": {"namespace": namespace, "name": name}}
        return self._update(resource, ref, patched, status=subresource == "status")

    def delete(
        self, resource: Resource, namespace: str, name: str, *, resource_version: str | None = None
    ) -> None:
        with self._transaction("BEGIN IMMEDIATE") as db:
            old = self._load(db, resource, namespace, name)
            if resource_version is not None:
                _check_precondition(resource, old, str(resource_version))
            if not old["metadata"].get("finalizers"):
                self._commit(db, resource, "DELETED", old)
            elif "deletionTimestamp" not in old["metadata"]:
                self._commit(db, resource, "MODIFIED", mark_deleting(old, now=_now()))

    def _update(
        self,
        resource: Resource,
        ref: Object,
        change: Callable[[Object], Object],
        *,
        status: bool,
    ) -> Object:
        """Read, change, check, write: all under the write lock, so no one writes in between."""
        meta = ref.get("metadata") if isinstance(ref, dict) else None
        if not isinstance(meta, dict) or not meta.get("name"):
            raise Invalid("metadata.name: Required value")
        name = meta["name"]
        if resource.namespaced and not meta.get("namespace"):
            raise Invalid(f'{_qualified(resource)} "{name}": metadata.namespace: Required value')
        if status and not resource.status_subresource:
            raise NotFound(f"{_qualified(resource)} has no status subresource")
        with self._transaction("BEGIN IMMEDIATE") as db:
            old = self._load(db, resource, meta.get("namespace", ""), name)
            if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:  # a PUT's precondition
                raise Conflict(
                    f'Operation cannot be fulfilled on {_qualified(resource)} "{name}": '
                    f"Precondition failed: UID in precondition: {meta['uid']}, "
                    f"UID in object meta: {old['metadata']['uid']}"
                )
            new = change(old)
            if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
                raise Invalid("an object must be a JSON object with a `metadata` object")
            given = new.get("metadata", {}).get("resourceVersion")
            if given:  # without one the write is unconditional, as the Store contract says
                _check_precondition(resource, old, str(given))
            stored = prepare_update(resource, old, new, status=status)
            if stored == old:  # like the API server, a write that changes nothing is skipped
                return old
            if is_deleting_and_done(stored):
                # The last finalizer went: the server deletes the object as last stored, and
                # answers with what would have been written (never stored, old resourceVersion).
                self._commit(db, resource, "DELETED", old)
                return stored
            return self._commit(db, resource, "MODIFIED", stored)

    def _commit(self, db: sqlite3.Connection, resource: Resource, kind: str, obj: Object) -> Object:
        """Give `obj` the next resourceVersion, store it (or remove it) and log the event."""
        db.execute("UPDATE revision SET rv = rv + 1")
        (rv,) = db.execute("SELECT rv FROM revision").fetchone()
        obj["metadata"]["resourceVersion"] = str(rv)
        namespace, name = _namespace_of(resource, obj), obj["metadata"]["name"]
        body = json.dumps(obj, separators=(",", ":"))
        key = (resource.key, namespace, name)
        if kind == "DELETED":
            db.execute("DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?", key)
        else:
            db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (*key, body))
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)", (rv, *key[:2], kind, body))
        if rv - self._history > 0:
            db.execute("DELETE FROM events WHERE rv <= ?", (rv - self._history,))
            db.execute("UPDATE revision SET compacted = max(compacted, ?)", (rv - self._history,))
        return obj

    # -- plumbing --------------------------------------------------------------------------

    def _find(
        self, db: sqlite3.Connection, resource: Resource, namespace: str, name: str
    ) -> Object | None:
        row = db.execute(
            "SELECT body FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
            (resource.key, namespace if resource.namespaced else "", name),
        ).fetchone()
        return None if row is None else self._decode(row[0], resource, namespace, name)

    def _decode(self, body: str, resource: Resource, namespace: str | None, name: str) -> Object:
        try:
            obj = json.loads(body)
        except ValueError as error:
            obj, problem = None, f"damaged JSON ({error})"
        else:
            problem = "not a JSON object with metadata"
        if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
            return obj
        where = f"{namespace}/{name}" if namespace else name
        raise CorruptStore(f"{self.path}: {_qualified(resource)} {where}: {problem}")

    def _decode_or_skip(
        self, body: str, resource: Resource, namespace: str | None, name: str
    ) -> Object | None:
        """One damaged object must not hide the rest: it is logged and passed over."""
        try:
            return self._decode(body, resource, namespace, name)
        except CorruptStore as error:
            log.error("skipped: %s", error)
            return None

    def _load(
        self, db: sqlite3.Connection, resource: Resource, namespace: str, name: str
    ) -> Object:
        obj = self._find(db, resource, namespace, name)
        if obj is None:
            raise NotFound(f'{_qualified(resource)} "{name}" not found')
        return obj

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with _reading(self.path), self._transaction_unchecked(begin) as db:
            yield db

    @contextmanager
    def _transaction_unchecked(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._connection() as db:
            if begin != "BEGIN IMMEDIATE":
                db.execute(begin)
                with self._open(db):
                    yield db
                return
            # Writers of this process queue on a mutex (woken at once when it is free); only the
            # one at its head competes with other processes for the file's write lock.
            with _write_lock(self._real_path):
                self._begin_immediate(db)
                with self._open(db):
                    yield db

    @contextmanager
    def _open(self, db: sqlite3.Connection) -> Iterator[None]:
        try:
            yield
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already (a full disk, say)
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _begin_immediate(self, db: sqlite3.Connection) -> None:
        """Take the write lock, polling every 0.2-2 ms while another process holds it.

        SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms…
        between tries, so under contention a writer slept long after the lock was free. So the
        handler is off (busy_timeout 0) while this polls, and on again after: the connection's
        next call may be a read or an open that meets another process's lock (its last
        connection closing, a WAL recovery), which must wait. Two statements per write, ~7 us
        against ~2.4 ms for the write's transaction; set once per connection, either the reads
        would fail on a lock or the writers would sleep in the handler.
        """
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.0002
        db.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if not _is_busy(error) or time.monotonic() >= deadline:
                        raise
                time.sleep(delay)
                delay = min(delay * 2, 0.002)
        finally:
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection of this process that no other call is using, for one call."""
        db = self._acquire()
        try:
            yield db
        finally:
            self._release(db)

    def _acquire(self) -> sqlite3.Connection:
        pid = os.getpid()
        with self._pool_lock:
            if self._idle_pid != pid:  # a forked child: a connection may not cross a fork
                self._idle, self._idle_pid = [], pid
            if self._idle:
                return self._idle.pop()  # the most recently used: its pages are the warmest
        db = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # one call at a time, from whichever thread makes it
        )
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL stays consistent; fsync at checkpoints
        with self._pool_lock:
            self._opened.append((pid, db))
        return db

    def _release(self, db: sqlite3.Connection) -> None:
        with self._pool_lock:
            mine = self._idle_pid == os.getpid() and any(d is db for _, d in self._opened)
            if mine and not db.in_transaction and len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(db)
                return
            if mine:
                self._opened = [(p, d) for p, d in self._opened if d is not db]
        if mine:
            db.close()

    def close(self) -> None:
        """Close the connections this process opened (a forked child's copies are not its own)."""
        pid = os.getpid()
        with self._pool_lock:
            mine = [db for owner, db in self._opened if owner == pid]
            self._opened, self._idle = [], []
        for db in mine:
            db.close()


MAX_IDLE_CONNECTIONS = 32  # more than a function's threads; beyond it a returned one is closed


_write_locks: dict[tuple[int, str], threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _after_fork() -> None:
    global _write_locks_guard
    _write_locks_guard = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork)


def _write_lock(real_path: str) -> threading.Lock:
    """One mutex per database file and process (a forked child makes its own)."""
    key = (os.getpid(), real_path)
    with _write_locks_guard:
        lock = _write_locks.get(key)
        if lock is None:
            lock = _write_locks[key] = threading.Lock()
        return lock


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error) or "busy" in str(error)


def _check_precondition(resource: Resource, obj: Object, resource_version: str) -> None:
    _parse_resource_version(resource_version)
    if resource_version != obj["metadata"]["resourceVersion"]:
        raise Conflict(
            f'Operation cannot be fulfilled on {_qualified(resource)} "{obj["metadata"]["name"]}":'
            " the object has been modified; please apply your changes to the latest version and"
            " try again"
        )


def _parse_resource_version(resource_version: str) -> int:
    try:
        return int(resource_version)
    except (TypeError, ValueError):
        raise Invalid(f"invalid resource version {resource_version!r}") from None


def _namespace_of(resource: Resource, obj: Object) -> str:
    return obj["metadata"].get("namespace", "") if resource.namespaced else ""


def _qualified(resource: Resource) -> str:
    """How the API server names a resource in its messages, e.g. `experiments.iter8.tools`."""
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
