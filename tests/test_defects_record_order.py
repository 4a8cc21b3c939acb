"""The free priority month follows the first licence, not the order facts were recorded in
(R-PTP-6, R-PTP-4, I-8, I-9; issue 16, item 5).

The one definition (ledger/rules/coverage.py `first_license_key_handover`): the first
licence is the client's licence with the earliest issue date (`issued_on`) — of several
issued the same day, the one whose key was handed over first, then the smallest licence
id —, and the first licence key handover is the handover of that licence's key. Until that
handover is known there is none: no free month (R-PTP-6), and continuity (R-PTP-4, I-8) can
come only from the 12-month clause.

The facts of every scenario below: a paid subscription from 2025-03-01 00:00; licence L2
issued 2025-03-01 with its key handed over 2025-03-01 12:00; licence L1 issued 2025-01-10
with its key handed over 2025-01-10 10:00. L1 is the first licence. Price list: priority
month 15000.00 from 2025-01-01. Naive instants are Moscow time.
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

import pytest

from projections.entitlements import entitlements
from projections.explain import explain
from projections.invoice import invoice
from tests.builders import (
    CLIENT,
    hand_over_key,
    issue,
    issue_license,
    log,
    open_ticket,
    price_list,
    register,
    subscribe,
)
from tests.support import applied

SUBSCRIBE = subscribe("S-1", "2025-03-01T00:00")
ISSUE_L2 = issue_license("L2", "2025-03-01")
KEY_L2 = hand_over_key("L2", "2025-03-01T12:00")
ISSUE_L1 = issue_license("L1", "2025-01-10")
KEY_L1 = hand_over_key("L1", "2025-01-10T10:00")
FACTS = (SUBSCRIBE, ISSUE_L2, KEY_L2, ISSUE_L1, KEY_L1)
PERIODS = ("2025-01", "2025-02", "2025-03", "2025-04")


@pytest.fixture
def acme(ledger):
    applied(ledger,
            price_list("2025-01-01", norm_hour="3000.00", priority_month="15000.00"),
            register(CLIENT, "2025-01-01T09:00"))
    return ledger


def bill(ledger, period: str, known_at=None) -> dict[str, Any]:
    return invoice(ledger, CLIENT, period, known_at or ledger.last_recorded_at())


def figures(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """What a line says, without the event ids (which differ with the record order)."""
    return sorted((line["key"], line["quantity"], line["unit_price"], line["amount"]) for line in document["lines"])


# Every figure worked out by hand for the facts above, whatever their record order.
# R-PTP-6, I-7: L1's free month is [2025-01-10 10:00, 2025-02-10 10:00).
EXPECTED = {
    # January: days 10..31 touched by the free month = 22 days, free; no paid coverage.
    "2025-01": [("priority_free:first_month:L1:2025-01", "22", "0.00", "0.00")],
    # February: days 1..10 touched (the month holds until 10:00 on the 10th) = 10 days, free.
    "2025-02": [("priority_free:first_month:L1:2025-02", "10", "0.00", "0.00")],
    # March: paid from 03-01 00:00 and no free grant: 31 of 31 days, 15000.00 × 31/31 = 15000.00 (I-7).
    "2025-03": [("priority_fee:2025-03:2025-01-01", "31", "15000.00", "15000.00")],
    # April: 30 of 30 days, 15000.00 × 30/30 = 15000.00.
    "2025-04": [("priority_fee:2025-04:2025-01-01", "30", "15000.00", "15000.00")],
}
TOTALS = {"2025-01": "0.00", "2025-02": "0.00", "2025-03": "15000.00", "2025-04": "15000.00"}


@pytest.mark.parametrize("order", ["L2 first", "L1 first"])
def test_R_PTP_6_the_free_month_is_the_first_licence_s_whatever_the_record_order(acme, order):
    applied(acme, *((SUBSCRIBE, ISSUE_L2, KEY_L2, ISSUE_L1, KEY_L1) if order == "L2 first"
                    else (SUBSCRIBE, ISSUE_L1, KEY_L1, ISSUE_L2, KEY_L2)))
    for period in PERIODS:
        document = bill(acme, period)
        assert figures(document) == EXPECTED[period], (order, period)
        assert document["total"] == TOTALS[period]


def test_I_9_every_record_order_of_the_same_facts_gives_the_same_invoices(ledger):
    """Each order in which the five facts can be recorded (a key after its licence): the
    same facts, the same invoices."""
    orders = [order for order in permutations(FACTS)
              if order.index(ISSUE_L1) < order.index(KEY_L1) and order.index(ISSUE_L2) < order.index(KEY_L2)]
    assert len(orders) == 30
    for n, order in enumerate(orders[::6] + [orders[-1]]):  # six of them, both ends included
        client = f"c{n}"
        applied(ledger,
                register(client, "2025-01-01T09:00"),
                *({**command, "client_id": client} for command in order))
    applied(ledger, price_list("2025-01-01", norm_hour="3000.00", priority_month="15000.00"))
    for n in range(6):
        for period in PERIODS:
            document = invoice(ledger, f"c{n}", period, ledger.last_recorded_at())
            assert figures(document) == EXPECTED[period], (n, period)


def test_I_9_as_known_at_each_K_the_free_month_follows_the_facts_known_then(acme):
    applied(acme, SUBSCRIBE, ISSUE_L2, KEY_L2)
    only_l2 = acme.last_recorded_at()
    applied(acme, ISSUE_L1)
    l1_without_key = acme.last_recorded_at()
    applied(acme, KEY_L1)

    # Known at K = only_l2: L2 is the only licence, so its key starts the free month
    # [2025-03-01 12:00, 2025-04-01 12:00) (R-PTP-6). March 1st holds paid coverage from
    # 00:00 to 12:00 with no free grant: charged (I-7); days 2..31 are free.
    # 15000.00 × 1/31 = 483.870967… → 483.87.
    march = bill(acme, "2025-03", only_l2)
    assert figures(march) == [("priority_fee:2025-03:2025-01-01", "1", "15000.00", "483.87"),
                              ("priority_free:first_month:L2:2025-03", "31", "0.00", "0.00")]
    # April 1st: free until 12:00, paid after it: charged, as are days 2..30 (paid only):
    # 30 of 30 days, 15000.00 × 30/30 = 15000.00; the free month still touches April 1st.
    april = bill(acme, "2025-04", only_l2)
    assert figures(april) == [("priority_fee:2025-04:2025-01-01", "30", "15000.00", "15000.00"),
                              ("priority_free:first_month:L2:2025-04", "1", "0.00", "0.00")]
    assert bill(acme, "2025-01", only_l2)["lines"] == []

    # Known at K = l1_without_key: L1 (issued 2025-01-10) is the first licence and its key
    # is not handed over yet: no free month at all (the one definition). March: 31/31 days.
    assert figures(bill(acme, "2025-03", l1_without_key)) == EXPECTED["2025-03"]
    assert bill(acme, "2025-01", l1_without_key)["lines"] == []

    # Known now: L1's key starts the free month.
    for period in PERIODS:
        assert figures(bill(acme, period)) == EXPECTED[period]


def test_I_9_an_issued_invoice_stays_and_the_difference_is_an_adjustment(acme):
    applied(acme, SUBSCRIBE, ISSUE_L2, KEY_L2,
            issue("2025-03", "2025-04-01T09:00"))
    applied(acme, ISSUE_L1, KEY_L1)
    march = bill(acme, "2025-03")
    assert march["status"] == "issued" and march["total"] == "483.87"  # as issued (I-9)
    april = bill(acme, "2025-04")
    [adjustment] = [line for line in april["lines"] if line["kind"] == "adjustment"]
    # March's fee is now 15000.00 (31/31 days); 483.87 was issued: 15000.00 − 483.87 = 14516.13.
    assert (adjustment["adjusts_period"], adjustment["adjusts_key"], adjustment["amount"]) == (
        "2025-03", "priority_fee:2025-03:2025-01-01", "14516.13")
    # The adjustment points at the facts recorded after the issue that caused it.
    assert {"client/acme#4", "client/acme#5"} <= set(adjustment["events"])
    # April's own fee: 30/30 days = 15000.00; total 15000.00 + 14516.13 = 29516.13.
    assert april["total"] == "29516.13"
    # The free lines land where the facts put them: January and February (not issued).
    assert figures(bill(acme, "2025-01")) == EXPECTED["2025-01"]


def test_R_PTP_6_the_free_line_cites_the_licence_facts_that_decide_it(acme):
    applied(acme, SUBSCRIBE, ISSUE_L2, KEY_L2, ISSUE_L1, KEY_L1)
    document = explain(acme, CLIENT, "2025-01", acme.last_recorded_at())
    [free] = document["lines"]
    cited = {(event["event_id"], event["type"]) for event in free["events"]}
    # client/acme#1 registered; #2 L2 issued; #3 L2's key; #4 L1 issued; #5 L1's key.
    assert {("client/acme#4", "LicenseIssued"), ("client/acme#5", "LicenseKeyHandedOver")} <= cited
    assert "R-PTP-6" in free["rules"] and "L1" in free["explanation"]


def test_R_PTP_4_I_8_continuity_counts_from_the_same_first_licence_key_handover(acme):
    """L1 is issued first (2025-01-10) but its key is handed over after L2's: the first
    licence key handover is L1's, for the free month and for continuity alike."""
    applied(acme,
            {**ISSUE_L1},
            issue_license("L2", "2025-02-01"),
            hand_over_key("L2", "2025-02-01T10:00"),
            hand_over_key("L1", "2025-03-01T10:00"))
    known = acme.last_recorded_at()
    # 2025-02-15: L2's key is not the first licence's: no free month, no coverage (R-PTP-6).
    february = entitlements(acme, CLIENT, at=_at("2025-02-15T12:00"), known_at=known)
    assert february["priority"]["active"] is False and february["new_versions_included"] is False
    # 2025-03-15: the free month from L1's key (03-01 10:00) holds; coverage has been
    # continuous since the first licence key handover, so new versions are included (R-PTP-4, I-8).
    march = entitlements(acme, CLIENT, at=_at("2025-03-15T12:00"), known_at=known)
    assert march["priority"]["sources"] == ["first_month"]
    assert march["new_versions_included"] is True


def _at(text: str):
    from ledger.timeutil import parse_instant
    return parse_instant(text)


def test_R_PTP_3_work_covered_only_by_a_free_month_that_moved_needs_a_decision(acme):
    """Personal-configuration work covered by L2's month as known then; once L1 is known to
    be the first licence the month is January's, and the work has no coverage (R-PTP-3)."""
    applied(acme, ISSUE_L2, KEY_L2,
            open_ticket("T-PC", "personal_config", at="2025-03-10T09:00"),
            log("T-PC", "E1", "2025-03-10T11:00", 45, activity="personal_config"))
    assert bill(acme, "2025-03")["problems"] == []  # included in L2's free month (I-4)
    applied(acme, ISSUE_L1, KEY_L1)
    march = bill(acme, "2025-03")
    # No paid subscription here and no free grant in March any more: no fee, no free line;
    # the 45 minutes stay on the invoice at 0.00, needing a decision.
    assert figures(march) == [("standard_time:T-PC:2025-03-10:needs_decision", "0.00", "0.00", "0.00")]
    [problem] = march["problems"]
    assert (problem["ticket_id"], problem["minutes_worked"], problem["rules"][0]) == ("T-PC", 45, "R-PTP-3")
