"""The tables that make a store a ledger — their names, the chain's columns — what makes a
store one this version can read, and the error for a store that cannot be opened as asked.
Shared by the recorders (`ledger.store.sqlite`, `ledger.store.postgres`) and
`ledger.store.access` (which opens stores)."""

from __future__ import annotations

from ledger.errors import LedgerError

COMMITS_TABLE = "ledger_commits"  # a row per transaction: its last notification id and its record time
MARKS_TABLE = "ledger_stream_marks"  # a row per aggregate and mark (`LedgerEvent.index_marks`)
CHAIN_TABLE = "ledger_chain"  # a link per transaction (`ledger.store.chain`)
OLD_INDEX_TABLE = "ledger_event_index"  # one row per event, in stores made before ledger_commits
CREATE_TABLES_LOCK = 0x5E_D6E7  # advisory lock id: "support ledger" creating its tables

# The chain table's columns, with each store's types for {integer} and {text}.
CHAIN_COLUMNS = ("notification_id {integer} PRIMARY KEY, sequence {integer} NOT NULL UNIQUE, "
                 "events {integer} NOT NULL, recorded_at {text} NOT NULL, recorded_by {text} NOT NULL, "
                 "hash {text} NOT NULL, manifest {text} NOT NULL, adopted_at {text}")

LEDGER_TABLES = (COMMITS_TABLE, MARKS_TABLE, CHAIN_TABLE)  # every ledger store has them beside its events


class StoreAccessError(LedgerError):
    """The store cannot be opened as asked: missing, unreachable, refused, read-only."""

    def __init__(self, message: str):
        super().__init__(message, field="--db")


def check_ledger_tables(tables: set[str], events_table: str, where: str, *, old_index_only: bool) -> None:
    """Refuse a store that is not a ledger this version can read without writing: no
    events table (no ledger at all), or one written by an earlier version, whose tables
    (`old_index_only`: record times still in the per-event index) opening for writing adds."""
    if events_table not in tables:
        raise StoreAccessError(f"no ledger at {where}")
    if not set(LEDGER_TABLES) <= tables or old_index_only:
        raise StoreAccessError(
            f"the ledger at {where} was written by an earlier version of support-ledger: open it once "
            "for writing to bring it up to date (e.g. `support-ledger apply` of an empty file)")
