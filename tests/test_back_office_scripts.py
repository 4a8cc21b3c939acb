"""The back-office scripts, run through their `main` as an operator would run them:

- `scripts/month_end.py` issues every client's invoice for a period (I-9), is idempotent on a
  re-run, and writes a CSV whose rows are exactly the lines of the issued invoices;
- `scripts/dispute_report.py` writes a Markdown report of one client and period: as issued, as
  known now, the differences with the events that caused them, every line explained, and the
  event timeline.

Price list of 2025-01-01: norm hour 3000.00, priority month 15000.00.
"""

from __future__ import annotations

import csv
import importlib.util
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from projections.invoice import invoice
from tests.support import applied

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
PRODUCT = "RegionSoft CRM"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def ticket(ticket_id: str, client_id: str) -> dict:
    return {"command": "OpenTicket", "ticket_id": ticket_id, "client_id": client_id, "at": "2025-03-03T09:00",
            "channel": "email", "subject": f"Subject of {ticket_id}", "category": "environment",
            "product": PRODUCT, "version": "9.0"}


def log(ticket_id: str, entry_id: str, started_at: str, minutes: int) -> dict:
    return {"command": "LogTime", "ticket_id": ticket_id, "entry_id": entry_id, "engineer": "ivanov",
            "started_at": started_at, "minutes": minutes, "activity": "repair"}


def register(client_id: str, at: str = "2025-01-10T09:00") -> dict:
    return {"command": "RegisterClient", "client_id": client_id, "name": client_id.title(), "at": at}


def ids_of(ledger, event_type: str) -> list[str]:
    return [r.event_id for r in ledger.recorded_events() if r.type == event_type]


@pytest.fixture
def clients(ledger):
    """acme: standard work of 50 + 15 min on 03-03; globex: paid priority all March;
    idle: nothing in March; late: registered in April (not yet a client in March)."""
    applied(
        ledger,
        {"command": "PublishPriceList", "effective_from": "2025-01-01", "norm_hour": "3000.00",
         "priority_month": "15000.00"},
        {"command": "ReleaseVersion", "product": PRODUCT, "version": "9.0", "released_on": "2024-06-01"},
        register("acme"),
        register("globex"),
        register("idle"),
        register("late", at="2025-04-05T09:00"),
        ticket("T-1", "acme"),
        log("T-1", "E-1", "2025-03-03T10:00", 50),
        log("T-1", "E-2", "2025-03-03T14:00", 15),
        {"command": "SubscribePriority", "client_id": "globex", "subscription_id": "S-1", "at": "2025-03-01T00:00"},
    )
    return ledger


# Hand-computed March totals (R-STP-3, I-5, I-7):
EXPECTED_MARCH = {
    "acme": "6000.00",  # 50 + 15 = 65 min on one ticket-day -> 120 billed; 2 h × 3000.00
    "globex": "15000.00",  # 31 of 31 days × 15000.00 / 31
    "idle": "0.00",  # nothing to bill, still an invoice
}


def month_end(ledger, tmp_path: Path, name: str, at: str = "2025-04-01T09:00") -> tuple[int, list[dict[str, str]]]:
    path = tmp_path / name
    status = script("month_end").main(["--period", "2025-03", "--at", at, "--csv", str(path),
                                       "--db", ledger.url, "--actor", "accountant"])
    with path.open(encoding="utf-8", newline="") as handle:
        return status, list(csv.DictReader(handle))


def issued_march(ledger) -> dict[str, dict[str, Any]]:
    known_at = ledger.last_recorded_at()
    return {c: invoice(ledger, c, "2025-03", known_at) for c in EXPECTED_MARCH}


