"""What only the embedded backend promises beyond the contract: many processes on one file,
history that is pruned (watching from before it is `Expired`, the API server's 410), and data
that outlives the store object."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from iter8.store import EXPERIMENTS, Conflict, Expired, Store
from iter8.store.sqlite import SqliteStore
from tests.store.objects import experiment

SAFETY_NET = 120.0  # seconds; ends a hung child process, never a speed expectation
spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing inherited by fork


def _race(path: str, barrier: Any, results: Any, writer: int) -> None:
    store = SqliteStore(path)
    try:
        obj = store.get(EXPERIMENTS, "default", "exp")
        barrier.wait()
        store.patch(
            EXPERIMENTS,
            "default",
            "exp",
            {"spec": {"target": f"writer-{writer}"}},
            resource_version=obj["metadata"]["resourceVersion"],
        )
        results.put(f"won writer-{writer}")
    except Conflict:
        results.put("conflict")
    except BaseException as e:
        results.put(repr(e))
    finally:
        store.close()


def _create_and_patch(path: str, prefix: str, count: int) -> None:
    store = SqliteStore(path)
    for i in range(count):
        store.create(EXPERIMENTS, experiment("default", f"{prefix}-{i}"))
        store.patch(EXPERIMENTS, "default", f"{prefix}-{i}", {"spec": {"target": prefix}})
    store.close()


def _read_target(path: str, name: str, results: Any) -> None:
    store = SqliteStore(path)
    results.put(store.get(EXPERIMENTS, "default", name)["spec"]["target"])
    store.close()


def _run(target: Any, *args: Any) -> None:
    """Run `target` in a child process to its end."""
    process = spawn.Process(target=target, args=args)
    process.start()
    process.join(SAFETY_NET)
    assert process.exitcode == 0


def test_is_a_Store(tmp_path: Path) -> None:
    assert isinstance(SqliteStore(tmp_path / "store.db"), Store)


def test_of_processes_racing_from_one_resource_version_exactly_one_wins(tmp_path: Path) -> None:
    writers = 6
    path = str(tmp_path / "store.db")
    store = SqliteStore(path)
    store.create(EXPERIMENTS, experiment("default", "exp"))
    barrier, results = spawn.Barrier(writers, timeout=SAFETY_NET), spawn.Queue()
    processes = [
        spawn.Process(target=_race, args=(path, barrier, results, i)) for i in range(writers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=SAFETY_NET) for _ in processes]
    for process in processes:
        process.join(SAFETY_NET)

    winners = [outcome for outcome in outcomes if outcome.startswith("won")]
    assert sorted(outcomes) == sorted(winners + ["conflict"] * (writers - 1))
    assert store.get(EXPERIMENTS, "default", "exp")["spec"]["target"] == winners[0][4:]


def test_processes_writing_at_once_get_distinct_increasing_resource_versions(
    tmp_path: Path,
) -> None:
    path, per_process = str(tmp_path / "store.db"), 25
    store = SqliteStore(path)
    _, since = store.list(EXPERIMENTS)
    processes = [
        spawn.Process(target=_create_and_patch, args=(path, f"p{i}", per_process)) for i in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(SAFETY_NET)
    assert [process.exitcode for process in processes] == [0] * 4

    items, _ = store.list(EXPERIMENTS, "default")
    assert len(items) == 4 * per_process
    assert all(item["spec"]["target"] == item["metadata"]["name"].split("-")[0] for item in items)
    events = []
    for event in store.watch(EXPERIMENTS, resource_version=since, timeout_seconds=SAFETY_NET):
        events.append(event)
        if len(events) == 2 * len(items):
            break
    versions = [int(event.resource_version) for event in events]
    assert versions == sorted(set(versions))
    for item in items:  # each object: its ADDED, then its MODIFIED, which it now is
        mine = [e for e in events if e.object["metadata"]["name"] == item["metadata"]["name"]]
        assert [e.type for e in mine] == ["ADDED", "MODIFIED"]
        assert mine[-1].object == item


def test_a_store_sees_the_writes_of_another_process_and_the_other_way_round(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "store.db")
    store = SqliteStore(path)
    _, since = store.list(EXPERIMENTS)

    _run(_create_and_patch, path, "child", 1)
    assert store.get(EXPERIMENTS, "default", "child-0")["spec"]["target"] == "child"
    events = []
    for event in store.watch(EXPERIMENTS, resource_version=since, timeout_seconds=SAFETY_NET):
        events.append(event.type)
        if event.type == "MODIFIED":
            break
    assert events == ["ADDED", "MODIFIED"]

    store.create(EXPERIMENTS, {**experiment("default", "parent")})
    store.patch(EXPERIMENTS, "default", "parent", {"spec": {"target": "from-parent"}})
    results = spawn.Queue()
    _run(_read_target, path, "parent", results)
    assert results.get(timeout=SAFETY_NET) == "from-parent"


def test_two_stores_on_one_file_share_objects_and_resource_versions(tmp_path: Path) -> None:
    one, two = SqliteStore(tmp_path / "store.db"), SqliteStore(tmp_path / "store.db")
    created = one.create(EXPERIMENTS, experiment("default", "exp"))
    patched = two.patch(EXPERIMENTS, "default", "exp", {"spec": {"target": "two"}})

    assert one.get(EXPERIMENTS, "default", "exp") == patched
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    with pytest.raises(Conflict):
        one.replace(EXPERIMENTS, created)


def test_objects_and_resource_versions_survive_reopening(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    created = store.create(EXPERIMENTS, experiment("default", "exp"))
    store.close()

    reopened = SqliteStore(tmp_path / "store.db")
    assert reopened.get(EXPERIMENTS, "default", "exp") == created
    patched = reopened.patch(EXPERIMENTS, "default", "exp", {"spec": {"target": "again"}})
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_a_watch_from_before_the_kept_history_is_Expired(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db", history=5)
    created = store.create(EXPERIMENTS, experiment("default", "exp"))
    for i in range(10):
        store.patch(EXPERIMENTS, "default", "exp", {"spec": {"duration": {"maxLoops": i + 10}}})
    _, now = store.list(EXPERIMENTS)

    with pytest.raises(Expired):
        next(store.watch(EXPERIMENTS, resource_version=created["metadata"]["resourceVersion"]))
    with pytest.raises(Expired):
        next(store.watch(EXPERIMENTS, resource_version=str(int(now) - 6)))
    kept = list(store.watch(EXPERIMENTS, resource_version=str(int(now) - 5), timeout_seconds=0.5))
    assert [event.object["spec"]["duration"]["maxLoops"] for event in kept] == list(range(15, 20))


def test_a_watch_that_falls_behind_the_kept_history_is_Expired(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db", history=5)
    _, since = store.list(EXPERIMENTS)
    store.create(EXPERIMENTS, experiment("default", "exp"))
    events = store.watch(EXPERIMENTS, resource_version=since, timeout_seconds=SAFETY_NET)
    assert next(events).type == "ADDED"

    for i in range(10):
        store.patch(EXPERIMENTS, "default", "exp", {"spec": {"duration": {"maxLoops": i + 10}}})
    with pytest.raises(Expired):
        next(events)


def test_generate_name_gives_a_fresh_name(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    obj = experiment("default", "")
    obj["metadata"] = {"generateName": "exp-", "namespace": "default"}

    first, second = store.create(EXPERIMENTS, obj), store.create(EXPERIMENTS, obj)
    names = {first["metadata"]["name"], second["metadata"]["name"]}
    assert len(names) == 2
    assert all(name.startswith("exp-") and len(name) == len("exp-") + 5 for name in names)
    assert obj["metadata"] == {"generateName": "exp-", "namespace": "default"}


class _CountingConnect:
    """`sqlite3.connect` as it is, counting the connections the store opens."""

    def __init__(self) -> None:
        self.opened: list[sqlite3.Connection] = []
        self._connect = sqlite3.connect

    def __call__(self, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = self._connect(*args, **kwargs)
        self.opened.append(db)
        return db


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> _CountingConnect:
    counting = _CountingConnect()
    monkeypatch.setattr("iter8.store.sqlite.sqlite3.connect", counting)
    return counting


def _in_thread(call: Any) -> Any:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    thread.join(SAFETY_NET)
    return result[0]


def test_the_connection_opened_with_the_store_serves_the_next_call_from_any_thread(
    tmp_path: Path, connects: _CountingConnect
) -> None:
    """A function opens its store before it serves; its first event, on a thread of the server
    that never touched the store, must not open (and warm) a connection of its own."""
    store = SqliteStore(tmp_path / "store.db")
    assert len(connects.opened) == 1
    store.create(EXPERIMENTS, experiment("default", "exp"))
    for _ in range(3):
        got = _in_thread(lambda: store.get(EXPERIMENTS, "default", "exp"))
        assert got["metadata"]["name"] == "exp"
        _in_thread(lambda: store.patch(EXPERIMENTS, "default", "exp", {"spec": {"target": "t"}}))
    assert len(connects.opened) == 1
    store.close()


def test_a_writer_waits_out_another_writer_and_leaves_its_connection_waiting_for_reads(
    tmp_path: Path, connects: _CountingConnect
) -> None:
    """A writer polls for the file's write lock (busy_timeout 0 while it does), then sets the
    connection's busy_timeout back: the pooled connection's next call may be a read or an open
    that meets another process's lock (its last connection closing, a WAL recovery), and those
    must wait, not fail. Two statements per write, measured at ~7 us against ~2.4 ms for the
    write's transaction; set once per connection, the reads or the writes would lose."""
    path = tmp_path / "store.db"
    store = SqliteStore(path, busy_timeout=0.75)
    store.create(EXPERIMENTS, experiment("default", "exp"))
    (pooled,) = connects.opened
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.2, lambda: holder.execute("COMMIT")).start()
    store.patch(EXPERIMENTS, "default", "exp", {"spec": {"target": "waited"}})  # after the COMMIT
    assert pooled.execute("PRAGMA busy_timeout").fetchone() == (750,)

    holder.execute("BEGIN IMMEDIATE")  # held past the deadline: the write fails, cleanly
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.patch(EXPERIMENTS, "default", "exp", {"spec": {"target": "never"}})
    holder.execute("COMMIT")
    assert pooled.execute("PRAGMA busy_timeout").fetchone() == (750,)
    assert store.get(EXPERIMENTS, "default", "exp")["spec"]["target"] == "waited"
    holder.close()
    store.close()


