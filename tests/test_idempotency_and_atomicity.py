"""Idempotency (CONTRACT.md command_id) and atomicity: a command records all of its events
with its receipt, or nothing — also when another writer gets in first."""

from __future__ import annotations

import gc
import json
import threading
from typing import Any

import pytest

from commands import models as m
from commands.bus import Outcome, apply_lines
from commands.handlers import HANDLERS
from ledger.aggregates import Subscription
from ledger.application import SupportLedger
from ledger.bulk import BULK_GC_THRESHOLD
from ledger.errors import RuleViolationError
from tests.builders import (
    CLIENT,
    assign_engineer,
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
)
from tests.support import apply, applied, event_count, event_types


def client_commands(client_id: str = CLIENT) -> list[dict[str, Any]]:
    """A registered client with one licence, `<client_id>-L1`."""
    return [register(client_id), issue_license(f"{client_id}-L1", "2025-01-10", client_id=client_id)]


SCENARIO = [
    {**release("9.0", "2024-06-01"), "command_id": "c1"},
    {**price_list("2025-01-01", norm_hour="1500.00", priority_month="30000.00"), "command_id": "c2"},
    {**register(), "command_id": "c3"},
    {**issue_license("L1", "2025-01-10"), "command_id": "c4"},
    {**hand_over_key("L1", "2025-01-15T10:00"), "command_id": "c5"},
    {**open_ticket("T1", at="2025-03-03T11:00"), "command_id": "c6"},
    {**log("T1", "E1", "2025-03-03T12:00", 30, activity="consultation"), "command_id": "c7"},
    {**issue("2025-03", "2025-04-01T10:00"), "command_id": "c8"},
]


def one(ledger, command: dict[str, Any], actor: str = "tester") -> Outcome:
    [outcome] = apply(ledger, command, actor=actor)
    return outcome


# --- duplicates ------------------------------------------------------------------------------



