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
from ledger.errors import InvalidCommandError
from projections.explain import diff, explain
from projections.invoice import invoice
from tests.builders import (
    CLIENT,
    cancel,
    confirm_bug,
    correct_time,
    issue,
    log,
    open_ticket,
    price_list,
    register,
    release,
    subscribe,
    void_time,
)
from tests.support import apply, applied

EVENT_FIELDS = {"event_id", "type", "valid_at", "recorded_at", "actor"}


def ticket(ticket_id: str, at: str = "2025-03-03T09:00") -> dict:
    return open_ticket(ticket_id, "environment", at=at)


def ids_of(ledger, event_type: str) -> list[str]:
    return [r.event_id for r in ledger.recorded_events() if r.type == event_type]


def by_key(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["key"]: line for line in lines}


@pytest.fixture
def acme(ledger):
    applied(
        ledger,
        price_list("2025-01-01", norm_hour="3000.00", priority_month="15000.00"),
        release("9.0", "2024-06-01"),
        register(CLIENT, "2025-01-10T09:00"),
        ticket("T-1"),
    )
    for command in (log("T-1", "E-1", "2025-03-03T11:00", 50), log("T-1", "E-2", "2025-03-03T14:00", 15)):
        [outcome] = apply(ledger, command, actor="alice")
        assert outcome.status == "applied", outcome
    applied(ledger, subscribe("S-1", "2025-03-10T12:00"))
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
        correct_time("T-1", "E-2", 75, reason="long call"),
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



def void_both_entries(ledger) -> tuple[str, str]:
    """VoidTime of T-1's two entries on 2025-03-03: the billable line vanishes (I-4)."""
    applied(
        ledger,
        void_time("T-1", "E-1", reason="wrong client"),
        void_time("T-1", "E-2", reason="wrong client"),
    )
    # The line was 50 + 15 = 65 -> 120 billed × 3000.00 = 6000.00 (R-STP-3, I-5); now nothing: −6000.00
    return "standard_time:T-1:2025-03-03", "TimeVoided"


def confirm_a_pending_bug(ledger) -> tuple[str, str]:
    """A pending bug on the current version 9.0, confirmed: its bug_fix work becomes free (I-4, R-WTY-1)."""
    applied(ledger, open_ticket("B-1", "bug"),  # reported through the portal with every fact (R-CH-2, I-10)
            log("B-1", "E-1", "2025-03-04T10:00", 45, activity="bug_fix"))  # before S-1 (03-10 12:00)
    return "standard_time:B-1:2025-03-04:pending", "BugConfirmed"


@pytest.mark.parametrize("scenario", ["void", "confirm_bug"])
def test_diff_removed_line_names_the_void_or_verdict_that_removed_it_i_4_i_9(acme, scenario):
    if scenario == "void":
        before = acme.last_recorded_at()
        key, cause = void_both_entries(acme)
        removed_amount = "-6000.00"
    else:
        key, cause = confirm_a_pending_bug(acme)
        before = acme.last_recorded_at()
        # I-4: the unsettled bug's 45 min are shown pending, not charged: 45 -> 60 billed, amount 0.00
        assert by_key(invoice(acme, CLIENT, "2025-03", before)["lines"])[key]["amount"] == "0.00"
        applied(acme, confirm_bug("B-1", "2025-03-05T10:00"))
        # I-4 step 3: a confirmed bug on 9.0 (current version, I-2), bug_fix: free under warranty, no line
        removed_amount = "0.00"
    after = acme.last_recorded_at()
    document = diff(acme, CLIENT, "2025-03", before, after)
    assert [c["key"] for c in document["changes"]] == [key]
    removed = change(document, key)
    assert (removed["change"], removed["after"], removed["amount_change"]) == ("removed", None, removed_amount)
    assert removed["before"]["key"] == key
    assert caused_by(removed) == set(ids_of(acme, cause))
    assert {e["type"] for e in removed["caused_by"]} == {cause}
    # 16645.16 (6000.00 + 10645.16) before; the void leaves 10645.16, the verdict leaves it unchanged
    assert document["total_before"] == "16645.16"
    assert document["total_after"] == ("10645.16" if scenario == "void" else "16645.16")


