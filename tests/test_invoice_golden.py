"""Golden invoices (CONTRACT.md `invoice`): every figure worked out by hand from the regulation (docs/rules.md).

Each scenario is built from CONTRACT.md commands through the real command bus (`applied`),
read back with `projections.invoice.invoice` and checked line by line. Every expected amount
is computed in a comment that cites its rule; nothing is copied from a run of the code.
Every document read here must also have its lines sum to its total (I-7).

Naive instants are Moscow time (CONTRACT.md "Times"). Unless a test says otherwise the price
list in force is the one effective 2025-01-01: norm hour 3000.00, priority month 15000.00.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from projections.invoice import invoice
from tests.builders import (
    CLIENT,
    CURRENT,
    OLDER,
    PREVIOUS,
    cancel,
    classify,
    confirm_bug,
    correct_time,
    end_pilot,
    hand_over_key,
    issue,
    issue_license,
    log,
    open_ticket,
    price_list,
    register,
    register_configuration,
    reject_bug,
    release,
    start_pilot,
    subscribe,
    void_time,
)
from tests.support import apply, applied, event_count

# --- reading -------------------------------------------------------------------------------


def assert_lines_sum_to_total(document: dict[str, Any]) -> None:
    """I-7: amounts are rounded once per line, so the total is exactly the sum of the lines."""
    lines = sum((Decimal(line["amount"]) for line in document["lines"]), Decimal("0.00"))
    assert lines == Decimal(document["total"]), document


def bill(ledger, period: str, client_id: str = CLIENT, known_at=None) -> dict[str, Any]:
    """The invoice document as known at `known_at` (default: everything recorded so far)."""
    document = invoice(ledger, client_id, period, known_at or ledger.last_recorded_at())
    assert document["client_id"] == client_id and document["period"] == period
    assert_lines_sum_to_total(document)
    return document


def of_kind(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [line for line in document["lines"] if line["kind"] == kind]


def standard(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The standard_time lines by (ticket, Moscow date): I-5 allows one per ticket-day and tier."""
    lines = of_kind(document, "standard_time")
    by_day = {(line["ticket_id"], line["date"]): line for line in lines}
    assert len(by_day) == len(lines), "two standard_time lines for one ticket-day"
    return by_day


def ids_of(ledger, event_type: str) -> list[str]:
    return [r.event_id for r in ledger.recorded_events() if r.type == event_type]


@pytest.fixture
def acme(ledger):
    """The catalog (one price list, three versions) and a client without priority coverage."""
    applied(
        ledger,
        price_list("2025-01-01"),
        release(OLDER, "2018-03-01"),
        release(PREVIOUS, "2022-03-01"),
        release(CURRENT, "2024-06-01"),
        register(),
    )
    return ledger


# --- 1. rounding per ticket-day (R-STP-3, I-5) ----------------------------------------------

# (worked, billed by R-STP-3, quantity in hours, amount = billed/60 × 3000.00)
ROUNDING_EDGES = [
    (1, 30, "0.50", "1500.00"),  # m ≤ 60: 30·⌈1/30⌉ = 30; 0.5 h × 3000.00
    (30, 30, "0.50", "1500.00"),  # 30·⌈30/30⌉ = 30
    (31, 60, "1.00", "3000.00"),  # 30·⌈31/30⌉ = 60; 1 h × 3000.00
    (60, 60, "1.00", "3000.00"),  # 30·⌈60/30⌉ = 60
    (61, 120, "2.00", "6000.00"),  # m > 60: 60·⌈61/60⌉ = 120; 2 h × 3000.00
    (119, 120, "2.00", "6000.00"),  # 60·⌈119/60⌉ = 120
    (121, 180, "3.00", "9000.00"),  # 60·⌈121/60⌉ = 180; 3 h × 3000.00
]


def test_rounding_edges_per_ticket_day_r_stp_3_i_5(acme):
    applied(acme, *(command for worked, *_ in ROUNDING_EDGES for command in (
        open_ticket(f"T-{worked}", "environment"),
        log(f"T-{worked}", "E-1", "2025-03-04T10:00", worked),
    )))
    document = bill(acme, "2025-03")
    lines = standard(document)
    assert set(lines) == {(f"T-{worked}", "2025-03-04") for worked, *_ in ROUNDING_EDGES}
    for worked, billed, hours, amount in ROUNDING_EDGES:
        line = lines[f"T-{worked}", "2025-03-04"]
        assert (line["minutes_worked"], line["minutes_billed"]) == (worked, billed), line
        assert (line["quantity"], line["unit_price"], line["amount"]) == (hours, "3000.00", amount), line
        assert line["pending"] is False and "R-STP-3" in line["rules"] and "I-5" in line["rules"]
    # 1500 + 1500 + 3000 + 3000 + 6000 + 6000 + 9000 = 30000.00
    assert document["total"] == "30000.00"
    assert document["status"] == "draft"


def test_small_entries_on_one_ticket_day_are_summed_before_rounding_i_5(acme):
    applied(
        acme,
        open_ticket("T-1", "data_recovery"),
        log("T-1", "E-1", "2025-03-04T10:00", 10),
        log("T-1", "E-2", "2025-03-04T11:00", 10),
        log("T-1", "E-3", "2025-03-04T15:00", 10),
        open_ticket("T-2", "environment"),
        log("T-2", "E-1", "2025-03-04T10:00", 50),
        log("T-2", "E-2", "2025-03-04T16:00", 15),
    )
    lines = standard(bill(acme, "2025-03"))
    # I-5: 10 + 10 + 10 = 30 min on one ticket-day -> 30 billed (not 3 × 30 = 90); 0.5 h × 3000.00 = 1500.00
    assert (lines["T-1", "2025-03-04"]["minutes_worked"], lines["T-1", "2025-03-04"]["minutes_billed"]) == (30, 30)
    assert lines["T-1", "2025-03-04"]["amount"] == "1500.00"
    # R-STP-3, I-5: 50 + 15 = 65 min on one ticket-day -> 120 billed; 2 h × 3000.00 = 6000.00
    assert (lines["T-2", "2025-03-04"]["minutes_worked"], lines["T-2", "2025-03-04"]["minutes_billed"]) == (65, 120)
    assert lines["T-2", "2025-03-04"]["amount"] == "6000.00"
    assert bill(acme, "2025-03")["total"] == "7500.00"  # 1500.00 + 6000.00


