"""The SQLite store on real database files: the Go service's schema and
migration bookkeeping, errors, and the time format."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

import pytest
from polymesh_users.store import (
    AsyncStore,
    EmailTaken,
    NotFound,
    SQLiteStore,
    StoreError,
    default_schema_dir,
    migrations,
    split_statements,
)
from polymesh_users.validation import Change

TIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_the_schema_is_the_go_services() -> None:
    folder = default_schema_dir()
    assert folder.parts[-3:] == ("users", "schema", "sqlite")
    ms = migrations(folder)
    assert [m.version for m in ms] == sorted(m.version for m in ms)
    assert ms[0].version == 1 and ms[0].name == "0001_users.sql"


def test_open_applies_and_records_migrations_once(tmp_path: Path) -> None:
    db = tmp_path / "users.db"
    SQLiteStore(str(db)).close()
    SQLiteStore(str(db)).close()  # a second start applies nothing
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT version, applied_at FROM schema_migrations").fetchall()
        assert [v for v, _ in rows] == [m.version for m in migrations(default_schema_dir())]
        assert all(TIME_TEXT.match(t) for _, t in rows)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(users)")]
        assert columns == ["id", "email", "name", "create_time", "update_time"]
    conn.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "users.db"
    SQLiteStore(str(db)).close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, '2030-01-01T00:00:00.000000Z')")
    conn.close()
    with pytest.raises(StoreError, match="schema version 999, newer than this build's"):
        SQLiteStore(str(db))


def test_migrations_run_in_one_transaction(tmp_path: Path) -> None:
    schema = tmp_path / "schema"
    schema.mkdir()
    (schema / "0001_a.sql").write_text("-- one; two\nCREATE TABLE a (x TEXT);\n")
    (schema / "0002_b.sql").write_text("CREATE TABLE b (x TEXT);\nCREATE TABLE a (y TEXT);\n")
    db = tmp_path / "users.db"
    with pytest.raises(StoreError, match="already exists"):
        SQLiteStore(str(db), schema_dir=schema)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "a" not in tables and "b" not in tables


@pytest.mark.parametrize("name", ["users.sql", "x_users.sql", "0_users.sql"])
def test_migration_names_need_a_version(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(StoreError, match="version number"):
        migrations(tmp_path)


def test_split_statements() -> None:
    script = "-- a; comment\nCREATE TABLE t (x TEXT DEFAULT ';');\n\nCREATE INDEX i ON t (x);\n"
    assert split_statements(script) == [
        "-- a; comment\nCREATE TABLE t (x TEXT DEFAULT ';');",
        "CREATE INDEX i ON t (x);",
    ]


@pytest.mark.parametrize("path", ["", ":memory:", "file:x.db", "a?b", "a#b"])
def test_only_file_paths(path: str) -> None:
    with pytest.raises(StoreError):
        SQLiteStore(path)


def test_users_round_trip(tmp_path: Path) -> None:
    clock = iter(
        [
            dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),  # migrations
            dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),  # create
        ]
        + [dt.datetime(2025, 1, 3, 0, 0, 0, 1, tzinfo=dt.UTC)] * 3  # updates
    )
    store = SQLiteStore(str(tmp_path / "u.db"), clock=lambda: next(clock))
    user = store.create("ada@example.com", "Ada")
    assert store.get(user.id) == user
    with pytest.raises(EmailTaken):
        store.create("ada@example.com", "Other")
    updated = store.update(user.id, Change(name="Ada L."))
    assert (updated.name, updated.create_time) == ("Ada L.", user.create_time)
    assert updated.update_time == dt.datetime(2025, 1, 3, 0, 0, 0, 1, tzinfo=dt.UTC)
    with sqlite3.connect(tmp_path / "u.db") as conn:
        times = conn.execute("SELECT create_time, update_time FROM users").fetchone()
    conn.close()
    assert times == ("2025-01-02T03:04:05.678901Z", "2025-01-03T00:00:00.000001Z")
    store.delete(user.id)
    with pytest.raises(NotFound):
        store.delete(user.id)
    with pytest.raises(NotFound):
        store.update(user.id, Change(name="X"))
    with pytest.raises(StoreError, match="sets no field"):
        store.update(user.id, Change())
    store.close()


async def test_async_store_lists_in_id_order(tmp_path: Path) -> None:
    store = await AsyncStore.open(str(tmp_path / "u.db"))
    try:
        made = [await store.create(f"u{i}@example.com", f"User {i}") for i in range(5)]
        ids = sorted(u.id for u in made)
        assert [u.id for u in await store.list("", 3)] == ids[:3]
        assert [u.id for u in await store.list(ids[2], 10)] == ids[3:]
        await store.ping()
    finally:
        await store.close()
