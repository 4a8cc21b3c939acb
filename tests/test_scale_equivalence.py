"""The fast paths equal the slow truth (issue "Scale"): on random synthetic histories, the
month-end bulk computation and the one-client query path give exactly the documents a
replay of the whole record gives, at several record times K.

The histories come from the benchmark's generator (scripts/bench_history.py), applied in
batches through the same path as `support-ledger apply`.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import pytest

from commands.bus import apply_line, apply_lines
from ledger.application import SupportLedger
from ledger.bulk import BULK_GC_THRESHOLD
from ledger.timeutil import moscow_date, period_bounds, period_of
from projections.invoice import invoice, invoice_of
from projections.knowledge import fold, replayed_knowledge
from projections.month_end import invoices_for_period, iter_invoices_for_period
from ledger.billing.load import LateFacts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_history import generate  # noqa: E402
from tests.builders import (  # noqa: E402
    correct_time,
    issue,
    open_ticket,
    price_list,
    register,
    release,
    subscribe,
)
from tests.conftest import postgres_schema_url  # noqa: E402

SEEDS = [3, 11]
EVENTS = 2500


# Periods spread over the generator's three years, including its last full one.
PERIODS = ["2023-03", "2023-11", "2024-06", "2024-12", "2025-07", "2025-11"]


@pytest.mark.parametrize("seed", SEEDS)
def test_month_end_and_query_path_equal_a_full_replay(ledger, seed):
    history = generate(EVENTS, seed)
    outcomes = list(apply_lines(ledger, history.lines, actor="bench", batch_size=200))
    assert [o for o in outcomes if o.status != "applied"] == []

    everything = ledger.recorded_events()
    # Record times two thirds of the way through the history, and the end of it.
    for known_at in (everything[len(everything) * 2 // 3].recorded_at, everything[-1].recorded_at):
        recorded = [e for e in everything if e.recorded_at <= known_at]
        aggregates = fold(recorded)
        clients = [e.event.client_id for e in recorded if type(e.event).__name__ == "ClientRegistered"]
        for period in PERIODS:
            replayed = [invoice_of(replayed_knowledge(aggregates, recorded, c, known_at), period)
                        for c in clients]
            assert invoices_for_period(ledger, period, known_at) == replayed, (period, known_at)
            for client_id, expected in zip(clients[:8], replayed, strict=False):
                assert invoice(ledger, client_id, period, known_at) == expected


def test_month_end_in_small_chunks_equals_a_full_replay(ledger, monkeypatch):
    """Month-end reads clients in chunks and scans the late facts (I-9) once for all of
    them, widening the scan when a chunk reaches further back. Late corrections of work
    in issued periods are added, so adjustments land on later periods: with chunks of
    three clients, every document must still be the replay's."""
    import projections.month_end

    monkeypatch.setattr(projections.month_end, "CHUNK", 3)
    history = generate(EVENTS * 4, SEEDS[1])
    assert all(o.status == "applied" for o in apply_lines(ledger, history.lines, "bench", batch_size=200))
    issued = set(_issued(ledger))
    late = {}
    for item in ledger.recorded_events():
        if type(item.event).__name__ == "TimeLogged":
            key = (item.event.client_id, period_of(moscow_date(item.event.started_at)))
            if key in issued and key not in late:
                late[key] = correct_time(item.event.originator_id.split("/", 1)[1], item.event.entry_id,
                                         item.event.minutes + 15, "late correction")
    outcomes = list(apply_lines(ledger, map(json.dumps, late.values()), "bench"))
    late = {key: command for (key, command), o in zip(late.items(), outcomes, strict=True) if o.status == "applied"}
    assert len(late) >= 2  # (a voided entry cannot be corrected)

    recorded = ledger.recorded_events()
    known_at = recorded[-1].recorded_at
    aggregates = fold(recorded)
    clients = [e.event.client_id for e in recorded if type(e.event).__name__ == "ClientRegistered"]
    landing = sorted({_next_unissued(client, period, issued) for client, period in late})
    adjusted = 0
    for period in landing:
        replayed = [invoice_of(replayed_knowledge(aggregates, recorded, c, known_at), period) for c in clients]
        assert invoices_for_period(ledger, period, known_at) == replayed, period
        adjusted += sum(line["kind"] == "adjustment" for document in replayed for line in document["lines"])
    assert adjusted >= 2

    # The bulk scan, asked first about a late stretch and then about an earlier one,
    # widens to hold what each client's own read gives (valid times read from payloads).
    early, later = (recorded[len(recorded) * share // 3].recorded_at for share in (1, 2))
    bulk = LateFacts(ledger, known_at, bulk=True)
    bulk.after(later, clients)
    widened = {c: sorted(facts) for c, facts in bulk.after(early, clients).items()}
    own = {c: sorted(facts) for c, facts in LateFacts(ledger, known_at).after(early, clients).items()}
    assert widened == own and len(own) > 3


def test_a_month_end_run_collects_cycles_less_often_and_restores_the_thresholds(ledger):
    """Like a bulk apply, the month-end run keeps the documents it computed while making
    many short-lived objects (ledger.bulk); the process gets its own thresholds back, also
    when the documents are not all read."""
    history = generate(600, seed=3)
    list(apply_lines(ledger, history.lines, actor="test"))
    before = gc.get_threshold()
    period = history.last_full_period
    running = iter_invoices_for_period(ledger, period, ledger.last_recorded_at())
    next(running)
    assert gc.get_threshold() == (BULK_GC_THRESHOLD, *before[1:])
    running.close()
    assert gc.get_threshold() == before
    assert len(invoices_for_period(ledger, period, ledger.last_recorded_at())) == len(history.clients)
    assert gc.get_threshold() == before


def test_an_adjustment_for_a_vanished_line_cites_the_same_events_on_every_path(ledger):
    """I-9: a price list published late for January splits an issued priority-fee line, so
    the billed line's key no longer exists and its adjustment cites what bears on January.
    A ticket opened late without work in January cannot bear on it: the replay of the whole
    record, the one-client path and month-end must cite the same events."""
    commands = [
        release("9.0", "2024-06-01"),
        price_list("2025-01-01", norm_hour="1500.00", priority_month="30000.00"),
        register("acme", "2025-01-10T09:00"),
        subscribe("S1", "2025-01-15T00:00"),
        issue("2025-01", "2025-02-01T10:00"),
        # recorded after January was issued:
        price_list("2025-01-12", norm_hour="1600.00", priority_month="31000.00"),
        open_ticket("T9", "question", at="2025-01-20T11:00"),
    ]
    assert all(o.status == "applied" for o in apply_lines(ledger, map(json.dumps, commands), "tester"))
    recorded = ledger.recorded_events()
    known_at = recorded[-1].recorded_at
    replayed = invoice_of(replayed_knowledge(fold(recorded), recorded, "acme", known_at), "2025-02")
    adjustments = [line for line in replayed["lines"] if line["kind"] == "adjustment"]
    late_price_list = next(r.event_id for r in reversed(recorded) if r.type == "PriceListPublished")
    assert len(adjustments) == 2 and all(line["events"] == [late_price_list] for line in adjustments)
    assert invoice(ledger, "acme", "2025-02", known_at) == replayed
    assert invoices_for_period(ledger, "2025-02", known_at) == [replayed]


def _next_unissued(client_id: str, period: str, issued: set[tuple[str, str]]) -> str:
    following = period_bounds(period)[1]
    while (client_id, period_of(following)) in issued:
        following = period_bounds(period_of(following))[1]
    return period_of(following)


def _issued(ledger: SupportLedger) -> dict[tuple[str, str], tuple[object, ...]]:
    return {(e.event.client_id, e.event.period): (e.event.lines, e.event.total)
            for e in ledger.recorded_events() if type(e.event).__name__ == "InvoiceIssued"}


def test_a_batched_apply_issues_the_invoices_one_command_at_a_time_issues(ledger, db_url, tmp_path):
    """In a batch, IssueInvoice saves first only what concerns its own client (or the
    catalog): other clients' pending facts cannot change the invoice (I-9). The invoices
    must be exactly those of applying every line on its own, same-client facts just before
    the invoice and late facts just after it included."""
    history = generate(EVENTS, SEEDS[0])
    assert all(o.status == "applied" for o in apply_lines(ledger, history.lines, "bench", batch_size=200))
    batched = _issued(ledger)
    assert len(batched) == history.invoices

    def one_by_one(url: str) -> dict[tuple[str, str], tuple[object, ...]]:
        with SupportLedger(url) as single:
            assert all(apply_line(single, line, "bench").status == "applied" for line in history.lines)
            return _issued(single)

    if db_url.startswith("sqlite"):
        expected = one_by_one(f"sqlite:///{tmp_path / 'one-by-one.db'}")
    else:
        with postgres_schema_url() as url:
            expected = one_by_one(url)
    assert batched == expected


def test_a_tiny_aggregate_cache_changes_no_outcome(ledger, monkeypatch):
    """Between batches the least recently used aggregates are forgotten and read again when
    needed: with room for only a few, every line must still be applied, recording exactly
    the events the generator expects."""
    import commands.bus

    monkeypatch.setattr(commands.bus, "CACHE_LIMIT", 5)
    history = generate(EVENTS, SEEDS[1])
    outcomes = list(apply_lines(ledger, history.lines, "bench", batch_size=50))
    assert [o for o in outcomes if o.status != "applied"] == []
    assert len(ledger.recorded_events()) == history.expected_events
    assert len(_issued(ledger)) == history.invoices
