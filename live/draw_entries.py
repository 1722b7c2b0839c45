"""Draw entries written as a group commit: one transaction in flight at a time; the entries that
arrive while it runs wait for it and go together as the next one, a single INSERT ... ON CONFLICT
DO NOTHING RETURNING id (the waiting room's joins are batched the same way, live.waiting_room).

In the minutes before a draw closes tens of thousands of entries arrive. One transaction each cost
~2 ms of CPU and, on SQLite, ~20 ms of wall time per commit (its fsync), during which the database
takes no other write; a batch of 64 rows costs ~90 µs of CPU a row (measured here). Batching by
"what arrived while the last commit ran" makes the batch grow with the load and the commit's
latency, without a timer. The unique keys (offer and buyer, offer and email, offer and card) still
decide: a row the INSERT skipped is not in RETURNING, and its caller is told so.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import sqlite3
import threading
import time
from itertools import chain
from operator import itemgetter
from queue import SimpleQueue
from typing import Any

import sqlalchemy.exc

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from live.models import DrawEntry

ENTRIES: Table = DrawEntry.__table__  # type: ignore[assignment]
BATCH_MAX = 500  # rows per INSERT: well inside SQLite's and asyncpg's parameter limits per statement
COLUMNS = tuple(c.name for c in ENTRIES.columns)
_ROW = "(" + ", ".join("?" * len(COLUMNS)) + ")"
_ID, _BUYER = COLUMNS.index("id"), COLUMNS.index("buyer_id")
SQLITE_BUSY_MS = 30_000  # as web.database's connections: another process's write waits, it does not fail
# The writer's commits checkpoint the log into the database once it holds this many pages (SQLite's
# default: 1,000, 4 MB). Entries dirty index pages at random (the one-entry keys), so a checkpoint
# every ~15 batches copied nearly every page it logged; at 10,000 (40 MB of log) a page logged
# several times is copied once. The writer alone, 100,000 entries in batches of 32, the last
# 50,000 measured: 16.4-19.5 µs of CPU an entry instead of 21.5-26.5 (three runs each).
WAL_CHECKPOINT_PAGES = 10_000


ID_BYTES = 12  # 16 URL-safe base64 characters, as secrets.token_urlsafe(12) gave
_TIME_BYTES = 6  # the first 6: the ms since the epoch (2**48 ms: past the year 10,000), then 6 random
_ID_BATCH = 256
# URL-safe base64's 64 characters, and the same 64 in ASCII order: an id's characters are mapped
# from the one to the other, so ids sort (as strings, in SQL, in any language) as their bytes do.
_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SORTED = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_IN_ORDER = bytes.maketrans(_B64URL, _SORTED)


class EntryIds:
    """Entry ids that grow with time: ``de_`` and 16 URL-safe characters (as before), the first 8
    the entry's millisecond and the last 8 48 random bits, so a new entry's id lands at the end of
    the primary key's B-tree instead of at a random page of it. With random ids a batch of 32
    entries wrote ~32 scattered pages of that index to SQLite's log, and each entry cost the
    writer 31 µs of CPU (and 180 µs of wall time) instead of 23.5 (and 68) at 60,000 entries
    (docs/draws.md). The ids stay unguessable enough for what they are (a name in the public
    audit, never a key to anything: the pick's rank is an HMAC of the id under a seed nobody
    knows before the close), and they say when the entry was made, which the entry says anyway.

    The random half comes from the OS's random source, 256 at a time: one getrandom() call each
    (what secrets.token_urlsafe does) was ~5% of an entry's CPU in the event loop. A forked child
    empties its copy of the pool (os.register_at_fork), so two processes never hand out the same
    random halves; checking os.getpid() on every id instead is a system call too, and cost as much."""

    def __init__(self) -> None:
        self._pool: list[str] = []  # random halves, already in characters
        self._ms = -1
        self._prefix = ""  # "de_" and the characters of the millisecond self._ms
        os.register_at_fork(after_in_child=self._pool.clear)

    def new(self) -> str:
        pool = self._pool
        if not pool:
            # 6 bytes are exactly 8 characters of base64: the batch is encoded in one go and cut.
            chars = _encode(os.urandom((ID_BYTES - _TIME_BYTES) * _ID_BATCH))
            pool.extend(chars[i:i + 8] for i in range(0, len(chars), 8))
        ms = time.time_ns() // 1_000_000
        if ms != self._ms:
            self._ms, self._prefix = ms, "de_" + _encode(ms.to_bytes(_TIME_BYTES, "big"))
        return self._prefix + pool.pop()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).translate(_IN_ORDER).decode("ascii")


@functools.lru_cache(maxsize=BATCH_MAX)
def _insert_sql(rows: int) -> str:
    """The SQLite INSERT of ``rows`` entries (built once per batch size, not per batch)."""
    # No RETURNING: sqlite3 takes the GIL back for every row a statement returns, and each time
    # waits for a busy event loop to let it go (a 31-row batch spent ~2.2 ms in this thread for
    # ~0.6 ms of CPU). The count of rows changed says whether every entry was taken.
    return f"INSERT INTO {ENTRIES.name} ({', '.join(COLUMNS)}) VALUES {', '.join([_ROW] * rows)} ON CONFLICT DO NOTHING"


class EntryWriter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.engine: AsyncEngine = sessions.kw["bind"]  # the sessions' own engine (and so its pool)
        self._rows: list[dict[str, Any]] = []
        self._futures: list[asyncio.Future[bool]] = []
        self._commits: set[asyncio.Task[None]] = set()
        self._busy = False  # a commit is in flight (or about to be sent)
        # On SQLite a batch is written by one plain sqlite3 connection in a thread of its own, in
        # one hop: BEGIN, the INSERT, COMMIT. Through aiosqlite each of the ~6 steps of a batch
        # (check-out, begin, execute, fetch, commit, check-in) waited for a busy event loop to
        # come round; a 32-row batch took ~5 ms of wall time (3.8 ms in "execute"), and entries,
        # which wait for their batch's commit, were bound by it, not by CPU (bench/draw.py).
        url = self.engine.url
        database = url.database if url.get_backend_name() == "sqlite" else None
        path = database if database and database != ":memory:" and not database.startswith("file:") else None
        self._sqlite = SqliteWriter(path) if path else None

    async def add(self, row: dict[str, Any]) -> bool:
        """Insert one entry (a DrawEntry's columns); False when a unique key refused it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._rows.append(row)
        self._futures.append(future)
        if not self._busy:
            self._busy = True
            loop.call_soon(self._send)  # the rest of this tick's entries join the batch
        return await future

    async def read(self, offer_id: int) -> list[tuple[str, str, str]]:
        """Every entry of ``offer_id`` as (id, sku, status), for its draw. On SQLite by a plain
        sqlite3 connection in a worker thread: 100,000 entries took 0.27-0.43 s through aiosqlite
        and SQLAlchemy's rows, 0.14-0.21 s as sqlite3's own tuples (and the event loop is free
        meanwhile). A connection of its own, opened for the read: one draw's, not the writer's
        thread, which would queue it behind entries still being written."""
        if self._sqlite is not None:
            return await asyncio.to_thread(_read_sqlite, self._sqlite.path, offer_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(ENTRIES.c.id, ENTRIES.c.sku, ENTRIES.c.status).where(ENTRIES.c.offer_id == offer_id))
            return [(i, sku, status) for i, sku, status in rows]

    async def close(self) -> None:
        """Stop the SQLite writer's thread (after the batches already handed to it) and close its
        connection; an entry added afterwards is refused as a database fault (503)."""
        if self._sqlite is not None:
            await self._sqlite.close()

    def _send(self) -> None:
        if not self._rows:
            self._busy = False
            return
        rows, futures = self._rows[:BATCH_MAX], self._futures[:BATCH_MAX]
        del self._rows[:BATCH_MAX], self._futures[:BATCH_MAX]
        if self._sqlite is not None:
            # No task: the thread's answer settles the batch from a callback (a task per batch,
            # and the executor's locks, were ~8% of the loop's time per entry in py-spy's profile).
            try:
                values = list(chain.from_iterable(map(_VALUES, rows)))
            except Exception as exc:  # a row without one of the columns: a bug, heard by its batch (500)
                _tell(rows, futures, set(), exc)
                asyncio.get_running_loop().call_soon(self._send)
                return
            written = self._sqlite.insert(values)
            written.add_done_callback(functools.partial(self._settle, rows, futures))
            return
        task = asyncio.ensure_future(self._commit(rows, futures))
        self._commits.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._commits.discard)
        task.add_done_callback(lambda _: self._send())  # what arrived meanwhile goes next

    def _settle(self, rows: list[dict[str, Any]], futures: list[asyncio.Future[bool]], written: asyncio.Future[set[str]]) -> None:
        try:
            _tell(rows, futures, written.result(), None)
        except BaseException as exc:  # every entry of the batch hears it (503 through the refusal handler)
            _tell(rows, futures, set(), exc)
        finally:
            self._send()  # what arrived meanwhile goes next

    async def _commit(self, rows: list[dict[str, Any]], futures: list[asyncio.Future[bool]]) -> None:
        try:
            written = await self._insert(rows)
        except BaseException as exc:  # every entry of the batch hears it (503 through the refusal handler)
            _tell(rows, futures, set(), exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        _tell(rows, futures, written, None)

    async def _insert(self, rows: list[dict[str, Any]]) -> set[str]:
        """PostgreSQL (asyncpg needs no thread), or an in-memory SQLite: the batch's INSERT,
        committed; the ids written. Core on the engine's connection, not the ORM session: the ORM's
        bulk insert looked at every row's keys and mapped them again (~32 -> ~26 µs of CPU a row)."""
        async with self.engine.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            stmt = insert(ENTRIES).on_conflict_do_nothing().returning(ENTRIES.c.id)
            return set((await conn.execute(stmt, rows)).scalars().all())



def _tell(rows: list[dict[str, Any]], futures: list[asyncio.Future[bool]], written: set[str], exc: BaseException | None) -> None:
    """Each entry of a batch hears whether it was written, or the batch's fault."""
    for row, future in zip(rows, futures, strict=True):
        if not future.done():  # an entry whose request was cancelled meanwhile
            if exc is None:
                future.set_result(row["id"] in written)
            else:
                future.set_exception(exc)


_VALUES = itemgetter(*COLUMNS)  # a row's values in COLUMNS' order, as one tuple (in C)


class SqliteWriter:
    """One sqlite3 connection in a thread of its own, taking batches of entries from a queue.

    A plain thread with a SimpleQueue rather than a one-thread ThreadPoolExecutor: the executor's
    submit takes locks its worker holds while it waits for the GIL (its idle semaphore), and
    answering through concurrent.futures chains two futures and two callbacks; here the loop
    hands over a batch without a lock, and the thread answers with one call_soon_threadsafe."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._jobs: SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], list[Any] | None]] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def insert(self, values: list[Any]) -> asyncio.Future[set[str]]:
        """The batch's INSERT (``values``: each row's COLUMNS, one row after the other) in the
        thread, committed; resolves to the ids written."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[set[str]] = loop.create_future()
        if self._closed:
            future.set_exception(sqlalchemy.exc.OperationalError("INSERT INTO draw_entries", None,
                                                                 Exception("the entry writer is closed")))
            return future
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="draw-entries", daemon=True)
            self._thread.start()
        self._jobs.put((loop, future, values))
        return future

    async def close(self) -> None:
        """The batches already queued are written first; then the connection is closed and the
        thread ends."""
        self._closed = True
        if self._thread is None:
            return
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((loop, ended, None))
        await ended  # the connection is closed; the thread has only to return
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while True:
            loop, future, values = self._jobs.get()
            if values is None:  # close(): every batch before it was written
                if conn is not None:
                    conn.close()
                _answer(loop, future, None, None)
                return
            try:
                conn = conn or _open_sqlite(self.path)
                _answer(loop, future, _insert_sqlite(conn, values), None)
            except Exception as exc:
                _answer(loop, future, None, exc)