def run_writers(db_url: str, writer) -> None:
    """Two ledgers on the same store, writers "a" and "b", each in its own thread. They are
    opened one after the other, to keep the tests about writing (opening concurrently is
    safe too: table creation takes an advisory lock)."""
    apps = {name: SupportLedger(db_url) for name in ("a", "b")}
    try:
        threads = [threading.Thread(target=writer, args=(app, name)) for name, app in apps.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for app in apps.values():
            app.close()

def test_reapplying_commands_with_their_ids_is_a_duplicate_and_records_nothing(ledger):
    first = apply(ledger, *SCENARIO)
    assert [o.status for o in first] == ["applied"] * len(SCENARIO)
    recorded = [(r.event_id, r.type) for r in ledger.recorded_events()]
    assert sum(1 for _, t in recorded if t == "CommandAccepted") == len(SCENARIO)

    again = apply(ledger, *SCENARIO, actor="someone-else")
    assert again == [Outcome("duplicate", c["command_id"], None) for c in SCENARIO]
    assert [(r.event_id, r.type) for r in ledger.recorded_events()] == recorded


def batched(ledger, *commands: dict[str, Any], batch_size: int = 500) -> list[Outcome]:
    return list(apply_lines(ledger, [json.dumps(c) for c in commands], "tester", batch_size=batch_size))


@pytest.mark.parametrize("batch_size", [3, 500])
def test_a_batch_recognises_every_kind_of_repeat_without_reading_receipts_first(ledger, batch_size):
    """`apply` assumes command_ids are new and does not read their receipts up front. A
    repeat must still get exactly its one-at-a-time outcome: a duplicate (also where the
    command would now be refused, or within the same batch), or a refusal naming command_id
    for other content; new commands around them are applied, and repeats record nothing."""
    engineer = {**assign_engineer("petrov", "2025-02-01T10:00"), "command_id": "n1"}
    earlier = {**engineer, "command_id": "n0", "engineer": "ivanov"}
    applied(ledger, *SCENARIO[:6], earlier)
    recorded = event_count(ledger)
    outcomes = batched(ledger,
                       SCENARIO[6],                      # new
                       earlier,                          # applied before; would be accepted again
                       SCENARIO[2],                      # applied before; would now be refused
                       {**SCENARIO[4], "at": "2025-01-16T10:00"},  # applied before, other content
                       engineer,                         # new, and accepted again if re-run
                       SCENARIO[3],                      # applied before
                       engineer,                         # repeated within the batch
                       {**engineer, "engineer": "sidorov"},  # same id, other content, same batch
                       SCENARIO[7],                      # new
                       batch_size=batch_size)
    assert [(o.status, o.command_id) for o in outcomes] == [
        ("applied", "c7"), ("duplicate", "n0"), ("duplicate", "c3"), ("rejected", "c5"), ("applied", "n1"),
        ("duplicate", "c4"), ("duplicate", "n1"), ("rejected", "n1"), ("applied", "c8")]
    assert all(outcomes[i].error.startswith("command_id:") for i in (3, 7))
    assert event_types(ledger, CLIENT).count("EngineerAssigned") == 2
    # c7, c8 and n1 with their receipts, and the invoice: nothing for the repeats
    assert event_count(ledger) == recorded + 2 + 2 + 2
    assert batched(ledger, *SCENARIO) == [Outcome("duplicate", c["command_id"], None) for c in SCENARIO]
    assert event_count(ledger) == recorded + 6


def test_a_bulk_apply_restores_the_garbage_collector_thresholds(ledger):
    """`apply_lines` collects cycles less often while it runs (ledger.bulk.bulk_collection)
    and gives the process its own thresholds back, also when its outcomes are not all read."""
    before = gc.get_threshold()
    lines = [json.dumps(c) for c in SCENARIO]
    running = apply_lines(ledger, lines, "tester", batch_size=2)
    assert next(running).status == "applied"
    assert gc.get_threshold() == (BULK_GC_THRESHOLD, *before[1:])
    running.close()  # abandoned after the first outcome
    assert gc.get_threshold() == before
    statuses = [o.status for o in apply_lines(ledger, lines, "tester")]
    assert statuses == ["duplicate"] * 2 + ["applied"] * (len(lines) - 2)  # the first batch was saved
    assert gc.get_threshold() == before


def test_overlapping_bulk_applies_give_back_the_thresholds_they_found(ledger):
    before = gc.get_threshold()
    lines = [json.dumps(c) for c in SCENARIO]
    first = apply_lines(ledger, lines, "tester", batch_size=2)
    second = apply_lines(ledger, lines, "tester", batch_size=2)
    next(first), next(second)  # both running
    first.close()
    assert gc.get_threshold() == (BULK_GC_THRESHOLD, *before[1:])  # the second still runs
    second.close()
    assert gc.get_threshold() == before


def test_a_bulk_apply_leaves_automatic_collection_off_when_the_process_turned_it_off(ledger):
    before = gc.get_threshold()
    gc.set_threshold(0, *before[1:])
    try:
        assert [o.status for o in apply_lines(ledger, [json.dumps(SCENARIO[0])], "tester")] == ["applied"]
        running = apply_lines(ledger, [json.dumps(c) for c in SCENARIO[1:]], "tester", batch_size=1)
        next(running)
        assert gc.get_threshold()[0] == 0
        running.close()
        assert gc.get_threshold() == (0, *before[1:])
    finally:
        gc.set_threshold(*before)


def test_a_duplicate_is_recognised_even_when_the_command_would_now_be_refused(ledger):
    """Re-sending an applied RegisterClient is a duplicate, not "client already registered"."""
    applied(ledger, SCENARIO[2])
    assert one(ledger, SCENARIO[2]).status == "duplicate"


def test_a_command_without_command_id_is_applied_every_time(ledger):
    command = assign_engineer("petrov", "2025-02-01T10:00")
    applied(ledger, *client_commands(), command, command)
    assert event_types(ledger, CLIENT).count("EngineerAssigned") == 2


@pytest.mark.parametrize("change", [
    {"minutes": 31},
    {"entry_id": "E2"},
    {"started_at": "2025-03-03T12:01"},
    {"activity": "remote_session", "purpose": "diagnostics"},
])
def test_same_command_id_with_other_content_is_rejected_naming_command_id(ledger, change):
    applied(ledger, *SCENARIO[:7])
    before = event_count(ledger)
    outcome = one(ledger, {**SCENARIO[6], **change})
    assert outcome.status == "rejected" and outcome.command_id == "c7"
    assert outcome.error.startswith("command_id:"), outcome.error
    assert event_count(ledger) == before


def test_same_command_id_for_another_command_is_rejected(ledger):
    applied(ledger, *SCENARIO[:3])
    before = event_count(ledger)
    outcome = one(ledger, {**assign_engineer("petrov", "2025-02-01T10:00"), "command_id": "c3"})
    assert outcome.status == "rejected" and outcome.error.startswith("command_id:")
    assert event_count(ledger) == before


@pytest.mark.parametrize("started_at", [
    "2025-03-03T12:00:00+03:00",  # the same Moscow time, with its offset
    "2025-03-03T09:00:00Z",       # the same instant in UTC
    "2025-03-03T09:00:00+00:00",
    "2025-03-03T12:00:00.000",     # the same naive Moscow time, written longer
])
def test_content_equality_is_semantic_for_instants(ledger, started_at):
    applied(ledger, *SCENARIO[:7])
    before = event_count(ledger)
    outcome = one(ledger, {**SCENARIO[6], "started_at": started_at})
    assert outcome == Outcome("duplicate", "c7", None)
    assert event_count(ledger) == before


def test_content_equality_ignores_field_order_whitespace_and_explicit_nulls(ledger):
    applied(ledger, *SCENARIO[:7])
    before = event_count(ledger)
    reordered = dict(reversed(list({**SCENARIO[6], "engineer": "  ivanov ", "purpose": None}.items())))
    assert one(ledger, reordered) == Outcome("duplicate", "c7", None)
    assert event_count(ledger) == before


def test_content_equality_is_semantic_for_money(ledger):
    """"1500.0" and "1500.00" are the same amount, so the re-send is a duplicate."""
    applied(ledger, SCENARIO[1])
    outcome = one(ledger, {**SCENARIO[1], "norm_hour": "1500.0", "priority_month": "30000"})
    assert outcome == Outcome("duplicate", "c2", None)


# --- a refusal records nothing, and leaves the command_id free ---------------------------------


def test_a_refused_command_does_not_consume_its_command_id(ledger):
    applied(ledger, *SCENARIO[:5])
    log = SCENARIO[6]  # ticket T1 is not open yet
    outcome = one(ledger, log)
    assert outcome.status == "rejected" and outcome.error.startswith("ticket_id:")
    assert ledger.receipt("c7") is None
    applied(ledger, SCENARIO[5])
    assert one(ledger, log) == Outcome("applied", "c7", None)
    assert one(ledger, log) == Outcome("duplicate", "c7", None)


def test_a_command_id_refused_for_bad_content_can_be_reused_with_fixed_content(ledger):
    applied(ledger, *SCENARIO[:6])
    bad = {**SCENARIO[6], "minutes": 0}
    assert one(ledger, bad).status == "rejected"
    assert ledger.receipt("c7") is None
    assert one(ledger, SCENARIO[6]).status == "applied"
    assert ledger.ticket("T1").entries["E1"].minutes == 30


def versions(ledger) -> tuple[int, int]:
    return ledger.client(CLIENT).version, ledger.subscription(CLIENT).version


@pytest.mark.parametrize("command", [
    hand_over_key("L-404", "2025-01-15T10:00"),
    hand_over_key(f"{CLIENT}-L1", "2025-01-09T10:00"),
    start_pilot("P1", "2025-02-01T10:00", contract="again"),
    end_pilot("P-404", "2025-02-01T10:00"),
], ids=["handover-unknown-licence", "handover-before-issue", "pilot-twice", "end-unknown-pilot"])
def test_a_refused_multi_aggregate_command_changes_neither_aggregate(ledger, command):
    applied(ledger, *client_commands(),
            start_pilot("P1", "2025-01-20T10:00"))
    before, count = versions(ledger), event_count(ledger)
    outcome = one(ledger, {**command, "command_id": "x1"})
    assert outcome.status == "rejected"
    assert versions(ledger) == before and event_count(ledger) == count
    assert ledger.receipt("x1") is None


def test_a_handover_refused_after_the_client_changed_in_memory_records_nothing(ledger, monkeypatch):
    """The handler has already recorded the handover on the Client when the Subscription
    refuses: neither is saved, and the receipt is not either."""
    applied(ledger, *client_commands())

    def refuse(self, license_id, handover_at):
        raise RuleViolationError("refused for the test", rule="R-PTP-6")

    monkeypatch.setattr(Subscription, "grant_free_month", refuse)
    before, count = versions(ledger), event_count(ledger)
    handover = {**hand_over_key(f"{CLIENT}-L1", "2025-01-15T10:00"), "command_id": "h1"}
    outcome = one(ledger, handover)
    assert outcome.status == "rejected" and "R-PTP-6" in outcome.error
    assert versions(ledger) == before and event_count(ledger) == count
    assert ledger.client(CLIENT).licenses[f"{CLIENT}-L1"].key_handed_over_at is None
    monkeypatch.undo()
    assert one(ledger, handover).status == "applied"


def interleave_once(monkeypatch, command_type: type[m.Command], other_writer) -> list[str]:
    """Run `other_writer()` once, after the handler of `command_type` decided and before the
    bus saves: the situation of a concurrent writer that commits first."""
    original = HANDLERS[command_type]
    calls: list[str] = []

    def handler(cmd, ledger):
        touched = original(cmd, ledger)
        calls.append("handled")
        if len(calls) == 1:
            other_writer()  # goes through this handler too, as the second call
        return touched

    monkeypatch.setitem(HANDLERS, command_type, handler)
    return calls


def test_save_is_atomic_across_aggregates_when_a_concurrent_writer_wins(ledger, db_url, monkeypatch):
    """HandOverLicenseKey saves Client and Subscription together. Another writer changes the
    Subscription in between: the save fails as a whole (the Client's handover is not kept),
    the bus retries, and the handover and its free month are each recorded exactly once."""
    applied(ledger, *client_commands())
    other = SupportLedger(db_url)
    try:
        calls = interleave_once(monkeypatch, m.HandOverLicenseKey, lambda: applied(
            other, subscribe("S1", "2025-03-01T10:00")))
        outcome = one(ledger, {**hand_over_key(f"{CLIENT}-L1", "2025-01-15T10:00"), "command_id": "h1"})
    finally:
        other.close()
    assert outcome == Outcome("applied", "h1", None)
    assert len(calls) == 2, "the conflict made the bus decide the handover again"
    types = event_types(ledger, CLIENT)
    assert types.count("LicenseKeyHandedOver") == 1
    assert types.count("PriorityFreeMonthGranted") == 1
    assert types.count("PrioritySubscribed") == 1
    assert event_types(ledger).count("CommandAccepted") == 1


def test_receipt_and_events_are_saved_together(ledger, db_url, monkeypatch):
    """Another writer takes the same command_id, for another client, between decision and
    save. Only the receipt stream conflicts, yet the whole command is dropped — the engineer
    is not assigned to acme — and the retry refuses the reused command_id."""
    applied(ledger, *client_commands(), *client_commands("beta"))
    other = SupportLedger(db_url)
    try:
        interleave_once(monkeypatch, m.AssignEngineer, lambda: applied(
            other, {**assign_engineer("sidorov", "2025-02-01T10:00", client_id="beta"), "command_id": "a1"}))
        outcome = one(ledger, {**assign_engineer("petrov", "2025-02-01T10:00"), "command_id": "a1"})
    finally:
        other.close()
    assert outcome.status == "rejected" and outcome.error.startswith("command_id:")
    assert "EngineerAssigned" not in event_types(ledger, CLIENT)
    assert event_types(ledger, "beta").count("EngineerAssigned") == 1


def test_racing_writers_with_the_same_command_id_apply_it_once(ledger, db_url, monkeypatch):
    applied(ledger, *SCENARIO[:6])
    other = SupportLedger(db_url)
    try:
        interleave_once(monkeypatch, m.LogTime, lambda: apply(other, SCENARIO[6]))
        outcome = one(ledger, SCENARIO[6])
    finally:
        other.close()
    assert outcome == Outcome("duplicate", "c7", None)
    assert event_types(ledger, CLIENT).count("TimeLogged") == 1
    assert event_types(ledger).count("CommandAccepted") == 7


# --- concurrent writers ------------------------------------------------------------------------------


def race_on_one_ticket(db_url, monkeypatch, write) -> tuple[dict[str, list[Outcome]], list[str]]:
    """Writers "a" and "b" run `write(app, name)`, each in its own thread with its own ledger
    on the store. Each writer's first LogTime waits, once decided, for the other's, so both
    decide on the same ticket version before either saves. Returns each writer's outcomes
    and every LogTime decision taken (retries included)."""
    barrier = threading.Barrier(2, timeout=20)
    original = HANDLERS[m.LogTime]
    local = threading.local()
    decisions: list[str] = []

    def handler(cmd, access):
        touched = original(cmd, access)
        decisions.append(cmd.entry_id)
        if not getattr(local, "met", False):
            local.met = True
            barrier.wait()  # both writers hold a decision on the same ticket version
        return touched

    monkeypatch.setitem(HANDLERS, m.LogTime, handler)
    outcomes: dict[str, list[Outcome]] = {}
    errors: list[BaseException] = []

    def writer(app: SupportLedger, name: str) -> None:
        try:
            outcomes[name] = write(app, name)
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)
            barrier.abort()

    run_writers(db_url, writer)
    assert not errors, errors
    return outcomes, decisions


