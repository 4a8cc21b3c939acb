"""The ledger under faults (issue 16), on both stores: many writers on one aggregate, an
interrupted `apply`, and `kill -9` in the middle of one. Each runs the real command line in
separate processes, as users and their scripts do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.application import SupportLedger
from tests.builders import (
    SET_UP,
    hand_over_key,
    issue,
    issue_license,
    log,
    override_day,
    price_list,
    register_configuration,
    subscribe,
)
from tests.support import applied

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from bench_history import generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WRITERS, PER_WRITER = 8, 250



def cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "commands.cli", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def write_lines(path: Path, commands: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in commands), encoding="utf-8")
    return path


def run_writers(db_url: str, files: list[Path]) -> list[list[dict[str, Any]]]:
    """Apply each file from its own process, all at once; every process's results."""
    processes = [cli("apply", str(path), "--workers", "1", "--db", db_url, "--actor", path.stem) for path in files]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        assert "Traceback" not in err
        results.append([json.loads(line) for line in out.splitlines()])
    return results


@pytest.mark.parametrize("aggregate", ["ticket", "client"])
def test_eight_writers_on_one_aggregate_apply_every_command_once(db_url, tmp_path, aggregate):
    """8 processes × 250 commands on one ticket (LogTime) or one client (a personal
    configuration each): none is refused for contention, each is recorded once."""
    with SupportLedger(db_url) as ledger:
        applied(ledger, *SET_UP)

    def command(writer: int, n: int) -> dict[str, Any]:
        key = f"w{writer}-{n}"
        if aggregate == "ticket":
            return {**log("T1", key, "2025-03-03T12:00", 5, "consultation", engineer=f"e{writer}"), "command_id": key}
        return {**register_configuration(key, "2025-02-01T10:00"), "command_id": key}

    files = [write_lines(tmp_path / f"writer{w}.jsonl", [command(w, n) for n in range(PER_WRITER)])
             for w in range(WRITERS)]
    results = run_writers(db_url, files)
    for result in results:
        assert [r["status"] for r in result] == ["applied"] * PER_WRITER, [r for r in result if r["error"]][:3]
    with SupportLedger(db_url) as ledger:
        stream = "ticket/T1" if aggregate == "ticket" else "client/acme"
        versions = [r.event.originator_version for r in ledger.recorded_events(stream=stream)]
        assert versions == list(range(1, len(versions) + 1))
        keys = [getattr(r.event, "entry_id" if aggregate == "ticket" else "configuration_id")
                for r in ledger.recorded_events(stream=stream)
                if r.type in ("TimeLogged", "PersonalConfigurationRegistered")]
        assert sorted(keys) == sorted(f"w{w}-{n}" for w in range(WRITERS) for n in range(PER_WRITER))


# --- an interrupted apply ---------------------------------------------------------------------


def receipts(db_url: str) -> set[str]:
    with SupportLedger(db_url) as ledger:
        return {r.event.originator_id.removeprefix("command/") for r in ledger.recorded_events()
                if r.type == "CommandAccepted"}


def facts(db_url: str) -> list[tuple[Any, ...]]:
    """What the store holds, but for record times and order across streams."""
    with SupportLedger(db_url) as ledger:
        return sorted((r.event.originator_id, r.event.originator_version, r.type) for r in ledger.recorded_events())


@pytest.fixture(scope="module")
def history_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    history = generate(30_000, seed=7)
    path = tmp_path_factory.mktemp("history") / "history.jsonl"
    path.write_text("\n".join(history.lines) + "\n", encoding="utf-8")
    return path, history.lines


@pytest.mark.parametrize(("signal_number", "workers"), [(signal.SIGINT, "2"), (signal.SIGTERM, "1")],
                         ids=["ctrl-c-with-workers", "sigterm-in-one-process"])
