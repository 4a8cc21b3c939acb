"""An audit-grade record (CONTRACT.md "Integrity"): the database refuses edits, every commit
extends a hash chain, `verify` re-hashes it, `head` is cheap, `recorded_by` is the writer
the store saw, and a damaged store ends every query in one line, never a traceback."""

from __future__ import annotations

import hashlib
import json
import pwd
import os
import struct
from pathlib import Path

import psycopg
import pytest

from commands.cli import main
from ledger.application import SupportLedger
from ledger.store.chain import FORMAT, GENESIS, ChainedEvent, Head, contents, next_link
from ledger.store.tables import CHAIN_TABLE
from projections.explain import explain
from projections.history import client_history
from tests.builders import issue_license, log, open_ticket, register, reopen
from tests.integrity_support import DEMO_COMMANDS, raw_store
from tests.support import applied, apply

NOW = "2026-01-01T00:00"


def demo_store(ledger: SupportLedger) -> None:
    """The demo's commands, one transaction each (as a back-office script would send them)."""
    applied(ledger, *DEMO_COMMANDS)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- the chain's bytes -----------------------------------------------------------------------


def test_a_link_is_the_sha256_of_the_documented_bytes():
    """Recomputed here from the layout the module documents, field by field: the header
    (format, previous hash, sequence, position, event count, then the lengths and bytes of
    the record time, the writer and the adoption time), each event's position, and the
    SHA-256 of the events' own bytes (version, lengths, stream, topic, state)."""
    events = [ChainedEvent(7, "ticket/T-1", 1, "ledger.events:TicketOpened", b'{"a":1}'),
              ChainedEvent(8, "client/акме", 3, "ledger.events:X", b"")]
    first = next_link(Head.of(None), 8, "2025-03-01T09:00:00.000001Z", "root", [7, 8], contents(events))
    body = b""
    for stream, version, topic, state in (("ticket/T-1".encode(), 1, b"ledger.events:TicketOpened", b'{"a":1}'),
                                          ("client/акме".encode(), 3, b"ledger.events:X", b"")):
        body += struct.pack(">QIIQ", version, len(stream), len(topic), len(state)) + stream + topic + state
    by_hand = hashlib.sha256(FORMAT + bytes(32) + struct.pack(">QQQIII", 1, 8, 2, 27, 4, 0)
                             + b"2025-03-01T09:00:00.000001Z" + b"root" + struct.pack(">QQ", 7, 8)
                             + hashlib.sha256(body).digest())
    assert first.hash == by_hand.hexdigest()
    assert (first.sequence, first.events, first.position) == (1, 2, 8)
    assert json.loads(first.manifest)[:3] == [[7, 8], ["ticket/T-1", "client/акме"], [1, 3]]
    adopted = "2026-12-05T10:00:00.000000Z"
    second = next_link(Head.of(first), 9, "2025-03-01T09:00:00.000002Z", "", [], contents([]), adopted_at=adopted)
    expected = hashlib.sha256(FORMAT + bytes.fromhex(first.hash) + struct.pack(">QQQIII", 2, 9, 0, 27, 0, 27)
                              + b"2025-03-01T09:00:00.000002Z" + adopted.encode() + hashlib.sha256(b"").digest()).hexdigest()
    assert second.hash == expected and second.events == 2 and second.adopted_at == adopted
    assert Head.of(None).hash == GENESIS == "0" * 64


def test_every_commit_extends_the_chain_and_the_untouched_record_verifies(ledger):
    demo_store(ledger)
    head, verdict = ledger.head(), ledger.verify()
    events = ledger.recorded_events()
    assert verdict.ok and verdict.broken is None
    assert verdict.head == head and verdict.events == len(events) == head.events
    assert head.position == events[-1].notification_id
    assert head.commits == len({e.recorded_at for e in events})  # one record time per commit
    assert verdict.chain_starts_at == 1


# --- the database refuses edits ---------------------------------------------------------------


