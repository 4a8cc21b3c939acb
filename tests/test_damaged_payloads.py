"""A stored payload the ledger did not write is a damaged record — for `verify` and for every
query alike, naming the event, never a traceback, never folded into an answer.

Found by an attack on the change that made events `msgspec.Struct`s (issue 17): a payload
changed in the store and its hash chain recomputed (what someone with the database file can
do; `verify --expect HEAD` still catches that) leaves only the payload check between the
change and the answers. `verify` reads a current payload straight from its bytes
(`LedgerMapper._decoded`), the queries through `to_domain_event`: the two must agree on every
payload, and what they accept must not make a later query fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.errors import DamagedRecordError
from ledger.events import ClientRegistered, InvoiceIssued, PriceListPublished, TimeLogged
from ledger.store.chain import ChainedEvent
from ledger.store.mapper import LedgerMapper, LedgerTranscoder
from ledger.timeutil import MOSCOW
from tests.support import applied
from tests import builders

ROOT = Path(__file__).resolve().parents[1]

ENVELOPE = {"timestamp": "2025-03-14T10:00:00+03:00", "client_id": "acme", "actor": "tester", "command_id": None}
LINE = {"key": "priority_fee:2025-03:2025-01-01", "kind": "priority_fee", "description": "Priority support, 2025-03",
        "quantity": "31", "unit_price": "9000.00", "amount": "9000.00", "days_in_month": 31,
        "computation": "9000.00 × 31/31", "rules": ["R-PTP-1", "I-7"], "events": ["catalog/main#2"]}
PAYLOADS: dict[type, dict[str, Any]] = {
    TimeLogged: {**ENVELOPE, "entry_id": "T-1/1", "engineer": "ivanov", "started_at": "2025-03-14T10:00:00+03:00",
                 "minutes": 45, "activity": "repair", "purpose": None},
    PriceListPublished: {**ENVELOPE, "client_id": None, "effective_from": "2025-01-01", "norm_hour": "1500.00",
                         "priority_month": "9000.00"},
    InvoiceIssued: {**ENVELOPE, "originator_topic": "ledger.aggregates.invoice:Invoice", "period": "2025-03",
                    "at": "2025-04-02T10:00:00+03:00", "known_at": "2025-04-02T10:00:00+03:00",
                    "lines": [LINE], "total": "9000.00"},
    ClientRegistered: {**ENVELOPE, "originator_topic": "ledger.aggregates.client:Client", "name": "Acme",
                       "registered_at": "2025-01-10T09:00:00+03:00", "class_version": 2},
}


def stored(cls: type, body: bytes, topic: str | None = None) -> StoredEvent:
    return StoredEvent(f"{cls.__name__.lower()}/1", 1, topic or f"ledger.events:{cls.__name__}", body)


def body_of(cls: type, **changes: Any) -> bytes:
    return json.dumps({**PAYLOADS[cls], **changes}, ensure_ascii=False).encode()


def both_ways(event: StoredEvent) -> tuple[str | None, str | None]:
    """(why to_domain_event refuses it, why verify's read refuses it); None: read."""
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    try:
        mapper.to_domain_event(event)
        queried = None
    except DamagedRecordError as error:
        assert error.event_id == f"{event.originator_id}#1"
        queried = error.problem
    verified = mapper.read(ChainedEvent(1, event.originator_id, event.originator_version, event.topic, event.state))[0]
    return queried, verified


def test_the_payloads_the_ledger_writes_read_both_ways():
    for cls in PAYLOADS:
        assert both_ways(stored(cls, body_of(cls))) == (None, None), cls.__name__


DAMAGED = {
    "money as a JSON number out of range": (PriceListPublished, body_of(PriceListPublished).replace(
        b'"1500.00"', b"1e400")),
    "money as a JSON number": (PriceListPublished, body_of(PriceListPublished, norm_hour=3000.123456789012345678)),
    "money beyond any amount": (PriceListPublished, body_of(PriceListPublished, priority_month="1E+400")),
    "money of sixty digits": (PriceListPublished, body_of(PriceListPublished, priority_month="9" * 60 + ".99")),
    "money with a fraction of a kopeck": (PriceListPublished, body_of(PriceListPublished, norm_hour="1500.001")),
    "money as the library's typed object": (PriceListPublished, body_of(
        PriceListPublished, norm_hour={"_type_": "decimal_str", "_data_": "x"})),
    "an instant in the year 9999": (TimeLogged, body_of(TimeLogged, started_at="9999-12-31T23:59:59+00:00")),
    "an instant in the year 1": (TimeLogged, body_of(TimeLogged, started_at="0001-01-01T00:00:00+03:00")),
    "a vertical tab after the object": (TimeLogged, body_of(TimeLogged) + b"\x0b"),
    "a form feed after the object": (TimeLogged, body_of(TimeLogged) + b"\x0c"),
    "a lone surrogate": (TimeLogged, body_of(TimeLogged).replace(b'"ivanov"', b'"\\ud800"')),
    "a NaN literal in a line": (InvoiceIssued, body_of(InvoiceIssued).replace(b'"amount": "9000.00"', b'"amount": NaN', 1)),
    "a class version newer than the class": (ClientRegistered, body_of(ClientRegistered, class_version=3)),
    "a class version on a class that has one": (TimeLogged, body_of(TimeLogged, class_version=2)),
    "a class version as text": (ClientRegistered, body_of(ClientRegistered, class_version="2")),
    "a class version below 1": (ClientRegistered, body_of(ClientRegistered, class_version=-1)),
    "an aggregate topic outside the ledger": (ClientRegistered, body_of(ClientRegistered, originator_topic="os:system")),
    "an aggregate topic that names no aggregate": (ClientRegistered, body_of(
        ClientRegistered, originator_topic="ledger.aggregates.nope:X")),
    "not an object": (TimeLogged, b"[1, 2]"),
    "a line amount that is no amount": (InvoiceIssued, body_of(InvoiceIssued, lines=[{**LINE, "amount": "NaN"}])),
    "a line amount as a number": (InvoiceIssued, body_of(InvoiceIssued, lines=[{**LINE, "amount": 9000}])),
    "a line without its amount": (InvoiceIssued, body_of(
        InvoiceIssued, lines=[{name: value for name, value in LINE.items() if name != "amount"}])),
    "a line with no such day": (InvoiceIssued, body_of(InvoiceIssued, lines=[{**LINE, "date": "2025-02-30"}])),
    "a line's rules that are not a list": (InvoiceIssued, body_of(InvoiceIssued, lines=[{**LINE, "rules": "I-9"}])),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_payload_is_refused_both_ways(case):
    cls, body = DAMAGED[case]
    queried, verified = both_ways(stored(cls, body))
    assert queried is not None and verified is not None, (queried, verified)
    assert queried == verified
    assert queried.startswith("payload does not decode: ")


def test_the_typed_objects_of_the_librarys_transcoder_are_plain_data_in_a_line():
    """An invoice line is JSON as issued: an object that looks like the library's encoding of
    a Decimal stays an object, both ways (it is not turned into a Decimal one way only); a
    field the line does not know is kept as it was (lines of older versions)."""
    line = {**LINE, "note": {"_type_": "decimal_str", "_data_": "1"}}
    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    event = stored(InvoiceIssued, body_of(InvoiceIssued, lines=[line]))
    assert mapper.to_domain_event(event).lines == (line,)
    assert both_ways(event) == (None, None)


def test_a_stored_topic_outside_the_ledgers_events_is_not_imported():
    code = ("from eventsourcing.persistence import StoredEvent\n"
            "from ledger.store.mapper import LedgerMapper, LedgerTranscoder\n"
            "from ledger.errors import DamagedRecordError\n"
            "import sys\n"
            "try:\n"
            "    LedgerMapper(transcoder=LedgerTranscoder()).to_domain_event(StoredEvent('x/1', 1, 'this:s', b'{}'))\n"
            "except DamagedRecordError as error:\n"
            "    print(error.problem, 'this' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "unknown event type: 'this:s' False"


def test_an_event_out_of_the_ledgers_range_is_not_made(ledger):
    """What commands refuse (years outside 2000–2100), no event holds: a payload that does,
    written by another program, would overflow the Moscow clock in every later query."""
    with pytest.raises(ValueError, match="started_at"):
        TimeLogged(originator_id="ticket/T-1", originator_version=2, timestamp=datetime(2025, 3, 14, tzinfo=MOSCOW),
                   entry_id="T-1/1", engineer="ivanov", started_at=datetime(9999, 12, 31, 23, tzinfo=MOSCOW),
                   minutes=45, activity="repair", actor="tester", command_id=None)
    applied(ledger, *builders.SET_UP)  # and what commands record is within it
    assert ledger.verify().ok


def test_a_helper_that_fails_is_one_line_and_its_traceback_is_not_shown(tmp_path, monkeypatch, capfd):
    """`verify`'s helper process (ledger.store.payloads) writing a traceback and stopping:
    the caller says so in one line with the helper's last line, and the traceback stays out
    of the user's terminal."""
    from ledger.store import payloads

    failing = tmp_path / "python"
    failing.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
                       "echo 'ValueError: the helper failed' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setattr(payloads.sys, "executable", str(failing))
    reader = payloads.ReadElsewhere(lambda event: (None, None, ()))
    with pytest.raises(RuntimeError) as stopped:
        reader.result()
    assert str(stopped.value) == "the payload reader stopped (exit code 1): ValueError: the helper failed"
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("json_output", [False, True], ids=["table", "json"])
def test_a_reader_that_stops_early_ends_the_output_quietly(tmp_path, json_output):
    """`support-ledger history … | head -1`: the reader closes the pipe; the ledger stops
    without a word and exits 0, whether it was writing a table (rich) or JSON."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    subprocess.run([sys.executable, "-m", "commands.cli", "--db", url, "apply",
                    str(ROOT / "scripts/demo/commands.jsonl")], check=True, capture_output=True, cwd=ROOT)
    argv = [sys.executable, "-m", "commands.cli", "--db", url, "history", "boreal", *(["--json"] if json_output else [])]
    reader = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    reader.stdout.read(10)  # type: ignore[union-attr]
    reader.stdout.close()  # type: ignore[union-attr]
    assert reader.wait(timeout=60) == 0
    assert reader.stderr.read() == b""  # type: ignore[union-attr]
