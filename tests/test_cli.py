"""The `support-ledger` command line, as CONTRACT.md fixes it: `apply` output and exit
status, --db / --actor and their environment variables, `schema`, `history`, and one-line
errors (never a traceback)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from commands.cli import main
from ledger.application import SupportLedger
from tests.builders import (
    assign_engineer,
    hand_over_key,
    issue,
    issue_license,
    log,
    open_ticket,
    price_list,
    register,
)
from tests.support import CONTRACT_COMMANDS

EXECUTABLE = Path(sys.executable).with_name("support-ledger")

REGISTER = {**register("acme", "2025-01-10T09:00", name="Acme"), "command_id": "r1"}
LICENSE = {**issue_license("L1", "2025-01-10"), "command_id": "r2"}
HANDOVER = hand_over_key("L1", "2025-01-15T10:00")
UNKNOWN_CLIENT = {**assign_engineer("petrov", "2025-01-15T10:00", client_id="nobody"), "command_id": "bad"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No SUPPORT_LEDGER_* leaks in from the outside; the default database lands in tmp."""
    monkeypatch.delenv("SUPPORT_LEDGER_DB", raising=False)
    monkeypatch.delenv("SUPPORT_LEDGER_ACTOR", raising=False)
    monkeypatch.chdir(tmp_path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def lines_file(tmp_path: Path, *lines: object, name: str = "commands.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
                    encoding="utf-8")
    return path


def results(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), err
    return lines[0]


def events_in(db_url: str, client_id: str | None = None):
    ledger = SupportLedger(db_url)
    try:
        return ledger.recorded_events(client_id=client_id)
    finally:
        ledger.close()


# --- apply -----------------------------------------------------------------------------------


def test_apply_prints_one_json_line_per_command_and_exits_0(capsys, tmp_path, db_url):
    path = lines_file(tmp_path, REGISTER, LICENSE, HANDOVER)
    code, out, err = run(capsys, "apply", str(path), "--db", db_url)
    assert (code, err) == (0, "applied 3, duplicate 0, rejected 0 (of 3 lines)\n")  # the summary only
    assert results(out) == [
        {"line": 1, "command_id": "r1", "status": "applied", "error": None},
        {"line": 2, "command_id": "r2", "status": "applied", "error": None},
        {"line": 3, "command_id": None, "status": "applied", "error": None},
    ]
    assert [r.type for r in events_in(db_url, "acme")] == [
        "ClientRegistered", "PriorityAccountOpened", "LicenseIssued", "LicenseKeyHandedOver",
        "PriorityFreeMonthGranted"]


def test_apply_again_reports_duplicates_and_exits_0(capsys, tmp_path, db_url):
    path = lines_file(tmp_path, REGISTER, LICENSE)
    assert run(capsys, "apply", str(path), "--db", db_url)[0] == 0
    count = len(events_in(db_url))
    code, out, _ = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 0
    assert [r["status"] for r in results(out)] == ["duplicate", "duplicate"]
    assert len(events_in(db_url)) == count


def test_a_rejection_exits_1_and_later_lines_still_run(capsys, tmp_path, db_url):
    path = lines_file(tmp_path, REGISTER, UNKNOWN_CLIENT, "{not json", LICENSE)
    code, out, err = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 1 and err == "applied 2, duplicate 0, rejected 2 (of 4 lines)\n"
    got = results(out)
    assert [(r["line"], r["status"]) for r in got] == [
        (1, "applied"), (2, "rejected"), (3, "rejected"), (4, "applied")]
    assert got[1]["command_id"] == "bad" and got[1]["error"].startswith("client_id:")
    assert got[2]["command_id"] is None and "JSON" in got[2]["error"]
    assert "nobody" not in {r.event.client_id for r in events_in(db_url)}


def test_blank_lines_are_skipped_but_counted(capsys, tmp_path, db_url):
    path = lines_file(tmp_path, "", REGISTER, "   ", "\t", LICENSE, "")
    code, out, _ = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 0
    assert [(r["line"], r["status"]) for r in results(out)] == [(2, "applied"), (5, "applied")]


def test_a_line_with_bad_fields_names_them(capsys, tmp_path, db_url):
    path = lines_file(tmp_path, REGISTER, {**LICENSE, "command_id": "r9", "issued_on": "2025-02-30",
                                           "colour": "red"})
    code, out, _ = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 1
    rejected = results(out)[1]
    assert rejected["command_id"] == "r9"
    assert "issued_on:" in rejected["error"] and "colour:" in rejected["error"]


def test_apply_dash_reads_standard_input(capsys, monkeypatch, db_url):
    text = "\n".join(json.dumps(c) for c in (REGISTER, LICENSE)) + "\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))
    code, out, _ = run(capsys, "apply", "-", "--db", db_url)
    assert code == 0
    assert [r["status"] for r in results(out)] == ["applied", "applied"]
    assert len(events_in(db_url, "acme")) == 3


@pytest.mark.parametrize(("line", "field"), [
    ('{"command": "PublishPriceList", "effective_from": "2024-01-01", "norm_hour": ".", "priority_month": "1"}',
     "norm_hour"),
    ('{"command": "PublishPriceList", "effective_from": "2024-01-01", "norm_hour": "1", "priority_month": "'
     + "1" * 29 + '"}', "priority_month"),
    ('{"command": "ResolveTicket", "ticket_id": "T1", "at": "0001-01-01T00:00:00+05:00"}', "at"),
    ('{"command": "ResolveTicket", "ticket_id": "T1", "at": "9999-12-31T23:30:00+00:00"}', "at"),
], ids=["lone-dot-money", "29-digit-money", "year-1", "year-9999"])
def test_a_value_out_of_range_is_rejected_naming_its_field(capsys, tmp_path, db_url, line, field):
    path = lines_file(tmp_path, REGISTER, line, LICENSE)
    code, out, err = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 1 and "Traceback" not in err
    assert [(r["line"], r["status"]) for r in results(out)] == [(1, "applied"), (2, "rejected"), (3, "applied")]
    assert results(out)[1]["error"].startswith(f"{field}: ")


@pytest.mark.parametrize("line", ["[" * 100_000, '{"command": "LogTime", "minutes": ' + "9" * 5000 + "}"],
                         ids=["deeply-nested", "huge-integer"])
def test_a_pathological_line_is_rejected_and_later_lines_still_run(capsys, tmp_path, db_url, line):
    """Lines json.loads refuses with RecursionError or ValueError, not JSONDecodeError."""
    path = lines_file(tmp_path, REGISTER, line, LICENSE)
    code, out, err = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 1 and "Traceback" not in err
    assert [(r["line"], r["status"]) for r in results(out)] == [(1, "applied"), (2, "rejected"), (3, "applied")]


def test_a_line_that_is_not_utf8_is_refused_alone(capsys, tmp_path, db_url):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps({**REGISTER, "name": "Caf\u00e9"}, ensure_ascii=False).encode("latin-1") + b"\n"
                     + json.dumps(REGISTER).encode("utf-8") + b"\n")
    code, out, _ = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 1
    first, second = results(out)
    assert first["line"] == 1 and first["status"] == "rejected" and "not UTF-8" in first["error"]
    assert second["line"] == 2 and second["status"] == "applied"
    assert [type(e.event).__name__ for e in events_in(db_url)] == ["ClientRegistered", "PriorityAccountOpened", "CommandAccepted"]
    assert events_in(db_url)[0].event.name == "Acme"  # the second line's