def test_calls_at_the_same_time_never_share_a_connection(
    tmp_path: Path, connects: _CountingConnect
) -> None:
    """Each call has a connection to itself for its transaction: threads writing and reading at
    once all succeed (a shared connection fails with "cannot start a transaction within a
    transaction") and the connections opened stay within the threads that ran at once."""
    store = SqliteStore(tmp_path / "store.db")
    threads, per_thread = 8, 25
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    versions: list[int] = []

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                name = f"w{worker}-{i}"
                store.create(EXPERIMENTS, experiment("default", name))
                patched = store.patch(EXPERIMENTS, "default", name, {"spec": {"target": name}})
                versions.append(int(patched["metadata"]["resourceVersion"]))
                assert store.get(EXPERIMENTS, "default", name)["spec"]["target"] == name
                store.list(EXPERIMENTS, "default")
        except BaseException as error:
            errors.append(error)

    running = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(SAFETY_NET)
    assert errors == []
    assert len(set(versions)) == threads * per_thread
    assert 1 <= len(connects.opened) <= threads + 1
    store.close()


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    """A connection may not cross a fork: the child's calls open their own, and the parent's
    keeps working."""
    store = SqliteStore(tmp_path / "store.db")
    store.create(EXPERIMENTS, experiment("default", "before"))
    child = multiprocessing.get_context("fork").Process(
        target=lambda: store.create(EXPERIMENTS, experiment("default", "child"))
    )
    child.start()
    child.join(SAFETY_NET)
    assert child.exitcode == 0
    assert store.get(EXPERIMENTS, "default", "child")["metadata"]["name"] == "child"
    store.create(EXPERIMENTS, experiment("default", "after"))
    store.close()


def test_opening_a_store_starts_its_write_ahead_log_and_changes_nothing(tmp_path: Path) -> None:
    """The log is started when a function opens its store before it serves, not by its first
    event's write; the revision and the watch events stay as they were."""
    path = tmp_path / "store.db"
    first = SqliteStore(path)
    first.create(EXPERIMENTS, experiment("default", "exp"))
    _, before = first.list(EXPERIMENTS)
    first.close()  # the last connection: SQLite folds the log into the file and removes it
    log = tmp_path / "store.db-wal"
    assert not log.exists() or log.stat().st_size == 0
    second = SqliteStore(path)
    assert log.stat().st_size > 0
    _, after = second.list(EXPERIMENTS)
    assert after == before
    events = list(second.watch(EXPERIMENTS, resource_version="1", timeout_seconds=0.1))
    assert [e.type for e in events] == ["ADDED"]
    second.close()