def test_one_ticket_on_two_days_and_two_tickets_on_one_day_are_separate_lines_i_5(acme):
    applied(
        acme,
        open_ticket("T-1", "environment"),
        log("T-1", "E-1", "2025-03-04T10:00", 70),
        log("T-1", "E-2", "2025-03-05T10:00", 70),
        open_ticket("T-2", "customization"),
        open_ticket("T-3", "data_recovery"),
        log("T-2", "E-1", "2025-03-06T10:00", 70),
        log("T-3", "E-1", "2025-03-06T12:00", 70),
    )
    document = bill(acme, "2025-03")
    lines = standard(document)
    assert set(lines) == {("T-1", "2025-03-04"), ("T-1", "2025-03-05"), ("T-2", "2025-03-06"), ("T-3", "2025-03-06")}
    for line in lines.values():
        # I-5: each ticket-day rounds on its own: 70 -> 60·⌈70/60⌉ = 120 billed; 2 h × 3000.00 = 6000.00
        # (summing T-1's two days first would give 140 -> 180 = 9000.00 instead of 12000.00)
        assert (line["minutes_worked"], line["minutes_billed"], line["amount"]) == (70, 120, "6000.00"), line
    assert document["total"] == "24000.00"  # 4 × 6000.00


def test_ticket_day_is_the_moscow_calendar_day_of_the_work_i_5(acme):
    applied(
        acme,
        open_ticket("T-1", "environment"),
        log("T-1", "E-1", "2025-03-04T20:30:00+00:00", 20),  # 23:30 Moscow on 03-04
        log("T-1", "E-2", "2025-03-04T22:30:00+00:00", 20),  # 01:30 Moscow on 03-05
        log("T-1", "E-3", "2025-03-05T10:00", 20),  # naive: 10:00 Moscow on 03-05
    )
    lines = standard(bill(acme, "2025-03"))
    assert set(lines) == {("T-1", "2025-03-04"), ("T-1", "2025-03-05")}
    # 03-04: 20 min -> 30 billed = 0.5 h × 3000.00 = 1500.00
    assert (lines["T-1", "2025-03-04"]["minutes_worked"], lines["T-1", "2025-03-04"]["amount"]) == (20, "1500.00")
    # 03-05: 20 + 20 = 40 min -> 60 billed = 1 h × 3000.00 = 3000.00
    assert (lines["T-1", "2025-03-05"]["minutes_worked"], lines["T-1", "2025-03-05"]["amount"]) == (40, "3000.00")


def test_standard_amount_is_rounded_to_kopecks_half_up_r_stp_2_i_7(acme):
    applied(
        acme,
        price_list("2025-05-01", norm_hour="1000.01"),
        open_ticket("T-1", "environment", at="2025-05-05T09:00"),
        log("T-1", "E-1", "2025-05-05T10:00", 25),
        open_ticket("T-2", "environment", at="2025-05-05T09:00"),
        log("T-2", "E-1", "2025-05-05T10:00", 61),
    )
    lines = standard(bill(acme, "2025-05"))
    # 25 -> 30 billed: 0.5 × 1000.01 = 500.005 -> 500.01 half up (half-even would give 500.00)
    assert lines["T-1", "2025-05-05"]["amount"] == "500.01"
    # 61 -> 120 billed: 2 × 1000.01 = 2000.02 exactly
    assert lines["T-2", "2025-05-05"]["amount"] == "2000.02"


# --- 2. a price change mid-month (I-6) -------------------------------------------------------


def test_price_list_takes_effect_at_moscow_midnight_of_its_date_r_stp_2_i_6(acme):
    applied(
        acme,
        price_list("2025-03-15", norm_hour="3600.00", priority_month="18600.00"),
        open_ticket("T-1", "environment"),
        log("T-1", "E-1", "2025-03-14T23:00", 45),  # last hour of the 14th: the old list
        log("T-1", "E-2", "2025-03-15T00:00", 45),  # first minute of the 15th: the new list
        open_ticket("T-2", "environment"),
        log("T-2", "E-1", "2025-03-14T21:30:00+00:00", 30),  # = 2025-03-15 00:30 Moscow
    )
    document = bill(acme, "2025-03")
    lines = standard(document)
    # 45 -> 60 billed × 3000.00 (list of 2025-01-01 still in force on the 14th) = 3000.00
    assert (lines["T-1", "2025-03-14"]["unit_price"], lines["T-1", "2025-03-14"]["amount"]) == ("3000.00", "3000.00")
    # 45 -> 60 billed × 3600.00 (list of 2025-03-15, in force from 00:00 Moscow) = 3600.00
    assert (lines["T-1", "2025-03-15"]["unit_price"], lines["T-1", "2025-03-15"]["amount"]) == ("3600.00", "3600.00")
    # 30 -> 30 billed: 0.5 h × 3600.00 = 1800.00 (21:30 UTC on the 14th is the 15th in Moscow)
    assert (lines["T-2", "2025-03-15"]["unit_price"], lines["T-2", "2025-03-15"]["amount"]) == ("3600.00", "1800.00")
    assert document["total"] == "8400.00"  # 3000.00 + 3600.00 + 1800.00


