"""projections.history.client_history: a client's events, from every aggregate that concerns
the client, in record order, as known at K (I-9)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ledger.application import SupportLedger
from ledger.errors import NotFoundError
from projections.entitlements import entitlements
from projections.explain import explain
from projections.history import client_history
from projections.invoice import invoice
from tests.builders import (
    CLIENT,
    hand_over_key,
    issue,
    issue_license,
    log,
    open_ticket,
    override_day,
    price_list,
    register,
    release,
    subscribe,
)
from tests.support import apply, applied

MOSCOW = ZoneInfo("Europe/Moscow")

# (command, actor, the events it records for the client: (event id, type, valid time))
CLIENT_STORY = [
    ({**register(CLIENT, "2025-01-10T09:00"), "command_id": "h1"}, "anna",
     [("client/acme#1", "ClientRegistered", datetime(2025, 1, 10, 9, 0, tzinfo=MOSCOW)),
      ("priority/acme#1", "PriorityAccountOpened", None)]),
    ({**issue_license("L1", "2025-01-10"), "command_id": "h2"}, "anna",
     [("client/acme#2", "LicenseIssued", datetime(2025, 1, 10, tzinfo=MOSCOW))]),
    ({**hand_over_key("L1", "2025-01-15T07:00:00Z"), "command_id": "h3"}, "boris",
     [("client/acme#3", "LicenseKeyHandedOver", datetime(2025, 1, 15, 10, 0, tzinfo=MOSCOW)),
      ("priority/acme#2", "PriorityFreeMonthGranted", datetime(2025, 1, 15, 10, 0, tzinfo=MOSCOW))]),
    ({**subscribe("S1", "2025-02-15T10:00"), "command_id": "h4"}, "boris",
     [("priority/acme#3", "PrioritySubscribed", datetime(2025, 2, 15, 10, 0, tzinfo=MOSCOW))]),
    ({**open_ticket("T1", at="2025-03-03T11:00"), "command_id": "h5"}, "vera",
     [("ticket/T1#1", "TicketOpened", datetime(2025, 3, 3, 11, 0, tzinfo=MOSCOW))]),
    (log("T1", "E1", "2025-03-03T12:00", 40, activity="consultation"), "vera",
     [("ticket/T1#2", "TimeLogged", datetime(2025, 3, 3, 12, 0, tzinfo=MOSCOW))]),
    ({**issue("2025-03", "2025-04-01T10:00"), "command_id": "h7"}, "anna",
     [("invoice/acme/2025-03#1", "InvoiceIssued", datetime(2025, 4, 1, 10, 0, tzinfo=MOSCOW))]),
]

NOISE = [  # the catalog and another client: never in acme's history
    release("9.0", "2024-06-01"),
    price_list("2025-01-01", norm_hour="1500.00", priority_month="30000.00"),
    {**register("beta", "2025-01-11T09:00"), "command_id": "n1"},
    open_ticket("T2", client_id="beta", at="2025-03-03T11:00"),
    issue("2025-03", "2025-04-01T10:00", client_id="beta"),
]


def tell_story(ledger) -> None:
    """The client's story, interleaved with catalog facts and another client's."""
    for n, (command, actor, _) in enumerate(CLIENT_STORY):
        [outcome] = apply(ledger, command, actor=actor)
        assert outcome.status == "applied", outcome
        applied(ledger, NOISE[n] if n < len(NOISE) else override_day(f"2025-12-{n + 10}"))


def expected_rows():
    for command, actor, events in CLIENT_STORY:
        for event_id, event_type, valid_at in events:
            yield event_id, event_type, valid_at, actor, command.get("command_id")


def test_history_has_every_aggregate_of_the_client_in_record_order(ledger):
    tell_story(ledger)
    document = client_history(ledger, CLIENT, datetime.now(timezone.utc))
    assert document["client_id"] == CLIENT
    rows = document["events"]
    expected = list(expected_rows())
    assert [(e["event_id"], e["type"]) for e in rows] == [(i, t) for i, t, *_ in expected]
    for event, (_, _, valid_at, actor, command_id) in zip(rows, expected, strict=True):
        assert set(event) == {"event_id", "type", "valid_at", "recorded_at", "actor", "recorded_by",
                              "command_id", "payload"}
        assert event["actor"] == actor
        assert event["command_id"] == command_id
        if valid_at is not None:
            assert datetime.fromisoformat(event["valid_at"]) == valid_at
        assert datetime.fromisoformat(event["recorded_at"]).tzinfo is not None
    json.dumps(document)  # a JSON document, as `history --json` prints it


def test_history_times_are_moscow_readings(ledger):
    tell_story(ledger)
    rows = client_history(ledger, CLIENT, datetime.now(timezone.utc))["events"]
    handover = next(e for e in rows if e["type"] == "LicenseKeyHandedOver")
    assert handover["valid_at"] == "2025-01-15T10:00:00+03:00"  # written as 07:00Z
    assert all(e["recorded_at"].endswith("+03:00") for e in rows)


def test_history_payload_is_the_domain_fields_only(ledger):
    tell_story(ledger)
    rows = client_history(ledger, CLIENT, datetime.now(timezone.utc))["events"]
    logged = next(e for e in rows if e["type"] == "TimeLogged")
    assert logged["payload"]["entry_id"] == "E1"
    assert logged["payload"]["minutes"] == 40
    assert logged["payload"]["activity"] == "consultation"
    assert logged["payload"]["client_id"] == CLIENT
    for event in rows:
        assert not {"originator_id", "originator_version", "actor", "command_id",
                    "timestamp"} & set(event["payload"]), event
    granted = next(e for e in rows if e["type"] == "PriorityFreeMonthGranted")
    assert datetime.fromisoformat(granted["payload"]["ends_at"]) == datetime(2025, 2, 15, 10, 0, tzinfo=MOSCOW)


def test_catalog_receipts_and_other_clients_are_not_in_the_history(ledger):
    tell_story(ledger)
    rows = client_history(ledger, CLIENT, datetime.now(timezone.utc))["events"]
    types = {e["type"] for e in rows}
    assert not types & {"CatalogOpened", "VersionReleased", "PriceListPublished",
                        "CalendarDayOverridden", "CommandAccepted"}
    assert all("beta" not in e["event_id"] and "T2" not in e["event_id"] for e in rows)
    assert all(e["payload"].get("client_id") in (None, CLIENT) for e in rows)
    beta = client_history(ledger, "beta", datetime.now(timezone.utc))["events"]
    assert [e["event_id"] for e in beta] == [
        "client/beta#1", "priority/beta#1", "ticket/T2#1", "invoice/beta/2025-03#1"]


def test_recorded_at_is_non_decreasing_in_record_order(ledger):
    tell_story(ledger)
    recorded = ledger.recorded_events()
    assert [r.notification_id for r in recorded] == sorted(r.notification_id for r in recorded)
    times = [r.recorded_at for r in recorded]
    assert times == sorted(times)
    rows = client_history(ledger, CLIENT, datetime.now(timezone.utc))["events"]
    history_times = [datetime.fromisoformat(e["recorded_at"]) for e in rows]
    assert history_times == sorted(history_times)


def test_events_of_one_command_share_their_record_time(ledger):
    tell_story(ledger)
    by_command: dict[str, set[datetime]] = {}
    for recorded in ledger.recorded_events():
        if recorded.event.command_id:
            by_command.setdefault(recorded.event.command_id, set()).add(recorded.recorded_at)
    assert by_command and all(len(times) == 1 for times in by_command.values())


def test_known_at_shows_only_what_was_recorded_by_then_i_9(ledger):
    first_half, second_half = CLIENT_STORY[:3], CLIENT_STORY[3:]
    applied(ledger, NOISE[1])  # the price list the invoice needs
    for command, actor, _ in first_half:
        [outcome] = apply(ledger, command, actor=actor)
        assert outcome.status == "applied", outcome
    known_at = ledger.recorded_events()[-1].recorded_at
    answer_then = client_history(ledger, CLIENT, known_at)

    for command, actor, _ in second_half:
        [outcome] = apply(ledger, command, actor=actor)
        assert outcome.status == "applied", outcome
    answer_later = client_history(ledger, CLIENT, known_at)
    assert answer_later == answer_then, "what was known at K never changes"

    first_ids = [event_id for _, _, events in first_half for event_id, *_ in events]
    assert [e["event_id"] for e in answer_then["events"]] == first_ids
    assert datetime.fromisoformat(answer_then["known_at"]) == known_at
    everything = client_history(ledger, CLIENT, datetime.now(timezone.utc))["events"]
    assert [e["event_id"] for e in everything] == [i for i, *_ in expected_rows()]


def test_known_at_each_recorded_moment(ledger):
    """As known at the record time of event i: exactly the events recorded at or before it."""
    tell_story(ledger)
    recorded = ledger.recorded_events()
    for candidate in recorded:
        k = candidate.recorded_at
        expected = [r.event_id for r in recorded
                    if r.recorded_at <= k and r.event.client_id == CLIENT]
        rows = client_history(ledger, CLIENT, k)["events"]
        assert [e["event_id"] for e in rows] == expected
    just_before = recorded[0].recorded_at - timedelta(microseconds=1)
    with pytest.raises(NotFoundError):  # the client was not known yet (I-9)
        client_history(ledger, CLIENT, just_before)


def test_a_client_unknown_at_K_is_the_same_error_as_every_other_query_gives_i_9(ledger):
    """Registered now, not yet at K: history refuses it exactly as invoice, explain and
    entitlements do (issue 16 item 5), never an empty history."""
    applied(ledger, release("1", "2024-01-01", product="Other"))
    before = ledger.last_recorded_at()
    tell_story(ledger)
    errors = []
    for query in (lambda: client_history(ledger, CLIENT, before),
                  lambda: invoice(ledger, CLIENT, "2025-03", before),
                  lambda: explain(ledger, CLIENT, "2025-03", before),
                  lambda: entitlements(ledger, CLIENT, before, before)):
        with pytest.raises(NotFoundError) as raised:
            query()
        errors.append((str(raised.value), raised.value.field))
    assert errors[0][1] == "client_id" and "as known at" in errors[0][0]
    assert errors == [errors[0]] * 4


@pytest.fixture
def utc_process(monkeypatch):
    """The process and the PostgreSQL session on UTC, so a naive instant misread as local
    time is misread the same way everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("PGTZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_known_at_without_offset_is_moscow_time(ledger, db_url, utc_process):
    tell_story(ledger)
    k = ledger.recorded_events()[4].recorded_at
    naive_moscow = k.astimezone(MOSCOW).replace(tzinfo=None)
    reader = SupportLedger(db_url)  # opened under PGTZ=UTC
    try:
        naive = client_history(reader, CLIENT, naive_moscow)
        aware = client_history(reader, CLIENT, k)
    finally:
        reader.close()
    assert naive["known_at"] == aware["known_at"]  # the document says the same K ...
    assert naive["events"] == aware["events"]  # ... so it must answer for the same K


def test_unknown_client_raises_not_found_naming_client_id(ledger):
    tell_story(ledger)
    with pytest.raises(NotFoundError) as raised:
        client_history(ledger, "nobody", datetime.now(timezone.utc))
    assert raised.value.field == "client_id"
    assert str(raised.value).startswith("client_id:") and "nobody" in str(raised.value)
