"""The demo: load a realistic sample of commands into the ledger and show what it knows, on
both of its time axes.

    python scripts/demo.py [--db URL]

The sample is applied in two stages, as a ledger learns things: `demo/commands.jsonl` (three
clients' licences, tickets and time, and boreal's invoice for 2025-03, issued), then
`demo/late.jsonl`, facts learned after that invoice was issued (a correction of the time
worked on 5 March). K1 and K2 are the record times after each stage: asked "as known at K1",
the ledger answers as it did before the correction; at K2, with it (I-9).

Uses the default store (SUPPORT_LEDGER_DB, else sqlite:///support-ledger.db in the working
directory). Running it again is harmless: every sample command carries a command_id, so a
second run reports duplicates and records nothing, and K1 and K2 stay what they were (the
record times of each stage's commands).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from commands.bus import apply_line
from commands.cli import main as cli
from ledger.application import DEFAULT_DB_URL, SupportLedger
from ledger.timeutil import in_moscow

HERE = Path(__file__).resolve().parent / "demo"
STAGES = (HERE / "commands.jsonl", HERE / "late.jsonl")  # what the ledger learns, in the order it learns it
DOCUMENTS = Path("out")  # where the demo writes a client's document (ignored by git)
console = Console()


def apply_file(ledger: SupportLedger, path: Path) -> list[tuple[int, str, str | None, str | None]]:
    """(line, status, error, command_id) of each command of the file, applied one by one."""
    results = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.strip():
            outcome = apply_line(ledger, text, actor="demo")
            results.append((number, outcome.status, outcome.error, outcome.command_id))
    return results


def known_after(ledger: SupportLedger, command_ids: list[str]) -> datetime:
    """The record time of the last of these commands: "as known at" it, the ledger knows all of
    them and nothing recorded after. Read from their receipts, so that a second run (all
    duplicates) finds the same instant as the first."""
    receipts = [event for command_id in command_ids
                for event in ledger.recorded_events(stream=f"command/{command_id}")]
    return in_moscow(max(event.recorded_at for event in receipts))


def apply_stage(ledger: SupportLedger, path: Path, name: str) -> tuple[Counter[str], str]:
    """Apply one stage of the sample; its outcomes counted, and K: the record time after it."""
    results = apply_file(ledger, path)
    counts = Counter(status for _, status, _, _ in results)
    known_at = known_after(ledger, [command_id for *_, command_id in results if command_id]).isoformat()
    console.print(f"Applied {path}: {len(results)} commands — "
                  + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    console.print(f"[bold]{name} = {known_at}[/bold] — the record time when the ledger had learned this file "
                  f"(a query with --known-at {name} answers as it knew things then)")
    return counts, known_at


def show(*arguments: str, url: str) -> None:
    console.rule("support-ledger " + " ".join(arguments))
    cli([*arguments, "--db", url])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("SUPPORT_LEDGER_DB", DEFAULT_DB_URL))
    url = parser.parse_args().db

    console.rule(f"support-ledger demo — store {url}")
    with SupportLedger(url) as ledger:
        counts, k1 = apply_stage(ledger, STAGES[0], "K1")

        console.rule("Mistakes the ledger refuses (nothing is recorded)")
        table = Table("line", "status", "error")
        for number, status, error, _ in apply_file(ledger, HERE / "mistakes.jsonl"):
            table.add_row(str(number), status, error or "")
        console.print(table)

        console.rule("Learned later: a correction of March, after boreal's March invoice was issued")
        late, k2 = apply_stage(ledger, STAGES[1], "K2")
        counts += late

    for arguments in (
        ["history", "boreal"],
        ["entitlements", "acme", "--at", "2025-02-01T12:00"],
        ["entitlements", "cedar", "--at", "2025-03-15T12:00"],
        ["sla", "T-1002"],
        ["invoice", "acme", "--period", "2025-02"],
        ["invoice", "boreal", "--period", "2025-03"],
        ["register"],
        ["explain", "cedar", "--period", "2025-06"],
    ):
        show(*arguments, url=url)

    show_two_time_axes(url, k1, k2)
    show_documents(url)
    show("verify", url=url)  # the hash chain vouches for every event above (README, "An audit-grade record")
    console.rule("more")
    console.print(f"Try: support-ledger explain boreal --period 2025-04 (the adjustment's computation), "
                  f"history boreal --known-at {k1}, head (keep it; later: verify --expect HASH), "
                  "scripts/month_end.py, scripts/dispute_report.py (README).")
    return 0 if counts.get("rejected", 0) == 0 else 1


def show_two_time_axes(url: str, k1: str, k2: str) -> None:
    """Valid time is when a fact happened, record time when the ledger learned it (I-9). The
    correction of 5 March was learned after March was invoiced: the issued invoice stays as
    issued, and the difference is an adjustment on boreal's next period not yet issued."""
    console.rule("Two time axes (I-9)")
    console.print(f"K1 = {k1}: before the correction was learned\n"
                  f"K2 = {k2}: after it (T-2001/1 corrected from 50 to 110 minutes, worked on 2025-03-05)")
    show("invoice", "boreal", "--period", "2025-03", "--known-at", k1, url=url)
    show("invoice", "boreal", "--period", "2025-03", "--known-at", k2, url=url)  # the same: issued (I-9)
    show("invoice", "boreal", "--period", "2025-04", "--known-at", k1, url=url)  # a draft with nothing on it
    show("invoice", "boreal", "--period", "2025-04", "--known-at", k2, url=url)  # the adjustment, for March
    show("diff", "boreal", "--period", "2025-04", "--from-known-at", k1, "--to-known-at", k2, url=url)


def show_documents(url: str) -> None:
    """A client's document (issue 18), once the ledger can render them."""
    if importlib.util.find_spec("projections.documents") is None:
        return
    DOCUMENTS.mkdir(exist_ok=True)
    out = DOCUMENTS / "boreal-2025-03.ru.html"
    show("invoice", "boreal", "--period", "2025-03", "--format", "html", "--lang", "ru", "--out", str(out), url=url)
    if out.is_file():
        console.print(f"The invoice for the client, in Russian: {out.resolve()}")


if __name__ == "__main__":
    sys.exit(main())