def entry(name: str, n: int) -> dict[str, Any]:
    return {**SCENARIO[6], "command_id": f"{name}-{n}", "entry_id": f"{name}-{n}"}


def test_concurrent_writers_on_one_ticket_are_all_applied(ledger, db_url, monkeypatch):
    """Two SupportLedger instances on one store log time on the same ticket from two threads.
    Their first commands are forced to conflict (both decide on the same ticket version before
    either saves); the bus retries, and every entry ends up recorded, versions contiguous."""
    applied(ledger, *SCENARIO[:6])
    per_writer = 6
    outcomes, decisions = race_on_one_ticket(db_url, monkeypatch, lambda app, name: [
        one(app, entry(name, n), actor=name) for n in range(per_writer)])
    assert len(decisions) > 2 * per_writer, "the forced conflict was retried"
    for name in ("a", "b"):
        assert [o.status for o in outcomes[name]] == ["applied"] * per_writer, outcomes[name]

    ticket = ledger.ticket("T1")
    expected = {f"{name}-{n}" for name in ("a", "b") for n in range(per_writer)}
    assert set(ticket.entries) == expected
    stream = [r.event.originator_version for r in ledger.recorded_events()
              if r.event.originator_id == "ticket/T1"]
    assert stream == list(range(1, 2 * per_writer + 2))  # TicketOpened + every entry
    assert ticket.version == 2 * per_writer + 1
    actors = {r.event.entry_id: r.event.actor for r in ledger.recorded_events()
              if r.type == "TimeLogged"}
    assert all(actors[entry] == entry.split("-")[0] for entry in expected)


def test_concurrent_batches_on_one_ticket_are_all_applied(ledger, db_url, monkeypatch):
    """Two writers each apply a batch of command-file lines (one transaction per batch) to
    the same ticket; the batch that loses is re-run command by command, nothing is lost."""
    applied(ledger, *SCENARIO[:6])
    per_writer = 8
    outcomes, decisions = race_on_one_ticket(db_url, monkeypatch, lambda app, name: list(
        apply_lines(app, [json.dumps(entry(name, n)) for n in range(per_writer)], name)))
    assert len(decisions) > 2 * per_writer, "the losing batch was re-run"
    for name in ("a", "b"):
        assert [o.status for o in outcomes[name]] == ["applied"] * per_writer, outcomes[name]
    assert set(ledger.ticket("T1").entries) == {f"{w}-{n}" for w in "ab" for n in range(per_writer)}
    stream = [r.event.originator_version for r in ledger.recorded_events(stream="ticket/T1")]
    assert stream == list(range(1, 2 * per_writer + 2))
    receipts = [r for r in ledger.recorded_events() if r.type == "CommandAccepted"]
    assert len(receipts) == 6 + 2 * per_writer
