"""The register of issued invoices (`projections.register`, I-9) is a materialised view
kept exactly once (issue "Scale"): at every record time K it holds what a replay of the
record says was issued, and catching up in pages, again, from a second reader, event by
event, or after a transaction that failed never counts an event twice or loses one."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError, Tracking

import projections.register as register_module
from commands.bus import apply_lines
from commands.cli import main
from ledger.application import SupportLedger
from ledger.errors import NotFoundError
from ledger.events import InvoiceIssued
from projections.invoice import invoice
from projections.register import IssuedInvoiceRegister, issued_invoices, register_document

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_history import generate  # noqa: E402

EVENTS = 2500


def replayed(ledger: SupportLedger, known_at, period=None, client_id=None) -> list[tuple]:
    """What the register must say, from a replay of everything recorded up to K: each
    InvoiceIssued event's facts, in record order."""
    return [(e.event.client_id, e.event.period, e.event.total, e.event.at, e.event.known_at, e.event_id)
            for e in ledger.recorded_events(known_at=known_at) if isinstance(e.event, InvoiceIssued)
            and period in (None, e.event.period) and client_id in (None, e.event.client_id)]


def facts(rows) -> list[tuple]:
    return [(r.client_id, r.period, r.total, r.issued_at, r.computed_as_known_at, r.event_id) for r in rows]


def applied(ledger: SupportLedger, lines: list[str]) -> None:
    outcomes = list(apply_lines(ledger, lines, actor="bench", batch_size=200))
    assert [o for o in outcomes if o.status != "applied"] == []


