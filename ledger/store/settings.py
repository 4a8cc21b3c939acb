"""The eventsourcing library's settings for a ledger's store, fixed in code.

`environment_for(url)` turns CONTRACT.md's database URLs into the library's settings: the
ledger's mapper and transcoder, its recorder and (for SQLite) its persistence factory,
the store's address, and the settings the ledger relies on — among them
`POSTGRES_ENABLE_DB_FUNCTIONS` off: the library's insert function would bypass the
recorder that writes the record-time index and the chain. `SupportLedger.construct_env`
gives each of them under both names the library reads, so that no environment variable
can change them (ledger/store/README.md, departure 1); `ledger.store.access.settings_for`
adds how a store is opened for reading only.
"""

from __future__ import annotations

from eventsourcing.utils import get_topic

from ledger.store.mapper import LedgerMapper, LedgerTranscoder
from ledger.store.sqlite import LedgerSQLiteFactory, LedgerSQLiteRecorder
from ledger.store.urls import parse_url


def environment_for(url: str) -> dict[str, str]:
    """The eventsourcing settings for a CONTRACT.md database URL (`ledger.store.urls`):
    `sqlite:///PATH` is the embedded store, `postgresql://USER[:PASSWORD]@HOST:PORT/DBNAME`
    the production store (trust auth needs no password), `?schema=NAME` its schema (which
    must exist). How a store is opened for reading only is `ledger.store.access`'s part.
    """
    store = parse_url(url)
    common = {
        "MAPPER_TOPIC": get_topic(LedgerMapper),
        "TRANSCODER_TOPIC": get_topic(LedgerTranscoder),
        "ORIGINATOR_ID_TYPE": "text",
    }
    if store.sqlite:
        return {
            **common,
            "PERSISTENCE_MODULE": get_topic(LedgerSQLiteFactory),
            "SQLITE_DBNAME": store.path,
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": get_topic(LedgerSQLiteRecorder),
        }
    return {
        **common,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": store.dbname,
        "POSTGRES_HOST": store.host,
        "POSTGRES_PORT": str(store.port),
        "POSTGRES_USER": store.user,
        "POSTGRES_PASSWORD": store.password,
        "POSTGRES_SCHEMA": store.schema,
        # How long the library's pool waits for a connection. Opening the store first
        # connects once directly (`ledger.store.postgres.probe`), so that a server that
        # cannot be reached is named at once instead of after this wait.
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # The library's insert function would bypass the recorder that writes the
        # record-time index and the chain: the ledger always inserts through its own.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        # The library ends a session idle in a transaction after 5 s. A read transaction
        # (`RecordTimeIndex.reading`) may decode a long history between statements.
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "60",
        # By topic, so that a SQLite ledger never imports the PostgreSQL driver.
        "APPLICATION_RECORDER_TOPIC": "ledger.store.postgres:LedgerPostgresRecorder",
    }
