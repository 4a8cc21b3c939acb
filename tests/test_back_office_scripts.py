"""The back-office scripts, run through their `main` as an operator would run them:

- `scripts/month_end.py` issues every client's invoice for a period (I-9), is idempotent on a
  re-run, and writes a CSV whose rows are exactly the lines of the issued invoices (and a row
  for each issued invoice with none);
- `scripts/dispute_report.py` writes a Markdown report of one client and period: as issued, as
  known now, the differences with the events that caused them, every line explained, and the
  event timeline;
- both fail like the CLI — one line on stderr naming the option or the cause, exit 1 (130 for
  Ctrl-C), never a traceback — and check every output path before changing anything, so a bad
  `--csv` issues no invoice. Those run each script as an operator would, in a process of its own.

Price list of 2025-01-01: norm hour 3000.00, priority month 15000.00.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ledger.application import SupportLedger
from projections.invoice import invoice
from tests.builders import (
    cancel,
    correct_time,
    issue,
    log,
    open_ticket,
    price_list,
    register,
    register_configuration,
    release,
    subscribe,
)
from tests.support import applied

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def ticket(ticket_id: str, client_id: str) -> dict:
    return open_ticket(ticket_id, "environment", client_id=client_id)


def ids_of(ledger, event_type: str) -> list[str]:
    return [r.event_id for r in ledger.recorded_events() if r.type == event_type]


@pytest.fixture
def clients(ledger):
    """acme: standard work of 50 + 15 min on 03-03; globex: paid priority all March;
    idle: nothing in March; late: registered in April (not yet a client in March)."""
    return with_clients(ledger)


def with_clients(ledger):
    applied(
        ledger,
        price_list("2025-01-01", norm_hour="3000.00", priority_month="15000.00"),
        release("9.0", "2024-06-01"),
        register("acme"),
        register("globex"),
        register("idle"),
        register("late", at="2025-04-05T09:00"),
        ticket("T-1", "acme"),
        log("T-1", "E-1", "2025-03-03T10:00", 50),
        log("T-1", "E-2", "2025-03-03T14:00", 15),
        subscribe("S-1", "2025-03-01T00:00", client_id="globex"),
    )
    return ledger


# Hand-computed March totals (R-STP-3, I-5, I-7):
EXPECTED_MARCH = {
    "acme": "6000.00",  # 50 + 15 = 65 min on one ticket-day -> 120 billed; 2 h × 3000.00
    "globex": "15000.00",  # 31 of 31 days × 15000.00 / 31
    "idle": "0.00",  # nothing to bill, still an invoice
}


def month_end(ledger, tmp_path: Path, name: str, at: str = "2025-04-01T09:00") -> tuple[int, list[dict[str, str]]]:
    path = tmp_path / name
    status = script("month_end").main(["--period", "2025-03", "--at", at, "--csv", str(path),
                                       "--db", ledger.url, "--actor", "accountant"])
    with path.open(encoding="utf-8", newline="") as handle:
        return status, list(csv.DictReader(handle))


def issued_march(ledger) -> dict[str, dict[str, Any]]:
    known_at = ledger.last_recorded_at()
    return {c: invoice(ledger, c, "2025-03", known_at) for c in EXPECTED_MARCH}


def test_month_end_issues_every_clients_invoice_and_writes_every_line_i_9(clients, tmp_path, capsys):
    status, rows = month_end(clients, tmp_path, "march.csv")
    assert status == 0
    documents = issued_march(clients)
    for client_id, total in EXPECTED_MARCH.items():
        assert documents[client_id]["status"] == "issued", client_id
        assert documents[client_id]["total"] == total, client_id
    issued = [r.event for r in clients.recorded_events() if r.type == "InvoiceIssued"]
    assert sorted(e.client_id for e in issued) == ["acme", "globex", "idle"]  # "late" was not a client yet
    assert {e.actor for e in issued} == {"accountant"}
    # The CSV rows are exactly the lines of the issued invoices, and one row (no key, no kind,
    # amount 0.00) for each issued invoice with no lines: idle's zero total has its row too.
    expected = [(d["client_id"], line["key"], line["kind"], line["amount"])
                for d in documents.values() for line in d["lines"]]
    assert sorted((r["client_id"], r["key"], r["kind"], r["amount"]) for r in rows) == sorted(
        expected + [("idle", "", "", "0.00")])
    assert {r["status"] for r in rows} == {"issued"} and {r["period"] for r in rows} == {"2025-03"}
    # 6000.00 + 15000.00 + 0.00 = 21000.00
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("21000.00")
    assert "21000.00" in capsys.readouterr().out


def test_month_end_rerun_issues_nothing_new_and_gives_the_same_totals_i_9(clients, tmp_path, capsys):
    _, first_rows = month_end(clients, tmp_path, "first.csv")
    first = issued_march(clients)
    events = len(clients.recorded_events())
    capsys.readouterr()
    status, second_rows = month_end(clients, tmp_path, "second.csv", at="2025-04-02T09:00")
    assert status == 0
    assert len(clients.recorded_events()) == events  # nothing new recorded
    second = issued_march(clients)
    assert {c: d["total"] for c, d in second.items()} == {c: d["total"] for c, d in first.items()} == EXPECTED_MARCH
    assert second_rows == first_rows
    assert "3 already issued" in capsys.readouterr().out


def test_month_end_before_the_period_ends_issues_nothing_i_9(clients, tmp_path):
    status, rows = month_end(clients, tmp_path, "early.csv", at="2025-03-31T23:00")
    assert status == 1  # every IssueInvoice was refused: the period is not over
    assert ids_of(clients, "InvoiceIssued") == []
    assert {r["status"] for r in rows} <= {"draft"}


def test_month_end_prints_the_lines_needing_a_decision_under_the_totals_r_ptp_3(sqlite_clients, tmp_path, capsys):
    """globex's personal-configuration work, logged under its paid subscription, loses that
    coverage to a back-dated cancellation: not charged, and listed for a person to decide."""
    applied(
        sqlite_clients,
        register_configuration("PC-1", "2025-03-01T00:00", client_id="globex"),
        open_ticket("T-PC", "personal_config", client_id="globex"),
        log("T-PC", "E-1", "2025-03-10T11:00", 90, activity="personal_config"),
        cancel("S-1", "2025-03-05T00:00", client_id="globex"),
    )
    status, _ = month_end(sqlite_clients, tmp_path, "march.csv")
    assert status == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2025-03: 3 invoices")
    assert out[1] == "needs a decision (R-PTP-3): 1 lines, shown but not charged"
    assert out[2] == "  globex 2025-03 (issued): 1 lines, 90 min worked"
    assert "T-PC" in out[3] and len(out) == 4


# --- the dispute report ---------------------------------------------------------------------

SECTIONS = [
    "## The invoice as issued",
    "## The period as known now",
    "## Differences since the invoice was issued",
    "## Every line explained",
    "## Event timeline",
]


@pytest.fixture
def disputed(clients):
    """acme's March issued at 9000.00, then corrected: a longer call and a back-dated price list."""
    applied(
        clients,
        ticket("T-2", "acme"),
        log("T-2", "E-1", "2025-03-20T10:00", 60),
        issue("2025-03", "2025-04-01T09:00", client_id="acme"),
        correct_time("T-1", "E-2", 75, "long call"),
        price_list("2025-03-15", norm_hour="3600.00", priority_month="15000.00"),
    )
    return clients


