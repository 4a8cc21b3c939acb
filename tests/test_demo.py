"""The demo shows the ledger's two time axes (issue 18 item 5, I-9): it records a correction of
March after boreal's March invoice was issued, and shows the issued invoice unchanged, the
adjustment on boreal's next period, both as known at K1 (before the correction) and K2 (after
it), and a diff naming the correction; a second run records nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from commands.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "demo.py"
K = re.compile(r"^(K[12]) = (\S+) — ", re.MULTILINE)
SAMPLE = [sum(1 for line in (ROOT / "scripts" / "demo" / name).read_text(encoding="utf-8").splitlines() if line.strip())
          for name in ("commands.jsonl", "late.jsonl")]  # the commands of each stage


def run_demo(db_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_LEDGER_")}
    return subprocess.run([sys.executable, str(DEMO), "--db", db_url], capture_output=True, text=True, cwd=cwd,
                          env={**kept, "COLUMNS": "200"}, timeout=300)


def query(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def section(output: str, title: str) -> str:
    """The demo's output under the rule headed `title`, up to the next of the demo's rules."""
    start = output.index(f" {title} ")
    after = output.index("\n", start) + 1
    end = min((found for rule in ("─ support-ledger ", "─ Two time axes ", "─ more ")
               if (found := output.find(rule, after)) >= 0), default=len(output))
    return output[after:end]


@pytest.fixture
def demo(db_url, tmp_path_factory) -> tuple[str, subprocess.CompletedProcess[str], Path]:
    """The demo run once on a fresh store: the store, what the run printed, its directory."""
    cwd = tmp_path_factory.mktemp("demo")
    return db_url, run_demo(db_url, cwd), cwd


def test_the_demo_shows_an_adjustment_for_a_fact_learned_after_the_invoice_and_ends_verified(capsys, demo):
    db_url, done, cwd = demo
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert all(f"{n} commands — {n} applied\n" in done.stdout for n in SAMPLE)  # none of the sample refused
    known = dict(K.findall(done.stdout))
    k1, k2 = known["K1"], known["K2"]
    assert k1 < k2  # both are Moscow time, same offset: the text orders as the instants do

    # The issued invoice is the same at K1 and K2 (I-9): 2 h and 1 h at 3000.00 (R-STP-2, R-STP-3).
    issued = [query(capsys, "invoice", "boreal", "--period", "2025-03", "--known-at", k, "--db", db_url)
              for k in (k1, k2)]
    assert [(i["status"], i["total"]) for i in issued] == [("issued", "9000.00")] * 2
    assert issued[0]["lines"] == issued[1]["lines"]
    for k in (k1, k2):
        assert f"invoice boreal --period 2025-03 --known-at {k}" in done.stdout

    # April, boreal's next period not yet issued: nothing at K1; at K2 the correction of T-2001/1
    # (50 → 110 min) makes 5 March 110 + 15 = 125 min, billed 180 (R-STP-3, I-5): 3 h × 3000.00 =
    # 9000.00 where 6000.00 was issued, so an adjustment of 3000.00 (I-9).
    before = query(capsys, "invoice", "boreal", "--period", "2025-04", "--known-at", k1, "--db", db_url)
    after = query(capsys, "invoice", "boreal", "--period", "2025-04", "--known-at", k2, "--db", db_url)
    assert (before["status"], before["lines"], before["total"]) == ("draft", [], "0.00")
    [adjustment] = after["lines"]
    assert (adjustment["kind"], adjustment["amount"], after["total"]) == ("adjustment", "3000.00", "3000.00")
    assert "I-9" in adjustment["rules"]
    shown = section(done.stdout, f"support-ledger invoice boreal --period 2025-04 --known-at {k2}")
    assert "adjustment" in shown and "Adjustment to the issued invoice for 2025-03" in shown and "3000.00" in shown
    assert "adjustment" not in section(done.stdout, f"support-ledger invoice boreal --period 2025-04 --known-at {k1}")

    # The diff names its cause: the correction, recorded between K1 and K2.
    difference = query(capsys, "diff", "boreal", "--period", "2025-04", "--from-known-at", k1, "--to-known-at", k2,
                       "--db", db_url)
    [change] = difference["changes"]
    [cause] = change["caused_by"]
    assert (change["change"], change["amount_change"], cause["type"]) == ("added", "3000.00", "TimeCorrected")
    assert cause["event_id"] in adjustment["events"]
    shown = section(done.stdout, f"support-ledger diff boreal --period 2025-04 --from-known-at {k1} --to-known-at {k2}")
    assert "total 0.00 (draft) → 3000.00 (draft)" in shown
    assert "TimeCorrected" in shown and cause["event_id"] in shown and "1 events recorded in between" in shown

    # It still ends with the whole record verified, and writes a client's document when it can.
    assert "verified: " in section(done.stdout, "support-ledger verify")
    assert done.stdout.index("support-ledger verify") > done.stdout.index("support-ledger diff")
    if importlib.util.find_spec("projections.documents") is not None:
        document = cwd / "out" / "boreal-2025-03.ru.html"
        assert document.is_file() and document.stat().st_size > 0


def test_a_second_run_records_nothing_and_finds_the_same_k(capsys, demo):
    db_url, first, cwd = demo
    assert first.returncode == 0, first.stderr
    head = query(capsys, "head", "--db", db_url)
    again = run_demo(db_url, cwd)
    assert again.returncode == 0, again.stderr
    assert all(f"{n} commands — {n} duplicate\n" in again.stdout for n in SAMPLE)
    assert query(capsys, "head", "--db", db_url) == head
    assert K.findall(again.stdout) == K.findall(first.stdout)
