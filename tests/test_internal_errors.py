"""A bug never shows a user a traceback (issue 16's standard, kept by issue 18's new outputs):
one line on stderr, exit status 70, the traceback kept in a file named on that line."""

from __future__ import annotations

import re
from pathlib import Path

import projections.invoice
from commands.cli import main
from commands.failures import INTERNAL, report_failures
from tests.builders import register
from tests.support import apply


def crash() -> int:
    raise RuntimeError("boom\nsecond line")


def test_a_bug_is_one_line_and_its_traceback_is_kept_in_a_file(capsys, monkeypatch):
    monkeypatch.delenv("SUPPORT_LEDGER_TRACEBACK", raising=False)
    assert report_failures(crash) == INTERNAL == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: internal error (RuntimeError: boom): a bug in support-ledger")
    kept = Path(re.search(r"the traceback is in (\S+\.txt)", err).group(1))
    try:
        text = kept.read_text(encoding="utf-8")
        assert "Traceback" in text and "in crash" in text and "RuntimeError: boom" in text
    finally:
        kept.unlink()


def test_the_traceback_can_be_asked_for(capsys, monkeypatch):
    monkeypatch.setenv("SUPPORT_LEDGER_TRACEBACK", "1")
    assert report_failures(crash) == INTERNAL
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith("printed above")


def test_a_query_that_meets_a_bug_ends_in_one_line(ledger, capsys, monkeypatch):
    monkeypatch.delenv("SUPPORT_LEDGER_TRACEBACK", raising=False)
    apply(ledger, register("acme"))

    def broken(*_args, **_kwargs):
        raise KeyError("lines")

    monkeypatch.setattr(projections.invoice, "invoice", broken)
    status = main(["invoice", "acme", "--period", "2025-03", "--json", "--db", ledger.url])
    err = capsys.readouterr().err
    assert status == INTERNAL and err.count("\n") == 1 and "internal error (KeyError: 'lines')" in err
    Path(re.search(r"the traceback is in (\S+\.txt)", err).group(1)).unlink()
