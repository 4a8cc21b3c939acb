"""What makes a store a ledger this version can read — its tables — and the error for a store
that cannot be opened as asked. Shared by `ledger.store.access` (which opens stores) and
`ledger.store.postgres` (which it loads only for a PostgreSQL URL)."""

from __future__ import annotations

from ledger.errors import LedgerError
from ledger.persistence import CHAIN_TABLE, COMMITS_TABLE, MARKS_TABLE

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
