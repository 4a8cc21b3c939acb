"""The fast paths equal the slow truth (issue "Scale"): on random synthetic histories, the
month-end bulk computation and the one-client query path give exactly the documents a
replay of the whole record gives, at several record times K.

The histories come from the benchmark's generator (scripts/bench_history.py), applied in
batches through the same path as `support-ledger apply`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from commands.bus import apply_lines
from projections.invoice import invoice, invoice_of
from projections.knowledge import fold, replayed_knowledge
from projections.month_end import invoices_for_period

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_history import generate  # noqa: E402

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
