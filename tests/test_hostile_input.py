"""Hostile input (issue 16): every line of a command file gets exactly one outcome, numbered
by its `\\n`-separated line; a refused line records nothing; no value a command accepts
makes a later command or query fail; no argument of any subcommand ends in a traceback.

The property tests run against both stores; the fixed cases cite what the issue found."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.bus import apply_line
from commands.cli import main
from ledger.application import SupportLedger
from ledger.errors import LedgerError
from projections.entitlements import entitlements
from projections.explain import explain
from projections.history import client_history
from projections.invoice import invoice
from projections.support_time import sla
from ledger.timeutil import parse_instant, utc_now
from tests.support import applied
from tests.builders import SET_UP

ROOT = Path(__file__).resolve().parents[1]

LOG_TIME = {"command": "LogTime", "ticket_id": "T1", "entry_id": "E1", "engineer": "ivanov",
            "started_at": "2025-03-03T12:00", "minutes": 30, "activity": "consultation"}
VALID = [*SET_UP, LOG_TIME,
         {"command": "SubscribePriority", "client_id": "acme", "subscription_id": "S1", "at": "2025-03-01T00:00"},
         {"command": "IssueInvoice", "client_id": "acme", "period": "2025-03", "at": "2025-04-01T10:00"},
         {"command": "OverrideCalendarDay", "date": "2025-03-10", "kind": "holiday", "reason": "Decree"}]

# What users and their machines were seen to send (issue 16, item 2), and the like.
HOSTILE_CHARACTERS = ["\u0000", "\u001b[31m", "\u2028", "\u2029", "\u0085", "\r", "\u202e", "\ud800",
                      "\ufeff", "\t", "\n", "\u3000", "\u0663", "\uff13", "\U0010ffff", "\ue000"]
HOSTILE_VALUES: list[Any] = [
    "9999-12-31T23:59", "0001-01-01T00:00", "2025-03-03T12:00+03:00:30", "2025-03-03T12:00-23:59:59.999999",
    "2025-03-03T12:00+14:15", "1999-12-31T23:59", "2101-01-01", "2100-12-31T23:59-12:00", "9999-12-31",
    " 2025-03", "2025-03 ", "0000-01", "9999-12", "３０００.００", "1" * 30, "-1.00", "1e3", "NaN", "Infinity",
    "2025-W10-1", "20250303T1200", "2025-03-03 12:00", "", " ", 10**30, -1, 1.5, None, True, [], {},
]


def _mutations(base: dict[str, Any]) -> st.SearchStrategy[str]:
    fields = [f for f in base if f != "command"]

    def insert(draw_field: str, character: str, position: int) -> str:
        command = dict(base)
        value = str(command[draw_field])
        cut = position % (len(value) + 1)
        command[draw_field] = value[:cut] + character + value[cut:]
        return json.dumps(command, ensure_ascii=bool(position % 2))

    def replace(field: str, value: Any) -> str:
        return json.dumps({**base, field: value})

    def twice(field: str, value: Any) -> str:
        text = json.dumps(base)
        return text[:-1] + f", {json.dumps(field)}: {json.dumps(value)}}}"

    return st.one_of(
        st.builds(insert, st.sampled_from(fields), st.sampled_from(HOSTILE_CHARACTERS), st.integers(0, 40)),
        st.builds(replace, st.sampled_from(fields), st.sampled_from(HOSTILE_VALUES)),
        st.builds(twice, st.sampled_from(fields), st.sampled_from(HOSTILE_VALUES)),
        st.builds(lambda text: text, st.text(max_size=40)),
    )


HOSTILE_LINES = st.sampled_from(VALID).flatmap(_mutations)


def queries_answer(ledger: SupportLedger) -> None:
    """Every query about what the hostile lines may have touched answers or refuses with a
    ledger error: never another exception."""
    now = utc_now()
    for query in (lambda: invoice(ledger, "acme", "2025-03", now), lambda: explain(ledger, "acme", "2025-03", now),
                  lambda: client_history(ledger, "acme", now),
                  lambda: entitlements(ledger, "acme", parse_instant("2025-03-05T12:00"), now),
                  lambda: sla(ledger, "T1", now)):
        try:
            json.dumps(query(), ensure_ascii=False).encode("utf-8")  # printable, storable, sendable
        except LedgerError:
            pass


@pytest.fixture
def ledger_with_set_up(db_url):
    with SupportLedger(db_url) as ledger:
        applied(ledger, *SET_UP)
        yield ledger


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(HOSTILE_LINES, min_size=1, max_size=4))
def test_a_hostile_line_is_refused_alone_or_accepted_harmlessly(ledger_with_set_up, lines):
    ledger = ledger_with_set_up
    for line in lines:
        before = len(ledger.recorded_events())
        outcome = apply_line(ledger, line, "fuzzer")
        after = len(ledger.recorded_events())
        if outcome.status == "rejected":
            assert after == before, (line, outcome)
            assert outcome.error and "\n" not in outcome.error, outcome  # one line, as printed
    queries_answer(ledger)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(HOSTILE_LINES, st.sampled_from(["", "   ", "\t", "\r"])), max_size=8),
       bom=st.booleans(), crlf=st.booleans())
def test_every_line_of_a_file_gets_one_outcome_numbered_by_its_newline(db_url, tmp_path_factory, lines, bom, crlf):
    """A file's lines are its `\\n`-separated lines, whatever they contain (CR, U+2028 and
    U+0085 inside a string stay in it); blank lines get no outcome; a BOM and CRLF are fine."""
    body = "".join(line.replace("\n", "\\n") + ("\r\n" if crlf else "\n") for line in lines)
    data = ("\ufeff" if bom else "") + body
    path = tmp_path_factory.mktemp("file") / "lines.jsonl"
    path.write_bytes(data.encode("utf-8", "surrogatepass"))
    out, err, code = run_cli("apply", str(path), "--db", db_url)
    assert "Traceback" not in err
    numbers = [json.loads(line)["line"] for line in out.splitlines()]
    expected = [n for n, line in enumerate(lines, start=1) if line.strip(" \t\r")]
    assert numbers == expected, (lines, out)
    assert code in (0, 1)


def run_cli(*args: str) -> tuple[str, str, int]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return out.getvalue(), err.getvalue(), code


# --- query arguments ----------------------------------------------------------------------

ARGUMENTS = st.one_of(
    st.sampled_from(["acme", "T1", "2025-03", "2025-03-05", "2025-03-05T12:00", "9999-12", "0000-01",
                     "9999-12-01", "9999-12-31", "2025-02-30", "2100-12-31T23:59-12:00", "\ud800", "a\udcff",
                     "\u001b[31m", "--json", "-", "", "2025-13", "1" * 70, "2025-03-05T12:00+03:00:30"]),
    st.text(max_size=12),
)
QUERIES = [
    "invoice {0} --period {1}", "invoice {0} --period {1} --known-at {2}", "explain {0} --period {1}",
    "diff {0} --period {1} --from-known-at {2}", "diff {0} --period {1} --from-known-at {2} --to-known-at {0}",
    "history {0} --known-at {1}", "entitlements {0} --at {1}", "hours {0} {1}", "sla {0} --known-at {1}",
    "register --period {0} --client {1}", "verify --expect {0}", "head", "schema",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.sampled_from(QUERIES), values=st.lists(ARGUMENTS, min_size=3, max_size=3), as_json=st.booleans())
def test_no_query_argument_ends_in_a_traceback(ledger_with_set_up, db_url, query, values, as_json):
    args = [part.format(*values) if "{" in part else part for part in shlex.split(query)]
    out, err, code = run_cli(*args, "--db", db_url, *(["--json"] if as_json and query not in ("schema",) else []))
    assert code in (0, 1, 2, 3), (args, code, err)
    if code in (1, 3):
        assert len(err.strip().splitlines()) <= 1, err


# --- the command file's JSON Schema -----------------------------------------------------------


def test_the_schema_validates_every_line_of_the_demo_file_with_a_standard_validator():
    """`support-ledger schema` is a JSON Schema a script can check its lines with before
    sending them: every line of the demo file is valid, and lines the ledger refuses for
    their form (an offset no clock uses, a year out of range, full-width digits) are not."""
    import jsonschema

    out, _, code = run_cli("schema")
    assert code == 0
    schema = json.loads(out)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    demo = (ROOT / "scripts" / "demo" / "commands.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(demo) > 40
    problems = [(n, error.message) for n, line in enumerate(demo, start=1) if line.strip()
                for error in validator.iter_errors(json.loads(line))]
    assert problems == []
    handover = {"command": "HandOverLicenseKey", "client_id": "acme", "license_id": "L1"}
    for at in ("2025-03-03T12:00+03:00:30", "20250303T1200", "2025-03-03 12:00"):
        assert not validator.is_valid({**handover, "at": at}), at
    assert not validator.is_valid({"command": "PublishPriceList", "effective_from": "2025-01-01",
                                   "norm_hour": "３０００.００", "priority_month": "1.00"})
