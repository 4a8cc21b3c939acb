"""Opening a store (issue 16): a read query never creates or writes a store and works on
a read-only one; a PostgreSQL connection failure names its cause at once and never a
password; a database URL's parameters are checked."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from commands.cli import main
from ledger.application import SupportLedger
from ledger.errors import InvalidCommandError
from ledger.events import InvoiceIssued
from ledger.store.urls import parse_url, redact
from projections.register import IssuedInvoiceRegister, issued_invoices
from tests.builders import issue
from tests.conftest import PG_URL, postgres_problem, postgres_schema_url
from tests.integrity_support import DEMO_COMMANDS, raw_store
from tests.support import applied

REPO = Path(__file__).resolve().parents[1]
LATER = "2030-01-01T00:00"  # a knowledge time after everything the tests record
QUERIES = {
    "history": ["history", "acme", "--known-at", LATER],
    "entitlements": ["entitlements", "acme", "--at", "2025-03-12T12:00", "--known-at", LATER],
    "hours": ["hours", "2025-03-01", "2025-03-10", "--known-at", LATER],
    "invoice": ["invoice", "boreal", "--period", "2025-03", "--known-at", LATER],
    "explain": ["explain", "boreal", "--period", "2025-03", "--known-at", LATER],
    "diff": ["diff", "acme", "--period", "2025-03", "--from-known-at", "2025-01-01T00:00", "--to-known-at", LATER],
    "register": ["register", "--known-at", LATER],
    "sla": ["sla", "T-1002", "--known-at", LATER],
    "head": ["head"],
    "verify": ["verify"],
}
# A second invoice, issued after the demo's: the register then has a row before and after any position.
SECOND_INVOICE = {**issue("2025-03", "2025-04-03T10:00"), "command_id": "second-invoice"}


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def answers(capsys, url: str) -> dict[str, tuple[int, str, str]]:
    return {name: cli(capsys, *argv, "--json", "--db", url) for name, argv in QUERIES.items()}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///").split("?")[0])


def with_password(url: str) -> str:
    """The same PostgreSQL URL with a password (trust authentication ignores it)."""
    return url.replace("postgres@", "postgres:s3cret-pw@", 1)


def schema_tables(url: str) -> set[str]:
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        return {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])}


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file of a folder and a hash of its bytes: what a reader must leave as it was."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def demo_store(url: str, *extra: dict) -> None:
    with SupportLedger(url) as ledger:
        applied(ledger, *DEMO_COMMANDS, *extra)


# --- a read query never creates a store -------------------------------------------------------------


@pytest.mark.parametrize("query", QUERIES)
def test_a_query_on_a_missing_store_says_so_and_creates_nothing(capsys, db_url, query):
    if is_sqlite(db_url):
        folder = sqlite_path(db_url).parent
        before = sorted(folder.iterdir())
        code, out, err = cli(capsys, *QUERIES[query], "--db", db_url)
        assert (code, out, err) == (1, "", f"error: --db: no ledger at {sqlite_path(db_url)}\n")
        assert sorted(folder.iterdir()) == before
        return
    url = with_password(db_url)
    code, out, err = cli(capsys, *QUERIES[query], "--db", url)
    assert (code, out) == (1, "")
    assert err == f"error: --db: no ledger at {url.replace(':s3cret-pw@', ':***@')}\n"
    assert schema_tables(db_url) == set()


def test_a_missing_sqlite_store_is_named_as_given_relative_or_default(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPPORT_LEDGER_DB", raising=False)
    assert cli(capsys, "history", "acme", "--db", "sqlite:///missing.db") == \
        (1, "", "error: --db: no ledger at missing.db\n")
    assert cli(capsys, "head") == (1, "", "error: --db: no ledger at support-ledger.db\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_a_query_on_a_schema_that_does_not_exist_says_no_ledger(capsys):
    if postgres_problem():
        pytest.skip(postgres_problem())
    url = f"{PG_URL}?schema=no_such_schema_{uuid.uuid4().hex[:8]}"
    assert cli(capsys, "history", "acme", "--db", url) == (1, "", f"error: --db: no ledger at {url}\n")


def test_a_file_that_is_not_a_ledger_is_refused_and_left_alone(capsys, tmp_path):
    for name, content in (("empty.db", b""), ("notes.db", b"not a database at all\n" * 100)):
        path = tmp_path / name
        path.write_bytes(content)
        code, out, err = cli(capsys, "history", "acme", "--db", f"sqlite:///{path}")
        assert (code, out) == (1, "") and err.startswith(f"error: --db: no ledger at {path}") and err.count("\n") == 1
        assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "notes.db"]


def test_apply_still_creates_a_new_store(capsys, tmp_path):
    path = tmp_path / "new.db"
    commands = tmp_path / "commands.jsonl"
    commands.write_text(json.dumps(DEMO_COMMANDS[0]) + "\n", encoding="utf-8")
    code, out, err = cli(capsys, "apply", str(commands), "--db", f"sqlite:///{path}")
    assert code == 0 and json.loads(out)["status"] == "applied" and path.is_file()
    assert cli(capsys, "head", "--json", "--db", f"sqlite:///{path}")[0] == 0


# --- every query works on a read-only store -----------------------------------------------------------


def test_every_query_answers_from_a_sqlite_url_with_mode_ro_and_changes_no_byte(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    demo_store(url, SECOND_INVOICE)
    expected = answers(capsys, url)
    assert all(code == 0 for code, _, _ in expected.values()), expected
    assert json.loads(expected["register"][1])["count"] == 2
    before = fingerprint(tmp_path)
    assert answers(capsys, f"{url}?mode=ro") == expected
    assert fingerprint(tmp_path) == before


def test_a_sqlite_url_with_mode_ro_refuses_to_apply(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    demo_store(url)
    commands = tmp_path / "commands.jsonl"
    commands.write_text(json.dumps(SECOND_INVOICE) + "\n", encoding="utf-8")
    before = fingerprint(tmp_path)
    code, out, err = cli(capsys, "apply", str(commands), "--db", f"{url}?mode=ro")
    assert (code, out) == (1, "") and err.startswith("error: --db:") and "read-only" in err and err.count("\n") == 1
    assert fingerprint(tmp_path) == before


READER = """
import contextlib, io, json, sys
from commands.cli import main
found = {}
for name, argv in json.loads(sys.argv[1]).items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    found[name] = [code, out.getvalue(), err.getvalue()]
print(json.dumps(found))
"""


def as_a_reader_without_write_access(argvs: dict[str, list[str]]) -> dict[str, tuple[int, str, str]]:
    """Run the queries in a process that can read every file and write none it does not
    own (as root: the `nobody` user keeping only the capability to read anything)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot take write access away")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    done = subprocess.run([*prefix, sys.executable, "-c", READER, json.dumps(argvs)], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0, done.stderr
    return {name: tuple(found) for name, found in json.loads(done.stdout).items()}


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user may enter, as a store shared with readers is (pytest's own are
    private to root: the reader's capability to read anything does not reach SQLite's
    `access()` checks, which go by the real user)."""
    folder = Path(tempfile.mkdtemp(prefix="support-ledger-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in (folder, *folder.rglob("*")):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def read_only_copy(source: Path, folder: Path, *, while_open: bool = False) -> Path:
    """A copy of a SQLite store in `folder`: closed (no log), or taken while a ledger had it
    open after writing, so that its recent commits are only in the write-ahead log."""
    folder.mkdir()
    url = f"sqlite:///{source}"
    if not while_open:
        shutil.copy(source, folder / source.name)
    else:
        with SupportLedger(url) as ledger:
            applied(ledger, SECOND_INVOICE)
            for suffix in ("", "-wal", "-shm"):
                shutil.copy(f"{source}{suffix}", folder / f"{source.name}{suffix}")
        assert (folder / f"{source.name}-wal").stat().st_size > 0
    return folder / source.name


def seal(folder: Path, *, directory_too: bool) -> None:
    for path in folder.iterdir():
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # 444
    folder.chmod(0o555 if directory_too else 0o777)


@pytest.mark.parametrize("case", ["file 444", "read-only folder", "read-only folder with its log"])
def test_every_query_answers_from_a_read_only_sqlite_store_and_leaves_it_as_it_was(capsys, tmp_path, open_folder,
                                                                                    case):
    source = tmp_path / "source" / "ledger.db"
    source.parent.mkdir()
    demo_store(f"sqlite:///{source}", *([] if case.endswith("log") else [SECOND_INVOICE]))
    copy = read_only_copy(source, open_folder / "copy", while_open=case.endswith("log"))
    expected = answers(capsys, f"sqlite:///{source}")  # the same facts, from the writable original
    seal(copy.parent, directory_too=case != "file 444")
    before = fingerprint(copy.parent)
    found = as_a_reader_without_write_access(
        {name: [*argv, "--json", "--db", f"sqlite:///{copy}"] for name, argv in QUERIES.items()})
    assert fingerprint(copy.parent) == before
    assert found == expected


def test_a_log_that_cannot_be_read_in_a_read_only_folder_is_one_line(tmp_path, open_folder):
    source = tmp_path / "source" / "ledger.db"
    source.parent.mkdir()
    demo_store(f"sqlite:///{source}")
    copy = read_only_copy(source, open_folder / "copy", while_open=True)
    (copy.parent / "ledger.db-shm").unlink()  # the log's index is gone and cannot be made again
    seal(copy.parent, directory_too=True)
    code, out, err = as_a_reader_without_write_access({"history": ["history", "acme", "--db", f"sqlite:///{copy}"]})["history"]
    assert (code, out) == (1, "") and err.startswith("error: --db:") and err.count("\n") == 1
    assert "ledger.db-wal" in err and "Traceback" not in err


@contextmanager
def granted_schema() -> Iterator[tuple[str, str]]:
    """A PostgreSQL schema holding the demo, whose tables `roles --apply` has granted to a
    fresh writer and a fresh auditor (dropped afterwards): (owner's URL, auditor's URL)."""
    suffix = uuid.uuid4().hex[:8]
    writer, auditor = f"sl_w_{suffix}", f"sl_a_{suffix}"
    try:
        with postgres_schema_url() as url:
            demo_store(url, SECOND_INVOICE)
            assert main(["roles", "--db", url, "--writer", writer, "--auditor", auditor, "--apply"]) == 0
            yield url, url.replace("postgres@", f"{auditor}:any-password@")
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                for role in (writer, auditor):
                    conn.execute(f'DROP OWNED BY "{role}"')
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for role in (writer, auditor):
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.mark.postgres
def test_every_query_answers_as_the_auditor_role_that_can_only_select(capsys):
    if postgres_problem():
        pytest.skip(postgres_problem())
    with granted_schema() as (url, as_auditor):
        capsys.readouterr()
        expected = answers(capsys, url)
        assert all(code == 0 for code, _, _ in expected.values()), expected
        assert json.loads(expected["register"][1])["count"] == 2
        assert answers(capsys, as_auditor) == expected
        assert register_position(url) == 0  # nobody caught the register's table up


# --- the register, read without writing -------------------------------------------------------------


def replayed(ledger: SupportLedger, known_at=None) -> list[tuple[str, str, str]]:
    return [(e.event.client_id, e.event.period, e.event_id)
            for e in ledger.recorded_events(known_at=known_at) if isinstance(e.event, InvoiceIssued)]


def rows(found) -> list[tuple[str, str, str]]:
    return [(r.client_id, r.period, r.event_id) for r in found]


def register_position(url: str) -> int | None:
    """The register table's position, read as the owner (None: no table)."""
    with raw_store(url) as raw:
        table = raw.q("ledger_issued_invoices_tracking")
        try:
            return raw.connection.execute(f"SELECT notification_id FROM {table}").fetchone()[0]
        except (psycopg.Error, sqlite3.Error):
            return None