def test_the_database_refuses_update_delete_and_truncate_of_every_protected_table(ledger, db_url):
    demo_store(ledger)
    with raw_store(db_url) as raw:
        before = raw.snapshot()
        for table in raw.protected:
            statements = [f"UPDATE {raw.q(table)} SET notification_id = notification_id"
                          if table != raw.events else f"UPDATE {raw.q(table)} SET topic = topic",
                          f"DELETE FROM {raw.q(table)}"]
            if not raw.sqlite:
                statements.append(f"TRUNCATE {raw.q(table)}")
            for statement in statements:
                with pytest.raises(Exception) as refused:
                    raw.run(statement)
                assert table in str(refused.value) and "append-only" in str(refused.value), statement
                if raw.sqlite:
                    raw.connection.rollback()
        assert raw.snapshot() == before
    assert ledger.verify().ok


def test_a_store_written_before_the_chain_gets_its_links_and_triggers_when_opened(db_url):
    with SupportLedger(db_url) as ledger:
        demo_store(ledger)
    with raw_store(db_url) as raw:  # what an earlier version left: no chain, no triggers
        raw.drop_triggers()
        raw.run(f"DROP TABLE {raw.q(CHAIN_TABLE)}")
        last = raw.log()[-1][0]
    with SupportLedger(db_url) as ledger:
        verdict = ledger.verify()
        assert verdict.ok and verdict.chain_starts_at == last + 1  # it vouches from its building on
        assert verdict.head.position == last and verdict.head.events == len(ledger.recorded_events())
        history = client_history(ledger, "acme", ledger.last_recorded_at())
        assert {e["recorded_by"] for e in history["events"]} == {None}  # who wrote them is not known
        applied(ledger, reopen("T-1001", "2025-02-06T12:00"))
        later = ledger.verify()
        assert later.ok and later.chain_starts_at == last + 1 and later.head.commits == verdict.head.commits + 1
    with raw_store(db_url) as raw, pytest.raises(Exception, match="append-only"):
        raw.run(f"DELETE FROM {raw.q(raw.events)}")


# --- verify --expect ------------------------------------------------------------------------------


def test_an_older_head_is_proved_after_appends_and_disproved_after_a_rewrite(db_url):
    with SupportLedger(db_url) as ledger:
        applied(ledger, *DEMO_COMMANDS[:20])
        kept = ledger.head()
        applied(ledger, *DEMO_COMMANDS[20:])
        assert ledger.head().position > kept.position
        assert ledger.verify(expect=kept.hash).ok
        assert ledger.verify(expect=ledger.head().hash).ok
        assert not ledger.verify(expect="ab" * 32).ok
    # An attacker with the owner's rights changes an early payload and rebuilds the whole
    # chain from the changed record: the chain alone verifies again, the kept head does not.
    with raw_store(db_url) as raw:
        raw.drop_triggers()
        position, *_, state = raw.log()[3]
        forged = {**json.loads(state), "actor": "forger"}  # still a readable event
        raw.run(f"UPDATE {raw.q(raw.events)} SET state = ? WHERE {raw.position} = ?",
                (json.dumps(forged).encode(), position))
        raw.run(f"DELETE FROM {raw.q(CHAIN_TABLE)}")
    with SupportLedger(db_url) as ledger:  # an emptied chain is not taken for an old store's
        assert ledger.verify().broken.problem == "chain row missing"
    with raw_store(db_url) as raw:  # so the attacker drops the table, as if it never existed
        raw.run(f"DROP TABLE {raw.q(CHAIN_TABLE)}")
    with SupportLedger(db_url) as ledger:
        alone = ledger.verify()
        assert alone.ok and alone.adopted_at is not None and alone.chain_starts_at > kept.position  # it shows
        broken = ledger.verify(expect=kept.hash).broken
        assert broken is not None and broken.problem == "expected head not in chain"
        assert broken.expected_hash == kept.hash


# --- who recorded it -----------------------------------------------------------------------------