def test_priority_fee_is_split_by_price_list_r_ptp_1_i_6_i_7(acme):
    applied(
        acme,
        price_list("2025-03-15", norm_hour="3600.00", priority_month="18600.00"),
        subscribe("S-1", "2025-03-01T00:00"),
    )
    document = bill(acme, "2025-03")
    fees = sorted(of_kind(document, "priority_fee"), key=lambda line: line["unit_price"])
    # I-7: every day of March is charged; days 1..14 under the list of 2025-01-01, 15..31 under 2025-03-15
    # 15000.00 × 14/31 = 6774.1935… -> 6774.19
    # 18600.00 × 17/31 = 600.00 × 17 = 10200.00
    assert [(f["quantity"], f["unit_price"], f["amount"]) for f in fees] == [
        ("14", "15000.00", "6774.19"),
        ("17", "18600.00", "10200.00"),
    ]
    assert all("R-PTP-1" in f["rules"] and "I-7" in f["rules"] for f in fees)
    assert document["total"] == "16974.19"  # 6774.19 + 10200.00


# --- 3. a back-dated price correction (I-6, I-9) --------------------------------------------


def test_back_dated_price_list_changes_the_draft_but_not_the_past_knowledge_i_6_i_9(acme):
    applied(
        acme,
        open_ticket("T-1", "environment"),
        log("T-1", "E-1", "2025-03-10T10:00", 60),
        log("T-1", "E-2", "2025-03-20T10:00", 60),
    )
    before = acme.last_recorded_at()
    applied(acme, price_list("2025-03-15", norm_hour="3300.00"))  # published later, effective earlier
    after_new_list = acme.last_recorded_at()
    applied(acme, price_list("2025-01-01", norm_hour="3100.00"))  # a correction of the same date
    # As known before either publication: 60 -> 60 billed × 3000.00 on both days.
    old = standard(bill(acme, "2025-03", known_at=before))
    assert (old["T-1", "2025-03-10"]["amount"], old["T-1", "2025-03-20"]["amount"]) == ("3000.00", "3000.00")
    # After the list effective 03-15: the 20th costs 1 h × 3300.00; the 10th is unchanged.
    middle = standard(bill(acme, "2025-03", known_at=after_new_list))
    assert (middle["T-1", "2025-03-10"]["amount"], middle["T-1", "2025-03-20"]["amount"]) == ("3000.00", "3300.00")
    # After the 2025-01-01 correction (the later publication wins, I-6): the 10th costs 3100.00.
    now = bill(acme, "2025-03")
    lines = standard(now)
    assert (lines["T-1", "2025-03-10"]["amount"], lines["T-1", "2025-03-20"]["amount"]) == ("3100.00", "3300.00")
    assert now["total"] == "6400.00"  # 3100.00 + 3300.00
    assert bill(acme, "2025-03", known_at=before)["total"] == "6000.00"  # 2 × 3000.00


# --- 4. the free first month across a month end (R-PTP-6, I-7) --------------------------------


def test_free_month_across_month_end_then_paid_subscription_r_ptp_6_i_7(acme):
    applied(
        acme,
        issue_license("L-1", "2025-01-20"),
        hand_over_key("L-1", "2025-01-20T15:00"),
        subscribe("S-1", "2025-02-20T15:00"),  # paid from the instant the free month ends
    )
    january = bill(acme, "2025-01")
    # R-PTP-6: free from 2025-01-20T15:00 to 2025-02-20T15:00; January days 20..31 = 12 days, free
    [free] = of_kind(january, "priority_free")
    assert (free["quantity"], free["unit_price"], free["amount"]) == ("12", "0.00", "0.00")
    assert "R-PTP-6" in free["rules"]
    assert of_kind(january, "priority_fee") == [] and january["total"] == "0.00"

    february = bill(acme, "2025-02")
    # February days 1..20 are touched by the free month (it holds until 15:00 on the 20th) = 20 days
    [free] = of_kind(february, "priority_free")
    assert (free["quantity"], free["amount"]) == ("20", "0.00")
    # I-7: the 20th is charged (paid holds from 15:00 while no free grant does) through the 28th:
    # 20..28 = 9 days of 28; 15000.00 × 9/28 = 4821.428571… -> 4821.43
    [fee] = of_kind(february, "priority_fee")
    assert (fee["quantity"], fee["unit_price"], fee["amount"]) == ("9", "15000.00", "4821.43")
    assert february["total"] == "4821.43"

    march = bill(acme, "2025-03")
    # 31 of 31 days: 15000.00 × 31/31 = 15000.00; nothing free any more
    [fee] = of_kind(march, "priority_fee")
    assert (fee["quantity"], fee["amount"]) == ("31", "15000.00")
    assert of_kind(march, "priority_free") == [] and march["total"] == "15000.00"


# --- 5. proration (I-7) ------------------------------------------------------------------------


def test_priority_fee_prorated_by_moscow_calendar_days_i_7(acme):
    applied(
        acme,
        subscribe("S-MAR", "2025-03-10T12:00"),
        cancel("S-MAR", "2025-03-20T12:00"),
        subscribe("S-APR", "2025-04-10T12:00"),
        cancel("S-APR", "2025-04-20T12:00"),
    )
    # Days 10..20 each hold paid coverage at some moment: 11 charged days (I-7)
    # March (31 days): 15000.00 × 11/31 = 5322.580645… -> 5322.58
    [march] = of_kind(bill(acme, "2025-03"), "priority_fee")
    assert (march["quantity"], march["amount"], march["days_in_month"]) == ("11", "5322.58", 31)
    # April (30 days): 15000.00 × 11/30 = 5500.00
    [april] = of_kind(bill(acme, "2025-04"), "priority_fee")
    assert (april["quantity"], april["amount"]) == ("11", "5500.00")
    assert bill(acme, "2025-05")["lines"] == []  # no coverage in May: nothing to charge