def test_diff_back_dated_price_list_names_it_on_every_fee_line_it_changed_i_6_i_9(acme):
    # S-1 (paid, from 2025-03-10 12:00, never cancelled) covers the whole of April 2025.
    before = acme.last_recorded_at()
    old = invoice(acme, CLIENT, "2025-04", before)
    # I-7: 30 of 30 days × 15000.00 (list of 2025-01-01) = 15000.00
    assert [(line["key"], line["amount"]) for line in old["lines"]] == [("priority_fee:2025-04:2025-01-01", "15000.00")]
    # published now, effective mid-April: a correction (I-6)
    applied(acme, price_list("2025-04-11", norm_hour="3000.00", priority_month="18100.00"))
    [published] = ids_of(acme, "PriceListPublished")[1:]
    after = acme.last_recorded_at()
    document = diff(acme, CLIENT, "2025-04", before, after)
    assert {c["key"] for c in document["changes"]} == {"priority_fee:2025-04:2025-01-01",
                                                       "priority_fee:2025-04:2025-04-11"}
    shrunk = change(document, "priority_fee:2025-04:2025-01-01")
    # I-6, I-7: days 1..10 = 10 of 30 × 15000.00 = 5000.00; 5000.00 − 15000.00 = −10000.00
    assert (shrunk["change"], shrunk["after"]["quantity"], shrunk["after"]["amount"]) == ("changed", "10", "5000.00")
    assert shrunk["amount_change"] == "-10000.00"
    added = change(document, "priority_fee:2025-04:2025-04-11")
    # I-6, I-7: days 11..30 = 20 of 30 × 18100.00 = 12066.666… -> 12066.67 (half up, to kopecks)
    assert (added["change"], added["after"]["quantity"], added["after"]["amount"]) == ("added", "20", "12066.67")
    assert added["amount_change"] == "12066.67"
    for entry in (shrunk, added):
        assert caused_by(entry) == {published}, entry["key"]
        assert [e["type"] for e in entry["caused_by"]] == ["PriceListPublished"]
    # 5000.00 + 12066.67 = 17066.67
    assert (document["total_before"], document["total_after"]) == ("15000.00", "17066.67")


# --- an issued invoice (I-9) -------------------------------------------------------------------


def issue_march(ledger) -> None:
    applied(ledger, issue("2025-03", "2025-04-01T09:00"))


def test_explain_of_an_issued_invoice_gives_the_lines_exactly_as_issued_i_9(acme):
    issue_march(acme)
    issued = invoice(acme, CLIENT, "2025-03", acme.last_recorded_at())
    assert issued["status"] == "issued" and issued["total"] == "16645.16"  # 6000.00 + 10645.16
    # Learned after the issue: 50 + 75 = 125 -> 180 billed would be 9000.00, but March stays as issued (I-9).
    applied(acme, correct_time("T-1", "E-2", 75, reason="long call"))
    explained = explain(acme, CLIENT, "2025-03", acme.last_recorded_at())
    assert explained["status"] == "issued" and explained["total"] == "16645.16"
    assert len(explained["lines"]) == len(issued["lines"]) == 2
    # I-7: rounded once per line, so the lines sum exactly to the total
    assert sum((Decimal(line["amount"]) for line in explained["lines"]), Decimal("0.00")) == Decimal("16645.16")
    for line, as_issued in zip(explained["lines"], issued["lines"], strict=True):
        assert {k: v for k, v in line.items() if k not in {"explanation", "events"}} == \
            {k: v for k, v in as_issued.items() if k != "events"}
        assert line["explanation"] == as_issued["computation"] and line["explanation"]
        assert [e["event_id"] for e in line["events"]] == as_issued["events"] and line["events"]
        for event in line["events"]:
            assert EVENT_FIELDS <= set(event), event
    work = by_key(explained["lines"])["standard_time:T-1:2025-03-03"]
    # R-STP-3, I-5: as issued, 50 + 15 = 65 -> 120 billed × 3000.00 = 6000.00
    assert (work["minutes_worked"], work["amount"]) == (65, "6000.00")
    assert "65 min worked → 120 min billed" in work["explanation"]
    assert "TimeCorrected" not in {e["type"] for e in work["events"]}


def test_diff_across_the_issue_shows_draft_then_issued_i_9(acme):
    before = acme.last_recorded_at()
    issue_march(acme)
    after = acme.last_recorded_at()
    document = diff(acme, CLIENT, "2025-03", before, after)
    assert (document["status_before"], document["status_after"]) == ("draft", "issued")
    # issued exactly as the draft was: 6000.00 + 10645.16 = 16645.16 both sides, no line changed
    assert document["total_before"] == document["total_after"] == "16645.16"
    assert document["changes"] == []
    assert "InvoiceIssued" in {e["type"] for e in document["events_recorded_between"]}


def test_diff_to_known_at_earlier_than_from_known_at_is_refused_i_9(acme, capsys, db_url):
    early = datetime.fromisoformat("2025-03-01T00:00:00+03:00")
    late = acme.last_recorded_at()
    with pytest.raises(InvalidCommandError) as refused:
        diff(acme, CLIENT, "2025-03", late, early)
    assert refused.value.field == "--to-known-at" and str(refused.value).startswith("--to-known-at")
    code = main(["diff", CLIENT, "--period", "2025-03", "--from-known-at", late.isoformat(),
                 "--to-known-at", early.isoformat(), "--json", "--db", db_url])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--to-known-at" in lines[0], err
    assert "Traceback" not in err


# --- the CLI (CONTRACT.md: `--json` prints exactly one JSON document) ---------------------------


def without_known_at(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != "known_at"}


