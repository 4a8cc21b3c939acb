"""Opening a store: for writing (creating it, its tables, triggers and chain, upgrading an
older one), or for reading only — and saying at once, in one line, why it cannot be opened.

A ledger opened for reading (`SupportLedger(url, read_only=True)`, every CLI query) never
creates or writes a store:

- The store must be there: a SQLite file holding the ledger's tables, or those tables in
  the PostgreSQL database and schema. Otherwise "no ledger at PATH" (or at the URL, its
  password hidden), and nothing is created. A store written by an earlier version, which
  opening for writing would upgrade, is refused with what to do.
- The library creates no table (`CREATE_TABLE` off), and the connections refuse writes:
  SQLite's `query_only`, PostgreSQL's `default_transaction_read_only`.
- A read-only SQLite store is opened the way its files allow (`sqlite_reader`); no -wal or
  -shm file is created where the store cannot be written.

PostgreSQL connects once directly before the library's pool does (`ledger.store.postgres
.probe`): the pool retries in the background and reports only a timeout, the direct
attempt fails at once with the cause.
"""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import quote

from ledger.store.settings import environment_for
from ledger.store.tables import COMMITS_TABLE, OLD_INDEX_TABLE, StoreAccessError, check_ledger_tables
from ledger.store.urls import StoreUrl, parse_url

SQLITE_EVENTS_TABLE = "stored_events"  # the library's name for a SQLite application's events


def settings_for(url: str, *, read_only: bool, application: str) -> dict[str, str]:
    """The library's settings to open the store at `url` (`environment_for`), once this
    has checked that it can be opened as asked. `application`: the application's name, of
    which PostgreSQL's events table takes its name."""
    store = parse_url(url)
    settings = environment_for(url)
    if store.sqlite:
        if read_only:
            settings["SQLITE_DBNAME"] = sqlite_reader(store)
        elif store.read_only:
            raise StoreAccessError(f"{store.shown} is read-only (mode=ro): it answers queries, it cannot record")
    else:
        from ledger.store.postgres import probe  # a SQLite ledger never loads the driver

        probe(store, read_only=read_only, events_table=f"{application.lower()}_events")
    if read_only:
        settings["CREATE_TABLE"] = "n"
    return settings


# --- SQLite ------------------------------------------------------------------------------------


def sqlite_reader(store: StoreUrl) -> str:
    """The name to open a SQLite ledger with for reading only, tried in turn until one
    reads it:

    - `mode=rw`, when this process may write the file: as writers open it (but never
      creating it), so a concurrent writer is seen consistently, and the -wal and -shm
      files SQLite makes while it reads go again when it closes; the connections are
      `query_only`, so nothing is written;
    - `mode=ro`: SQLite's read-only mode, which still takes part in the store's locking —
      the only one that reads commits still in the write-ahead log, and it needs that
      log's index (-shm) to exist or to be creatable;
    - `immutable=1`: the file read as it is, nothing created or locked — for a file
      that nobody may write (mode 444) or in a folder where no -shm can be created, and
      only when no write-ahead log holds commits (it would not be read).
    """
    path = store.path
    if store.in_memory or not os.path.isfile(path):
        raise StoreAccessError(f"no ledger at {path}")
    log = f"{path}-wal"
    log_holds_commits = os.path.isfile(log) and os.path.getsize(log) > 0
    uri = "file:" + quote(os.path.abspath(path))
    writable, read_only, immutable = f"{uri}?mode=rw", f"{uri}?mode=ro", f"{uri}?mode=ro&immutable=1"
    if log_holds_commits:
        names = [read_only]
    elif os.access(path, os.W_OK):
        names = [writable, read_only, immutable]
    elif not os.stat(path).st_mode & 0o222:  # nobody may write it: nothing can change under the reader
        names = [immutable]
    else:
        names = [read_only, immutable]
    problem: sqlite3.Error | None = None
    for name in names:
        try:
            _check_sqlite(name, path)
            return name
        except sqlite3.DatabaseError as error:
            if not isinstance(error, sqlite3.OperationalError):  # "file is not a database"
                raise StoreAccessError(f"no ledger at {path} (it is not a SQLite database)") from None
            if not getattr(error, "sqlite_errorname", "").startswith(_CANNOT_OPEN_THIS_WAY):
                raise StoreAccessError(f"cannot read {path}: {error}") from None  # e.g. locked: not a mode's matter
            problem = error
    if log_holds_commits:
        raise StoreAccessError(
            f"cannot read {path}: its write-ahead log {log} holds commits not yet in the file, and SQLite "
            f"cannot open the log's index {path}-shm here ({problem}); copy the file with its -wal to a "
            "folder that can be written and read it there")
    raise StoreAccessError(f"cannot read {path}: {problem}")


# What makes SQLite refuse one way of opening a file that another may read: a file or
# folder that cannot be written, a -shm that cannot be made (SQLITE_READONLY_*, SQLITE_CANTOPEN).
_CANNOT_OPEN_THIS_WAY = ("SQLITE_READONLY", "SQLITE_CANTOPEN")


def _check_sqlite(name: str, path: str) -> None:
    """Open `name` for a first read and check that it holds a ledger (StoreAccessError if not)."""
    connection = sqlite3.connect(name, uri=True, isolation_level=None)
    try:
        connection.execute("PRAGMA query_only = ON")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        old_index_only = ({OLD_INDEX_TABLE, COMMITS_TABLE, SQLITE_EVENTS_TABLE} <= tables
                          and connection.execute(f"SELECT 1 FROM {COMMITS_TABLE} LIMIT 1").fetchone() is None
                          and connection.execute(f"SELECT 1 FROM {SQLITE_EVENTS_TABLE} LIMIT 1").fetchone() is not None)
    finally:
        connection.close()
    check_ledger_tables(tables, SQLITE_EVENTS_TABLE, path, old_index_only=old_index_only)
