"""The users in a SQLite file, as the Go service keeps them.

The schema is the Go service's own (services/users/schema/sqlite/*.sql),
read at open and applied as migrations the way its store applies them: the
files the database lacks, in version order, in one transaction, each
recorded in schema_migrations(version, applied_at). Times are RFC 3339 UTC
text with exactly six fractional digits.

Every method blocks: the store runs on one dedicated thread, which owns the
connection, and the async wrappers (AsyncStore) hand calls to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .validation import Change

__all__ = [
    "AsyncStore",
    "EmailTaken",
    "NotFound",
    "SQLiteStore",
    "StoreError",
    "Unavailable",
    "User",
    "default_schema_dir",
    "format_time",
    "migrations",
]

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
USER_COLUMNS = "id, email, name, create_time, update_time"
MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)"
)


class StoreError(Exception):
    """A database failure that is none of the errors below."""


class NotFound(StoreError):
    """No user has the id."""


class EmailTaken(StoreError):
    """Another user has the email."""


class Unavailable(StoreError):
    """The database is busy or cannot be reached for now."""


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    create_time: dt.datetime
    update_time: dt.datetime


def default_schema_dir() -> Path:
    """services/users/schema/sqlite of this repository, unless
    POLYMESH_USERS_SCHEMA_DIR names another folder."""
    if env := os.environ.get("POLYMESH_USERS_SCHEMA_DIR"):
        return Path(env)
    return Path(__file__).resolve().parents[3] / "users" / "schema" / "sqlite"


def format_time(t: dt.datetime) -> str:
    """SQLite's time text: 2006-01-02T15:04:05.000000Z."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(dt.UTC)


def now() -> dt.datetime:
    """UTC, with microseconds (the precision the database keeps)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


_VERSION = re.compile(r"^([^_]*)_")


def migrations(directory: Path) -> list[Migration]:
    """The schema files of directory, by version: the number before the first
    '_' of each name (0001_users.sql is 1)."""
    out: list[Migration] = []
    seen: dict[int, str] = {}
    try:
        entries = sorted(directory.iterdir())
    except OSError as err:
        raise StoreError(f"migrations: {err}") from err
    for entry in entries:
        if entry.is_dir() or not entry.name.endswith(".sql"):
            continue
        prefix = entry.name.split("_", 1)[0]
        version = int(prefix) if prefix.isascii() and prefix.isdigit() else 0
        if version <= 0:
            raise StoreError(
                f"migration {entry.name}: the name does not start with a version number and '_'"
            )
        if version in seen:
            raise StoreError(
                f"migrations {seen[version]} and {entry.name}: the same version {version}"
            )
        seen[version] = entry.name
        out.append(Migration(version, entry.name, entry.read_text(encoding="utf-8")))
    if not out:
        raise StoreError(f"migrations: none in {directory}")
    out.sort(key=lambda mig: mig.version)
    return out


def split_statements(script: str) -> list[str]:
    """The complete SQL statements of a script, so that they run one by one
    inside the caller's transaction (executescript would commit it)."""
    statements: list[str] = []
    current = ""
    for part in script.split(";"):
        current += part + ";"
        if sqlite3.complete_statement(current):
            body = "\n".join(
                line for line in current.splitlines() if not line.strip().startswith("--")
            ).strip()
            if body.strip(";").strip():
                statements.append(current.strip())
            current = ""
    if current.strip(";").strip() and any(
        not line.strip().startswith("--") and line.strip()
        for line in current.rstrip(";").splitlines()
    ):
        raise StoreError("migration: an incomplete SQL statement at the end")
    return statements


def _is_busy(err: sqlite3.Error) -> bool:
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(err)
    return "locked" in text or "busy" in text


def _classify(err: sqlite3.Error, what: str) -> StoreError:
    if isinstance(err, sqlite3.IntegrityError) and "users.email" in str(err):
        return EmailTaken(f"{what}: {err}")
    if _is_busy(err):
        return Unavailable(f"{what}: {err}")
    return StoreError(f"{what}: {err}")


def _row_user(row: tuple) -> User:
    return User(row[0], row[1], row[2], parse_time(row[3]), parse_time(row[4]))