def test_priority_fee_rounds_half_up_once_per_line_and_coverage_is_half_open_i_7(acme):
    applied(
        acme,
        price_list("2025-06-01", priority_month="15000.01"),
        subscribe("S-JUN", "2025-06-01T00:00"),
        cancel("S-JUN", "2025-06-16T00:00"),  # [06-01 00:00, 06-16 00:00): the 16th is not covered
    )
    [fee] = of_kind(bill(acme, "2025-06"), "priority_fee")
    # Days 1..15 = 15 of 30: 15000.01 × 15/30 = 7500.005 -> 7500.01 half up (half-even: 7500.00)
    assert (fee["quantity"], fee["unit_price"], fee["amount"]) == ("15", "15000.01", "7500.01")


# --- 6. a pilot (R-PTP-7) ------------------------------------------------------------------------


def test_pilot_work_included_and_free_days_shown_then_billable_after_end_pilot_r_ptp_7_i_4(acme):
    applied(
        acme,
        start_pilot("P-1", "2025-03-05T10:00", "PILOT-2025-7"),
        open_ticket("I-1", "integration"),
        log("I-1", "E-1", "2025-03-10T11:00", 90, activity="integration"),  # in the pilot: included
        log("I-1", "E-2", "2025-03-20T16:00", 45, activity="integration"),  # pilot ends 18:00: included
        end_pilot("P-1", "2025-03-20T18:00"),
        log("I-1", "E-3", "2025-03-20T18:30", 40, activity="integration"),  # after the pilot: billable
        log("I-1", "E-4", "2025-03-21T11:00", 90, activity="integration"),
    )
    document = bill(acme, "2025-03")
    # R-PTP-7: free priority from 03-05 10:00 to 03-20 18:00: days 5..20 = 16 days, 0.00
    [free] = of_kind(document, "priority_free")
    assert (free["quantity"], free["amount"]) == ("16", "0.00") and "R-PTP-7" in free["rules"]
    assert of_kind(document, "priority_fee") == []  # a pilot is free: no paid day (I-7)
    lines = standard(document)
    assert set(lines) == {("I-1", "2025-03-20"), ("I-1", "2025-03-21")}  # nothing on the 10th
    # I-4 at the instant of the work: only E-3 (40 min, after 18:00) counts -> 60 billed = 3000.00
    assert (lines["I-1", "2025-03-20"]["minutes_worked"], lines["I-1", "2025-03-20"]["amount"]) == (40, "3000.00")
    # 90 -> 120 billed = 2 h × 3000.00 = 6000.00
    assert (lines["I-1", "2025-03-21"]["minutes_worked"], lines["I-1", "2025-03-21"]["amount"]) == (90, "6000.00")
    assert document["total"] == "9000.00"


# --- 7. warranty vs standard vs priority (I-4) -------------------------------------------------


def test_warranty_free_versus_standard_billable_by_version_and_activity_i_2_i_4(acme):
    applied(
        acme,
        open_ticket("Q-9", "question", version=CURRENT),
        open_ticket("Q-8", "question", version=PREVIOUS),
        open_ticket("Q-7", "question", version=OLDER),
        log("Q-9", "E-1", "2025-03-05T10:00", 45, activity="consultation"),
        log("Q-8", "E-1", "2025-03-05T11:00", 45, activity="consultation"),
        log("Q-7", "E-1", "2025-03-05T12:00", 45, activity="consultation"),
        open_ticket("B-9", "bug", version=CURRENT),
        confirm_bug("B-9", "2025-03-05T17:00"),
        log("B-9", "E-1", "2025-03-06T10:00", 40, activity="remote_session", purpose="diagnostics"),
        log("B-9", "E-2", "2025-03-06T11:00", 50, activity="remote_session", purpose="assistance"),
        open_ticket("B-7", "bug", version=OLDER),
        confirm_bug("B-7", "2025-03-05T17:00"),
        log("B-7", "E-1", "2025-03-06T14:00", 45, activity="bug_fix"),
    )
    document = bill(acme, "2025-03")
    lines = standard(document)
    # Q-9 (current version) and Q-8 (previous, released < 5 years before) are free under warranty:
    # no line. Q-7's version is older than the previous one: billable.
    assert set(lines) == {("Q-7", "2025-03-05"), ("B-9", "2025-03-06"), ("B-7", "2025-03-06")}
    # 45 -> 60 billed × 3000.00 = 3000.00
    assert (lines["Q-7", "2025-03-05"]["minutes_worked"], lines["Q-7", "2025-03-05"]["amount"]) == (45, "3000.00")
    # B-9: diagnostics (40) free under warranty; assistance (50) billable: 50 -> 60 billed = 3000.00
    assert (lines["B-9", "2025-03-06"]["minutes_worked"], lines["B-9", "2025-03-06"]["amount"]) == (50, "3000.00")
    # B-7: a confirmed bug on a version outside warranty is standard support: 45 -> 60 = 3000.00
    assert (lines["B-7", "2025-03-06"]["minutes_worked"], lines["B-7", "2025-03-06"]["amount"]) == (45, "3000.00")
    assert document["total"] == "9000.00"


def test_previous_version_leaves_warranty_five_years_after_its_release_r_wty_5_i_2(acme):
    warehouse = "RegionSoft Warehouse"
    applied(
        acme,
        release("2.0", "2020-03-10", product=warehouse),
        release("3.0", "2024-01-15", product=warehouse),  # current; 2.0 is the previous version
        open_ticket("Q-2", "question", version="2.0", product=warehouse),
        log("Q-2", "E-1", "2025-03-09T23:00", 45, activity="consultation"),
        log("Q-2", "E-2", "2025-03-10T00:00", 45, activity="consultation"),
    )
    lines = standard(bill(acme, "2025-03"))
    # I-2: 2.0 is covered while T < 2020-03-10 + 5 years = 2025-03-10 00:00 Moscow.
    # E-1 (03-09 23:00) is free under warranty: no line on the 9th.
    # E-2 (03-10 00:00) is outside warranty: standard, 45 -> 60 billed × 3000.00 = 3000.00
    assert set(lines) == {("Q-2", "2025-03-10")}
    assert (lines["Q-2", "2025-03-10"]["minutes_worked"], lines["Q-2", "2025-03-10"]["amount"]) == (45, "3000.00")