def test_the_same_command_id_twice_in_one_file(capsys, tmp_path, db_url):
    path = lines_file(tmp_path, REGISTER, REGISTER, {**REGISTER, "name": "Other"})
    code, out, _ = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 1
    got = results(out)
    assert [r["status"] for r in got] == ["applied", "duplicate", "rejected"]
    assert got[2]["error"].startswith("command_id:")
    assert [r.type for r in events_in(db_url)] == ["ClientRegistered", "PriorityAccountOpened", "CommandAccepted"]


@pytest.mark.parametrize("client_already_stored", [False, True], ids=["same-file", "stored-before"])
def test_a_refusal_inside_a_file_rolls_back_only_that_command(capsys, monkeypatch, tmp_path, db_url,
                                                              client_already_stored):
    """The handover is refused after the Client recorded it in memory: the file's other
    commands on the same Client are kept, the handover is not."""
    from ledger.aggregates import Subscription
    from ledger.errors import RuleViolationError

    def refuse(self, license_id, handover_at):
        raise RuleViolationError("refused for the test", rule="R-PTP-6")

    if client_already_stored:
        assert run(capsys, "apply", str(lines_file(tmp_path, REGISTER, name="first.jsonl")), "--db", db_url)[0] == 0
    monkeypatch.setattr(Subscription, "grant_free_month", refuse)
    assign = assign_engineer("petrov", "2025-01-16T10:00")
    second = {**LICENSE, "command_id": "r3", "license_id": "L2"}
    commands = [LICENSE, HANDOVER, assign, second]
    if not client_already_stored:
        commands.insert(0, REGISTER)
    code, out, _ = run(capsys, "apply", str(lines_file(tmp_path, *commands)), "--db", db_url)
    assert code == 1
    statuses = [r["status"] for r in results(out)]
    assert statuses == ["applied"] * (len(commands) - 3) + ["rejected", "applied", "applied"]

    client_events = [r for r in events_in(db_url) if r.event.originator_id == "client/acme"]
    assert [r.type for r in client_events] == ["ClientRegistered", "LicenseIssued", "EngineerAssigned", "LicenseIssued"]
    assert [r.event.originator_version for r in client_events] == [1, 2, 3, 4]
    ledger = SupportLedger(db_url)
    try:
        client = ledger.client("acme")
    finally:
        ledger.close()
    assert client.licenses["L1"].key_handed_over_at is None
    assert set(client.licenses) == {"L1", "L2"} and client.engineers[0][1] == "petrov"


