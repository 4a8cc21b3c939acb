"""The store: how the ledger's events reach the database and come back, on the eventsourcing
library's persistence. ledger/store/README.md lists where it departs from the library.

- `settings`: the library's settings for a database URL, fixed in code.
- `mapper`: ledger events <-> stored events, and what a damaged stored event is.
- `index`: the record-time index — what a query asks, and `RecordTimeIndex`, the typed
  API both recorders give the application.
- `dialects`: how each store spells the index's statements (`SQLiteDialect`, `PostgresDialect`).
- `columns`: a stored row's columns read as the ledger's types, whatever a tampered row holds.
- `sqlite`: the SQLite recorder, its tuned connections and persistence factory.
- `postgres`: the PostgreSQL recorder (imported only for a PostgreSQL URL).
- `upgrade`: bringing a store written by an earlier version up to date, once.
- `chain`: the hash chain every commit extends, and its verification (pure: no I/O).
- `payloads`: `verify`'s helper process, decoding payloads while the chain is re-hashed.
- `append_only`: the triggers with which the database itself refuses edits, and the
  PostgreSQL roles that keep a writer from removing them.
- `urls`: the database URLs, checked, and shown without their password.
- `access`: opening a store for writing or for reading only, and why it cannot be opened.
- `tables`: the tables that make a store a ledger, and the error for one that cannot be opened.
"""