def test_priority_includes_work_but_client_change_restore_is_billable_r_exc_3_i_4(acme):
    applied(
        acme,
        register("globex"),
        subscribe("S-1", "2025-03-01T00:00", client_id="globex"),
        open_ticket("R-1", "client_change_restore", client_id="globex"),
        log("R-1", "E-1", "2025-03-05T10:00", 70, activity="repair"),
        open_ticket("I-1", "integration", client_id="globex"),
        log("I-1", "E-1", "2025-03-05T12:00", 70, activity="integration"),
    )
    document = bill(acme, "2025-03", client_id="globex")
    lines = standard(document)
    # I-4 step 2: integration under paid priority is included: no line for I-1.
    # I-4 step 1, R-EXC-3: restoring after the client's own change: 70 -> 120 billed = 6000.00
    assert set(lines) == {("R-1", "2025-03-05")}
    assert (lines["R-1", "2025-03-05"]["minutes_billed"], lines["R-1", "2025-03-05"]["amount"]) == (120, "6000.00")
    # I-7: 31 of 31 days paid: 15000.00
    [fee] = of_kind(document, "priority_fee")
    assert (fee["quantity"], fee["amount"]) == ("31", "15000.00")
    assert document["total"] == "21000.00"  # 6000.00 + 15000.00


def test_reclassification_applies_to_all_of_the_tickets_work_i_3(acme):
    applied(
        acme,
        open_ticket("Q-1", "question"),
        log("Q-1", "E-1", "2025-03-05T10:00", 45, activity="consultation"),
    )
    free = acme.last_recorded_at()
    applied(acme, classify("Q-1", "customization", "2025-03-12T10:00", "it is report-designer tuning"))
    assert bill(acme, "2025-03", known_at=free)["lines"] == []  # a question on 9.0: warranty
    # I-3: the latest classification applies to all the ticket's work, even before it: 45 -> 60 = 3000.00
    lines = standard(bill(acme, "2025-03"))
    assert lines["Q-1", "2025-03-05"]["amount"] == "3000.00"


# --- 8. pending bugs (I-4) ------------------------------------------------------------------------


def test_pending_bug_work_shown_uncharged_until_confirmed_or_rejected_i_4(acme):
    applied(
        acme,
        open_ticket("B-1", "bug"),
        log("B-1", "E-1", "2025-03-05T10:00", 45, activity="bug_fix"),
        open_ticket("B-2", "bug"),
        log("B-2", "E-1", "2025-03-06T10:00", 70, activity="analysis"),
    )
    pending = acme.last_recorded_at()
    document = bill(acme, "2025-03", known_at=pending)
    lines = standard(document)
    for key, worked in ((("B-1", "2025-03-05"), 45), (("B-2", "2025-03-06"), 70)):
        # I-4: shown, not charged, while neither confirmed nor rejected
        assert lines[key]["pending"] is True and lines[key]["amount"] == "0.00", lines[key]
        assert lines[key]["minutes_worked"] == worked
    assert document["total"] == "0.00"

    applied(acme, confirm_bug("B-1", "2025-03-07T10:00"))
    applied(acme, reject_bug("B-2", "customization", "2025-03-07T11:00", "works as documented; needs tuning"))
    document = bill(acme, "2025-03")
    lines = standard(document)
    # B-1 confirmed on the current version: bug_fix is free under warranty -> no line at all.
    # B-2 rejected as customization: standard support, 70 -> 120 billed = 6000.00, not pending.
    assert set(lines) == {("B-2", "2025-03-06")}
    assert (lines["B-2", "2025-03-06"]["pending"], lines["B-2", "2025-03-06"]["amount"]) == (False, "6000.00")
    assert document["total"] == "6000.00"
    # As known before the verdicts, both lines are still pending (I-9).
    assert standard(bill(acme, "2025-03", known_at=pending))["B-1", "2025-03-05"]["pending"] is True


# --- 9. an issued invoice and later corrections (I-9) --------------------------------------------


def without_known_at(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != "known_at"}


def adjustments(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["adjusts_key"]: line for line in of_kind(document, "adjustment")}


def test_issue_invoice_before_the_period_ends_is_refused_i_9(acme):
    before = event_count(acme)
    [outcome] = apply(acme, issue("2025-03", "2025-03-31T23:59"))
    assert outcome.status == "rejected" and "at" in outcome.error
    assert event_count(acme) == before