def test_dispute_report_has_every_section_and_names_the_causing_events_i_9(disputed, tmp_path):
    out = tmp_path / "dispute.md"
    assert script("dispute_report").main(["acme", "--period", "2025-03", "--out", str(out),
                                          "--db", disputed.url]) == 0
    text = out.read_text(encoding="utf-8")
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions), "sections out of order"
    issued, known_now, differences, explained, timeline = (
        text[start:end] for start, end in zip(positions, positions[1:] + [len(text)]))
    # Issued: T-1 65 -> 120 billed × 3000.00 = 6000.00; T-2 60 -> 60 × 3000.00 = 3000.00; 9000.00
    assert "Total **9000.00**" in issued
    # Now: T-1 50 + 75 = 125 -> 180 billed × 3000.00 = 9000.00; T-2 1 h × 3600.00 (from 03-15) = 3600.00
    assert "Total **12600.00**" in known_now
    [corrected] = ids_of(disputed, "TimeCorrected")
    back_dated = ids_of(disputed, "PriceListPublished")[-1]
    assert corrected in differences and back_dated in differences
    assert "TimeCorrected" in differences and "PriceListPublished" in differences
    assert "125 min worked → 180 min billed" in explained and "= 9000.00" in explained
    assert "60 min worked → 60 min billed" in explained and "= 3600.00" in explained
    for event_type in ("ClientRegistered", "TimeLogged", "InvoiceIssued", "TimeCorrected"):
        assert event_type in timeline, event_type


