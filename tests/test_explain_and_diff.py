"""`explain` and `diff` (CONTRACT.md queries; I-9): why each line says what it says, and which
events recorded between two knowledge times changed it. Checked through the projections and
through the CLI (`--json` prints exactly one JSON document).

Scenario: price list of 2025-01-01 (norm hour 3000.00, priority month 15000.00); ticket T-1
(`environment`, outside warranty) with 50 + 15 minutes on 2025-03-03, logged by "alice";
a paid priority subscription from 2025-03-10 12:00.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from commands.cli import main
from projections.explain import diff, explain
from projections.invoice import invoice
from tests.support import apply, applied

CLIENT = "acme"
PRODUCT = "RegionSoft CRM"
EVENT_FIELDS = {"event_id", "type", "valid_at", "recorded_at", "actor"}


def ticket(ticket_id: str, at: str = "2025-03-03T09:00") -> dict:
    return {"command": "OpenTicket", "ticket_id": ticket_id, "client_id": CLIENT, "at": at, "channel": "email",
            "subject": f"Subject of {ticket_id}", "category": "environment", "product": PRODUCT, "version": "9.0"}


def log(ticket_id: str, entry_id: str, started_at: str, minutes: int) -> dict:
    return {"command": "LogTime", "ticket_id": ticket_id, "entry_id": entry_id, "engineer": "ivanov",
            "started_at": started_at, "minutes": minutes, "activity": "repair"}


def ids_of(ledger, event_type: str) -> list[str]:
    return [r.event_id for r in ledger.recorded_events() if r.type == event_type]


def by_key(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["key"]: line for line in lines}


@pytest.fixture
def acme(ledger):
    applied(
        ledger,
        {"command": "PublishPriceList", "effective_from": "2025-01-01", "norm_hour": "3000.00",
         "priority_month": "15000.00"},
        {"command": "ReleaseVersion", "product": PRODUCT, "version": "9.0", "released_on": "2024-06-01"},
        {"command": "RegisterClient", "client_id": CLIENT, "name": "Acme", "at": "2025-01-10T09:00"},
        ticket("T-1"),
    )
    for command in (log("T-1", "E-1", "2025-03-03T11:00", 50), log("T-1", "E-2", "2025-03-03T14:00", 15)):
        [outcome] = apply(ledger, command, actor="alice")
        assert outcome.status == "applied", outcome
    applied(ledger, {"command": "SubscribePriority", "client_id": CLIENT, "subscription_id": "S-1",
                     "at": "2025-03-10T12:00"})
    return ledger


# --- explain ----------------------------------------------------------------------------------


def test_explain_gives_every_line_with_its_computation_in_numbers_r_stp_3_i_5_i_7(acme):
    known_at = acme.last_recorded_at()
    explained = explain(acme, CLIENT, "2025-03", known_at)
    billed = invoice(acme, CLIENT, "2025-03", known_at)
    assert [line["key"] for line in explained["lines"]] == [line["key"] for line in billed["lines"]]
    assert [line["amount"] for line in explained["lines"]] == [line["amount"] for line in billed["lines"]]
    lines = by_key(explained["lines"])
    # R-STP-3, I-5: 50 + 15 = 65 min on one ticket-day -> 120 billed; 2 h × 3000.00 = 6000.00
    work = lines["standard_time:T-1:2025-03-03"]
    assert "65 min worked → 120 min billed" in work["explanation"]
    assert "3000.00" in work["explanation"] and "= 6000.00" in work["explanation"]
    # I-7: days 10..31 = 22 of 31 charged; 15000.00 × 22/31 = 10645.161… -> 10645.16
    [fee] = [line for line in explained["lines"] if line["kind"] == "priority_fee"]
    assert "15000.00" in fee["explanation"] and "22/31" in fee["explanation"]
    assert "= 10645.16" in fee["explanation"]
    assert explained["total"] == billed["total"] == "16645.16"  # 6000.00 + 10645.16
    assert all(line["rules"] for line in explained["lines"])


def test_explain_cites_events_with_id_type_both_times_and_actor_i_9(acme):
    known_at = acme.last_recorded_at()
    explained = explain(acme, CLIENT, "2025-03", known_at)
    for line in explained["lines"]:
        assert line["events"], line["key"]
        for event in line["events"]:
            assert EVENT_FIELDS <= set(event), event
            assert datetime.fromisoformat(event["recorded_at"]) <= known_at
    work = by_key(explained["lines"])["standard_time:T-1:2025-03-03"]
    logged = [e for e in work["events"] if e["type"] == "TimeLogged"]
    assert [(e["valid_at"], e["actor"]) for e in logged] == [
        ("2025-03-03T11:00:00+03:00", "alice"),  # naive instants are Moscow time
        ("2025-03-03T14:00:00+03:00", "alice"),
    ]
    assert {"TicketOpened", "PriceListPublished"} <= {e["type"] for e in work["events"]}
    [fee] = [line for line in explained["lines"] if line["kind"] == "priority_fee"]
    subscribed = [e for e in fee["events"] if e["type"] == "PrioritySubscribed"]
    assert [e["valid_at"] for e in subscribed] == ["2025-03-10T12:00:00+03:00"]
    assert "PriceListPublished" in {e["type"] for e in fee["events"]}


# --- diff ------------------------------------------------------------------------------------


def change(document: dict[str, Any], key: str) -> dict[str, Any]:
    [found] = [c for c in document["changes"] if c["key"] == key]
    return found


def caused_by(entry: dict[str, Any]) -> set[str]:
    return {event["event_id"] for event in entry["caused_by"]}


def test_diff_lists_changed_and_added_lines_with_the_events_that_caused_them_i_9(acme):
    before = acme.last_recorded_at()
    applied(
        acme,
        {"command": "CorrectTime", "ticket_id": "T-1", "entry_id": "E-2", "minutes": 75, "reason": "long call"},
        ticket("T-2"),
        log("T-2", "E-1", "2025-03-04T10:00", 30),
    )
    after = acme.last_recorded_at()
    document = diff(acme, CLIENT, "2025-03", before, after)
    assert {c["key"] for c in document["changes"]} == {"standard_time:T-1:2025-03-03", "standard_time:T-2:2025-03-04"}
    corrected = change(document, "standard_time:T-1:2025-03-03")
    # 50 + 75 = 125 -> 180 billed × 3000.00 = 9000.00; it was 6000.00: +3000.00
    assert (corrected["change"], corrected["amount_change"]) == ("changed", "3000.00")
    assert (corrected["before"]["amount"], corrected["after"]["amount"]) == ("6000.00", "9000.00")
    assert caused_by(corrected) == set(ids_of(acme, "TimeCorrected"))
    added = change(document, "standard_time:T-2:2025-03-04")
    # 30 -> 30 billed: 0.5 h × 3000.00 = 1500.00, new
    assert (added["change"], added["amount_change"], added["before"]) == ("added", "1500.00", None)
    assert caused_by(added) == {"ticket/T-2#1", "ticket/T-2#2"}  # TicketOpened, TimeLogged of T-2
    # 16645.16 + 3000.00 + 1500.00 = 21145.16
    assert (document["total_before"], document["total_after"]) == ("16645.16", "21145.16")
    recorded_between = {e["event_id"] for e in document["events_recorded_between"]}
    assert set(ids_of(acme, "TimeCorrected")) | {"ticket/T-2#1", "ticket/T-2#2"} <= recorded_between
    for event in document["events_recorded_between"]:
        assert before < datetime.fromisoformat(event["recorded_at"]) <= after


def test_diff_with_nothing_recorded_in_between_lists_no_change_i_9(acme):
    known_at = acme.last_recorded_at()
    document = diff(acme, CLIENT, "2025-03", known_at, known_at)
    assert document["changes"] == [] and document["events_recorded_between"] == []
    assert document["total_before"] == document["total_after"] == "16645.16"