def test_issued_invoice_is_frozen_and_corrections_land_as_adjustments_i_9(acme):
    applied(
        acme,
        open_ticket("T-1", "environment"),
        log("T-1", "E-1", "2025-03-03T10:00", 50),
        log("T-1", "E-2", "2025-03-20T10:00", 60),
    )
    draft = bill(acme, "2025-03")
    assert draft["status"] == "draft" and draft["total"] == "6000.00"  # (50 -> 60) + (60 -> 60): 2 × 3000.00
    applied(acme, issue("2025-03", "2025-04-01T09:00"))
    march = bill(acme, "2025-03")
    assert march["status"] == "issued"
    assert (march["lines"], march["total"]) == (draft["lines"], draft["total"])

    # I-9: a second IssueInvoice for the period is refused citing I-9, and records nothing.
    before = event_count(acme)
    [outcome] = apply(acme, issue("2025-03", "2025-04-02T09:00"))
    assert outcome.status == "rejected" and "I-9" in outcome.error
    assert event_count(acme) == before

    # Corrections about March, learned after the issue:
    applied(
        acme,
        correct_time("T-1", "E-1", 70, "forgot a call"),
        price_list("2025-03-15", norm_hour="3600.00"),
    )
    [corrected] = ids_of(acme, "TimeCorrected")
    back_dated = ids_of(acme, "PriceListPublished")[-1]
    # March still prints exactly as issued.
    assert without_known_at(bill(acme, "2025-03")) == without_known_at(march)
    april = bill(acme, "2025-04")
    assert april["status"] == "draft"
    adjusted = adjustments(april)
    assert set(adjusted) == {"standard_time:T-1:2025-03-03", "standard_time:T-1:2025-03-20"}
    # 03-03: now 70 -> 120 billed × 3000.00 = 6000.00; issued 3000.00; 6000.00 − 3000.00 = 3000.00
    on_3rd = adjusted["standard_time:T-1:2025-03-03"]
    assert (on_3rd["amount"], on_3rd["adjusts_period"]) == ("3000.00", "2025-03")
    assert corrected in on_3rd["events"] and back_dated not in on_3rd["events"]
    # 03-20: now 60 -> 60 billed × 3600.00 = 3600.00; issued 3000.00; 3600.00 − 3000.00 = 600.00
    on_20th = adjusted["standard_time:T-1:2025-03-20"]
    assert (on_20th["amount"], on_20th["adjusts_period"]) == ("600.00", "2025-03")
    assert back_dated in on_20th["events"] and corrected not in on_20th["events"]
    assert all("I-9" in line["rules"] for line in adjusted.values())
    assert april["total"] == "3600.00"  # 3000.00 + 600.00

    # Issue April; a further correction about March then lands on May, and April stays frozen.
    applied(acme, issue("2025-04", "2025-05-01T09:00"))
    april_issued = bill(acme, "2025-04")
    assert april_issued["status"] == "issued"
    assert (april_issued["lines"], april_issued["total"]) == (april["lines"], april["total"])
    applied(acme, void_time("T-1", "E-2", "logged twice"))
    [voided] = ids_of(acme, "TimeVoided")
    assert without_known_at(bill(acme, "2025-04")) == without_known_at(april_issued)
    assert without_known_at(bill(acme, "2025-03")) == without_known_at(march)
    may = bill(acme, "2025-05")
    [void_adjustment] = of_kind(may, "adjustment")
    # 03-20 now has no line: 0.00 − issued 3000.00 − adjusted on April 600.00 = −3600.00
    assert void_adjustment["adjusts_key"] == "standard_time:T-1:2025-03-20"
    assert (void_adjustment["amount"], void_adjustment["adjusts_period"]) == ("-3600.00", "2025-03")
    assert voided in void_adjustment["events"]
    assert may["total"] == "-3600.00"


def test_void_of_an_issued_entry_gives_a_negative_adjustment_i_9(acme):
    applied(
        acme,
        open_ticket("T-1", "data_recovery"),
        log("T-1", "E-1", "2025-03-03T10:00", 61),
        issue("2025-03", "2025-04-01T09:00"),
        void_time("T-1", "E-1", "wrong client"),
    )
    assert bill(acme, "2025-03")["total"] == "6000.00"  # issued: 61 -> 120 billed × 3000.00
    [line] = of_kind(bill(acme, "2025-04"), "adjustment")
    # now 0.00 − issued 6000.00 = −6000.00
    assert (line["amount"], line["adjusts_period"]) == ("-6000.00", "2025-03")
    assert ids_of(acme, "TimeVoided")[0] in line["events"]
    assert bill(acme, "2025-04")["total"] == "-6000.00"


def test_rejected_bug_after_the_issue_adjusts_the_next_period_i_4_i_9(acme):
    applied(
        acme,
        open_ticket("B-2", "bug"),
        log("B-2", "E-1", "2025-03-06T10:00", 70, activity="analysis"),
        issue("2025-03", "2025-04-01T09:00"),
    )
    march = bill(acme, "2025-03")
    # issued with the work pending: shown at 0.00 (I-4)
    [pending] = of_kind(march, "standard_time")
    assert (pending["pending"], pending["amount"], march["total"]) == (True, "0.00", "0.00")
    applied(acme, reject_bug("B-2", "customization", "2025-04-02T10:00", "not a bug"))
    [rejected] = ids_of(acme, "BugRejected")
    [line] = of_kind(bill(acme, "2025-04"), "adjustment")
    # now 70 -> 120 billed × 3000.00 = 6000.00; issued 0.00: +6000.00 on April, citing the verdict
    assert (line["adjusts_key"], line["amount"], line["adjusts_period"]) == (
        "standard_time:B-2:2025-03-06", "6000.00", "2025-03")
    assert rejected in line["events"]
    assert without_known_at(bill(acme, "2025-03")) == without_known_at(march)


def test_paid_days_under_a_free_grant_are_not_charged_r_ptp_6_i_7(acme):
    applied(
        acme,
        issue_license("L-1", "2025-01-20"),
        hand_over_key("L-1", "2025-01-20T15:00"),
        subscribe("S-1", "2025-01-25T10:00"),  # paid while the free month still holds
    )
    # I-7: a day is charged only when paid coverage holds at a moment no free grant does.
    # January 25..31 and February 1..19 are wholly free; the 20th is free only until 15:00.
    assert of_kind(bill(acme, "2025-01"), "priority_fee") == []
    [fee] = of_kind(bill(acme, "2025-02"), "priority_fee")
    # February 20..28 = 9 of 28 days: 15000.00 × 9/28 = 4821.428571… -> 4821.43
    assert (fee["quantity"], fee["amount"]) == ("9", "4821.43")


def priority_fee_corrected_after_issue(acme) -> tuple[dict[str, dict[str, Any]], str]:
    """March issued with paid priority from 03-10 12:00; then a list effective 03-20 is published."""
    applied(
        acme,
        subscribe("S-1", "2025-03-10T12:00"),
        issue("2025-03", "2025-04-01T09:00"),
        price_list("2025-03-20", priority_month="18600.00"),
    )
    return adjustments(bill(acme, "2025-04")), ids_of(acme, "PriceListPublished")[-1]