@pytest.mark.parametrize("seed", [3, 11])
def test_the_register_equals_a_replay_at_every_record_time(ledger, monkeypatch, seed):
    monkeypatch.setattr(register_module, "PAGE", 7)  # many pages, each its own transaction
    applied(ledger, generate(EVENTS, seed).lines)
    everything = ledger.recorded_events()
    invoices = [e for e in everything if isinstance(e.event, InvoiceIssued)]
    assert len(invoices) >= 5, "the history must issue invoices for this test to mean anything"
    moments = [everything[0].recorded_at, *(everything[len(everything) * n // 4].recorded_at for n in (1, 2, 3)),
               everything[-1].recorded_at]
    for known_at in moments:
        assert facts(issued_invoices(ledger, known_at)) == replayed(ledger, known_at), known_at
    # A position bound is inclusive: read up to an invoice's own position, it is the last row.
    register = IssuedInvoiceRegister(ledger)
    for item in invoices[:3]:
        assert register.view.select(upto=item.notification_id)[-1].event_id == item.event_id
    known_at = everything[-1].recorded_at
    for event in [item.event for item in invoices[:: max(1, len(invoices) // 4)]]:
        by_period = issued_invoices(ledger, known_at, period=event.period)
        assert facts(by_period) == replayed(ledger, known_at, period=event.period)
        assert facts(issued_invoices(ledger, known_at, client_id=event.client_id)) == \
            replayed(ledger, known_at, client_id=event.client_id)
        # The register and the invoice query agree on what was issued (I-9).
        row = next(r for r in by_period if r.client_id == event.client_id)
        document = invoice(ledger, event.client_id, event.period, known_at)
        assert (document["status"], document["total"], document["issued_at"]) == \
            ("issued", f"{row.total:.2f}", row.issued_at.isoformat())


def test_readers_catching_up_in_turn_count_each_event_once(ledger, db_url, monkeypatch):
    monkeypatch.setattr(register_module, "PAGE", 5)
    lines = generate(EVENTS, 5).lines
    applied(ledger, lines[: len(lines) // 2])
    first = IssuedInvoiceRegister(ledger)
    assert first.catch_up() == ledger.recorder.max_notification_id()
    applied(ledger, lines[len(lines) // 2 :])
    with SupportLedger(db_url) as other:
        second = IssuedInvoiceRegister(other)
        assert second.catch_up() == other.recorder.max_notification_id()
    assert first.catch_up() == first.position == ledger.recorder.max_notification_id()
    now = ledger.recorded_events()[-1].recorded_at
    rows = first.view.select(upto=first.position)
    assert facts(rows) == replayed(ledger, now)
    assert len({(r.client_id, r.period) for r in rows}) == len(rows) > 0


def test_event_by_event_as_the_library_runner_hands_them_then_in_pages(ledger):
    applied(ledger, generate(EVENTS, 7).lines)
    register = IssuedInvoiceRegister(ledger)
    notifications = ledger.recorder.select_notifications(1, 10**6)
    for notification in notifications[: len(notifications) // 2]:
        register.process_event(ledger.mapper.to_domain_event(notification), Tracking(ledger.name, notification.id))
    assert register.position == notifications[len(notifications) // 2 - 1].id
    register.catch_up()
    now = ledger.recorded_events()[-1].recorded_at
    assert facts(register.view.select(upto=register.position)) == replayed(ledger, now)


def test_a_transaction_that_fails_records_neither_rows_nor_position(ledger, monkeypatch):
    applied(ledger, generate(EVENTS, 3).lines)
    register = IssuedInvoiceRegister(ledger)
    # The position moves first in the transaction; the rows then cannot be written.
    monkeypatch.setattr(register.view, "table", "ledger_no_such_table")
    with pytest.raises(PersistenceError):
        register.catch_up()
    monkeypatch.undo()
    assert register.position == 0
    assert register.view.select(upto=10**9) == []
    now = ledger.recorded_events()[-1].recorded_at
    assert facts(issued_invoices(ledger, now)) == replayed(ledger, now)


def test_a_reader_overtaken_by_another_adds_nothing_and_goes_on_from_there(ledger, db_url):
    """The other reader stops a quarter of the way: the overtaken one must go on from
    there, not from the end of the page it had read."""
    applied(ledger, generate(EVENTS, 11).lines)
    slow = IssuedInvoiceRegister(ledger)
    record, reached = slow.view.record, []

    def overtaken(rows, start, tracking):
        if not reached:  # another reader gets further first, stopping short of the end
            with SupportLedger(db_url) as other:
                faster = IssuedInvoiceRegister(other)
                notifications = other.recorder.select_notifications(1, 10**6)
                quarter = notifications[len(notifications) // 4].id
                for notification in notifications:
                    if notification.id > quarter:
                        break
                    faster.process_event(other.mapper.to_domain_event(notification),
                                         Tracking(other.name, notification.id))
                reached.append(faster.position)
        record(rows, start, tracking)

    slow.view.record = overtaken
    assert slow.catch_up() == ledger.recorder.max_notification_id()
    assert 0 < reached[0] < slow.position
    now = ledger.recorded_events()[-1].recorded_at
    assert facts(slow.view.select(upto=slow.position)) == replayed(ledger, now)


def test_readers_at_once_on_a_new_store_count_each_event_once(ledger, db_url, monkeypatch):
    """Readers in threads, each with its own connections, create the tables and catch up
    together, in pages of two invoices."""
    monkeypatch.setattr(register_module, "PAGE", 2)
    applied(ledger, generate(EVENTS, 5).lines)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            with SupportLedger(db_url) as own:
                for _ in range(3):
                    IssuedInvoiceRegister(own).catch_up()
        except BaseException as error:  # reported below
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert errors == []
    register = IssuedInvoiceRegister(ledger)
    assert register.position == ledger.recorder.max_notification_id()
    now = ledger.recorded_events()[-1].recorded_at
    assert facts(register.view.select(upto=register.position)) == replayed(ledger, now)


def test_catching_up_reads_only_past_the_position(ledger, monkeypatch):
    lines = generate(EVENTS, 7).lines
    applied(ledger, lines[:-200])
    register = IssuedInvoiceRegister(ledger)
    before = register.catch_up()
    applied(ledger, lines[-200:])
    starts = []
    select = ledger.recorder.select_notifications
    monkeypatch.setattr(ledger.recorder, "select_notifications",
                        lambda start, *args, **kwargs: starts.append(start) or select(start, *args, **kwargs))
    assert register.catch_up() == ledger.recorder.max_notification_id() > before
    assert starts == [before + 1]


def test_rows_refused_with_the_position_unmoved_are_an_error_not_skipped(ledger):
    """A register whose position was lost (here: set back by hand) meets rows it already
    has: that is not another reader's doing, and catching up says so."""
    applied(ledger, generate(EVENTS, 3).lines)
    register = IssuedInvoiceRegister(ledger)
    register.catch_up()
    with ledger.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(f"UPDATE {register.view.tracking_table} SET notification_id = 0")
    with pytest.raises(IntegrityError):
        register.catch_up()
    assert register.position == 0


def test_the_register_command_prints_the_issued_invoices_and_their_sum(capsys, tmp_path, db_url):
    applied_lines = generate(EVENTS, 3).lines
    with SupportLedger(db_url) as ledger:
        applied(ledger, applied_lines)
        now = ledger.recorded_events()[-1].recorded_at
        expected = replayed(ledger, now)
        period = expected[0][1]
        in_period = replayed(ledger, now, period=period)
    code = main(["register", "--period", period, "--known-at", now.isoformat(), "--json", "--db", db_url])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(i["client_id"], i["event_id"]) for i in document["invoices"]] == [(c, e) for c, *_, e in in_period]
    assert document["count"] == len(in_period)
    assert document["total"] == f"{sum(total for _, _, total, *_ in in_period):.2f}"
    code = main(["register", "--db", db_url])
    assert code == 0 and f"{len(expected)} invoices" in capsys.readouterr().out


@pytest.mark.parametrize("argv, field", [(["--period", "2025-13"], "--period"), (["--client", "nobody"], "client_id")])
def test_the_register_command_refuses_a_bad_period_or_an_unknown_client(capsys, db_url, ledger, argv, field):
    code = main(["register", *argv, "--db", db_url])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {field}:"), err


def test_a_client_registered_after_k_is_unknown_to_the_register_at_k(ledger):
    applied(ledger, generate(EVENTS, 3).lines)
    everything = ledger.recorded_events()
    late = next(e for e in reversed(everything) if type(e.event).__name__ == "ClientRegistered")
    before = max(e.recorded_at for e in everything if e.recorded_at < late.recorded_at)  # the commit before
    with pytest.raises(NotFoundError, match="unknown client"):
        register_document(ledger, before, client_id=late.event.client_id)
    assert register_document(ledger, late.recorded_at, client_id=late.event.client_id)["count"] == 0


def test_a_store_error_in_a_query_is_one_line_not_a_traceback(capsys, db_url, ledger, monkeypatch):
    """E.g. SQLite's write lock held by another process past the timeout while the register
    catches up: the command says so in one line and exits 1."""
    import projections.register as register  # the CLI imports it when `register` runs

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(register, "register_document", locked)
    code = main(["register", "--db", db_url])
    err = capsys.readouterr().err
    assert code == 1 and err == "error: --db: database is locked\n"