def test_dispute_report_of_a_draft_period_says_so_i_9(clients, capsys):
    assert script("dispute_report").main(["acme", "--period", "2025-03", "--db", clients.url]) == 0
    text = capsys.readouterr().out
    assert "Not issued yet" in text
    assert "Total **6000.00**" in text  # 65 -> 120 billed × 3000.00


def test_dispute_report_of_an_unknown_client_fails_in_one_line_contract(clients, capsys):
    assert script("dispute_report").main(["nobody", "--period", "2025-03", "--db", clients.url]) == 1
    assert "nobody" in capsys.readouterr().err


def test_dispute_report_names_a_back_dated_price_list_that_shrank_a_fee_line_i_6_i_9(clients, tmp_path):
    applied(
        clients,
        issue("2025-03", "2025-04-01T09:00", client_id="globex"),
        price_list("2025-03-20", norm_hour="3000.00", priority_month="18600.00"),
    )
    out = tmp_path / "globex.md"
    assert script("dispute_report").main(["globex", "--period", "2025-03", "--out", str(out),
                                          "--db", clients.url]) == 0
    text = out.read_text(encoding="utf-8")
    differences = text[text.index(SECTIONS[2]):text.index(SECTIONS[3])]
    # Issued: 31 of 31 days × 15000.00 = 15000.00. Now: days 1..19 × 15000.00/31 = 9193.548… -> 9193.55
    # and days 20..31 × 18600.00/31 = 12 × 600.00 = 7200.00: both lines changed by the one publication.
    assert "9193.55" in differences and "7200.00" in differences
    published = ids_of(clients, "PriceListPublished")[-1]
    for block in differences.split("### ")[1:]:
        assert published in block, block


# --- month-end over a long story: the same documents as asking client by client --------------


def test_month_end_documents_equal_the_invoice_query_for_every_client_period_and_k_i_9(ledger, tmp_path):
    """The month-end run reads each period through `projections.month_end`; for every client,
    period and knowledge time of a story with issued periods, corrections, voids, back-dated
    prices and verdicts, that must give exactly the `invoice` query's documents."""
    from projections.month_end import invoices_for_period
    from tests.test_invoice_time_axes import CLIENTS, PERIODS, STORY

    for step in STORY:
        applied(ledger, *step)
        known_at = ledger.last_recorded_at()
        for period in PERIODS:
            expected = [invoice(ledger, c, period, known_at) for c in CLIENTS]
            assert invoices_for_period(ledger, period, known_at) == expected, (period, known_at)


def test_month_end_csv_after_a_long_story_lists_every_line_with_its_adjustments_i_9(ledger, tmp_path):
    from tests.test_invoice_time_axes import CLIENTS, STORY

    for step in STORY:
        applied(ledger, *step)
    path = tmp_path / "may.csv"
    for period, at in (("2025-04", "2025-05-01T10:00"), ("2025-05", "2025-06-01T10:00")):
        assert script("month_end").main(["--period", period, "--at", at, "--csv", str(path),
                                          "--db", ledger.url]) == 0
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    known_at = ledger.last_recorded_at()
    documents = [invoice(ledger, c, "2025-05", known_at) for c in CLIENTS]
    assert all(d["status"] == "issued" for d in documents)
    lines = [(d["client_id"], line["key"], line["kind"], line["amount"], line.get("adjusts_period") or "")
             for d in documents for line in d["lines"]]
    assert sorted((r["client_id"], r["key"], r["kind"], r["amount"], r["adjusts_period"]) for r in rows) == sorted(lines)
    assert "adjustment" in {r["kind"] for r in rows}  # beta's voided February entry lands on May


