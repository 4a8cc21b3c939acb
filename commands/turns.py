"""Writers that lost a race take turns.

The ledger's writers decide on what they read and save with optimistic concurrency: a save
fails when another writer saved to one of the same aggregates first (`commands.bus`). Under
heavy contention on one aggregate — many processes logging time on one ticket — a command
that is decided again and again can keep losing. So a command that lost once waits for its
turn: an exclusive lock among the store's writers, held while it reads, decides and saves.
Writers that have not lost go on without it (the usual case costs nothing); a writer in its
turn can still lose to one of those, and then tries again in its next turn.

The lock is the store's own where it has one: on PostgreSQL a session advisory lock (keyed
by the ledger's schema); on SQLite, whose writers are processes on one machine, an
exclusive `flock` on a file beside the database (`<database>-turn`, created when first
needed). SQLite's own locks are POSIX record locks on the database file, which a `flock` on
another file never touches.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Iterator
from typing import Any

from ledger.application import SupportLedger
from ledger.store.urls import parse_url


@contextlib.contextmanager
def writers_turn(ledger: SupportLedger) -> Iterator[None]:
    """Hold the store's turn among writers (see the module's docstring)."""
    store = parse_url(ledger.url)
    if store.sqlite:
        if store.in_memory:  # one process: no one to take turns with
            yield
            return
        with _file_lock(f"{store.path}-turn"):
            yield
        return
    datastore: Any = ledger.index.datastore
    key = zlib.crc32(f"support-ledger writers {datastore.schema}".encode())
    with datastore.get_connection() as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (key,))


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    import fcntl  # POSIX: the ledger's platforms

    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the flock