def test_recorded_by_is_the_writer_the_store_saw_not_the_declared_actor(ledger, db_url):
    applied(ledger, *DEMO_COMMANDS[:26])
    apply(ledger, reopen("T-1001", "2025-02-06T12:00"), actor="claimed-name")
    writer = pwd.getpwuid(os.geteuid()).pw_name if db_url.startswith("sqlite") else "postgres"
    history = client_history(ledger, "acme", ledger.last_recorded_at())
    assert {e["recorded_by"] for e in history["events"]} == {writer}
    assert history["events"][-1]["actor"] == "claimed-name"
    explained = explain(ledger, "acme", "2025-03", ledger.last_recorded_at())
    cited = [event for line in explained["lines"] for event in line["events"]]
    assert cited and {event["recorded_by"] for event in cited} == {writer}


def test_sqlite_recorded_by_ignores_the_user_named_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("USER", "somebody-else")
    monkeypatch.setenv("LOGNAME", "somebody-else")
    with SupportLedger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        applied(ledger, DEMO_COMMANDS[0])
        assert ledger.recorded_events()[0].recorded_by == pwd.getpwuid(os.geteuid()).pw_name


# --- the command line ------------------------------------------------------------------------------


def test_head_and_verify_on_the_command_line(ledger, db_url, capsys):
    demo_store(ledger)
    code, out, _ = cli(capsys, "head", "--db", db_url, "--json")
    head = json.loads(out)
    assert code == 0 and set(head) == {"position", "recorded_at", "hash", "events", "commits"}
    assert head == ledger.head().document()
    code, out, _ = cli(capsys, "verify", "--db", db_url, "--json", "--expect", head["hash"].upper())
    verdict = json.loads(out)
    assert code == 0 and verdict["ok"] and verdict["head"] == head and verdict["broken"] is None
    code, out, _ = cli(capsys, "verify", "--db", db_url)
    assert code == 0 and "verified" in out and head["hash"] in out
    for malformed in ("abc", "g" * 64, head["hash"] + "0", ""):
        code, out, err = cli(capsys, "verify", "--db", db_url, "--expect", malformed)
        assert code == 1 and out == "" and err.count("\n") == 1 and "--expect" in err
    code, out, _ = cli(capsys, "verify", "--db", db_url, "--json", "--expect", "0123456789abcdef" * 4)
    assert code == 3 and json.loads(out)["broken"]["problem"] == "expected head not in chain"


def test_verify_exits_3_and_names_the_first_broken_event(ledger, db_url, capsys):
    demo_store(ledger)
    with raw_store(db_url) as raw:
        raw.drop_triggers()
        position, stream, version, _, state = next(row for row in raw.log() if row[1] == "ticket/T-1002" and row[2] == 4)
        raw.run(f"UPDATE {raw.q(raw.events)} SET state = ? WHERE {raw.position} = ?", (state + b" ", position))
    code, out, _ = cli(capsys, "verify", "--db", db_url, "--json")
    broken = json.loads(out)["broken"]
    assert code == 3 and broken["event_id"] == "ticket/T-1002#4" and broken["problem"] == "payload changed"
    assert broken["commit"] >= position and broken["expected_hash"] != broken["found_hash"]
    code, out, _ = cli(capsys, "verify", "--db", db_url)
    assert code == 3 and "BROKEN" in out and "ticket/T-1002#4" in out


def test_roles_is_refused_for_sqlite(tmp_path, capsys):
    code, out, err = cli(capsys, "roles", "--db", f"sqlite:///{tmp_path / 'l.db'}")
    assert code == 1 and out == "" and "PostgreSQL" in err


# --- a damaged store: one line, never a traceback ---------------------------------------------------


QUERIES = {
    "invoice": ["invoice", "acme", "--period", "2025-03"],
    "explain": ["explain", "acme", "--period", "2025-03"],
    "diff": ["diff", "acme", "--period", "2025-03", "--from-known-at", "2025-01-01T00:00"],
    "history": ["history", "acme"],
    "entitlements": ["entitlements", "acme", "--at", "2025-03-12T12:00"],
    "sla": ["sla", "T-1002"],
    "apply": ["apply", "-"],
}


