"""The demo: load a realistic sample of commands into the ledger and show what it knows.

    python scripts/demo.py [--db URL]

Uses the default store (SUPPORT_LEDGER_DB, else sqlite:///support-ledger.db in the working
directory). Running it again is harmless: every sample command carries a command_id, so a
second run reports duplicates and records nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from commands.bus import apply_line
from commands.cli import main as cli
from ledger.application import DEFAULT_DB_URL, SupportLedger

HERE = Path(__file__).resolve().parent / "demo"
console = Console()


def apply_file(ledger: SupportLedger, path: Path) -> list[tuple[int, str, str | None]]:
    results = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.strip():
            outcome = apply_line(ledger, text, actor="demo")
            results.append((number, outcome.status, outcome.error))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("SUPPORT_LEDGER_DB", DEFAULT_DB_URL))
    url = parser.parse_args().db

    console.rule(f"support-ledger demo — store {url}")
    with SupportLedger(url) as ledger:
        results = apply_file(ledger, HERE / "commands.jsonl")
        counts = Counter(status for _, status, _ in results)
        console.print(f"Applied {HERE / 'commands.jsonl'}: {len(results)} commands — "
                      + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))

        console.rule("Mistakes the ledger refuses (nothing is recorded)")
        table = Table("line", "status", "error")
        for number, status, error in apply_file(ledger, HERE / "mistakes.jsonl"):
            table.add_row(str(number), status, error or "")
        console.print(table)

    for arguments in (
        ["history", "boreal"],
        ["entitlements", "acme", "--at", "2025-02-01T12:00"],
        ["entitlements", "cedar", "--at", "2025-03-15T12:00"],
        ["sla", "T-1002"],
        ["invoice", "acme", "--period", "2025-02"],
        ["invoice", "boreal", "--period", "2025-03"],
        ["register"],
        ["explain", "cedar", "--period", "2025-06"],
        ["verify"],  # the hash chain vouches for every event above (README, "An audit-grade record")
    ):
        console.rule("support-ledger " + " ".join(arguments))
        cli([*arguments, "--db", url])
    console.rule("more")
    console.print("Try: support-ledger diff, support-ledger head (keep it; later: verify --expect HASH), "
                  "scripts/month_end.py, scripts/dispute_report.py (README).")
    return 0 if counts.get("rejected", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
