"""One store fixture, parametrised over SQLite and PostgreSQL: every behaviour runs on both.

PostgreSQL comes from SUPPORT_LEDGER_TEST_PG (default: the local server). Each test gets a
schema of its own, dropped afterwards. Outside CI an unreachable server skips those tests
with the reason shown; with CI=true it fails them — CI never silently skips PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import psycopg
import pytest

from ledger.application import SupportLedger

PG_URL = os.environ.get("SUPPORT_LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# A bug in the ledger prints its traceback in tests (users see one line and a file name:
# commands.failures), so that "no traceback" checks — the fuzz tests' among them — still
# catch one, in this process and in the CLI processes tests start.
os.environ.setdefault("SUPPORT_LEDGER_TRACEBACK", "1")


@cache
def postgres_problem() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {PG_URL}: {str(error).strip().splitlines()[0]}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    with postgres_schema_url() as url:
        yield url


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A database URL on a fresh PostgreSQL schema, dropped afterwards; skipped (outside CI)
    or failed (in CI) when the server cannot be reached."""
    problem = postgres_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"{problem} (CI=true: the PostgreSQL tests must run)")
        pytest.skip(problem)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def ledger(db_url: str) -> Iterator[SupportLedger]:
    app = SupportLedger(db_url)
    try:
        yield app
    finally:
        app.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    """Say how many tests ran on each store, so a CI log shows PostgreSQL was exercised."""
    counts: dict[str, dict[str, int]] = {"sqlite": {}, "postgres": {}}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            for store in counts:
                if f"[{store}" in report.nodeid or f"-{store}]" in report.nodeid or f"-{store}-" in report.nodeid:
                    counts[store][outcome] = counts[store].get(outcome, 0) + 1
    for store, by_outcome in counts.items():
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(by_outcome.items())) or "none"
        terminalreporter.write_line(f"store {store}: {summary}")