def damage(db_url: str, how: str) -> str:
    """Damage ticket T-1002's third event; the event id a query must name."""
    with raw_store(db_url) as raw:
        raw.drop_triggers()
        position = next(row[0] for row in raw.log() if row[1] == "ticket/T-1002" and row[2] == 3)
        table = raw.q(raw.events)
        if how == "deleted":
            raw.run(f"DELETE FROM {table} WHERE {raw.position} = ?", (position,))
        elif how == "undecodable":
            raw.run(f"UPDATE {table} SET state = ? WHERE {raw.position} = ?", (b"{not json", position))
        else:
            raw.run(f"UPDATE {table} SET topic = ? WHERE {raw.position} = ?", ("ledger.events:NoSuchEvent", position))
    return "ticket/T-1002#3"


@pytest.mark.parametrize("how", ["deleted", "undecodable", "unknown type"])
def test_every_query_and_apply_on_a_damaged_store_ends_in_one_line(db_url, capsys, monkeypatch, how):
    with SupportLedger(db_url) as ledger:
        demo_store(ledger)
    named = damage(db_url, how)
    with SupportLedger(db_url) as ledger:
        count = len(ledger.recorded_events(stream="catalog/main"))
        head = ledger.head()
    for name, argv in QUERIES.items():
        if name == "apply":
            import io
            monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(
                log("T-1002", "T-1002/9", "2025-03-14T10:00", 30, "consultation", engineer="x")) + "\n"))
        code, out, err = cli(capsys, *argv, "--db", db_url)
        assert code == 1, (name, out, err)
        assert err.count("\n") == 1 and named in err and "support-ledger verify" in err, (name, err)
        assert "Traceback" not in out + err
    with SupportLedger(db_url) as ledger:  # nothing was recorded
        assert ledger.head() == head and len(ledger.recorded_events(stream="catalog/main")) == count


def test_a_damaged_issued_invoice_stops_the_register_in_one_line(db_url, capsys):
    with SupportLedger(db_url) as ledger:
        demo_store(ledger)
    with raw_store(db_url) as raw:
        raw.drop_triggers()
        position = next(row[0] for row in raw.log() if row[3].endswith(":InvoiceIssued"))
        raw.run(f"UPDATE {raw.q(raw.events)} SET state = ? WHERE {raw.position} = ?", (b"[]", position))
    code, out, err = cli(capsys, "register", "--db", db_url)
    assert code == 1 and err.count("\n") == 1 and "invoice/" in err and "support-ledger verify" in err


