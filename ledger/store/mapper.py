"""How a ledger event becomes a stored event and back: the mapper and its transcoder.

`LedgerMapper` stores an event (a `msgspec.Struct`, `ledger.events`) as compact JSON of its
fields, written by msgspec, and rebuilds it with msgspec's typed conversion, running the
`upcast_vN_vN+1` chain of the event class first. What it writes must read back: an event
that would not (an instant without its offset, a word outside its vocabulary) is refused
before it is recorded. The JSON forms are those pydantic wrote for the events of earlier
versions, which every store holds: `YYYY-MM-DD`, ISO 8601 instants with their offset (`Z`
for UTC), money as a decimal string. The library's own snapshots (dataclasses) keep the
library's encoding. A stored event that no event class reads is a damaged record
(`DamagedRecordError`), named by its event id and the field at fault.

This module imports neither database driver: `verify`'s helper process
(`ledger.store.payloads`) needs only it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import msgspec
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic

from ledger.errors import DamagedRecordError
from ledger.events import LedgerEvent, class_named, event_id
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


_JSON = msgspec.json.Encoder()
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}  # one per event class, made on first use


class UnwritableEventError(ValueError):
    """An event the ledger would store in a form it could not read back: a bug in whatever
    produced it, refused before anything is recorded."""


class LedgerMapper(Mapper[str]):
    """Ledger events <-> stored events, with the upcaster chain on the way back."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if not isinstance(domain_event, LedgerEvent):
            return super().to_stored_event(domain_event)
        fields = msgspec.to_builtins(domain_event)  # the JSON form: instants, dates, money as text
        try:
            msgspec.convert(fields, type(domain_event))  # what is written reads back
        except msgspec.ValidationError as error:
            raise UnwritableEventError(f"{type(domain_event).__name__} would not read back: {_reason(error)}") from None
        del fields["originator_id"], fields["originator_version"]  # stored in their own columns
        state = _JSON.encode(fields)
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
        cls = self._class_of(stored_event)
        try:
            state = self._payload(cls, stored_event)
            for name in cls.money_fields:  # written as a decimal string, never a JSON number
                if name in state and type(state[name]) is not str:
                    raise ValueError(f"{name}: money is written as a decimal string, got {state[name]!r}")
            state["originator_id"] = stored_event.originator_id
            state["originator_version"] = stored_event.originator_version
            return msgspec.convert(state, cls)
        except (ArithmeticError, ValueError, TypeError, KeyError, AttributeError, LookupError, RuntimeError, RecursionError) as error:
            reason = _reason(error)
            raise _damaged(stored_event, f"payload does not decode: {reason}") from None

    def valid_at_of(self, stored_event: StoredEvent) -> datetime:
        """The event's valid time, read from its payload without building the event."""
        cls = self._class_of(stored_event)
        return cls.valid_at_in(self._payload(cls, stored_event))

    @staticmethod
    def _class_of(stored_event: StoredEvent) -> type[LedgerEvent]:
        """The event class of a stored event, or DamagedRecordError naming it."""
        cls = event_class(stored_event.topic)
        if cls is None:
            raise _damaged(stored_event, f"unknown event type: {stored_event.topic!r}")
        return cls

    def _payload(self, cls: type[LedgerEvent], stored_event: StoredEvent) -> dict[str, Any]:
        """The stored fields, upcast to the event class's current version. Plain JSON, read
        by msgspec: not the library's transcoder, whose typed objects (`_type_`) no event
        payload holds — an invoice line that looks like one stays what it is."""
        state = msgspec.json.decode(self._unseal(stored_event.state))
        if type(state) is not dict:
            raise ValueError(f"not a JSON object but {type(state).__name__}")
        version = state.pop("class_version", 1)
        if type(version) is not int or not 1 <= version <= cls.class_version:
            raise ValueError(f"class_version: {version!r} is not a version of {cls.__name__} "
                             f"(1 to {cls.class_version})")
        while version < cls.class_version:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        return state

    def read(self, event: ChainedEvent) -> tuple[str | None, str | None, tuple[str, ...]]:
        """What `verify` needs of a stored event (`ledger.store.chain.Read`): why it cannot
        be read as its event type (None: it can), its client, and the marks the record-time
        index must hold for it."""
        domain_event = self._decoded(event)
        if domain_event is None:
            try:
                domain_event = self.to_domain_event(StoredEvent(event.stream, event.version, event.topic, event.state))
            except DamagedRecordError as error:
                return error.problem, None, ()
        return None, domain_event.client_id, marks_of(domain_event)

    def _decoded(self, event: ChainedEvent) -> LedgerEvent | None:
        """The event decoded by msgspec straight from its stored JSON, the envelope appended:
        what `to_domain_event` gives for a payload of the class's current version, in about
        a third of the time (`verify` decodes the whole log). None where that way does not
        apply (a payload to upcast, a sealed one, one that fails): `to_domain_event` then
        decides, and names the failure."""
        cls = event_class(event.topic)
        body = event.state.rstrip(b" \t\r\n")  # JSON's own whitespace, no more
        if cls is None or cls.money_fields or self.cipher or self.compressor \
                or len(body) < 3 or body[-1:] != b"}" or b'"class_version"' in body:
            return None  # (money must be a string in the JSON, which a typed decode does not tell)
        envelope = b',"originator_id":%s,"originator_version":%d}' % (_JSON.encode(event.stream), event.version)
        decoder = _decoders.get(cls)
        if decoder is None:
            decoder = _decoders[cls] = msgspec.json.Decoder(cls)
        try:
            return decoder.decode(body[:-1] + envelope)  # type: ignore[no-any-return]
        except (ArithmeticError, ValueError, TypeError, RuntimeError, RecursionError):
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


EVENTS_MODULE = "ledger.events:"


def event_class(topic: str) -> type[LedgerEvent] | None:
    """The ledger event class a stored topic names, or None (only `ledger.events` is looked in)."""
    return class_named(topic, EVENTS_MODULE, LedgerEvent)


def marks_of(event: LedgerEvent) -> tuple[str, ...]:
    """The marks the record-time index notes for an event (a client's events only)."""
    return event.index_marks() if event.client_id is not None else ()


def _reason(error: Exception) -> str:
    """The first line of an error, msgspec's "… - at `$.field[0]`" written "field[0]: …"."""
    reason = (str(error).strip() or type(error).__name__).splitlines()[0]
    located = _AT_FIELD.fullmatch(reason)
    return f"{located[2]}{located[3]}: {located[1]}" if located else reason


_AT_FIELD = re.compile(r"(.*) - at `\$\.(\w+)(\S*)`")


def _damaged(stored_event: StoredEvent, problem: str) -> DamagedRecordError:
    return DamagedRecordError(event_id(str(stored_event.originator_id), stored_event.originator_version), problem)