def test_an_invoice_in_a_file_is_computed_from_the_lines_before_it(capsys, tmp_path, db_url):
    """R-STP-2/3, I-5: 45 minutes of standard work on one ticket-day bill 60 minutes."""
    minutes, norm_hour = 45, Decimal("1500.00")
    billed = 30 * -(-minutes // 30) if minutes <= 60 else 60 * -(-minutes // 60)
    path = lines_file(
        tmp_path,
        price_list("2025-01-01", norm_hour=str(norm_hour), priority_month="30000.00"),
        REGISTER,
        open_ticket("T1", "customization", at="2025-03-03T11:00"),
        log("T1", "E1", "2025-03-03T12:00", minutes, activity="analysis"),
        issue("2025-03", "2025-04-01T10:00"),
        assign_engineer("petrov", "2025-04-01T10:00"),
    )
    code, out, _ = run(capsys, "apply", str(path), "--db", db_url)
    assert code == 0, out
    [issued] = [r.event for r in events_in(db_url) if r.type == "InvoiceIssued"]
    standard = [line for line in issued.lines if line["kind"] == "standard_time"]
    assert [line.get("ticket_id") for line in standard] == ["T1"]
    assert issued.total == (norm_hour * billed / 60).quantize(Decimal("0.01"))
    assert "EngineerAssigned" in [r.type for r in events_in(db_url, "acme")]


# --- --db and --actor --------------------------------------------------------------------------------


@pytest.mark.parametrize("before_subcommand", [True, False], ids=["--db first", "--db last"])
def test_db_option_beats_the_environment(capsys, monkeypatch, tmp_path, db_url, before_subcommand):
    decoy = tmp_path / "env.db"
    monkeypatch.setenv("SUPPORT_LEDGER_DB", f"sqlite:///{decoy}")
    path = lines_file(tmp_path, REGISTER)
    argv = ["--db", db_url, "apply", str(path)] if before_subcommand else ["apply", str(path), "--db", db_url]
    assert run(capsys, *argv)[0] == 0
    assert [r.type for r in events_in(db_url, "acme")][:1] == ["ClientRegistered"]
    assert not decoy.exists() or events_in(f"sqlite:///{decoy}") == []


def test_the_environment_gives_the_database_without_db(capsys, monkeypatch, tmp_path, db_url):
    monkeypatch.setenv("SUPPORT_LEDGER_DB", db_url)
    assert run(capsys, "apply", str(lines_file(tmp_path, REGISTER)))[0] == 0
    assert len(events_in(db_url, "acme")) == 2
    code, out, _ = run(capsys, "history", "acme", "--json")
    assert code == 0 and len(json.loads(out)["events"]) == 2
    assert not (tmp_path / "support-ledger.db").exists()


def test_without_db_or_environment_the_default_is_a_file_in_the_working_directory(capsys, tmp_path):
    assert run(capsys, "apply", str(lines_file(tmp_path, REGISTER)))[0] == 0
    default = tmp_path / "support-ledger.db"
    assert default.is_file()
    assert len(events_in(f"sqlite:///{default}", "acme")) == 2


def test_actor_option_beats_the_environment(capsys, monkeypatch, tmp_path, db_url):
    monkeypatch.setenv("SUPPORT_LEDGER_ACTOR", "bob")
    assert run(capsys, "--actor", "alice", "apply", str(lines_file(tmp_path, REGISTER, name="a.jsonl")),
               "--db", db_url)[0] == 0
    assert run(capsys, "apply", str(lines_file(tmp_path, LICENSE, name="b.jsonl")), "--db", db_url)[0] == 0
    actors = [(r.type, r.event.actor) for r in events_in(db_url)]
    assert actors == [("ClientRegistered", "alice"), ("PriorityAccountOpened", "alice"),
                      ("CommandAccepted", "alice"), ("LicenseIssued", "bob"), ("CommandAccepted", "bob")]


def test_actor_defaults_to_the_os_user(capsys, monkeypatch, tmp_path, db_url):
    monkeypatch.setenv("LOGNAME", "os-user-7")  # getpass.getuser() reads LOGNAME first
    assert run(capsys, "apply", str(lines_file(tmp_path, REGISTER)), "--db", db_url)[0] == 0
    assert {r.event.actor for r in events_in(db_url)} == {"os-user-7"}


def test_actor_option_after_the_subcommand(capsys, tmp_path, db_url):
    assert run(capsys, "apply", str(lines_file(tmp_path, REGISTER)), "--db", db_url, "--actor", "carol")[0] == 0
    assert {r.event.actor for r in events_in(db_url)} == {"carol"}


# --- schema --------------------------------------------------------------------------------------



def command_names_in(schema: dict) -> set[str]:
    names = set()
    for definition in schema.get("$defs", {}).values():
        command = definition.get("properties", {}).get("command", {})
        names.update([command["const"]] if "const" in command else command.get("enum", []))
    return names


def test_schema_prints_a_json_schema_with_every_command(capsys):
    code, out, err = run(capsys, "schema")
    assert (code, err) == (0, "")
    schema = json.loads(out)
    assert "oneOf" in schema or "anyOf" in schema
    assert command_names_in(schema) >= CONTRACT_COMMANDS
    log_time = next(d for d in schema["$defs"].values()
                    if d.get("properties", {}).get("command", {}).get("const") == "LogTime")
    assert set(log_time["required"]) >= {"ticket_id", "entry_id", "engineer", "started_at", "minutes", "activity"}


# --- history -----------------------------------------------------------------------------------------


def test_history_json_prints_exactly_one_document(capsys, tmp_path, db_url):
    applied_file = lines_file(tmp_path, REGISTER, LICENSE, HANDOVER)
    assert run(capsys, "apply", str(applied_file), "--db", db_url, "--actor", "dora")[0] == 0
    code, out, err = run(capsys, "history", "acme", "--json", "--db", db_url)
    assert (code, err) == (0, "")
    document = json.loads(out)  # the whole output is one JSON document
    assert document["client_id"] == "acme"
    assert [e["type"] for e in document["events"]] == [
        "ClientRegistered", "PriorityAccountOpened", "LicenseIssued", "LicenseKeyHandedOver",
        "PriorityFreeMonthGranted"]
    assert {e["actor"] for e in document["events"]} == {"dora"}
    assert [e["command_id"] for e in document["events"]] == ["r1", "r1", "r2", None, None]


def test_history_table_names_every_event(capsys, tmp_path, db_url):
    assert run(capsys, "apply", str(lines_file(tmp_path, REGISTER, LICENSE)), "--db", db_url)[0] == 0
    code, out, err = run(capsys, "history", "acme", "--db", db_url)
    assert (code, err) == (0, "")
    for event_type in ("ClientRegistered", "PriorityAccountOpened", "LicenseIssued"):
        assert event_type in out


def test_history_known_at_answers_from_what_was_recorded_then(capsys, tmp_path, db_url):
    assert run(capsys, "apply", str(lines_file(tmp_path, REGISTER, name="1.jsonl")), "--db", db_url)[0] == 0
    known_at = events_in(db_url)[-1].recorded_at
    assert run(capsys, "apply", str(lines_file(tmp_path, LICENSE, name="2.jsonl")), "--db", db_url)[0] == 0
    code, out, _ = run(capsys, "history", "acme", "--json", "--known-at", known_at.isoformat(), "--db", db_url)
    assert code == 0
    document = json.loads(out)
    assert [e["type"] for e in document["events"]] == ["ClientRegistered", "PriorityAccountOpened"]
    assert datetime.fromisoformat(document["known_at"]) == known_at
    now = json.loads(run(capsys, "history", "acme", "--json", "--db", db_url)[1])
    assert [e["type"] for e in now["events"]][-1] == "LicenseIssued"


def test_history_of_an_unknown_client_is_one_error_line(capsys, db_url):
    SupportLedger(db_url).close()  # a store, without the client
    code, out, err = run(capsys, "history", "nobody", "--db", db_url)
    assert code == 1 and out == ""
    line = one_error_line(err)
    assert "client_id" in line and "nobody" in line


def test_known_at_garbage_is_a_usage_error_not_a_traceback(capsys, db_url):
    with pytest.raises(SystemExit) as exited:
        main(["history", "acme", "--known-at", "garbage", "--db", db_url])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err and "--known-at" in err


# --- one-line errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["no-such-file.jsonl", "."], ids=["missing", "directory"])
def test_an_unreadable_file_is_one_error_line(capsys, tmp_path, db_url, missing):
    code, out, err = run(capsys, "apply", str(tmp_path / missing), "--db", db_url)
    assert code == 1 and out == ""
    assert "cannot read" in one_error_line(err)


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite://relative.db", "postgresql://u@h:abc/db",
                                 "sqlite:///no/such/directory/ledger.db"])
