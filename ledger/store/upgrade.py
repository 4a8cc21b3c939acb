"""Bringing a store written by an earlier version up to date, once, when it is first opened
for writing. Two generations of older stores:

- written before the hash chain existed: its commits get links built from what the store
  holds, marked as adopted (`adopt_into_new_chain`, in the transaction that creates the
  chain's table);
- written before `ledger_commits` existed, with one `ledger_event_index` row per event:
  its record times, marks and chain are built from that table (`adopt_per_event_index`).

Both run on either store through the record-time index and its dialect.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from eventsourcing.persistence import Mapper, OperationalError

from ledger.store.chain import build, utc_text
from ledger.store.columns import read_stored_event
from ledger.store.index import LINK_PAGE, RecordTimeIndex, marks_carried
from ledger.store.tables import OLD_INDEX_TABLE

UPGRADE_ATTEMPTS = 20  # waits for the write lock (SQLite: 30 s each) while another process upgrades
PAGE = 10_000  # events read per statement while upgrading


def adopt_into_new_chain(index: RecordTimeIndex, cursor: Any) -> None:
    """In the transaction that creates the chain's table: a store written before the
    chain existed gets links for every commit it holds, built from what it holds, marked
    as adopted; they vouch for that history from now on. Only then: a chain table that
    exists but lacks links for the commits is a record someone emptied, not an old one."""
    cursor.execute(f"SELECT 1 FROM {index.dialect.commits} LIMIT 1")
    if cursor.fetchone() is not None:
        _build_chain(index, cursor)


def _build_chain(index: RecordTimeIndex, cursor: Any) -> None:
    """Links for every commit the store holds, built from what it holds (an older store)."""
    d = index.dialect
    with index.reading_in(cursor):  # the reads below run in this transaction
        links = [link.row() for link in build(index.commit_rows(), index.log_pages(),
                                              utc_text(datetime.now(timezone.utc)))]
    for start in range(0, len(links), LINK_PAGE):
        cursor.executemany(f"INSERT INTO {d.chain} VALUES ({', '.join([d.param] * 8)})",
                           links[start : start + LINK_PAGE])


def adopt_per_event_index(index: RecordTimeIndex, mapper: Mapper[Any]) -> bool:
    """Stores written before `ledger_commits` existed kept one `ledger_event_index` row
    per event. Their record times, marks and chain are built once, in one transaction:
    a commit per distinct record time, and the marks each event carries (read through
    the ledger's mapper, `ledger.store.mapper.LedgerMapper`, so upcasters apply). The old
    table is left as it was. Whether it was done here."""
    d, waited = index.dialect, None
    for _attempt in range(UPGRADE_ATTEMPTS):
        if not _has_per_event_index(index) or index.rows(f"SELECT 1 FROM {d.commits} LIMIT 1", []):
            return False
        try:
            return _upgrade(index, mapper)
        except OperationalError as error:  # SQLite's lock timed out: another process upgrades
            waited = error
    raise OperationalError(f"the store's upgrade did not finish after {UPGRADE_ATTEMPTS} attempts") from waited


def _has_per_event_index(index: RecordTimeIndex) -> bool:
    return bool(index.rows(*index.dialect.has_table(index.table_name(OLD_INDEX_TABLE)))[0]["n"])


def _upgrade(index: RecordTimeIndex, mapper: Mapper[Any]) -> bool:
    d = index.dialect
    with index.transaction(commit=True) as cursor:
        cursor.execute(d.lock_for_writing())
        cursor.execute(f"SELECT 1 FROM {d.commits} LIMIT 1")
        if cursor.fetchone() is not None:
            return False  # another process has done it meanwhile
        cursor.execute(f"INSERT INTO {d.commits} SELECT MAX(notification_id), recorded_at "
                       f"FROM {index.table_name(OLD_INDEX_TABLE)} GROUP BY recorded_at")
        last = 0
        while True:
            cursor.execute(f"SELECT {d.position} AS n, originator_id, originator_version, topic, state "
                           f"FROM {d.events} WHERE {d.position} > {d.param} ORDER BY {d.position} LIMIT {PAGE}",
                           [last])
            page = cursor.fetchall()
            if not page:
                break
            stored = [mapper.to_stored_event(mapper.to_domain_event(read_stored_event(r))) for r in page]
            if marks := marks_carried(stored, [r["n"] for r in page]):
                d.insert_marks(cursor, marks)
            last = page[-1]["n"]
        _build_chain(index, cursor)  # its commits are new: so is its chain
        return True
