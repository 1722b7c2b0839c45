"""The SQLite writer of draw entries (live.draw_entries.SqliteWriter) on a real SQLite file: a
batch is written and answered with the ids it took, a row a unique key refuses is left out, a
database error reaches every caller of its batch as SQLAlchemy's error (which the app answers
with 503) while later batches still go through, and close() ends the thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy
import sqlalchemy.exc

from live.draw_entries import COLUMNS, ENTRIES, EntryIds, SqliteWriter


def row(entry_id: str, buyer: str, email: str) -> list[object]:
    values = {"id": entry_id, "offer_id": 1, "buyer_id": buyer, "sku": "S", "email": email, "card_fingerprint": None,
              "country": None, "charge_id": None, "status": "entered", "rank": None, "hold_id": None, "reason": None,
              "created_at": 1, "locale": "en"}
    return [values[c] for c in COLUMNS]


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "draw-entries"]


async def test_batches_refusals_errors_and_close(tmp_path: Path) -> None:
    path = tmp_path / "entries.sqlite3"
    writer = SqliteWriter(str(path))
    ids = EntryIds()
    first, second, third = ids.new(), ids.new(), ids.new()

    with pytest.raises(sqlalchemy.exc.OperationalError, match="no such table"):  # no table yet: a database fault
        await writer.insert(row(first, "b1", "a@x.example"))

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # the entries' table, and a stand-in for the offer its foreign key names
        conn.execute(sqlalchemy.text("CREATE TABLE offers (id INTEGER PRIMARY KEY)"))
        conn.execute(sqlalchemy.text("INSERT INTO offers (id) VALUES (1)"))
    ENTRIES.create(engine)
    engine.dispose()

    written = await writer.insert(row(first, "b1", "a@x.example") + row(second, "b2", "b@x.example"))
    assert written == {first, second}
    # The same buyer again, and a new one with a taken email: only the third row is new.
    again = await writer.insert(row(third, "b1", "c@x.example") + row(ids.new(), "b4", "b@x.example") + row(ids.new(), "b5", "e@x.example"))
    assert len(again) == 1 and third not in again
    assert len(writer_threads()) == 1

    await writer.close()
    assert writer_threads() == []
    with pytest.raises(sqlalchemy.exc.OperationalError, match="closed"):
        await writer.insert(row(ids.new(), "b6", "f@x.example"))
