"""What makes the store an audit-grade record, beside the library's persistence.

- `chain`: the hash chain every commit extends, and its verification (pure: no I/O).
- `append_only`: the triggers with which the database itself refuses edits, and the
  PostgreSQL roles that keep a writer from removing them.
"""
