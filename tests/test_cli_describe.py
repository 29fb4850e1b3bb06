"""`iter8 describe --store` on what is not a store, or a damaged one: exit 2 with a line that names
the file (and the object), never a traceback; the undamaged objects are still read."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from iter8.cli.main import cli
from iter8.store import EXPERIMENTS
from iter8.store.sqlite import SqliteStore
from tests.validation.test_invalid import valid_canary


def describe(store: Path, name: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["describe", "--store", str(store), name])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    for name in ("first", "second"):
        manifest = valid_canary()
        manifest["metadata"]["name"] = name
        store.create(EXPERIMENTS, manifest)
    store.close()  # the last connection checkpoints the WAL into the file
    return path


def test_a_good_store_is_described(store_file: Path) -> None:
    code, output = describe(store_file, "shop/first")
    assert code == 0 and "Experiment name: first" in output


def test_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n" * 1000)
    assert describe(path, "shop/first") == (
        2,
        f"{path}: not a readable iter8 store (file is not a database)\n",
    )


def test_an_sqlite_file_of_something_else_is_not_written_to(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    db.close()
    before = path.read_bytes()
    code, output = describe(path, "shop/first")
    assert (code, output) == (
        2,
        f"{path}: not an iter8 store (an SQLite file without its tables)\n",
    )
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda path: os.truncate(path, 4096 + 10), "database disk image is malformed"),
        (lambda path: os.truncate(path, path.stat().st_size // 2), "malformed"),
        (lambda path: path.write_bytes(b"\0" * 100 + path.read_bytes()[100:]), "not a database"),
    ],
    ids=["truncated to one page", "truncated to half", "header destroyed"],
)
def test_a_damaged_store_names_the_file(store_file: Path, damage, problem: str) -> None:
    damage(store_file)
    code, output = describe(store_file, "shop/first")
    assert code == 2
    assert output.startswith(f"{store_file}: not a readable iter8 store (") and problem in output


def test_one_damaged_object_is_named_and_the_rest_still_read(
    store_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with sqlite3.connect(store_file) as db:
        db.execute("UPDATE objects SET body = substr(body, 1, 40) WHERE name = 'first'")
    db.close()
    code, output = describe(store_file, "shop/first")
    assert code == 2
    assert output.startswith(f"{store_file}: experiments.iter8.tools shop/first: damaged JSON (")
    code, output = describe(store_file, "shop/second")
    assert code == 0 and "Experiment name: second" in output
    store = SqliteStore(store_file)
    with caplog.at_level(logging.ERROR, logger="iter8.store.sqlite"):
        items, _ = store.list(EXPERIMENTS)
    store.close()
    assert [item["metadata"]["name"] for item in items] == ["second"]
    assert "experiments.iter8.tools shop/first: damaged JSON" in caplog.text
