"""Start-up of the CLI (issue 17, item 4): median wall time of a fresh `support-ledger` process.

    python scripts/bench_startup.py [--db sqlite:///PATH --client ID --period YYYY-MM] [--runs N] [--json]

Measures, each as the median of N runs (default 11) of a fresh process, timed from before it
is started until it has exited (as `/usr/bin/time` does):

- `python -c pass`, the bare interpreter, and `python -c "from pydantic import BaseModel"`,
  for scale;
- `support-ledger --help` (target ≤ 0.10 s);
- `support-ledger invoice CLIENT --period P --json` on the store given (target ≤ 0.15 s on
  the 1M-event SQLite store of `scripts/bench.py`: client c05244, 2025-11); without --db, on
  the demo's commands applied to a new store (boreal, 2025-03);
- one `RegisterClient` through `support-ledger apply -` on a new store each run (target
  ≤ 0.20 s).

Run it with nothing else running: a second process on a 2-core machine moves these figures
by several hundredths of a second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SCRIPT = Path(sys.executable).with_name("support-ledger")  # the installed command, as a user runs it
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "commands.cli"]
ONE_COMMAND = b'{"command":"RegisterClient","client_id":"c1","name":"Acme"}\n'
TARGETS = {"help": 0.10, "invoice": 0.15, "apply_one": 0.20}


def timed(argv: list[str], stdin: bytes = b"", before: object = None) -> float:
    """Wall seconds of one fresh process, which must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace').strip()}")
    return seconds


def median(runs: int, measure: object) -> float:
    return statistics.median(measure() for _ in range(runs))  # type: ignore[operator]


def demo_store(directory: Path) -> str:
    url = f"sqlite:///{directory / 'demo.db'}"
    subprocess.run([*CLI, "--db", url, "apply", str(ROOT / "scripts/demo/commands.jsonl")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="the store to query (default: the demo's commands in a new store)")
    parser.add_argument("--client", default="boreal")
    parser.add_argument("--period", default="2025-03")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="support-ledger-startup-") as scratch:
        directory = Path(scratch)
        url = args.db or demo_store(directory)
        fresh = iter(range(10**6))

        def apply_one() -> float:
            return timed([*CLI, "--db", f"sqlite:///{directory / f'one-{next(fresh)}.db'}", "apply", "-"], ONE_COMMAND)

        figures = {
            "python_pass": median(args.runs, lambda: timed([sys.executable, "-c", "pass"])),
            "import_pydantic": median(args.runs, lambda: timed([sys.executable, "-c", "from pydantic import BaseModel"])),
            "help": median(args.runs, lambda: timed([*CLI, "--help"])),
            "invoice": median(args.runs, lambda: timed([*CLI, "invoice", args.client, "--period", args.period,
                                                        "--json", "--db", url])),
            "apply_one": median(args.runs, apply_one),
        }
    if args.json:
        print(json.dumps({name: round(value, 3) for name, value in figures.items()}))
        return 0
    for name, value in figures.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else f"  (target ≤ {target:.2f} s: {'met' if value <= target else 'NOT met'})"
        print(f"{name:16} {value:.3f} s{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