def test_month_end_issues_every_clients_invoice_and_writes_every_line_i_9(clients, tmp_path, capsys):
    status, rows = month_end(clients, tmp_path, "march.csv")
    assert status == 0
    documents = issued_march(clients)
    for client_id, total in EXPECTED_MARCH.items():
        assert documents[client_id]["status"] == "issued", client_id
        assert documents[client_id]["total"] == total, client_id
    issued = [r.event for r in clients.recorded_events() if r.type == "InvoiceIssued"]
    assert sorted(e.client_id for e in issued) == ["acme", "globex", "idle"]  # "late" was not a client yet
    assert {e.actor for e in issued} == {"accountant"}
    # The CSV rows are exactly the lines of the issued invoices, in the same order.
    expected = [(d["client_id"], line["key"], line["kind"], line["amount"])
                for d in documents.values() for line in d["lines"]]
    assert sorted((r["client_id"], r["key"], r["kind"], r["amount"]) for r in rows) == sorted(expected)
    assert {r["status"] for r in rows} == {"issued"} and {r["period"] for r in rows} == {"2025-03"}
    # 6000.00 + 15000.00 + 0.00 = 21000.00
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("21000.00")
    assert "21000.00" in capsys.readouterr().out


def test_month_end_rerun_issues_nothing_new_and_gives_the_same_totals_i_9(clients, tmp_path, capsys):
    _, first_rows = month_end(clients, tmp_path, "first.csv")
    first = issued_march(clients)
    events = len(clients.recorded_events())
    capsys.readouterr()
    status, second_rows = month_end(clients, tmp_path, "second.csv", at="2025-04-02T09:00")
    assert status == 0
    assert len(clients.recorded_events()) == events  # nothing new recorded
    second = issued_march(clients)
    assert {c: d["total"] for c, d in second.items()} == {c: d["total"] for c, d in first.items()} == EXPECTED_MARCH
    assert second_rows == first_rows
    assert "3 already issued" in capsys.readouterr().out


def test_month_end_before_the_period_ends_issues_nothing_i_9(clients, tmp_path):
    status, rows = month_end(clients, tmp_path, "early.csv", at="2025-03-31T23:00")
    assert status == 1  # every IssueInvoice was refused: the period is not over
    assert ids_of(clients, "InvoiceIssued") == []
    assert {r["status"] for r in rows} <= {"draft"}


# --- the dispute report ---------------------------------------------------------------------

SECTIONS = [
    "## The invoice as issued",
    "## The period as known now",
    "## Differences since the invoice was issued",
    "## Every line explained",
    "## Event timeline",
]


@pytest.fixture
def disputed(clients):
    """acme's March issued at 9000.00, then corrected: a longer call and a back-dated price list."""
    applied(
        clients,
        ticket("T-2", "acme"),
        log("T-2", "E-1", "2025-03-20T10:00", 60),
        {"command": "IssueInvoice", "client_id": "acme", "period": "2025-03", "at": "2025-04-01T09:00"},
        {"command": "CorrectTime", "ticket_id": "T-1", "entry_id": "E-2", "minutes": 75, "reason": "long call"},
        {"command": "PublishPriceList", "effective_from": "2025-03-15", "norm_hour": "3600.00",
         "priority_month": "15000.00"},
    )
    return clients


def test_dispute_report_has_every_section_and_names_the_causing_events_i_9(disputed, tmp_path):
    out = tmp_path / "dispute.md"
    assert script("dispute_report").main(["acme", "--period", "2025-03", "--out", str(out),
                                          "--db", disputed.url]) == 0
    text = out.read_text(encoding="utf-8")
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions), "sections out of order"
    issued, known_now, differences, explained, timeline = (
        text[start:end] for start, end in zip(positions, positions[1:] + [len(text)]))
    # Issued: T-1 65 -> 120 billed × 3000.00 = 6000.00; T-2 60 -> 60 × 3000.00 = 3000.00; 9000.00
    assert "Total **9000.00**" in issued
    # Now: T-1 50 + 75 = 125 -> 180 billed × 3000.00 = 9000.00; T-2 1 h × 3600.00 (from 03-15) = 3600.00
    assert "Total **12600.00**" in known_now
    [corrected] = ids_of(disputed, "TimeCorrected")
    back_dated = ids_of(disputed, "PriceListPublished")[-1]
    assert corrected in differences and back_dated in differences
    assert "TimeCorrected" in differences and "PriceListPublished" in differences
    assert "125 min worked → 180 min billed" in explained and "= 9000.00" in explained
    assert "60 min worked → 60 min billed" in explained and "= 3600.00" in explained
    for event_type in ("ClientRegistered", "TimeLogged", "InvoiceIssued", "TimeCorrected"):
        assert event_type in timeline, event_type