def test_an_interrupted_apply_reports_exactly_what_it_committed(db_url, history_file, signal_number, workers,
                                                               tmp_path):
    """Interrupted once outcomes flow: one line on stderr, exit 128 + the signal, and the
    lines reported applied are exactly the commands whose receipts are in the store. Applying
    the file again finishes it: the store then holds what one uninterrupted run records."""
    path, lines = history_file
    process = cli("apply", str(path), "--workers", workers, "--db", db_url, start_new_session=True)
    assert process.stdout is not None
    first = process.stdout.readline()  # outcomes are flowing: batches are being committed
    assert json.loads(first)["status"] == "applied"
    time.sleep(0.3)
    # As a terminal's Ctrl-C does, the signal goes to the whole process group (the workers too).
    os.killpg(process.pid, signal_number) if signal_number == signal.SIGINT else process.send_signal(signal_number)
    out = process.stdout.read()  # after readline: communicate() would skip what it buffered
    err = process.stderr.read() if process.stderr else ""
    process.wait(timeout=300)
    assert process.returncode == 128 + signal_number, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and signal.Signals(signal_number).name in err
    reported = [json.loads(line) for line in [first, *out.splitlines()]]
    assert [r["line"] for r in reported] == list(range(1, len(reported) + 1))
    assert len(reported) < len(lines), "interrupted before the end"
    applied_ids = {r["command_id"] for r in reported if r["status"] == "applied"}
    assert receipts(db_url) == applied_ids

    again = cli("apply", str(path), "--workers", workers, "--db", db_url)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    statuses = [json.loads(line)["status"] for line in out.splitlines()]
    assert statuses[:len(reported)] == ["duplicate" if r["status"] == "applied" else "applied" for r in reported]
    assert set(statuses[len(reported):]) <= {"applied"}
    assert len(receipts(db_url)) == len(lines)
    clean = f"sqlite:///{tmp_path / 'clean.db'}"  # one uninterrupted run, to compare with
    cli("apply", str(path), "--workers", workers, "--db", clean).communicate(timeout=600)
    assert facts(db_url) == facts(clean)


# --- facts cannot lie in the future ------------------------------------------------------------


def test_a_fact_dated_after_now_is_refused_and_a_scheduled_change_is_not(ledger):
    """Issue 16 item 5: an invoice for a period that has not ended was issued when its `at`
    lay in the future. A fact (issuing an invoice, logging time, handing over a key …)
    cannot be recorded before it happens; a change can be scheduled (a price list, a
    subscription, a calendar day)."""
    from tests.support import apply

    applied(ledger, *SET_UP)
    before = len(ledger.recorded_events())
    refused = apply(ledger,
                    issue("2031-01", "2031-02-01T10:00"),
                    hand_over_key("L1", "2031-01-01T10:00"),
                    log("T1", "F1", "2031-01-01T10:00", 5, "consultation", engineer="e"),
                    issue_license("L9", "2031-01-01", product="Ledger"))
    assert [o.status for o in refused] == ["rejected"] * 4
    assert [o.error.split(":")[0] for o in refused] == ["at", "at", "started_at", "issued_on"]
    assert "later than now" in refused[0].error and "SubscribePriority" in refused[0].error
    assert len(ledger.recorded_events()) == before
    applied(ledger,
            price_list("2031-01-01", norm_hour="2000.00", priority_month="40000.00"),
            subscribe("S9", "2031-01-01T00:00"),
            override_day("2031-01-09"))


# --- kill -9 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["1", "2"])
def test_kill_9_during_apply_then_applying_again_equals_a_clean_run(db_url, history_file, workers, tmp_path):
    """`kill -9` at a random moment of `apply` (here: three moments, each run on from the
    last): what was committed stays, whole commands only; applying the file again gives
    the store a clean run gives."""
    import random

    path, lines = history_file
    chance = random.Random(16)
    for _ in range(3):
        process = cli("apply", str(path), "--workers", workers, "--db", db_url, start_new_session=True)
        time.sleep(chance.uniform(0.5, 3.0))
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)
    finished = cli("apply", str(path), "--workers", workers, "--db", db_url)
    out, err = finished.communicate(timeout=600)
    assert finished.returncode == 0, err
    assert {json.loads(line)["status"] for line in out.splitlines()} <= {"applied", "duplicate"}
    assert len(receipts(db_url)) == len(lines)
    clean = f"sqlite:///{tmp_path / 'clean.db'}"
    cli("apply", str(path), "--workers", workers, "--db", clean).communicate(timeout=600)
    assert facts(db_url) == facts(clean)
    verify = cli("verify", "--db", db_url)
    assert verify.wait(timeout=120) == 0, verify.communicate()
