"""What every ledger aggregate shares: readable stream ids and event dispatch."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import singledispatchmethod
from typing import Any, Self

from eventsourcing.domain import BaseAggregate
from eventsourcing.utils import get_topic

from ledger.errors import DamagedRecordError, InvalidCommandError
from ledger.events import LedgerCreated, LedgerEvent, event_id


class LedgerAggregate(BaseAggregate[str]):
    """An aggregate whose id is its stream name, e.g. `ticket/T-1` (so event ids read
    `ticket/T-1#3`). State changes only in `when`, called for new and replayed events."""

    # No class-level annotations here: the library would turn the class into a dataclass.
    stream_prefix = ""
    client_id = None  # the client every event of this aggregate concerns

    @classmethod
    def stream_for(cls, key: str) -> str:
        return f"{cls.stream_prefix}/{key}"

    # `_start` and `_record` do what the library's `_create` and `trigger_event` do for
    # these aggregates (ids given, no explicit topics), without their generic keyword
    # handling: they run for every event a command produces.

    @classmethod
    def _start(cls, event_class: type[LedgerCreated], key: str, **fields: Any) -> Self:
        created = event_class(originator_id=cls.stream_for(key), originator_version=cls.INITIAL_VERSION,
                              timestamp=event_class.create_timestamp(), originator_topic=get_topic(cls), **fields)
        aggregate: Self = created.mutate(None)
        aggregate.pending_events.append(created)
        return aggregate

    def _record(self, event_class: type[LedgerEvent], **fields: Any) -> None:
        event = event_class(originator_id=self.id, originator_version=self.version + 1,
                            timestamp=event_class.create_timestamp(), client_id=self.client_id, **fields)
        event.mutate(self)
        self.pending_events.append(event)

    @singledispatchmethod
    def when(self, event: LedgerEvent) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot apply {type(event).__name__}")

    def apply_event(self, event: LedgerEvent) -> None:
        """`when`, without building a bound dispatcher per call (it is on the hot path)."""
        _dispatch(type(event))(self, event)


def replay(events: Iterable[LedgerEvent]) -> dict[str, LedgerAggregate]:
    """Aggregates rebuilt from their events (in record order), keyed by stream id: the one
    fold both the write side and the read side use. A stream whose versions do not follow
    one another from 1 is a damaged record, named by the version it lacks."""
    aggregates: dict[str, Any] = {}
    for event in events:
        current = aggregates.get(event.originator_id)
        expected = 1 if current is None else current.version + 1
        if event.originator_version != expected:
            raise stream_break(event.originator_id, expected, event.originator_version)
        aggregates[event.originator_id] = event.mutate(current)
    return aggregates


def stream_break(stream: str, expected: int, found: int) -> DamagedRecordError:
    """The damage a stream shows when version `found` comes where `expected` should."""
    if found > expected:
        return DamagedRecordError(event_id(stream, expected), f"event missing (the next one stored is version {found})")
    return DamagedRecordError(event_id(stream, found), f"events out of order (version {found} after {expected - 1})")


def require_not_before(at: datetime, earliest: datetime, *, field: str, what: str) -> None:
    """Refuse an instant earlier than the fact it follows (e.g. ending before starting)."""
    if at < earliest:
        raise InvalidCommandError(
            f"{at.isoformat()} is before {what} ({earliest.isoformat()})", field=field
        )


_dispatch = LedgerAggregate.__dict__["when"].dispatcher.dispatch
