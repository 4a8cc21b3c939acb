"""Properties of the two time axes (I-9) and of the stores, over one story of many events.

- An answer "as known at K" never changes, whatever is recorded after K — later work,
  corrections, voids, back-dated price lists, verdicts, cancellations, issued invoices.
- Every invoice document's lines sum to its total (I-7: rounding is once per line).
- Issuing freezes exactly the draft that was known when the invoice was issued (I-9).
- SQLite and PostgreSQL give the same documents for the same commands (CONTRACT.md "Database"),
  once the record times (`known_at`, `computed_as_known_at`, events' `recorded_at`) are set aside.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from ledger.application import SupportLedger
from projections.explain import explain
from projections.invoice import invoice
from tests.builders import (
    PRODUCT,
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
    release,
    start_pilot,
    subscribe,
    void_time,
)
from tests.conftest import postgres_schema_url
from tests.support import applied

CLIENTS = ("acme", "beta")
PERIODS = ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06")
# What the store, not the facts, decides: when it recorded them, and which writer it saw
# (the OS user on SQLite, the database user on PostgreSQL).
RECORD_TIMES = {"known_at", "computed_as_known_at", "recorded_at", "recorded_by"}


def ticket(ticket_id: str, client_id: str, category: str, at: str = "2025-02-03T09:00") -> dict:
    return open_ticket(ticket_id, category, client_id=client_id, at=at)


# acme: free first month, then paid priority (cancelled later, back-dated), a pilot-free story;
# beta: standard support, a bug report, a pilot in April, issued invoices and corrections.
STORY: list[list[dict[str, Any]]] = [
    [
        price_list("2025-01-01", norm_hour="3000.00", priority_month="15000.00"),
        release("9.0", "2024-06-01"),
        register("acme", "2025-01-10T09:00"),
        register("beta", "2025-01-11T09:00"),
        issue_license("L-1", "2025-01-20", client_id="acme"),
        hand_over_key("L-1", "2025-01-20T15:00", client_id="acme"),
        subscribe("S-1", "2025-02-20T15:00", client_id="acme"),
    ],
    [
        ticket("T-1", "beta", "environment"),
        log("T-1", "E-1", "2025-02-27T10:00", 50),
        log("T-1", "E-2", "2025-03-03T10:00", 50),
        log("T-1", "E-3", "2025-03-03T14:00", 15),
        ticket("B-1", "beta", "bug"),
        log("B-1", "E-1", "2025-03-05T10:00", 45, activity="bug_fix"),
        ticket("Q-1", "beta", "question"),
        log("Q-1", "E-1", "2025-03-06T10:00", 45, activity="consultation"),
        ticket("R-1", "acme", "client_change_restore"),
        log("R-1", "E-1", "2025-03-10T10:00", 70),
    ],
    [
        issue("2025-02", "2025-03-01T09:00", client_id="beta"),
        issue("2025-02", "2025-03-01T09:00", client_id="acme"),
    ],
    [
        start_pilot("P-1", "2025-04-01T10:00", contract="PILOT-1", client_id="beta"),
        log("T-1", "E-4", "2025-04-02T10:00", 90),
        end_pilot("P-1", "2025-04-15T10:00", client_id="beta"),
        log("T-1", "E-5", "2025-04-16T10:00", 90),
    ],
    [
        issue("2025-03", "2025-04-01T09:00", client_id="beta"),
        issue("2025-03", "2025-04-01T09:00", client_id="acme"),
    ],
    [
        correct_time("T-1", "E-2", 110, reason="call"),
        price_list("2025-03-05", norm_hour="3600.00", priority_month="18600.00"),
        confirm_bug("B-1", "2025-04-03T10:00"),
        classify("Q-1", "customization", "2025-04-03T10:00", reason="report designer"),
    ],
    [
        cancel("S-1", "2025-04-10T12:00", client_id="acme"),
        issue("2025-04", "2025-05-01T09:00", client_id="beta"),
    ],
    [
        void_time("T-1", "E-1", reason="wrong client"),
        log("T-1", "E-6", "2025-03-03T16:00", 30),
        price_list("2025-01-01", norm_hour="3100.00", priority_month="15500.00"),
        log("R-1", "E-2", "2025-05-05T10:00", 30),
    ],
]


def assert_lines_sum_to_total(document: dict[str, Any]) -> None:
    """I-7: amounts are rounded once per line, so the total is exactly the sum of the lines."""
    lines = sum((Decimal(line["amount"]) for line in document["lines"]), Decimal("0.00"))
    assert lines == Decimal(document["total"]), document


def documents_at(ledger: SupportLedger, known_at) -> dict[tuple[str, str], dict[str, Any]]:
    """Every client's invoice for every period of the story, as known at `known_at`."""
    documents = {}
    for client_id in CLIENTS:
        for period in PERIODS:
            document = invoice(ledger, client_id, period, known_at)
            assert_lines_sum_to_total(document)
            documents[client_id, period] = document
    return documents