def test_back_dated_price_list_after_issue_adjusts_the_priority_fee_i_6_i_7_i_9(acme):
    adjusted, published = priority_fee_corrected_after_issue(acme)
    # Issued: days 10..31 = 22 of 31 × 15000.00 = 10645.161… -> 10645.16 (list of 2025-01-01).
    # Now: days 10..19 = 10 of 31 × 15000.00 = 4838.709… -> 4838.71: 4838.71 − 10645.16 = −5806.45
    #      days 20..31 = 12 of 31 × 18600.00 = 600.00 × 12 = 7200.00: 7200.00 − 0.00 = 7200.00
    assert {key: line["amount"] for key, line in adjusted.items()} == {
        "priority_fee:2025-03:2025-01-01": "-5806.45",
        "priority_fee:2025-03:2025-03-20": "7200.00",
    }
    assert published in adjusted["priority_fee:2025-03:2025-03-20"]["events"]
    april = bill(acme, "2025-04")
    # April's own fee: 30 of 30 days × 18600.00 = 18600.00; total −5806.45 + 7200.00 + 18600.00 = 19993.55
    [fee] = [line for line in of_kind(april, "priority_fee")]
    assert (fee["quantity"], fee["amount"]) == ("30", "18600.00")
    assert april["total"] == "19993.55"


def test_adjustment_for_a_shrunk_priority_fee_cites_the_back_dated_price_list_i_9(acme):
    adjusted, published = priority_fee_corrected_after_issue(acme)
    assert published in adjusted["priority_fee:2025-03:2025-01-01"]["events"]


def test_version_not_yet_released_is_outside_warranty_i_2_i_4(acme):
    applied(
        acme,
        release("10.0", "2025-03-20"),
        open_ticket("Q-10", "question", version="10.0"),  # a beta build the client runs early
        log("Q-10", "E-1", "2025-03-19T10:00", 45, activity="consultation"),
        log("Q-10", "E-2", "2025-03-20T10:00", 45, activity="consultation"),
    )
    lines = standard(bill(acme, "2025-03"))
    # I-2: on 03-19, 10.0 is not released yet: outside warranty, 45 -> 60 billed × 3000.00 = 3000.00.
    # On 03-20 it is the current version: free under warranty, no line.
    assert set(lines) == {("Q-10", "2025-03-19")}
    assert lines["Q-10", "2025-03-19"]["amount"] == "3000.00"



# --- 10. warranty needs no price, reclassification reaches all the work (R-WTY-1, I-3, I-4) ----


def test_free_warranty_work_needs_no_price_list_r_wty_1_i_4(ledger):
    applied(
        ledger,  # no PublishPriceList at all
        release(CURRENT, "2024-06-01"),
        register(),
        open_ticket("Q-1", "question"),
        log("Q-1", "E-1", "2025-03-05T10:00", 45, activity="consultation"),
        log("Q-1", "E-2", "2025-03-06T10:00", 70, activity="consultation"),
    )
    document = bill(ledger, "2025-03")
    # I-4 step 3, R-WTY-1: a question on the current version 9.0 (I-2), consultation: free, no price needed
    assert of_kind(document, "standard_time") == [] and document["lines"] == []
    assert (document["status"], document["total"]) == ("draft", "0.00")
    [outcome] = apply(ledger, issue("2025-03", "2025-04-01T09:00"))
    assert outcome.status == "applied", outcome.error  # not refused with I-6
    issued = bill(ledger, "2025-03")
    assert (issued["status"], issued["lines"], issued["total"]) == ("issued", [], "0.00")


def test_reclassifying_a_ticket_changes_all_its_work_i_3_i_4(acme):
    applied(
        acme,
        open_ticket("Q-1", "question"),  # on the current version 9.0: warranty (I-2)
        log("Q-1", "E-1", "2025-03-05T10:00", 20, activity="consultation"),
        log("Q-1", "E-2", "2025-03-05T15:00", 20, activity="consultation"),
        log("Q-1", "E-3", "2025-03-06T10:00", 70, activity="consultation"),
        log("Q-1", "E-4", "2025-03-06T14:00", 25, activity="remote_session", purpose="diagnostics"),
        log("Q-1", "E-5", "2025-03-12T10:00", 10, activity="consultation"),  # after the new category's `at`
    )
    known = acme.last_recorded_at()
    as_question = bill(acme, "2025-03", known_at=known)
    # I-4 step 3, R-WTY-1: consultation and diagnostics on a covered question are free: no line at all
    assert (as_question["lines"], as_question["total"]) == ([], "0.00")
    applied(acme, classify("Q-1", "environment", "2025-03-10T10:00", "the antivirus blocks the client"))
    document = bill(acme, "2025-03")
    lines = standard(document)
    # I-3: the latest classification applies to all of the ticket's work, before and after its `at`;
    # I-4 step 4: environment work is billable standard support (R-STP-1), rounded per ticket-day (I-5):
    assert set(lines) == {("Q-1", "2025-03-05"), ("Q-1", "2025-03-06"), ("Q-1", "2025-03-12")}
    expected = {
        "2025-03-05": (40, 60, "1.00", "3000.00"),  # 20 + 20 = 40 -> 30·⌈40/30⌉ = 60; 1 h × 3000.00
        "2025-03-06": (95, 120, "2.00", "6000.00"),  # 70 + 25 = 95 -> 60·⌈95/60⌉ = 120; 2 h × 3000.00
        "2025-03-12": (10, 30, "0.50", "1500.00"),  # 10 -> 30·⌈10/30⌉ = 30; 0.5 h × 3000.00
    }
    for day, (worked, billed, hours, amount) in expected.items():
        line = lines["Q-1", day]
        assert (line["minutes_worked"], line["minutes_billed"], line["quantity"], line["amount"]) == (
            worked, billed, hours, amount), line
        assert line["pending"] is False
    assert document["total"] == "10500.00"  # 3000.00 + 6000.00 + 1500.00
    # I-9: as known at K, before the reclassification was recorded, the invoice is unchanged.
    assert without_known_at(bill(acme, "2025-03", known_at=known)) == without_known_at(as_question)