def test_cli_explain_and_diff_json_print_one_document_equal_to_the_projection_i_9(acme, capsys, db_url):
    before = acme.last_recorded_at()
    applied(acme, correct_time("T-1", "E-2", 75, reason="long call"))
    after = acme.last_recorded_at()

    assert main(["explain", CLIENT, "--period", "2025-03", "--json", "--db", db_url]) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)  # the whole of stdout is one JSON document
    assert err == ""
    assert without_known_at(printed) == without_known_at(explain(acme, CLIENT, "2025-03", after))
    # 50 + 75 = 125 -> 180 billed × 3000.00 = 9000.00 (R-STP-3, I-5); + 10645.16 (I-7) = 19645.16
    assert printed["total"] == "19645.16"

    assert main(["diff", CLIENT, "--period", "2025-03", "--from-known-at", before.isoformat(),
                 "--to-known-at", after.isoformat(), "--json", "--db", db_url]) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert err == ""
    assert printed == diff(acme, CLIENT, "2025-03", before, after)
    # 6000.00 -> 9000.00 on 03-03: +3000.00
    assert [(c["key"], c["amount_change"]) for c in printed["changes"]] == [("standard_time:T-1:2025-03-03", "3000.00")]


def test_cli_explain_table_prints_the_computation_and_the_event_ids_i_9(acme, capsys, db_url):
    assert main(["explain", CLIENT, "--period", "2025-03", "--db", db_url]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    # R-STP-3, I-5: 65 min worked -> 120 billed; I-7: 22/31 of 15000.00
    assert "65 min worked → 120 min billed" in out
    assert "22/31" in out and "16645.16" in out
    explained = explain(acme, CLIENT, "2025-03", acme.last_recorded_at())
    cited = {event["event_id"] for line in explained["lines"] for event in line["events"]}
    assert cited and all(event_id in out for event_id in cited), out


def test_diff_from_before_the_client_was_known_shows_every_line_added_i_9(acme):
    """A dispute may ask "what did you know on day one?": before the client was recorded
    the invoice was empty, so every line known now is an addition."""
    before_anything = datetime.fromisoformat("2000-01-01T00:00:00+03:00")
    now = acme.last_recorded_at()
    document = diff(acme, CLIENT, "2025-03", before_anything, now)
    current = invoice(acme, CLIENT, "2025-03", now)
    assert document["status_before"] == "draft" and document["total_before"] == "0.00"
    assert document["total_after"] == current["total"]
    assert [c["change"] for c in document["changes"]] == ["added"] * len(current["lines"])
    assert sum(Decimal(c["amount_change"]) for c in document["changes"]) == Decimal(current["total"])


# --- work that loses its coverage (R-PTP-3) ---------------------------------------------------


def test_explain_and_diff_show_work_that_lost_its_coverage_as_needing_a_decision_r_ptp_3(acme, capsys, db_url):
    applied(acme,
            open_ticket("T-PC", "personal_config", at="2025-03-18T09:00"),
            log("T-PC", "E-PC", "2025-03-20T11:00", 60, activity="personal_config"))
    covered = acme.last_recorded_at()  # S-1 (from 03-10 12:00) includes the work (I-4)
    applied(acme, cancel("S-1", "2025-03-15T12:00"))  # back-dated before the work
    document = explain(acme, CLIENT, "2025-03", acme.last_recorded_at())
    lines = by_key(document["lines"])
    # Paid coverage [03-10 12:00, 03-15 12:00) touches days 10..15: 15000.00 × 6/31 = 2903.225… → 2903.23 (I-7);
    # T-1 on 03-03: 65 min → 120 min billed × 3000.00 = 6000.00 (R-STP-3, I-5); the work on T-PC: 0.00.
    assert lines["priority_fee:2025-03:2025-01-01"]["amount"] == "2903.23"
    line = lines["standard_time:T-PC:2025-03-20:needs_decision"]
    assert line["needs_decision"] is True and line["amount"] == "0.00" and "R-PTP-3" in line["rules"]
    assert "60 min" in line["explanation"] and "R-PTP-3" in line["explanation"]
    cited = {event["type"]: event for event in line["events"]}
    assert {"TimeLogged", "PriorityCancelled"} <= set(cited) and EVENT_FIELDS <= set(cited["PriorityCancelled"])
    assert document["total"] == "8903.23"  # 6000.00 + 2903.23 + 0.00
    assert [p["key"] for p in document["problems"]] == ["standard_time:T-PC:2025-03-20:needs_decision"]

    changed = diff(acme, CLIENT, "2025-03", covered, acme.last_recorded_at())
    [added] = [c for c in changed["changes"] if c["key"] == "standard_time:T-PC:2025-03-20:needs_decision"]
    assert added["change"] == "added" and added["amount_change"] == "0.00"
    assert [event["type"] for event in added["caused_by"]] == ["PriorityCancelled"]

    assert main(["explain", CLIENT, "--period", "2025-03", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "needs a decision" in out and "R-PTP-3" in out
