"""How a ledger event becomes a stored event and back: the mapper and its transcoder.

`LedgerMapper` stores pydantic events as JSON of their fields and rebuilds them through
pydantic validation, running the `upcast_vN_vN+1` chain of the event class first. The
library's own snapshots (dataclasses) keep the library's encoding. A stored event that no
event class reads is a damaged record (`DamagedRecordError`), named by its event id.

The first events of a class whose pydantic model is not built yet are rebuilt without
building it (`plain_event`): a query reads a few dozen events, and building their models
(and pydantic's plugin look-up with them) was a tenth of its start-up (issue 17).

This module imports neither database driver: `verify`'s helper process
(`ledger.store.payloads`) needs only it.
"""

from __future__ import annotations

import inspect
import json
import re
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

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
from pydantic import AwareDatetime
from pydantic_core import TzInfo

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
            event = None if cls.__pydantic_complete__ else plain_event(cls, state)  # (a built model validates faster)
            return cls.model_validate(state) if event is None else event
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


# --- the first events of a class, without building its model ------------------------------------

PLAIN_READS = 200  # events of a class rebuilt without its model before the model is built


def plain_event(cls: type[LedgerEvent], state: dict[str, Any]) -> LedgerEvent | None:
    """The event `cls.model_validate(state)` gives, without building the model — or None,
    and pydantic validates. Only while the model is not built, and for the first PLAIN_READS
    events of its class in this process: decoding here is slower per event than validating,
    so a long read builds the model once."""
    if cls.__pydantic_complete__ or _plain_reads[cls] >= PLAIN_READS:
        return None
    _plain_reads[cls] += 1
    return constructed(cls, state)


def constructed(cls: type[LedgerEvent], state: dict[str, Any]) -> LedgerEvent | None:
    """`cls.model_validate(state)`, made with pydantic's `model_construct` from the values
    decoded here, where every field is present in exactly the form pydantic's JSON serializer
    writes it (the mapper stores `model_dump_json`) and the class validates field by field,
    its "after" field validators run here as pydantic runs them. None otherwise — an upcast
    payload lacking a field, a damaged record —: pydantic then validates, and decides and
    names the failure (tests/test_startup.py checks that both ways give the same event)."""
    readers = _readers.get(cls, ...)
    if readers is ...:
        readers = _readers[cls] = _field_readers(cls)
    if readers is None or len(state) != len(readers):
        return None
    try:
        return cls.model_construct(**{name: read(state[name]) for name, read in readers})
    except Exception:  # not as pydantic writes it: pydantic decides
        return None


_plain_reads: Counter[type] = Counter()
_readers: dict[type, tuple[tuple[str, Callable[[Any], Any]], ...] | None] = {}


class _NotAsWritten(ValueError):
    """A stored value not in the form pydantic's serializer writes for its field."""


def _field_readers(cls: type[LedgerEvent]) -> tuple[tuple[str, Callable[[Any], Any]], ...] | None:
    """(field, reader) for every field of the model, or None when one is of a kind not read
    here (see `_reader`) or the model validates otherwise than field by field."""
    decorators = cls.__pydantic_decorators__
    if cls.__pydantic_post_init__ or decorators.model_validators or decorators.validators \
            or decorators.root_validators:
        return None
    after: dict[str, list[Callable[[Any], Any]]] = {}
    for validator in decorators.field_validators.values():
        if validator.info.mode != "after" or len(inspect.signature(validator.func).parameters) != 1:
            return None
        for name in validator.info.fields:
            after.setdefault(name, []).append(validator.func)
    readers = []
    for name, field in cls.__pydantic_fields__.items():
        read = _reader(field.annotation)
        if read is None or field.metadata or field.alias or field.validation_alias:
            return None
        if name in after:
            read = _then(read, after.pop(name))
        readers.append((name, read))
    return None if after else tuple(readers)


def _then(read: Callable[[Any], Any], validators: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def validated(value: Any) -> Any:
        value = read(value)
        for validator in validators:
            value = validator(value)
        return value
    return validated


def _reader(annotation: Any) -> Callable[[Any], Any] | None:
    """How a value of this field type is read back from the JSON pydantic wrote, as pydantic
    would validate it; None for a type not read here."""
    simple = _SIMPLE_READERS.get(annotation)
    if simple is not None:
        return simple
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is Literal and all(type(word) is str for word in arguments):
        return _one_of(frozenset(arguments))
    if origin in (Union, types.UnionType) and len(arguments) == 2 and type(None) in arguments:
        inner = _reader(next(argument for argument in arguments if argument is not type(None)))
        return None if inner is None else _or_none(inner)
    if origin is tuple and arguments == (dict[str, Any], ...):
        return _records
    return None


def _exactly(kind: type) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        if type(value) is not kind:
            raise _NotAsWritten
        return value
    return read


_WRITTEN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WRITTEN_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?")
_WRITTEN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_OFFSETS: dict[int, TzInfo] = {}  # pydantic's fixed-offset zones, one per offset


def _date(value: Any) -> date:
    if type(value) is not str or not _WRITTEN_DATE.fullmatch(value):
        raise _NotAsWritten
    return date.fromisoformat(value)


def _instant(value: Any, *, aware: bool = False) -> datetime:
    """An instant as pydantic reads it: with pydantic's own fixed-offset zone (`TzInfo`),
    naive where no offset is written (refused for `AwareDatetime`)."""
    written = _WRITTEN_INSTANT.fullmatch(value) if type(value) is str else None
    if written is None or (aware and written.group(2) is None):
        raise _NotAsWritten
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        return instant
    seconds = int(instant.utcoffset().total_seconds())  # type: ignore[union-attr]
    zone = _OFFSETS.get(seconds)
    if zone is None:
        zone = _OFFSETS[seconds] = TzInfo(seconds)
    return instant.replace(tzinfo=zone)


def _aware_instant(value: Any) -> datetime:
    return _instant(value, aware=True)


def _decimal(value: Any) -> Decimal:
    if type(value) is not str or not _WRITTEN_DECIMAL.fullmatch(value):
        raise _NotAsWritten
    return Decimal(value)


def _one_of(words: frozenset[str]) -> Callable[[Any], Any]:
    def read(value: Any) -> str:
        if type(value) is not str or value not in words:
            raise _NotAsWritten
        return value
    return read


def _or_none(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else read(value)


def _records(value: Any) -> tuple[dict[str, Any], ...]:
    if type(value) is not list or not all(type(item) is dict for item in value):
        raise _NotAsWritten
    return tuple(dict(item) for item in value)


_SIMPLE_READERS: dict[Any, Callable[[Any], Any]] = {
    str: _exactly(str),
    int: _exactly(int),
    date: _date,
    datetime: _instant,
    AwareDatetime: _aware_instant,
    Decimal: _decimal,
}
