"""Applying a file with worker processes (commands.parallel) gives what applying it here,
line after line, gives: the same outcome for every line, the same events for every
aggregate, each client's events in the same order, the same invoices (I-9).

The workers start only for long files (PARALLEL_AFTER); the tests lower that bound and the
batch size, so that a short file crosses many batches and barriers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import commands.parallel
from commands.bus import ApplyStats, Outcome, apply_lines
from commands.cli import main
from commands.parallel import BARRIER, Router, _Forked, _Workers, apply_with_workers
from ledger.application import SupportLedger
from ledger.errors import InvalidCommandError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_history import generate  # noqa: E402
from tests.builders import assign_engineer, log, open_ticket, price_list, register, respond  # noqa: E402
from tests.conftest import postgres_schema_url  # noqa: E402
from tests.support import applied  # noqa: E402

BATCH = 40


@pytest.fixture(autouse=True)
def workers_for_short_files(monkeypatch):
    monkeypatch.setattr(commands.parallel, "PARALLEL_AFTER", 5)
    monkeypatch.setattr(commands.parallel, "ROUTING_WINDOW", 16)


@contextmanager
def another_store(db_url: str, tmp_path: Path) -> Iterator[SupportLedger]:
    """A fresh store of the same kind as `db_url`, for the line-after-line reference."""
    if db_url.startswith("sqlite"):
        with SupportLedger(f"sqlite:///{tmp_path / 'reference.db'}") as reference:
            yield reference
        return
    with postgres_schema_url() as url, SupportLedger(url) as reference:
        yield reference


def in_parallel(ledger: SupportLedger, lines: list[str], stats: ApplyStats | None = None) -> list[Outcome]:
    return list(apply_with_workers(ledger, lines, "tester", batch_size=BATCH, workers=2, stats=stats))


def one_by_one(ledger: SupportLedger, lines: list[str]) -> list[Outcome]:
    return list(apply_lines(ledger, lines, "tester", batch_size=1))


def facts(ledger: SupportLedger) -> dict[str, list[tuple[Any, ...]]]:
    """Every aggregate's events (type and domain fields, by version), and each client's
    events in record order. An invoice's record time K is left out: it depends on what
    other clients had recorded by then, which cannot change its lines (I-9)."""
    by_stream: dict[str, list[tuple[Any, ...]]] = {}
    by_client: dict[str, list[str]] = {}
    for item in ledger.recorded_events():
        event = item.event
        payload = event.payload()
        if item.type == "InvoiceIssued":
            del payload["known_at"]
        by_stream.setdefault(event.originator_id, []).append((event.originator_version, item.type, payload))
        if event.client_id is not None:  # receipts and the catalog concern no client
            by_client.setdefault(f"client {event.client_id}", []).append(item.event_id)
    return {**by_stream, **by_client}


def test_a_generated_history_applied_by_workers_equals_it_applied_line_after_line(ledger, db_url, tmp_path):
    history = generate(3000, seed=5)
    stats = ApplyStats()
    outcomes = in_parallel(ledger, history.lines, stats)
    assert stats.workers == 2 and stats.barriers > 0  # the catalog commands
    assert [o for o in outcomes if o.status != "applied"] == []
    with another_store(db_url, tmp_path) as reference:
        assert one_by_one(reference, history.lines) == outcomes
        assert facts(ledger) == facts(reference)
    assert sum(item.type == "InvoiceIssued" for item in ledger.recorded_events()) == history.invoices
    verdict = ledger.verify()  # the workers' commits and the barriers' extend one chain
    assert verdict.ok and verdict.head.events == len(ledger.recorded_events())


def _clients_by_worker(ledger: SupportLedger, clients: list[str]) -> list[list[str]]:
    router = Router(ledger, 2)
    by_worker: list[list[str]] = [[], []]
    for client_id in clients:
        by_worker[router.route({"client_id": client_id})].append(client_id)
    return by_worker


def test_lines_that_cross_workers_get_their_line_after_line_outcomes(ledger, db_url, tmp_path):
    """Barriers: catalog commands, a command_id reused on another worker's line (same and
    other content), a ticket id taken by another client, a ticket no one opened, lines
    that are not commands; tickets opened by an earlier file, found in the store; and a
    ticket that one client failed to open and another opened at a barrier, on the same
    worker (which must read it again)."""
    history = generate(1500, seed=8)
    split = len(history.lines) // 2
    earlier, later = history.lines[:split], history.lines[split:]
    opened = [json.loads(line) for line in earlier if '"OpenTicket"' in line]
    clients = sorted({o["client_id"] for o in opened})
    ones, others = _clients_by_worker(ledger, clients)
    one, other, neighbour = ones[0], others[0], ones[1]
    ticket_of_one = next(o["ticket_id"] for o in opened if o["client_id"] == one)
    engineer = assign_engineer("Петров", "2025-06-02T10:00", client_id=one)
    new_ticket = open_ticket("T-new", "installation", client_id=neighbour, at="2025-06-02T11:00", version="7.5")
    late_work = log(ticket_of_one, "late-1", "2025-06-03T10:00", 30, activity="consultation", engineer="Петров")
    crafted = [
        json.dumps(new_ticket),  # refused (R-EXC-1); its worker now knows T-new does not exist
        json.dumps({**new_ticket, "client_id": one, "category": "question"}),  # a barrier: opened
        json.dumps(respond("T-new", "2025-06-02T11:30")),
        json.dumps({**engineer, "command_id": "shared-1"}),
        json.dumps({**engineer, "command_id": "shared-1", "client_id": other}),  # reused elsewhere: refused
        json.dumps({**engineer, "command_id": "shared-2"}),
        json.dumps({**engineer, "command_id": "shared-2"}),  # the same command again: a duplicate
        json.dumps({**open_ticket(ticket_of_one, client_id=other, at="2025-06-02T11:00", version="7.5"),
                    "command_id": "taken"}),
        json.dumps(late_work),
        json.dumps({**late_work, "ticket_id": "T-nobody", "entry_id": "x"}),
        json.dumps({**price_list("2025-06-01", norm_hour="4100.00", priority_month="21000.00"),
                    "command_id": "prices-mid"}),
        '{"command": "AssignEngineer", "client_id": 7}',
        "[1, 2]",
        "not json",
        json.dumps({**engineer, "command_id": "shared-1", "client_id": other}),  # after a barrier: still refused
    ]
    lines = [*later[:40], crafted[0], *later[40:60], crafted[1], *crafted[3:7], *later[60:100], crafted[2],
             *crafted[7:], *later[100:]]
    assert all(o.status == "applied" for o in one_by_one(ledger, earlier))
    stats = ApplyStats()
    outcomes = in_parallel(ledger, lines, stats)
    with another_store(db_url, tmp_path) as reference:
        one_by_one(reference, earlier)
        assert one_by_one(reference, lines) == outcomes
        assert facts(ledger) == facts(reference)
    statuses = [o.status for o in outcomes]
    assert statuses.count("duplicate") == 1 and statuses.count("rejected") >= 8
    assert statuses[lines.index(crafted[2])] == "applied"
    assert stats.barriers >= 6


def test_the_router_keeps_what_two_workers_could_touch_apart(ledger):
    applied(ledger, register(), open_ticket("T-1", at="2025-01-11T10:00", version="7.5"))
    router = Router(ledger, 4)
    acme = zlib.crc32(b"acme") % 4
    assert router.route({"command": "ReleaseVersion", "product": "P", "version": "1"}) == BARRIER
    router.look_up([{"ticket_id": "T-1"}, {"ticket_id": "T-2"}, "not a dict"])
    assert router.ticket_clients == {"T-1": "acme"}  # T-2 is not in the store
    assert router.route({"command": "LogTime", "ticket_id": "T-1"}) == acme  # the ticket's client
    assert router.route({"command": "OpenTicket", "ticket_id": "T-1", "client_id": "beta"}) == BARRIER
    assert router.route({"command": "OpenTicket", "ticket_id": "T-2", "client_id": "beta"}) == zlib.crc32(b"beta") % 4
    assert router.route({"command": "LogTime", "ticket_id": "T-2"}) == zlib.crc32(b"beta") % 4
    assert router.route({"command": "LogTime", "ticket_id": "T-3"}) == BARRIER  # no one opened it
    assert router.route({"command": "AssignEngineer", "client_id": ["acme"]}) == BARRIER
    assert router.route(json.loads('{"client_id": "\\ud800"}')) in range(4)  # refused by its worker
    others = [c for c in ("b", "c", "d", "e", "f", "g") if zlib.crc32(c.encode()) % 4 != acme]
    assert router.route({"client_id": "acme", "command_id": "k"}) == acme
    assert router.route({"client_id": others[0], "command_id": "k"}) == BARRIER
    router.after_barrier({"ticket_id": "T-2"})
    assert router.route({"client_id": others[0], "command_id": "k"}) != BARRIER  # saved: the store answers
    assert "T-2" not in router.ticket_clients  # looked up again: the barrier line may have opened it


def test_short_files_and_in_memory_stores_are_applied_in_this_process(monkeypatch):
    monkeypatch.setattr(commands.parallel, "PARALLEL_AFTER", 50)
    history = generate(120, seed=2)
    with SupportLedger("sqlite:///:memory:") as memory:
        stats = ApplyStats()
        assert all(o.status == "applied" for o in in_parallel(memory, history.lines[:40], stats))
        assert stats.workers == 1
        monkeypatch.setattr(commands.parallel, "PARALLEL_AFTER", 5)
        assert all(o.status == "applied" for o in in_parallel(memory, history.lines[40:], stats))
        assert stats.workers == 1  # other processes cannot open an in-memory store


def test_a_worker_that_fails_is_an_error_in_the_caller():
    with _Workers("sqlite:///", "tester", 1) as pool:  # the worker cannot open this URL
        pool.send(0, ([], []))
        with pytest.raises(InvalidCommandError, match="sqlite URL needs a path"):
            pool.answer()


@pytest.mark.parametrize("other_thread", [False, True], ids=["forked", "spawned"])
def test_workers_are_forks_of_a_process_running_no_other_thread(other_thread, tmp_path):
    """A fork starts with the ledger imported; with a thread running (a PostgreSQL pool's)
    a worker is a fresh interpreter. Either way each worker stops, exit code 0, once the
    dealer closes its pipe: no worker holds a copy of another's."""
    history = generate(120, seed=5)
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    SupportLedger(url).close()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait) if other_thread else None
    if thread:
        thread.start()
    try:
        with _Workers(url, "tester", 2) as pool:
            kind = subprocess.Popen if other_thread else _Forked
            assert all(isinstance(process, kind) for process in pool.processes)
            pool.send(0, (list(enumerate(history.lines[:3])), []))
            worker, answered, _ = pool.answer()
            assert worker == 0 and [status for _, status, _, _ in answered] == ["applied"] * 3
        assert [process.wait(timeout=0) for process in pool.processes] == [0, 0]
    finally:
        stop.set()
        if thread:
            thread.join()


def test_apply_takes_a_number_of_workers(capsys, tmp_path):
    history = generate(400, seed=4)
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(history.lines) + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["apply", str(path), "--workers", "2", "--db", db]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["line"] for p in printed] == list(range(1, len(history.lines) + 1))
    assert {p["status"] for p in printed} == {"applied"}
    with pytest.raises(SystemExit) as exit_:
        main(["apply", str(path), "--workers", "0", "--db", db])
    assert exit_.value.code == 2 and "--workers: '0' is not a number of processes" in capsys.readouterr().err
