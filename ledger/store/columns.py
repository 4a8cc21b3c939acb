"""A stored row's columns read as the ledger's types, whatever the row holds.

SQLite keeps any type in any column, so a tampered row may hold another type than the
ledger writes. What the queries and `verify` read in its place is a form no ledger value
takes (it starts with NUL), so the row no longer matches what was committed, is named by
verify and cannot be decoded — never taken for the value it resembles.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import StoredEvent

from ledger.store.chain import ChainedEvent, Head

_FOREIGN = "\x00{kind}:{value!r}"

HEAD_COLUMNS = "notification_id, recorded_at, hash, events, sequence"  # the chain's columns a head is read from


def read_payload(value: Any) -> bytes:
    """A stored payload: bytes as they are; anything else, as a form no payload takes."""
    if type(value) is bytes:
        return value
    if type(value) is memoryview:
        return bytes(value)
    return _FOREIGN.format(kind=type(value).__name__, value=value).encode("utf-8", "backslashreplace")


def read_integer(value: Any) -> int:
    """A stored integer; anything else (text, bytes, NULL — a tampered row) reads as -1,
    which no ledger row holds, so verify finds the row changed."""
    return value if type(value) is int else -1


def read_text(value: Any) -> str:
    """A stored text column: text as it is; anything else (bytes, a number, NULL), as a
    form no ledger text takes."""
    if type(value) is str:
        return value
    return _FOREIGN.format(kind=type(value).__name__, value=value)


def read_writer(value: Any) -> str | None:
    """The writer a link names (None: not known, as for adopted links)."""
    return None if value is None or value == "" else read_text(value)


def read_stored_event(row: Any) -> StoredEvent:
    """An events row (by column name) as the library's stored event."""
    return StoredEvent(row["originator_id"], row["originator_version"], row["topic"], read_payload(row["state"]))


def read_chained_event(position: int, stream: Any, version: Any, topic: Any, state: Any) -> ChainedEvent:
    """A stored event as the chain sees it, from a row holding other types than the ledger
    writes (a tampered one): they are read so that the event no longer matches its link."""
    return ChainedEvent(position, read_text(stream), read_integer(version), read_text(topic), read_payload(state))


def read_head(row: Any) -> Head:
    """The chain's head from a row of HEAD_COLUMNS (None: no link yet)."""
    if row is None:
        return Head.of(None)
    return Head(read_integer(row["notification_id"]), read_text(row["recorded_at"]), read_text(row["hash"]),
                read_integer(row["events"]), read_integer(row["sequence"]))