def _answer(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    """From the writer's thread: settle ``future`` on its loop."""
    try:
        loop.call_soon_threadsafe(_settle_future, future, result, exc)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass


def _settle_future(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(result)
    else:
        future.set_exception(exc)


def _insert_sqlite(conn: sqlite3.Connection, values: list[Any]) -> set[str]:
    """In the writer's thread: the batch's INSERT (``values``: their COLUMNS' values, one row
    after the other), committed; the ids written. sqlite3's own errors are raised as SQLAlchemy's,
    which the fault handling knows (locked: 503)."""
    width = len(COLUMNS)
    try:
        # One statement, so its own transaction (isolation_level None: autocommit): atomic, and
        # one release of the GIL instead of four (BEGIN, INSERT, COMMIT each give it up and
        # must wait for the busy event loop to get it back).
        inserted = conn.execute(_insert_sql(len(values) // width), values).rowcount
        ids = values[_ID::width]
        if inserted == len(ids):  # nearly every batch: no unique key refused any of them
            return set(ids)
        # Which ones did it take? Ours are those with our id and our buyer.
        ours = set(zip(ids, values[_BUYER::width]))
        return {i for i, b in conn.execute(
            f"SELECT id, buyer_id FROM {ENTRIES.name} WHERE id IN ({', '.join('?' * len(ids))})", ids
        ) if (i, b) in ours}
    except sqlite3.OperationalError as exc:
        raise sqlalchemy.exc.OperationalError("INSERT INTO draw_entries", None, exc) from exc
    except sqlite3.DatabaseError as exc:
        raise sqlalchemy.exc.DatabaseError("INSERT INTO draw_entries", None, exc) from exc


def _read_sqlite(path: str, offer_id: int) -> list[tuple[str, str, str]]:
    """In a worker thread: EntryWriter.read's SELECT, by a connection opened for it."""
    conn = _open_sqlite(path)
    try:
        return conn.execute(f"SELECT id, sku, status FROM {ENTRIES.name} WHERE offer_id = ?", (offer_id,)).fetchall()
    except sqlite3.OperationalError as exc:
        raise sqlalchemy.exc.OperationalError("SELECT FROM draw_entries", None, exc) from exc
    except sqlite3.DatabaseError as exc:
        raise sqlalchemy.exc.DatabaseError("SELECT FROM draw_entries", None, exc) from exc
    finally:
        conn.close()


def _open_sqlite(path: str) -> sqlite3.Connection:
    # The pragmas of web.database's connections: WAL, NORMAL (a commit survives the process's
    # crash), foreign keys on. isolation_level None: each statement is its own transaction.
    try:
        conn = sqlite3.connect(path, timeout=SQLITE_BUSY_MS / 1000, isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise sqlalchemy.exc.OperationalError("connect", None, exc) from exc
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise sqlalchemy.exc.OperationalError("PRAGMA", None, exc) from exc
    return conn
