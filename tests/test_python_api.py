"""The Python API for back-office scripts (commands/api.py, issue 18 item 4): the same
validation, idempotency, refusals and documents as the CLI, on both stores; and the README's
"Python API" example runs as is against a fresh SQLite store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from commands.api import Ledger, Outcome
from commands.cli import main
from commands.failures import UserError
from commands.models import LogTime, RegisterClient
from ledger.application import ReadOnlyLedgerError
from ledger.errors import InvalidCommandError, LedgerError, NotFoundError
from ledger.timeutil import MOSCOW, utc_now
from tests.builders import log, open_ticket, price_list, register, release

ROOT = Path(__file__).resolve().parent.parent
CLIENT = "acme"

# Standard support for a data_recovery ticket (R-STP-1), no priority coverage (no licence key
# was handed over, so no free month: R-PTP-6), norm hour 3000.00 from 2025-01-01 (R-STP-2, I-6).
CATALOG = [{**price_list(), "command_id": "price-2025"}, {**release(), "command_id": "crm-9.0"}]


def _cli_json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def api(db_url):
    with Ledger.open(db_url, actor="back-office") as ledger:
        yield ledger


def test_apply_takes_dicts_and_models_and_answers_as_the_bus_does(api):
    outcomes = api.apply([*CATALOG, {**register(at=None), "command_id": "c-acme"}])
    assert outcomes == [Outcome("applied", "price-2025"), Outcome("applied", "crm-9.0"), Outcome("applied", "c-acme")]
    model = RegisterClient(command="RegisterClient", command_id="c-boreal", client_id="boreal", name="Boreal",
                           at=datetime(2025, 1, 10, 9, 0))  # naive: Moscow time
    assert api.apply(model) == Outcome("applied", "c-boreal")
    assert api.apply(json.dumps(open_ticket("T-1", "data_recovery"))) == Outcome("applied", None)  # a file's line
    entry = LogTime(command="LogTime", command_id="e-1", ticket_id="T-1", entry_id="T-1/1", engineer="ivanov",
                    started_at=datetime(2025, 3, 3, 12, 0), minutes=70, activity="repair")
    assert api.apply([entry]) == [Outcome("applied", "e-1")]
    registered = api.history("boreal")["events"][0]
    assert (registered["type"], registered["actor"], registered["command_id"]) == ("ClientRegistered", "back-office", "c-boreal")
    # The naive datetime was Moscow time: 09:00 MSK is 06:00 UTC.
    assert datetime.fromisoformat(registered["valid_at"]) == datetime(2025, 1, 10, 6, 0, tzinfo=timezone.utc)
    entries = [event for event in api.history(CLIENT)["events"] if event["type"] == "TimeLogged"]
    assert [(event["command_id"], event["valid_at"]) for event in entries] == [("e-1", "2025-03-03T12:00:00+03:00")]


def test_a_command_id_applied_before_is_a_duplicate_and_records_nothing(api):
    assert api.apply(CATALOG) == [Outcome("applied", "price-2025"), Outcome("applied", "crm-9.0")]
    head = api.head()
    assert api.apply(CATALOG[0]) == Outcome("duplicate", "price-2025")
    assert api.apply(CATALOG) == [Outcome("duplicate", "price-2025"), Outcome("duplicate", "crm-9.0")]
    assert api.head() == head  # nothing recorded
    other = {**CATALOG[0], "norm_hour": "3500.00"}
    outcome = api.apply(other)
    assert (outcome.status, outcome.command_id) == ("rejected", "price-2025")
    assert outcome.error.startswith("command_id:") and "different command" in outcome.error


def test_a_refused_command_is_returned_with_its_error_naming_the_field_or_rule(api):
    api.apply([*CATALOG, register()])
    bad_minutes = api.apply({**log("T-9", "E-1", minutes=0), "command_id": "bad"})
    assert bad_minutes == Outcome("rejected", "bad", "minutes: Input should be greater than or equal to 1")
    money_as_float = api.apply({**price_list(effective_from="2025-02-01"), "norm_hour": 3000.0})
    assert money_as_float.status == "rejected" and money_as_float.error.startswith("norm_hour: money is a decimal")
    excluded = api.apply(open_ticket("T-2", "installation"))  # not support at all: R-EXC-1
    assert excluded.status == "rejected" and excluded.error.startswith("R-EXC-1:")
    unknown = api.apply({"command": "LogTime", "command_id": "u-1", "ticket_id": "T-404", "entry_id": "x",
                         "engineer": "ivanov", "started_at": "2025-03-03T12:00", "minutes": 5, "activity": "repair"})
    assert unknown.status == "rejected" and unknown.command_id == "u-1" and "T-404" in unknown.error
    assert api.apply({"command": "Refund"}).error.startswith("command: unknown command 'Refund'")
    assert not any(event["type"] in {"TicketOpened", "TimeLogged"} for event in api.history(CLIENT)["events"])


def test_outcomes_are_the_clis_for_the_same_commands(db_url, tmp_path, capsys):
    commands = [*CATALOG, register(), open_ticket("T-1", "data_recovery"), {**log("T-1", "E-1"), "command_id": "e"},
                {**log("T-1", "E-1"), "command_id": "e"}, {**log("T-1", "E-2"), "minutes": 0},
                open_ticket("T-2", "training"), {"command": "VoidTime"}]
    lines = tmp_path / "commands.jsonl"
    lines.write_text("".join(json.dumps(command, ensure_ascii=False) + "\n" for command in commands), encoding="utf-8")
    cli_store = f"sqlite:///{tmp_path / 'cli.db'}"
    capsys.readouterr()
    main(["apply", str(lines), "--db", cli_store, "--actor", "cli"])
    by_cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    with Ledger.open(db_url) as ledger:
        by_api = ledger.apply(commands)
    assert [(o.status, o.command_id, o.error) for o in by_api] == \
           [(line["status"], line["command_id"], line["error"]) for line in by_cli]
    assert [o.status for o in by_api] == ["applied"] * 5 + ["duplicate"] + ["rejected"] * 3


def test_apply_file_is_apply_of_the_file(api, tmp_path):
    path = tmp_path / "commands.jsonl"
    path.write_text("\n".join(json.dumps(command) for command in CATALOG) + "\n\n", encoding="utf-8")
    assert api.apply_file(path) == [Outcome("applied", "price-2025"), Outcome("applied", "crm-9.0")]
    assert api.apply_file(path) == [Outcome("duplicate", "price-2025"), Outcome("duplicate", "crm-9.0")]


def test_invoice_golden_figure_and_known_at_before_and_after(api, db_url, capsys):
    api.apply([*CATALOG, register(), open_ticket("T-1", "data_recovery"),
               log("T-1", "E-1", "2025-03-03T12:00", 70), log("T-1", "E-2", "2025-03-03T15:00", 20)])
    before = utc_now()
    api.apply(log("T-1", "E-3", "2025-03-04T11:00", 25))
    # R-STP-3 over one ticket-day (I-5): 3 March, 70 + 20 = 90 minutes, billed 120 = 2 norm
    # hours × 3000.00 = 6000.00; 4 March, 25 minutes billed 30 = 0.5 × 3000.00 = 1500.00.
    then, now = api.invoice(CLIENT, "2025-03", known_at=before), api.invoice(CLIENT, "2025-03")
    assert (then["status"], Decimal(then["total"])) == ("draft", Decimal("6000.00"))
    assert (now["status"], Decimal(now["total"])) == ("draft", Decimal("7500.00"))
    assert sorted(line["minutes_billed"] for line in now["lines"]) == [30, 120]
    # The same documents as the CLI's --json, known_at given as an aware, naive or string instant.
    moscow = before.astimezone(MOSCOW)
    assert then == _cli_json(capsys, "invoice", CLIENT, "--period", "2025-03", "--db", db_url,
                             "--known-at", moscow.isoformat())
    assert api.invoice(CLIENT, "2025-03", known_at=moscow.replace(tzinfo=None)) == then
    assert api.invoice(CLIENT, "2025-03", known_at=moscow.isoformat()) == then
    explained = api.explain(CLIENT, "2025-03", known_at=before)
    assert explained == _cli_json(capsys, "explain", CLIENT, "--period", "2025-03", "--db", db_url,
                                  "--known-at", moscow.isoformat())
    assert all("R-STP-3" in line["rules"] for line in explained["lines"])
    changed = api.diff(CLIENT, "2025-03", from_known_at=before)
    assert changed["from_known_at"] == moscow.isoformat()
    assert Decimal(changed["total_before"]) == Decimal("6000.00") and Decimal(changed["total_after"]) == Decimal("7500.00")


def test_queries_give_the_clis_documents(api, db_url, capsys):
    api.apply([*CATALOG, register(), open_ticket("T-1", "question")])
    known = utc_now() + timedelta(seconds=1)
    known_text = known.astimezone(MOSCOW).isoformat()
    db = ("--db", db_url, "--known-at", known_text)
    assert api.entitlements(CLIENT, "2025-03-05T12:00", known_at=known) == \
        _cli_json(capsys, "entitlements", CLIENT, "--at", "2025-03-05T12:00", *db)
    assert api.history(CLIENT, known_at=known) == _cli_json(capsys, "history", CLIENT, *db)
    assert api.hours("2025-05-01", "2025-05-12", known_at=known) == \
        _cli_json(capsys, "hours", "2025-05-01", "2025-05-12", *db)
    assert api.sla("T-1", known_at=known) == _cli_json(capsys, "sla", "T-1", *db)
    assert api.register(period="2025-03", known_at=known) == _cli_json(capsys, "register", "--period", "2025-03", *db)
    assert api.head() == _cli_json(capsys, "head", "--db", db_url)
    verdict = api.verify(api.head()["hash"])
    assert verdict == _cli_json(capsys, "verify", "--expect", api.head()["hash"], "--db", db_url)
    assert verdict["ok"] is True


def test_documents_and_exports_are_the_clis_bytes(api, db_url, tmp_path, capsysbinary):
    pytest.importorskip("projections.documents")
    api.apply([*CATALOG, register(), open_ticket("T-1", "data_recovery"), log("T-1", "E-1", "2025-03-03T12:00", 70),
               {"command": "IssueInvoice", "client_id": CLIENT, "period": "2025-03", "at": "2025-04-01T10:00"}])
    known = utc_now() + timedelta(seconds=1)
    known_text = known.astimezone(MOSCOW).isoformat()
    query = ("--db", db_url, "--known-at", known_text)
    for method, subcommand in ((api.invoice_document, "invoice"), (api.explanation_document, "explain")):
        capsysbinary.readouterr()
        assert main([subcommand, CLIENT, "--period", "2025-03", "--format", "html", "--lang", "ru", *query]) == 0
        assert method(CLIENT, "2025-03", lang="ru", known_at=known) == capsysbinary.readouterr().out
    out = tmp_path / "register.csv"
    assert main(["register", "--format", "csv-excel-ru", "--out", str(out), *query]) == 0
    assert api.register_export("csv-excel-ru", known_at=known) == out.read_bytes()
    assert "6000" in api.register_export("csv", known_at=known).decode()  # 70 minutes billed as 120 (R-STP-3)
    with pytest.raises(InvalidCommandError, match="^fmt: 'docx' is not one of html, pdf"):
        api.invoice_document(CLIENT, "2025-03", fmt="docx")
    with pytest.raises(InvalidCommandError, match="^lang: 'de'"):
        api.explanation_document(CLIENT, "2025-03", lang="de")


def test_misuse_raises_naming_the_argument(api, tmp_path):
    api.apply([*CATALOG, register()])
    with pytest.raises(InvalidCommandError, match=r"^period: period '2025-13' is not of the form YYYY-MM"):
        api.invoice(CLIENT, "2025-13")
    with pytest.raises(InvalidCommandError, match="^known_at: "):
        api.invoice(CLIENT, "2025-03", known_at="yesterday")
    with pytest.raises(InvalidCommandError, match="^at: "):
        api.entitlements(CLIENT, 20250305)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="^client_id: unknown client 'nobody'"):
        api.invoice("nobody", "2025-03")
    with pytest.raises(TypeError, match="not int"):
        api.apply(5)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="a command is a dict"):
        api.apply([CATALOG[0], 5])  # type: ignore[list-item]
    with pytest.raises(LedgerError, match="^--db: no ledger at "):
        Ledger.open(f"sqlite:///{tmp_path / 'none.db'}", read_only=True)
    with pytest.raises(UserError, match="^--db: cannot open"):
        Ledger.open(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")


def test_a_read_only_ledger_answers_queries_and_refuses_to_record(db_url):
    with Ledger.open(db_url) as writer:
        writer.apply([*CATALOG, register()])
    with Ledger.open(db_url, read_only=True) as reader:
        assert reader.invoice(CLIENT, "2025-03")["total"] == "0.00"
        with pytest.raises(ReadOnlyLedgerError):
            reader.apply(open_ticket("T-1"))
        head = reader.head()
    with Ledger.open(db_url) as writer:
        assert writer.head() == head  # nothing was recorded


def test_open_takes_the_clis_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPPORT_LEDGER_DB", raising=False)
    monkeypatch.setenv("SUPPORT_LEDGER_ACTOR", "nightly-job")
    with Ledger.open() as ledger:
        assert ledger.actor == "nightly-job"
        assert ledger.apply(CATALOG[0]).status == "applied"
    assert (tmp_path / "support-ledger.db").exists()  # sqlite:///support-ledger.db, as CONTRACT.md says


# --- the README's example -------------------------------------------------------------------

API_PAGES = [ROOT / "README.md"]
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
FENCE = re.compile(r"^(```|~~~)")


def python_api_example(text: str) -> str | None:
    """The first ```python block of the first section whose heading contains "Python API"."""
    level, block, fence, inside = 0, None, None, False
    for line in text.splitlines():
        if fence is not None:
            if line.startswith(fence[:3]) and line.strip() == fence[:3]:
                if block is not None and fence.startswith("```python"):
                    return "\n".join(block) + "\n"
                fence = None
            elif block is not None and fence.startswith("```python"):
                block.append(line)
            continue
        if FENCE.match(line):
            fence = line.strip()
            if inside and fence == "```python":
                block = []
            continue
        heading = HEADING.match(line)
        if heading:
            if inside and len(heading.group(1)) <= level:
                return None  # the section ended without a python block
            if not inside and "Python API" in heading.group(2):
                inside, level = True, len(heading.group(1))
    return None


def test_the_example_finder_reads_the_first_python_block_of_the_section():
    text = ("# x\n```sh\n# Python API (a comment, not a heading)\n```\n## Python API for scripts\nsome words\n"
            "```sh\nls\n```\n```python\nprint(1)\n```\n```python\nprint(2)\n```\n## Next\n")
    assert python_api_example(text) == "print(1)\n"
    assert python_api_example("## Python API\nno code\n## Next\n```python\nprint(3)\n```\n") is None


@pytest.mark.parametrize("page", API_PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_the_python_api_example_runs_as_is_against_a_fresh_sqlite_store(page, tmp_path):
    example = python_api_example(page.read_text(encoding="utf-8"))
    assert example is not None, (
        f"{page.relative_to(ROOT)} has no section whose heading contains 'Python API' with a ```python block ")
    script = tmp_path / "example.py"
    script.write_text(example, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SUPPORT_LEDGER_DB", None)
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, f"the example failed:\n{run.stdout}\n{run.stderr}"
    assert "Traceback" not in run.stderr and run.stdout.strip()
    assert list(tmp_path.glob("*.db")), "the example should use a SQLite store in the current folder"
