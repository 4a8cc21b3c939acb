"""Run scripts/bench.py for several sizes on SQLite and PostgreSQL; print the README table.

    python scripts/bench_table.py [--events 100000 300000 1000000] [--pg postgresql://postgres@127.0.0.1:5432/test] [--out DIR] [--tabulate-only]

Each run's JSON is kept in DIR (default bench-results/); the Markdown table goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = [
    ("events", "events", "{:,}"),
    ("clients", "clients", "{:,}"),
    ("apply events/s", "apply_events_per_s", "{:,.0f}"),
    ("raw library events/s", "raw_events_per_s", "{:,.0f}"),
    ("**P1** apply_ratio (≥ 0.5)", "apply_ratio", "{:.3f}"),
    ("apply s (worker processes)", None, None),
    ("saving s, summed over the processes", "apply_save_seconds", "{:.1f}"),
    ("save path alone ÷ raw", "save_path_ratio", "{:.2f}"),
    ("raw events/s with the ledger's settings", "raw_like_ledger_events_per_s", "{:,.0f}"),
    ("P1 against that baseline", "apply_ratio_like_ledger", "{:.3f}"),
    ("month-end s / raw read s", None, None),
    ("**P2** month_end_ratio (≤ 1.0)", "month_end_ratio", "{:.2f}"),
    ("replay s / query s", None, None),
    ("**P3** asof_speedup (≥ 100)", "asof_speedup", "{:,.0f}"),
    ("**P4** peak_rss_mb (≤ 1024)", "peak_rss_mb", "{:.0f}"),
    ("verify s / raw read s", None, None),
    ("**V** verify_ratio (≤ 1.0)", "verify_ratio", "{:.2f}"),
    ("head ms", "head_ms", "{:.2f}"),
]


def cell(result: dict, label: str, key: str | None, form: str | None) -> str:
    if label.startswith("month-end"):
        return f"{result['month_end_seconds']:.2f} / {result['raw_read_seconds']:.2f}"
    if label.startswith("apply s"):
        return f"{result['apply_seconds']:.1f} ({result.get('apply_workers', 1)})"
    if label.startswith("verify s"):
        return "—" if "verify_s" not in result else f"{result['verify_s']:.2f} / {result['raw_read_seconds']:.2f}"
    if label.startswith("replay"):
        return f"{result['replay_seconds']:.2f} / {result['query_seconds']:.4f}"
    if result.get(key) is None:
        return "—"  # not measured by the bench that wrote this result
    text = form.format(result[key])  # type: ignore[union-attr]
    target = {"apply_ratio": "P1", "month_end_ratio": "P2", "asof_speedup": "P3", "peak_rss_mb": "P4",
              "verify_ratio": "V"}.get(key)
    if target:
        text += " ✓" if result["targets"][target] else " ✗"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--tabulate-only", action="store_true", help="print the table from the JSON already in --out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    columns = []
    for events in args.events:
        for store, db in (("SQLite", None), ("PostgreSQL", args.pg)):
            path = args.out / f"{store.lower()}-{events}.json"
            command = [sys.executable, str(HERE / "bench.py"), "--events", str(events), "--json"]
            if db:
                command += ["--db", db]
            if not args.tabulate_only:
                print(f"running {' '.join(command[1:])}", file=sys.stderr, flush=True)
                path.write_text(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            if not path.exists():
                print(f"no result {path} (run without --tabulate-only to measure it); column left out",
                      file=sys.stderr)
                continue
            columns.append((f"{store} {events:,}", json.loads(path.read_text())))
    print("| | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for label, key, form in ROWS:
        print(f"| {label} | " + " | ".join(cell(r, label, key, form) for _, r in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
