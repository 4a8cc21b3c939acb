"""The store's own modules, beside the library's persistence (`ledger.persistence` holds the
recorders' shared record-time index, the SQLite recorder and the database URLs).

- `mapper`: ledger events <-> stored events, and what a damaged stored event is.
- `postgres`: the PostgreSQL recorder (imported only for a PostgreSQL URL).
- `chain`: the hash chain every commit extends, and its verification (pure: no I/O).
- `payloads`: `verify`'s helper process, decoding payloads while the chain is re-hashed.
- `append_only`: the triggers with which the database itself refuses edits, and the
  PostgreSQL roles that keep a writer from removing them.
- `urls`: the database URLs, checked, and shown without their password.
- `access`: opening a store for writing or for reading only, and why it cannot be opened.
- `tables`: the tables that make a store a ledger, and the error for one that cannot be opened.
"""