def test_dispute_report_of_a_draft_period_says_so_i_9(clients, capsys):
    assert script("dispute_report").main(["acme", "--period", "2025-03", "--db", clients.url]) == 0
    text = capsys.readouterr().out
    assert "Not issued yet" in text
    assert "Total **6000.00**" in text  # 65 -> 120 billed × 3000.00


def test_dispute_report_of_an_unknown_client_fails_in_one_line_contract(clients, capsys):
    assert script("dispute_report").main(["nobody", "--period", "2025-03", "--db", clients.url]) == 1
    assert "nobody" in capsys.readouterr().err


def test_dispute_report_names_a_back_dated_price_list_that_shrank_a_fee_line_i_6_i_9(clients, tmp_path):
    applied(
        clients,
        {"command": "IssueInvoice", "client_id": "globex", "period": "2025-03", "at": "2025-04-01T09:00"},
        {"command": "PublishPriceList", "effective_from": "2025-03-20", "norm_hour": "3000.00",
         "priority_month": "18600.00"},
    )
    out = tmp_path / "globex.md"
    assert script("dispute_report").main(["globex", "--period", "2025-03", "--out", str(out),
                                          "--db", clients.url]) == 0
    text = out.read_text(encoding="utf-8")
    differences = text[text.index(SECTIONS[2]):text.index(SECTIONS[3])]
    # Issued: 31 of 31 days × 15000.00 = 15000.00. Now: days 1..19 × 15000.00/31 = 9193.548… -> 9193.55
    # and days 20..31 × 18600.00/31 = 12 × 600.00 = 7200.00: both lines changed by the one publication.
    assert "9193.55" in differences and "7200.00" in differences
    published = ids_of(clients, "PriceListPublished")[-1]
    for block in differences.split("### ")[1:]:
        assert published in block, block


# --- month-end over a long story: the same documents as asking client by client --------------


def test_month_end_documents_equal_the_invoice_query_for_every_client_period_and_k_i_9(ledger, tmp_path):
    """The month-end run reads each period through `projections.month_end`; for every client,
    period and knowledge time of a story with issued periods, corrections, voids, back-dated
    prices and verdicts, that must give exactly the `invoice` query's documents."""
    from projections.month_end import invoices_for_period
    from tests.test_invoice_time_axes import CLIENTS, PERIODS, STORY

    for step in STORY:
        applied(ledger, *step)
        known_at = ledger.last_recorded_at()
        for period in PERIODS:
            expected = [invoice(ledger, c, period, known_at) for c in CLIENTS]
            assert invoices_for_period(ledger, period, known_at) == expected, (period, known_at)


def test_month_end_csv_after_a_long_story_lists_every_line_with_its_adjustments_i_9(ledger, tmp_path):
    from tests.test_invoice_time_axes import CLIENTS, STORY

    for step in STORY:
        applied(ledger, *step)
    path = tmp_path / "may.csv"
    for period, at in (("2025-04", "2025-05-01T10:00"), ("2025-05", "2025-06-01T10:00")):
        assert script("month_end").main(["--period", period, "--at", at, "--csv", str(path),
                                          "--db", ledger.url]) == 0
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    known_at = ledger.last_recorded_at()
    documents = [invoice(ledger, c, "2025-05", known_at) for c in CLIENTS]
    assert all(d["status"] == "issued" for d in documents)
    lines = [(d["client_id"], line["key"], line["kind"], line["amount"], line.get("adjusts_period") or "")
             for d in documents for line in d["lines"]]
    assert sorted((r["client_id"], r["key"], r["kind"], r["amount"], r["adjusts_period"]) for r in rows) == sorted(lines)
    assert "adjustment" in {r["kind"] for r in rows}  # beta's voided February entry lands on May