# --- 10. work that loses its coverage after it was logged (R-PTP-3, I-4, I-9) --------------------


def uncovered_personal_config(ledger) -> None:
    """Personal-configuration work logged under a paid subscription, which R-PTP-3 requires."""
    applied(
        ledger,
        register_configuration("PC-1", "2025-03-01T00:00"),
        subscribe("S-1", "2025-03-01T00:00"),
        open_ticket("T-PC", "personal_config"),
        log("T-PC", "E1", "2025-03-10T11:00", 90, activity="personal_config"),
    )


NEEDS_DECISION_KEY = "standard_time:T-PC:2025-03-10:needs_decision"


def test_work_that_loses_its_coverage_stays_on_the_invoice_needing_a_decision_r_ptp_3(acme):
    uncovered_personal_config(acme)
    before = bill(acme, "2025-03")
    # Covered: the work is included (I-4), no line; 31/31 days × 15000.00 = 15000.00 (I-7).
    assert [line["kind"] for line in before["lines"]] == ["priority_fee"]
    assert before["total"] == "15000.00" and before["problems"] == []

    applied(acme, cancel("S-1", "2025-03-05T00:00"))  # recorded later, back-dated before the work
    after = bill(acme, "2025-03")
    # Paid coverage [03-01 00:00, 03-05 00:00) touches days 1..4 (half-open, I-7):
    # 15000.00 × 4/31 = 1935.483870… → 1935.48.
    [fee] = of_kind(after, "priority_fee")
    assert (fee["quantity"], fee["amount"]) == ("4", "1935.48")
    # The 90 minutes of 2025-03-10 have no priority coverage now, and no other tier allows
    # personal-configuration work (R-PTP-3, I-4 step 5): shown, not charged, needing a decision.
    [line] = [line for line in after["lines"] if line.get("needs_decision")]
    assert line["key"] == NEEDS_DECISION_KEY and line["kind"] == "standard_time"
    assert (line["ticket_id"], line["date"], line["minutes_worked"], line["minutes_billed"]) == (
        "T-PC", "2025-03-10", 90, 0)
    assert (line["quantity"], line["unit_price"], line["amount"]) == ("0.00", "0.00", "0.00")
    assert line["rules"][0] == "R-PTP-3" and line["entry_ids"] == ["E1"]
    assert "needs a decision" in line["description"] and "R-PTP-3" in line["computation"]
    types = {r.event_id: r.type for r in acme.recorded_events()}
    assert {"TimeLogged", "PriorityCancelled"} <= {types[event_id] for event_id in line["events"]}
    assert after["total"] == "1935.48"  # 1935.48 + 0.00
    # The document says so at the top, too (an addition to CONTRACT.md's keys).
    assert after["problems"] == [{
        "key": NEEDS_DECISION_KEY, "period": "2025-03", "ticket_id": "T-PC", "date": "2025-03-10",
        "minutes_worked": 90, "entry_ids": ["E1"], "rules": line["rules"], "description": line["description"],
    }]


def test_work_that_loses_its_coverage_after_the_issue_is_flagged_once_on_the_next_period_r_ptp_3_i_9(acme):
    uncovered_personal_config(acme)
    applied(acme, issue("2025-03", "2025-04-01T09:00"), cancel("S-1", "2025-03-05T00:00"))
    march = bill(acme, "2025-03")
    assert march["status"] == "issued" and march["total"] == "15000.00" and march["problems"] == []
    april = bill(acme, "2025-04")
    by_key = {line["adjusts_key"]: line for line in of_kind(april, "adjustment")}
    # The fee: now 1935.48 (4/31 days) − issued 15000.00 = −13064.52 (I-9).
    assert by_key["priority_fee:2025-03:2025-01-01"]["amount"] == "-13064.52"
    # The work: 0.00 either way, but now needing a decision: flagged with a 0.00 adjustment.
    flagged = by_key[NEEDS_DECISION_KEY]
    assert (flagged["amount"], flagged["needs_decision"], flagged["adjusts_period"]) == ("0.00", True, "2025-03")
    assert "R-PTP-3" in flagged["rules"]
    assert [(p["key"], p["period"]) for p in april["problems"]] == [(f"adjustment:2025-03:{NEEDS_DECISION_KEY}",
                                                                     "2025-03")]
    assert april["total"] == "-13064.52"  # no coverage in April: −13064.52 + 0.00
    # Once issued on April's invoice, it is not flagged again on May's.
    applied(acme, issue("2025-04", "2025-05-01T09:00"))
    assert [p["period"] for p in bill(acme, "2025-04")["problems"]] == ["2025-03"]  # as issued
    assert bill(acme, "2025-05")["lines"] == [] and bill(acme, "2025-05")["problems"] == []


def test_month_end_summarises_the_lines_needing_a_decision_per_client_r_ptp_3(acme):
    from projections.month_end import decisions_needed, invoices_for_period

    uncovered_personal_config(acme)
    applied(acme, cancel("S-1", "2025-03-05T00:00"), register("other", at="2025-02-01T09:00"))
    documents = invoices_for_period(acme, "2025-03", acme.last_recorded_at())
    assert [d["client_id"] for d in documents] == [CLIENT, "other"]
    [summary] = decisions_needed(documents)
    assert summary == {"client_id": CLIENT, "period": "2025-03", "status": "draft", "lines": 1,
                       "minutes_worked": 90, "problems": documents[0]["problems"]}


def test_the_invoice_table_marks_the_lines_needing_a_decision_r_ptp_3(acme, capsys):
    from commands import render

    uncovered_personal_config(acme)
    applied(acme, cancel("S-1", "2025-03-05T00:00"))
    render.invoice(bill(acme, "2025-03"))
    printed = capsys.readouterr().out
    assert "needs a decision" in printed and "R-PTP-3" in printed and "T-PC" in printed