# --- PostgreSQL roles ----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_writer_role_appends_and_neither_role_can_edit_or_unprotect(capsys):
    from tests.conftest import PG_URL, postgres_schema_url

    suffix = os.urandom(4).hex()
    writer, auditor = f"sl_writer_{suffix}", f"sl_auditor_{suffix}"
    with postgres_schema_url() as url:
        try:
            code, out, _ = cli(capsys, "roles", "--db", url, "--writer", writer, "--auditor", auditor, "--apply")
            assert code == 0 and "GRANT SELECT, INSERT" in out and writer in out
            schema = url.split("schema=")[1]
            as_writer = url.replace("postgres@", f"{writer}@")
            with SupportLedger(as_writer) as ledger:
                demo_store(ledger)  # the writer opens the store and records without owning anything
                assert {e.recorded_by for e in ledger.recorded_events()} == {writer}
                assert ledger.verify().ok
            code, out, _ = cli(capsys, "register", "--db", as_writer, "--json")
            assert code == 0 and json.loads(out)["count"] == 1
            tables = ["supportledger_events", "ledger_commits", "ledger_stream_marks", "ledger_chain"]
            for role in (writer, auditor):
                with psycopg.connect(PG_URL.replace("postgres@", f"{role}@"), autocommit=True) as conn:
                    for table in tables:
                        name = f'"{schema}"."{table}"'
                        assert conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] > 0
                        for statement in (f"UPDATE {name} SET originator_id = originator_id" if table != "ledger_chain"
                                          else f"UPDATE {name} SET hash = hash",
                                          f"DELETE FROM {name}", f"TRUNCATE {name}",
                                          f"DROP TRIGGER ledger_append_only ON {name}",
                                          f"ALTER TABLE {name} DISABLE TRIGGER ALL"):
                            with pytest.raises(psycopg.Error) as refused:
                                conn.execute(statement)
                            assert table in str(refused.value) or "permission denied" in str(refused.value) \
                                or "must be owner" in str(refused.value), statement
                    if role == auditor:
                        with pytest.raises(psycopg.errors.InsufficientPrivilege):
                            conn.execute(f'INSERT INTO "{schema}"."ledger_commits" VALUES (999999, now())')
            code, out, _ = cli(capsys, "verify", "--db", url.replace("postgres@", f"{auditor}@"))
            assert code == 0 and "verified" in out
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                for role in (writer, auditor):
                    conn.execute(f'DROP OWNED BY "{role}"') if conn.execute(
                        "SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() else None
            # the schema (and with it the grants) is dropped by postgres_schema_url
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for role in (writer, auditor):
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


# --- concurrent writers ----------------------------------------------------------------------------


WRITER = """
import json, sys
from commands.bus import apply_line
from ledger.application import SupportLedger
with SupportLedger(sys.argv[1]) as ledger:
    for text in sys.stdin:
        outcome = apply_line(ledger, text, "writer")
        assert outcome.status == "applied", outcome
"""


def test_four_writer_processes_at_once_leave_a_chain_that_verifies(db_url):
    import subprocess
    import sys

    with SupportLedger(db_url) as ledger:
        applied(ledger, *(c for c in DEMO_COMMANDS if c["command"] in {"PublishPriceList", "ReleaseVersion"}))
    files = []
    for writer in range(4):
        client_id = f"w{writer}"
        lines = [register(client_id, None, name=f"Writer {writer}"),
                 issue_license(f"L{writer}", "2025-01-10", client_id=client_id)]
        for ticket in range(6):
            ticket_id = f"T-{writer}-{ticket}"
            lines.append(open_ticket(ticket_id, "question", client_id=client_id, version="7.5", at="2025-02-03T11:00"))
            lines += [log(ticket_id, f"{ticket_id}/{n}", f"2025-02-03T1{2 + n}:00", 10, "consultation", engineer="e")
                      for n in range(3)]
        files.append("".join(json.dumps(line) + "\n" for line in lines))
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, db_url], stdin=subprocess.PIPE, text=True,
                                  cwd=Path(__file__).resolve().parents[1]) for _ in files]
    for process, text in zip(processes, files, strict=True):
        process.stdin.write(text)  # type: ignore[union-attr]
        process.stdin.close()  # type: ignore[union-attr]
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0, 0]
    with SupportLedger(db_url) as ledger:
        verdict = ledger.verify()
        assert verdict.ok, verdict.broken
        assert verdict.head.events == len(ledger.recorded_events())
        assert verdict.head.commits >= 4 * len(files[0].splitlines())  # one commit per command at least


def test_the_library_setting_that_would_bypass_the_chain_is_fixed_off(db_url, monkeypatch):
    """The library reads its settings from the environment too: with its insert function
    switched on, events would be saved past the recorder that writes the index and chain."""
    monkeypatch.setenv("POSTGRES_ENABLE_DB_FUNCTIONS", "y")
    with SupportLedger(db_url) as ledger:
        applied(ledger, *DEMO_COMMANDS[:10])
        verdict = ledger.verify()
        assert verdict.ok and verdict.head.events == len(ledger.recorded_events()) > 0
        assert client_history(ledger, "acme", ledger.last_recorded_at())["events"]