class SQLiteStore:
    """The blocking store on one connection; use it from one thread at a time."""

    def __init__(
        self,
        path: str,
        schema_dir: Path | None = None,
        clock: Callable[[], dt.datetime] = now,
    ) -> None:
        if not path:
            raise StoreError("no database: want a SQLite file path")
        if path.startswith(":") or path.startswith("file:"):
            raise StoreError(
                f"database {path!r}: want a SQLite file path (not a URI or an in-memory name)"
            )
        if "?" in path or "#" in path:
            raise StoreError(f"database {path!r}: a SQLite file path may not contain '?' or '#'")
        self._clock = clock
        try:
            self._db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise _classify(err, f"open sqlite database {path}") from err
        try:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._wal()
            self._migrate(migrations(schema_dir or default_schema_dir()))
        except sqlite3.Error as err:
            self._db.close()
            raise _classify(err, "sqlite database") from err
        except BaseException:
            self._db.close()
            raise

    def _timestamp(self) -> dt.datetime:
        return self._clock().astimezone(dt.UTC)

    def _wal(self) -> None:
        """Write-ahead logging for the file, retrying while another connection
        holds the lock that the switch needs."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        wait = 0.005
        while True:
            try:
                (mode,) = self._db.execute("PRAGMA journal_mode=WAL").fetchone()
            except sqlite3.OperationalError as err:
                if not _is_busy(err) or time.monotonic() > deadline:
                    raise
                time.sleep(wait)
                wait = min(2 * wait, 0.1)
                continue
            if str(mode).lower() != "wal":
                raise StoreError(f"journal_mode=WAL: the database stays in {mode!r} mode")
            return

    def _migrate(self, ms: list[Migration]) -> None:
        """Applies the migrations the database lacks, in one transaction, and
        refuses a schema newer than these files."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(MIGRATIONS_TABLE)
            applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            latest = ms[-1].version
            for version in applied:
                if version > latest:
                    raise StoreError(
                        f"migrate: the database has schema version {version}, "
                        f"newer than this build's {latest}"
                    )
            applied_at = format_time(self._timestamp())
            for mig in ms:
                if mig.version in applied:
                    continue
                for statement in split_statements(mig.sql):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (mig.version, applied_at),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def create(self, email: str, name: str) -> User:
        t = self._timestamp()
        user = User(str(uuid.uuid4()), email, name, t, t)
        try:
            self._db.execute(
                f"INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (user.id, email, name, format_time(t), format_time(t)),
            )
        except sqlite3.Error as err:
            raise _classify(err, "create user") from err
        return user

    def get(self, id_: str) -> User:
        try:
            row = self._db.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (id_,)
            ).fetchone()
        except sqlite3.Error as err:
            raise _classify(err, "get user") from err
        if row is None:
            raise NotFound(id_)
        return _row_user(row)

    def list(self, after: str, limit: int) -> list[User]:
        if limit <= 0:
            raise StoreError(f"list users: limit {limit}, want > 0")
        try:
            rows = self._db.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        except sqlite3.Error as err:
            raise _classify(err, "list users") from err
        return [_row_user(r) for r in rows]

    def update(self, id_: str, change: Change) -> User:
        sets: list[str] = []
        args: list[str] = []
        if change.email is not None:
            sets.append("email = ?")
            args.append(change.email)
        if change.name is not None:
            sets.append("name = ?")
            args.append(change.name)
        if not sets:
            raise StoreError("update user: the change sets no field")
        sets.append("update_time = ?")
        args.append(format_time(self._timestamp()))
        args.append(id_)
        try:
            row = self._db.execute(
                f"UPDATE users SET {', '.join(sets)} WHERE id = ? RETURNING {USER_COLUMNS}",
                args,
            ).fetchone()
        except sqlite3.Error as err:
            raise _classify(err, "update user") from err
        if row is None:
            raise NotFound(id_)
        return _row_user(row)

    def delete(self, id_: str) -> None:
        try:
            cur = self._db.execute("DELETE FROM users WHERE id = ?", (id_,))
        except sqlite3.Error as err:
            raise _classify(err, "delete user") from err
        if cur.rowcount == 0:
            raise NotFound(id_)

    def ping(self) -> None:
        try:
            self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error as err:
            raise _classify(err, "ping sqlite database") from err

    def close(self) -> None:
        self._db.close()


class AsyncStore:
    """A SQLiteStore driven from the event loop: every call runs on the one
    thread that owns the connection, never on the loop."""

    def __init__(self, store: SQLiteStore, executor: concurrent.futures.ThreadPoolExecutor):
        self._store = store
        self._executor = executor

    @classmethod
    async def open(cls, path: str, schema_dir: Path | None = None) -> AsyncStore:
        executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="users-sqlite")
        try:
            store = await asyncio.get_running_loop().run_in_executor(
                executor, SQLiteStore, path, schema_dir
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(store, executor)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def create(self, email: str, name: str) -> User:
        return await self._run(self._store.create, email, name)

    async def get(self, id_: str) -> User:
        return await self._run(self._store.get, id_)

    async def list(self, after: str, limit: int) -> list[User]:
        return await self._run(self._store.list, after, limit)

    async def update(self, id_: str, change: Change) -> User:
        return await self._run(self._store.update, id_, change)

    async def delete(self, id_: str) -> None:
        await self._run(self._store.delete, id_)

    async def ping(self) -> None:
        await self._run(self._store.ping)

    async def close(self) -> None:
        await self._run(self._store.close)
        self._executor.shutdown(wait=True)