@pytest.mark.parametrize("table", ["never made", "behind the log", "caught up"])
def test_a_read_only_ledger_answers_the_register_without_writing(db_url, table):
    demo_store(db_url)
    with SupportLedger(db_url) as ledger:
        if table == "behind the log":
            IssuedInvoiceRegister(ledger).catch_up()  # the demo's invoice only
        applied(ledger, SECOND_INVOICE)
        if table == "caught up":
            IssuedInvoiceRegister(ledger).catch_up()
        everything = ledger.recorded_events()
        first = next(e for e in everything if isinstance(e.event, InvoiceIssued))
        moments = [everything[0].recorded_at, first.recorded_at, everything[-1].recorded_at]
        expected = {moment: replayed(ledger, moment) for moment in moments}
    assert [len(found) for found in expected.values()] == [0, 1, 2]
    position = register_position(db_url)
    with SupportLedger(db_url, read_only=True) as reader:
        for moment in moments:
            assert rows(issued_invoices(reader, moment)) == expected[moment], moment
        assert rows(issued_invoices(reader, moments[-1], period="2025-03", client_id="acme")) == expected[moments[-1]][1:]
    assert register_position(db_url) == position


def test_a_read_only_ledger_refuses_to_save(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    demo_store(url)
    with SupportLedger(url, read_only=True) as reader, pytest.raises(Exception, match="read-only"):
        applied(reader, SECOND_INVOICE)


# --- PostgreSQL connection failures name their cause at once ------------------------------------------


def failing(capsys, url: str, *argv: str) -> tuple[str, float]:
    started = time.monotonic()
    code, out, err = cli(capsys, *(argv or ("history", "acme")), "--db", url)
    elapsed = time.monotonic() - started
    assert (code, out) == (1, ""), err
    assert err.startswith("error: --db: ") and err.count("\n") == 1, err
    assert "s3cret" not in err and "Traceback" not in err
    return err, elapsed


@pytest.mark.parametrize("argv", [("history", "acme"), ("apply", "{empty}")])
def test_a_refused_connection_is_named_at_once(capsys, tmp_path, argv):
    (tmp_path / "empty.jsonl").write_text("")
    argv = tuple(arg.format(empty=tmp_path / "empty.jsonl") for arg in argv)
    err, elapsed = failing(capsys, "postgresql://ledger:s3cret@127.0.0.1:1/books", *argv)
    assert elapsed < 2.0
    assert "connection refused" in err and "127.0.0.1:1" in err and "postgresql://ledger:***@127.0.0.1:1/books" in err


def test_an_unknown_host_is_named_at_once(capsys):
    err, elapsed = failing(capsys, "postgresql://ledger:s3cret@no-such-host.invalid:5432/books")
    assert elapsed < 2.0
    assert "unknown host" in err and "no-such-host.invalid" in err


@pytest.mark.postgres
@pytest.mark.parametrize("what", ["database", "role"])
def test_a_database_or_role_that_does_not_exist_is_named_at_once(capsys, what):
    if postgres_problem():
        pytest.skip(postgres_problem())
    name = f"no_such_{what}_{uuid.uuid4().hex[:6]}"
    base = PG_URL.split("?")[0]
    url = (base.rsplit("/", 1)[0] + f"/{name}" if what == "database" else base.replace("postgres@", f"{name}@"))
    err, elapsed = failing(capsys, url.replace("@", ":s3cret@", 1))
    assert elapsed < 2.0
    assert f'{what} "{name}" does not exist' in err


@contextmanager
def refusing_server(message: str) -> Iterator[int]:
    """A TCP server speaking just enough of PostgreSQL's protocol to refuse every login with
    `message` (SQLSTATE 28P01, as a wrong password gets); yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    while True:
                        (length,) = struct.unpack("!i", conn.recv(4))
                        body = conn.recv(length - 4)
                        if struct.unpack("!i", body[:4])[0] in (80877103, 80877104):  # SSL / GSS request
                            conn.sendall(b"N")
                            continue
                        fields = b"".join(code + text.encode() + b"\0" for code, text in (
                            (b"S", "FATAL"), (b"V", "FATAL"), (b"C", "28P01"), (b"M", message))) + b"\0"
                        conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
                        break
                except (OSError, struct.error):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_failed_authentication_is_named_at_once(capsys):
    with refusing_server('password authentication failed for user "ledger"') as port:
        err, elapsed = failing(capsys, f"postgresql://ledger:s3cret@127.0.0.1:{port}/books")
    assert elapsed < 2.0
    assert "authentication failed" in err and "ledger" in err and f"127.0.0.1:{port}" in err


@pytest.mark.postgres
def test_roles_and_every_message_hide_the_password(capsys):
    if postgres_problem():
        pytest.skip(postgres_problem())
    with postgres_schema_url() as url:
        code, out, err = cli(capsys, "roles", "--db", with_password(url), "--writer", "w_x", "--auditor", "a_x")
        assert code == 0 and "s3cret" not in out + err


# --- URL parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ['a"b', "1abc", "a" * 64, "", "a-b", "a b", "é"])
def test_a_schema_that_is_not_an_identifier_is_refused(capsys, schema):
    url = f"postgresql://ledger:s3cret@127.0.0.1:1/books?schema={schema}"
    code, out, err = cli(capsys, "history", "acme", "--db", url)
    assert (code, out) == (1, "") and err.startswith("error: --db:") and "schema" in err and err.count("\n") == 1
    assert "s3cret" not in err and "connection" not in err  # refused before connecting


def test_a_63_character_schema_is_accepted():
    assert parse_url(f"postgresql://u@h/db?schema={'a' * 63}").schema == "a" * 63
    assert parse_url("postgresql://u@h/db?schema=_Billing_2").schema == "_Billing_2"


@pytest.mark.parametrize("url, named, accepted", [
    ("postgresql://ledger:s3cret@127.0.0.1:1/books?schem=x", "schem", "schema"),
    ("postgresql://ledger@127.0.0.1:1/books?schema=x&sslmode=disable", "sslmode", "schema"),
    ("sqlite:///{dir}/ledger.db?schem=x", "schem", "mode=ro"),
    ("sqlite:///{dir}/ledger.db?mode=rw", "mode", "mode=ro"),
    ("sqlite:///{dir}/ledger.db?mode=ro&mode=ro", "mode", "mode=ro"),
])
def test_an_unknown_url_parameter_is_refused_naming_it(capsys, tmp_path, url, named, accepted):
    url = url.format(dir=tmp_path / "stores")
    (tmp_path / "stores").mkdir()
    (tmp_path / "empty.jsonl").write_text("")
    for argv in (("history", "acme"), ("apply", str(tmp_path / "empty.jsonl"))):
        code, out, err = cli(capsys, *argv, "--db", url)
        assert (code, out) == (1, "") and err.startswith("error: --db:") and err.count("\n") == 1, err
        assert repr(named) in err and accepted in err and "s3cret" not in err
    assert list((tmp_path / "stores").iterdir()) == []


def test_parse_url_reads_every_accepted_form():
    assert parse_url("sqlite:///ledger.db?mode=ro").read_only
    assert not parse_url("sqlite:///ledger.db").read_only
    assert parse_url("sqlite:///ledger.db?mode=ro").path == "ledger.db"
    pg = parse_url("postgresql://ledger:p%40ss@db.example.org:6543/books?schema=billing")
    assert (pg.user, pg.password, pg.host, pg.port, pg.dbname, pg.schema) == \
        ("ledger", "p@ss", "db.example.org", 6543, "books", "billing")
    with pytest.raises(InvalidCommandError, match="^--db: unknown URL parameter 'x'"):
        parse_url("sqlite:///l.db?x=1")


@pytest.mark.parametrize("url, shown", [
    ("postgresql://u:secret@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:se/cr?et@h:5/db?schema=s", "postgresql://u:***@h:5/db?schema=s"),
    ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
    ("sqlite:///tmp/a@b.db", "sqlite:///tmp/a@b.db"),
])
def test_redact_hides_every_password(url, shown):
    assert redact(url) == shown


@pytest.mark.parametrize("url", ["postgresql://u:se/cret@h/db", "postgresql://u:secret@h:99999/db",
                                 "postgresql://u:secret@h:x/db", "postgresql://u:secret@/db"])
def test_a_malformed_url_with_a_password_never_prints_it(capsys, url):
    code, out, err = cli(capsys, "history", "acme", "--db", url)
    assert (code, out) == (1, "") and err.startswith("error: --db:") and "secret" not in err and "cret" not in err