def test_a_bad_db_url_is_one_error_line(capsys, tmp_path, url):
    code, out, err = run(capsys, "apply", str(lines_file(tmp_path, REGISTER)), "--db", url)
    assert code == 1 and out == ""
    assert "--db" in one_error_line(err)
    code, _, err = run(capsys, "history", "acme", "--db", url)
    assert code == 1 and "--db" in one_error_line(err)


# --- the real executable ----------------------------------------------------------------------------


def run_executable(*argv: str, stdin: str = "", env: dict[str, str] | None = None, cwd: Path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_LEDGER_")}
    return subprocess.run([str(EXECUTABLE), *argv], input=stdin, capture_output=True, text=True,
                          env={**environment, **(env or {})}, cwd=cwd, timeout=60)


def test_the_executable_applies_stdin_without_traceback(tmp_path, db_url):
    text = "\n".join([json.dumps(REGISTER), "{oops", json.dumps(UNKNOWN_CLIENT), json.dumps(LICENSE)])
    done = run_executable("apply", "-", env={"SUPPORT_LEDGER_DB": db_url, "SUPPORT_LEDGER_ACTOR": "eve"},
                          stdin=text, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == "applied 2, duplicate 0, rejected 2 (of 4 lines)\n"
    assert [r["status"] for r in results(done.stdout)] == ["applied", "rejected", "rejected", "applied"]
    assert {r.event.actor for r in events_in(db_url)} == {"eve"}


def test_the_executable_reports_an_unknown_client_in_one_line(tmp_path, db_url):
    done = run_executable("history", "nobody", "--json", "--db", db_url, cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    one_error_line(done.stderr)


# --- what a subcommand imports (issue 17: the CLI starts fast) ---------------------------------


def _modules_after(args: list[str], cwd: Path) -> set[str]:
    """The modules a fresh interpreter holds after running the CLI with `args`."""
    import subprocess

    code = ("import contextlib, io, sys\nfrom commands.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    try:\n        main(sys.argv[1:])\n    except SystemExit:\n        pass\n"
            "print('\\n'.join(sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    return set(done.stdout.split())


def test_help_and_queries_import_only_what_they_need(tmp_path):
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert main(["apply", str(lines_file(tmp_path, REGISTER, LICENSE)), "--db", db]) == 0
    heavy = {"pydantic", "eventsourcing", "rich", "psycopg", "commands.models", "commands.handlers", "commands.bus"}
    assert _modules_after(["--help"], tmp_path) & heavy == set()
    query = _modules_after(["invoice", "acme", "--period", "2025-03", "--json", "--db", db], tmp_path)
    assert "projections.invoice" in query  # it did run
    assert query & {"psycopg", "rich", "commands.models", "commands.handlers", "commands.bus"} == set()


def test_version_prints_the_installed_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"support-ledger {version('support-ledger')}\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_document_that_cannot_be_written_is_one_line_naming_out(capsys, tmp_path, db_url):
    """The file was writable when checked; the write itself fails (a full disk)."""
    run(capsys, "apply", str(lines_file(tmp_path, REGISTER)), "--db", db_url)
    code, out, err = run(capsys, "invoice", REGISTER["client_id"], "--period", "2025-03", "--format", "html",
                         "--out", "/dev/full", "--db", db_url)
    assert (code, out) == (1, "") and err == "error: --out: cannot write /dev/full: No space left on device\n"