# --- failing like the CLI: one line, exit 1, never a traceback; outputs checked first ----------

PYTHON = Path(sys.executable)
SOME_CLIENT = ["acme"]  # dispute_report's positional argument


def start_script(name: str, *argv: str, cwd: Path) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_LEDGER_")}
    return subprocess.Popen([str(PYTHON), str(SCRIPTS / f"{name}.py"), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment, cwd=cwd)


def finished(process: subprocess.Popen, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        process.kill()
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run_script(name: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return finished(start_script(name, *argv, cwd=cwd))


def one_error_line(done: subprocess.CompletedProcess, status: int = 1) -> str:
    """The one line a failed run printed on stderr (checked: its status, no traceback)."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: " if status == 1 else "interrupted ("), lines[0]
    return lines[0]


def issued_invoices(url: str, cwd: Path) -> list[dict]:
    """What `support-ledger register --json` lists as issued."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_LEDGER_")}
    done = subprocess.run([str(PYTHON.with_name("support-ledger")), "register", "--json", "--db", url],
                          capture_output=True, text=True, env=environment, cwd=cwd, timeout=60, check=True)
    return json.loads(done.stdout)["invoices"]


def month_end_args(url: str, *more: str) -> list[str]:
    return ["--period", "2025-03", "--at", "2025-04-01T09:00", "--db", url, *more]


@pytest.fixture
def sqlite_clients(tmp_path):
    """The clients of `clients`, on SQLite only: for what is not about the store."""
    with SupportLedger(f"sqlite:///{tmp_path / 'clients.db'}") as ledger:
        yield with_clients(ledger)


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder this process may not create a file in: a read-only one, or, for root (whom
    permissions do not stop), a kernel file system that refuses new files."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o500)
        yield folder
        folder.chmod(0o700)
        return
    folder = Path("/sys")
    try:
        os.close(os.open(folder / "support-ledger-probe.csv", os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        yield folder
        return
    pytest.skip("no folder here refuses a new file to root")


def bad_outputs(tmp_path: Path, unwritable: Path) -> dict[str, Path]:
    (tmp_path / "a-folder").mkdir(exist_ok=True)
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    return {"missing folder": tmp_path / "no-such-folder" / "out.csv",
            "a folder": tmp_path / "a-folder",
            "inside a file": tmp_path / "a-file" / "out.csv",
            "unwritable folder": unwritable / "out.csv"}


def test_month_end_checks_its_csv_path_before_issuing_anything(clients, tmp_path, unwritable_folder):
    for case, path in bad_outputs(tmp_path, unwritable_folder).items():
        done = run_script("month_end", *month_end_args(clients.url, "--csv", str(path)), cwd=tmp_path)
        line = one_error_line(done)
        assert "--csv" in line and str(path) in line, (case, line)
        assert issued_invoices(clients.url, tmp_path) == [], case
        assert not path.is_file(), case


def test_month_end_without_csv_checks_the_default_path_before_issuing_anything(sqlite_clients, tmp_path):
    (tmp_path / "invoices-2025-03.csv").mkdir()  # the default path is taken by a folder
    line = one_error_line(run_script("month_end", *month_end_args(sqlite_clients.url), cwd=tmp_path))
    assert "--csv" in line and "invoices-2025-03.csv" in line
    assert issued_invoices(sqlite_clients.url, tmp_path) == []


def test_month_end_writes_the_csv_after_a_successful_check_and_leaves_no_probe(sqlite_clients, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    done = run_script("month_end", *month_end_args(sqlite_clients.url, "--csv", str(out / "march.csv")),
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert [p.name for p in out.iterdir()] == ["march.csv"]
    assert len(issued_invoices(sqlite_clients.url, tmp_path)) == 3


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a file whose writes fail)")
def test_month_end_says_the_invoices_are_issued_when_the_csv_cannot_be_written_after(sqlite_clients, tmp_path):
    line = one_error_line(run_script("month_end", *month_end_args(sqlite_clients.url, "--csv", "/dev/full"),
                                     cwd=tmp_path))
    assert "--csv" in line and "/dev/full" in line and "issued" in line
    assert len(issued_invoices(sqlite_clients.url, tmp_path)) == 3  # a re-run issues nothing new, writes the CSV


@pytest.mark.parametrize("argv, option", [
    (["--period", "2025-13"], "--period"),
    (["--period", "9999-12"], "--period"),
    (["--period", "0000-01"], "--period"),
    (["--period", ""], "--period"),
    (["--period", "2025-03", "--at", "yesterday"], "--at"),
    (["--period", "2025-03", "--at", "0001-01-01T00:00"], "--at"),
])
def test_month_end_names_a_bad_option_in_one_line(sqlite_clients, tmp_path, argv, option):
    done = run_script("month_end", *argv, "--db", sqlite_clients.url, "--csv", str(tmp_path / "x.csv"),
                      cwd=tmp_path)
    assert option in one_error_line(done)
    assert issued_invoices(sqlite_clients.url, tmp_path) == []


def stores_that_cannot_be_used(tmp_path: Path) -> list[str]:
    from tests.conftest import PG_URL

    server = PG_URL.split("?")[0].rsplit("/", 1)[0]
    return ["bogus://nowhere",
            "sqlite://",
            f"sqlite:///{tmp_path / 'no-such-folder' / 'ledger.db'}",
            "postgresql://postgres@127.0.0.1:1/test",  # nothing listens on port 1
            "postgresql://postgres@127.0.0.1:99999/test",
            f"{server}/no_such_database_here",  # whether that server is up or not: one line
            server.replace("postgres@", "no_such_role_here@", 1) + "/test"]


@pytest.mark.parametrize("name, argv", [("month_end", ["--period", "2025-03"]),
                                        ("dispute_report", [*SOME_CLIENT, "--period", "2025-03"])])
def test_a_script_names_a_store_it_cannot_use_in_one_line(tmp_path, name, argv):
    urls = stores_that_cannot_be_used(tmp_path)
    running = [start_script(name, *argv, "--db", url, cwd=tmp_path) for url in urls]  # together: some wait
    for url, process in zip(urls, running):
        assert "--db" in one_error_line(finished(process)), url
    assert list(tmp_path.iterdir()) == []  # no store and no CSV was created


def read_only(url: str) -> str:
    """The same SQLite store, opened read-only by SQLite itself (what a mode 444 file is to a user)."""
    return f"{url}?mode=ro"


def test_month_end_on_a_read_only_store_fails_in_one_line_and_issues_nothing(sqlite_clients, tmp_path):
    done = run_script("month_end", *month_end_args(read_only(sqlite_clients.url), "--csv", str(tmp_path / "x.csv")),
                      cwd=tmp_path)
    assert "--db" in one_error_line(done)
    assert issued_invoices(sqlite_clients.url, tmp_path) == []
    assert not (tmp_path / "x.csv").exists()


def test_dispute_report_answers_from_a_read_only_store(sqlite_clients, tmp_path):
    copy = tmp_path / "copy.db"  # a store no process has open, as a copy on a read-only medium is
    with sqlite3.connect(sqlite_clients.url.removeprefix("sqlite:///")) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    for url in (read_only(sqlite_clients.url), read_only(f"sqlite:///{copy}")):
        done = run_script("dispute_report", "acme", "--period", "2025-03", "--db", url, cwd=tmp_path)
        assert done.returncode == 0 and "Total **6000.00**" in done.stdout, (url, done.stderr)
    missing = tmp_path / "missing.db"
    done = run_script("dispute_report", "acme", "--period", "2025-03", "--db", f"sqlite:///{missing}", cwd=tmp_path)
    assert "no ledger at" in one_error_line(done) and not missing.exists()


def test_dispute_report_checks_its_out_path_before_opening_the_store(sqlite_clients, tmp_path, unwritable_folder):
    for case, path in bad_outputs(tmp_path, unwritable_folder).items():
        done = run_script("dispute_report", "acme", "--period", "2025-03", "--out", str(path),
                          "--db", f"sqlite:///{tmp_path / 'never-created.db'}", cwd=tmp_path)
        line = one_error_line(done)
        assert "--out" in line and str(path) in line, (case, line)
        assert not (tmp_path / "never-created.db").exists(), case
        assert not path.is_file(), case


@pytest.mark.parametrize("period", ["2025-13", "9999-12", "0000-01", "", "2025-3"])
def test_dispute_report_names_a_bad_period_in_one_line(sqlite_clients, tmp_path, period):
    done = run_script("dispute_report", "acme", "--period", period, "--db", sqlite_clients.url, cwd=tmp_path)
    assert "--period" in one_error_line(done)


def test_dispute_report_names_an_unknown_client_in_one_line(sqlite_clients, tmp_path):
    done = run_script("dispute_report", "nobody", "--period", "2025-03", "--db", sqlite_clients.url, cwd=tmp_path)
    line = one_error_line(done)
    assert "client_id" in line and "nobody" in line
    assert done.stdout == ""


@pytest.mark.parametrize("name", ["month_end", "dispute_report"])
def test_a_script_interrupted_says_so_in_one_line_and_exits_130(sqlite_clients, tmp_path, monkeypatch, capsys, name):
    """Ctrl-C anywhere in the run (here: while opening the store) ends in one line, 130."""
    module = script(name)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "SupportLedger", interrupted)
    argv = ["--period", "2025-03", "--db", sqlite_clients.url]
    if name == "month_end":
        argv += ["--csv", str(tmp_path / "x.csv")]
    else:
        argv = ["acme", *argv]
    try:
        status = module.main(argv)
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped the script's main")
    assert status == 130
    err = capsys.readouterr().err
    assert err == "interrupted (SIGINT)\n", err


WAITING_ON_SCHEMA = """SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT l.granted AND n.nspname = %s"""


@pytest.mark.postgres
@pytest.mark.parametrize("name, argv, status", [
    ("month_end", ["--period", "2025-03", "--at", "2025-04-01T09:00", "--csv", "x.csv"], 130),
    ("dispute_report", ["acme", "--period", "2025-03"], 130),
    ("month_end", ["--period", "2025-03", "--at", "2025-04-01T09:00", "--csv", "x.csv"], 143),
])
def test_a_script_stopped_by_a_signal_while_it_waits_on_the_store_says_so_in_one_line(tmp_path, name, argv, status):
    """A real Ctrl-C (SIGINT, 130) or SIGTERM (143) reaching a script that waits for a lock on
    PostgreSQL: one line, that status, and nothing issued."""
    import psycopg

    from tests.conftest import PG_URL, postgres_schema_url

    with postgres_schema_url() as url:
        with SupportLedger(url) as ledger:
            with_clients(ledger)
        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(PG_URL) as holder, psycopg.connect(PG_URL, autocommit=True) as watcher:
            holder.execute(f'LOCK TABLE "{schema}".supportledger_events IN ACCESS EXCLUSIVE MODE')
            process = start_script(name, *argv, "--db", url, cwd=tmp_path)
            deadline = time.monotonic() + 30
            while not watcher.execute(WAITING_ON_SCHEMA, [schema]).fetchone()[0]:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"the script never waited for the lock: {finished(process)}")
                time.sleep(0.05)
            process.send_signal(signal.SIGINT if status == 130 else signal.SIGTERM)
            done = finished(process, timeout=30)
            holder.rollback()
        assert one_error_line(done, status=status) == f"interrupted ({signal.Signals(status - 128).name})"
        assert issued_invoices(url, tmp_path) == []
        assert not (tmp_path / "x.csv").exists()


def test_month_end_stopped_after_issuing_says_how_many_it_issued(sqlite_clients, tmp_path, monkeypatch, capsys):
    """Each invoice is issued whole (its own command); a run stopped after issuing some says
    how many, so the operator knows a re-run issues the rest and writes the CSV."""
    module = script("month_end")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "invoices_for_period", interrupted)  # after the issuing loop
    argv = month_end_args(sqlite_clients.url, "--csv", str(tmp_path / "x.csv"))
    assert module.main(argv) == 130
    [line] = capsys.readouterr().err.splitlines()
    assert line == ("interrupted (SIGINT); 3 invoices of 2025-03 were issued before it stopped; "
                    "a re-run issues the rest and writes the CSV")
    assert not (tmp_path / "x.csv").exists()
    monkeypatch.undo()
    done = run_script("month_end", *argv, cwd=tmp_path)
    assert done.returncode == 0 and "3 already issued" in done.stdout and (tmp_path / "x.csv").is_file()
