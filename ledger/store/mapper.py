"""How a ledger event becomes a stored event and back: the mapper and its transcoder.

`LedgerMapper` stores pydantic events as JSON of their fields and rebuilds them through
pydantic validation, running the `upcast_vN_vN+1` chain of the event class first. The
library's own snapshots (dataclasses) keep the library's encoding. A stored event that no
event class reads is a damaged record (`DamagedRecordError`), named by its event id.

This module imports neither database driver: `verify`'s helper process
(`ledger.store.payloads`) needs only it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import TopicError, get_topic, resolve_topic

from ledger.errors import DamagedRecordError
from ledger.events import LedgerEvent, event_id
from ledger.store.chain import ChainedEvent


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class LedgerTranscoder(JSONTranscoder):
    """JSON with the value types the ledger uses (for snapshots; events are plain JSON)."""

    def __init__(self) -> None:
        super().__init__()
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
            self.register(transcoding)


@dataclass(frozen=True)
class IndexedStoredEvent(StoredEvent):
    """A stored event with what the record-time index notes about its aggregate."""

    client_id: str | None = None
    marks: tuple[str, ...] = ()


_IN_ENVELOPE = {"originator_id", "originator_version"}  # stored in their own columns


class LedgerMapper(Mapper[str]):
    """Pydantic events <-> stored events, with the upcaster chain on the way back."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if not isinstance(domain_event, LedgerEvent):
            return super().to_stored_event(domain_event)
        # The payload is plain JSON, written by pydantic's own serializer (the same values
        # `model_dump(mode="json")` gives, without building them as Python objects first).
        state = domain_event.model_dump_json(exclude=_IN_ENVELOPE).encode()
        if domain_event.class_version > 1:
            state = b'%s,"class_version":%d}' % (state[:-1], domain_event.class_version)
        return IndexedStoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=self._seal(state),
            client_id=domain_event.client_id,
            marks=domain_event.index_marks() if domain_event.client_id is not None else (),  # marks_of, inline
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """The event, or DamagedRecordError naming it when the store holds what no event
        class reads (an unknown topic, a payload that does not decode)."""
        try:
            cls = resolve_topic(stored_event.topic)
        except (TopicError, ValueError, TypeError, AttributeError):
            raise _damaged(stored_event, f"unknown event type: {stored_event.topic!r}") from None
        if not (isinstance(cls, type) and issubclass(cls, LedgerEvent)):
            raise _damaged(stored_event, f"unknown event type: {stored_event.topic!r} is not a ledger event")
        try:
            state = self._payload(cls, stored_event)
            state["originator_id"] = stored_event.originator_id
            state["originator_version"] = stored_event.originator_version
            return cls.model_validate(state)
        except (ValueError, TypeError, KeyError, AttributeError, LookupError, RuntimeError, RecursionError) as error:
            reason = (str(error).strip() or type(error).__name__).splitlines()[0]
            raise _damaged(stored_event, f"payload does not decode: {reason}") from None

    def valid_at_of(self, stored_event: StoredEvent) -> datetime:
        """The event's valid time, read from its payload without building the event."""
        cls = resolve_topic(stored_event.topic)
        return cls.valid_at_in(self._payload(cls, stored_event))  # type: ignore[no-any-return]

    def _payload(self, cls: type[LedgerEvent], stored_event: StoredEvent) -> dict[str, Any]:
        """The stored fields, upcast to the event class's current version."""
        state: dict[str, Any] = self.transcoder.decode(self._unseal(stored_event.state))
        version = state.pop("class_version", 1)
        while version < cls.class_version:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        return state

    def read(self, event: ChainedEvent) -> tuple[str | None, str | None, tuple[str, ...]]:
        """What `verify` needs of a stored event (`ledger.store.chain.Read`): why it cannot
        be read as its event type (None: it can), its client, and the marks the record-time
        index must hold for it."""
        domain_event = self._validated(event)
        if domain_event is None:
            try:
                domain_event = self.to_domain_event(StoredEvent(event.stream, event.version, event.topic, event.state))
            except DamagedRecordError as error:
                return error.problem, None, ()
        return None, domain_event.client_id, marks_of(domain_event)

    def _validated(self, event: ChainedEvent) -> LedgerEvent | None:
        """The event validated by pydantic straight from its stored JSON, with the envelope
        appended — what `to_domain_event` gives for a current payload, without building it
        as Python objects first (about a third of the time). None where that way does not
        apply (an older payload to upcast, a payload that fails): `to_domain_event` then
        decides, and names the failure."""
        try:
            cls = resolve_topic(event.topic)
        except (TopicError, ValueError, TypeError, AttributeError):
            return None
        body = event.state.rstrip()
        if self.cipher or self.compressor or not (isinstance(cls, type) and issubclass(cls, LedgerEvent)) \
                or len(body) < 3 or body[-1:] != b"}" or b'"class_version"' in body:
            return None
        envelope = b',"originator_id":%s,"originator_version":%d}' % (json.dumps(event.stream).encode(), event.version)
        try:
            return cls.model_validate_json(body[:-1] + envelope)
        except (ValueError, TypeError, RuntimeError, RecursionError):
            return None

    def _seal(self, data: bytes) -> bytes:
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return data

    def _unseal(self, data: bytes) -> bytes:
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        return data


def marks_of(event: LedgerEvent) -> tuple[str, ...]:
    """The marks the record-time index notes for an event (a client's events only)."""
    return event.index_marks() if event.client_id is not None else ()


def _damaged(stored_event: StoredEvent, problem: str) -> DamagedRecordError:
    return DamagedRecordError(event_id(str(stored_event.originator_id), stored_event.originator_version), problem)