def tell(ledger: SupportLedger) -> list[tuple[Any, dict[tuple[str, str], dict[str, Any]]]]:
    """Tell the story step by step; after each step, K = the last record time and the answers at K."""
    snapshots = []
    for step in STORY:
        applied(ledger, *step)
        known_at = ledger.last_recorded_at()
        snapshots.append((known_at, documents_at(ledger, known_at)))
    return snapshots


def test_answer_as_known_at_k_never_changes_when_events_are_recorded_after_k_i_9(ledger):
    snapshots = tell(ledger)
    for known_at, then in snapshots:
        assert documents_at(ledger, known_at) == then, f"the answers as known at {known_at} changed"
    # The later events did change the current answers: the property is not vacuous.
    first, last = snapshots[0][1], snapshots[-1][1]
    assert first["beta", "2025-03"] != last["beta", "2025-03"]
    assert first["acme", "2025-04"] != last["acme", "2025-04"]


def test_explain_as_known_at_k_never_changes_i_9(ledger):
    applied(ledger, *STORY[0], *STORY[1])
    known_at = ledger.last_recorded_at()
    then = explain(ledger, "beta", "2025-03", known_at)
    for step in STORY[2:]:
        applied(ledger, *step)
    assert explain(ledger, "beta", "2025-03", known_at) == then


def test_issuing_freezes_exactly_the_draft_known_when_issued_i_9(ledger):
    snapshots = tell(ledger)
    final = snapshots[-1][1]
    # Step 5 (index 4) issued March: its lines are the drafts known at the end of step 4.
    before_issue = snapshots[3][1]
    for client_id in CLIENTS:
        issued = final[client_id, "2025-03"]
        assert issued["status"] == "issued" and before_issue[client_id, "2025-03"]["status"] == "draft"
        assert issued["lines"] == before_issue[client_id, "2025-03"]["lines"]
        assert issued["total"] == before_issue[client_id, "2025-03"]["total"]


def test_every_invoice_lines_sum_to_its_total_i_7(ledger):
    # documents_at asserts it for every client, period and K of the story; here also for
    # explain documents, whose lines carry the same amounts.
    snapshots = tell(ledger)
    for client_id in CLIENTS:
        for period in PERIODS:
            assert_lines_sum_to_total(explain(ledger, client_id, period, snapshots[-1][0]))
    kinds = {line["kind"] for _, documents in snapshots for d in documents.values() for line in d["lines"]}
    assert kinds == {"standard_time", "priority_fee", "priority_free", "adjustment"}


# --- the same answers on both stores --------------------------------------------------------


@pytest.fixture
def both_stores(tmp_path) -> Iterator[tuple[SupportLedger, SupportLedger]]:
    """A SQLite ledger and a PostgreSQL one (a fresh schema), skipped like conftest's store."""
    with postgres_schema_url() as url:
        sqlite = SupportLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
        postgres = SupportLedger(url)
        try:
            yield sqlite, postgres
        finally:
            sqlite.close()
            postgres.close()


def without_record_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_record_times(v) for k, v in value.items() if k not in RECORD_TIMES}
    if isinstance(value, list):
        return [without_record_times(v) for v in value]
    return value


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_identical_invoices_and_explanations_contract_i_9(both_stores):
    sqlite, postgres = both_stores
    on_sqlite, on_postgres = tell(sqlite), tell(postgres)
    for step, ((_, a), (_, b)) in enumerate(zip(on_sqlite, on_postgres, strict=True)):
        assert without_record_times(a) == without_record_times(b), f"after step {step + 1}"
    for client_id in CLIENTS:
        for period in PERIODS:
            a = explain(sqlite, client_id, period, sqlite.last_recorded_at())
            b = explain(postgres, client_id, period, postgres.last_recorded_at())
            assert without_record_times(a) == without_record_times(b), (client_id, period)


def test_the_catalog_as_known_at_k_follows_every_catalog_fact_on_one_open_ledger(ledger):
    """The ledger keeps the catalog's events between queries: a fact recorded later must
    show for a later K and stay out of an earlier K (I-9), on the same open ledger."""
    from projections.knowledge import catalog_known_at

    def known(k):
        catalog, events = catalog_known_at(ledger, k)
        return sorted(catalog.releases), sorted(catalog.price_lists), len(events)

    assert known(datetime.now(timezone.utc)) == ([], [], 0)
    applied(ledger, release("9.0", "2024-06-01"))
    first = ledger.last_recorded_at()
    assert known(first) == ([(PRODUCT, "9.0")], [], 2)  # CatalogOpened, VersionReleased
    applied(ledger, price_list("2025-01-01", norm_hour="3000.00", priority_month="50000.00"))
    now = ledger.last_recorded_at()
    assert known(now) == ([(PRODUCT, "9.0")], [date(2025, 1, 1)], 3)
    assert known(first) == ([(PRODUCT, "9.0")], [], 2)  # as known before the price list
    assert known(first - timedelta(microseconds=1)) == ([], [], 0)
