"""Benchmark the ledger on a realistic synthetic history (issue "Scale: a million events").

    python scripts/bench.py --events N [--db URL] [--seed S] [--json] [--profile DIR]

1. Generates about N events of history (scripts/bench_history.py, deterministic per seed).
2. Applies it through `commands.parallel.apply_with_workers` (the `support-ledger apply` path, with as
   many worker processes as `support-ledger apply` starts here: --workers), timed:
   apply_events_per_s. Every command must be accepted; rejections are counted and the first
   few printed to stderr.
3. Raw library baseline: the stored events, read back in record order and grouped into the
   transactions the apply made (one `ledger_commits` row each), saved into a fresh store with the
   library's plain recorder (`Application.events.put` per transaction), timed:
   raw_events_per_s. P1: apply_ratio = apply / raw ≥ 0.5. The baseline then runs a second
   time with the settings the ledger gives itself — the garbage collector's thresholds of a
   bulk apply (ledger.bulk.bulk_collection) and, on SQLite, the log checkpointed every
   WAL_AUTOCHECKPOINT_PAGES and connections that keep their prepared statements
   (StatementCachingSQLiteConnectionPool): raw_like_ledger_events_per_s and apply_ratio_like_ledger,
   reported beside P1 (how much of P1 those settings account for).
4. P2: month_end_ratio = invoices_for_period(last full month, K=now) ÷ one raw read and
   decode of the whole log (select_notifications + mapper) ≤ 1.0.
5. P3: asof_speedup = one client's invoice as known at a past K by full replay (every event
   recorded up to K, folded) ÷ the query path `projections.invoice.invoice` ≥ 100; both
   documents must be identical (asof_equal).
6. P4: peak_rss_mb of the month-end computation in a fresh (spawned) process ≤ 1024.
7. Integrity (issue "An audit-grade record"): verify_s, one `SupportLedger.verify` of the
   whole store (every link re-hashed, every stream and payload checked), and verify_ratio =
   verify_s ÷ the raw read and decode of step 4 (target ≤ 1.0); head_ms, one `head` query
   (it must not re-hash the log: the time of one small query).

--db: default a fresh SQLite file in a temp dir (kept, path printed); for postgresql://…
a fresh schema for the ledger (kept) and another for the raw baseline (dropped). With
--json, exactly one JSON document on stdout; progress and logs go to stderr.
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import json
import multiprocessing
import shlex
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_history import History, generate  # noqa: E402
from eventsourcing.application import Application  # noqa: E402
from eventsourcing.persistence import StoredEvent  # noqa: E402
from eventsourcing.utils import get_topic  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table  # noqa: E402

from commands.bus import ApplyStats  # noqa: E402
from commands.parallel import apply_with_workers, default_workers  # noqa: E402

from ledger.application import SupportLedger  # noqa: E402
from ledger.bulk import bulk_collection  # noqa: E402
from ledger.events import STREAM_MARK, work_mark  # noqa: E402
from ledger.store.settings import environment_for  # noqa: E402
from ledger.store.sqlite import CheckpointingSQLiteRecorder  # noqa: E402
from ledger.timeutil import in_moscow, moscow_date, period_of, utc_now  # noqa: E402
from projections.invoice import invoice, invoice_of  # noqa: E402
from projections.knowledge import fold, replayed_knowledge  # noqa: E402
from projections.month_end import invoices_for_period  # noqa: E402

TARGETS = {"P1": ("apply_ratio", ">=", 0.5), "P2": ("month_end_ratio", "<=", 1.0),
           "P3": ("asof_speedup", ">=", 100.0), "P4": ("peak_rss_mb", "<=", 1024.0),
           "V": ("verify_ratio", "<=", 1.0)}
PAGE = 10_000
err = Console(stderr=True)


def progress(auto_refresh: bool = True) -> Progress:
    """A progress bar on stderr. Without `auto_refresh` it runs no thread of its own (as
    `support-ledger apply` runs none, so that its workers can be forks of it) and shows what
    it is told when told with `refresh=True`."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=err, auto_refresh=auto_refresh)


@contextmanager
def profiled(directory: Path | None, name: str) -> Iterator[None]:
    if directory is None:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        directory.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(directory / f"{name}.pstats")
        err.log(f"profile written to {directory / f'{name}.pstats'}")


# --- the stores --------------------------------------------------------------------------------


class Stores:
    """The bench's ledger store (kept) and the raw baseline's store (dropped)."""

    def __init__(self, db: str | None):
        if db is None:
            db = f"sqlite:///{Path(tempfile.mkdtemp(prefix='support-ledger-bench-')) / 'bench.db'}"
        self.scheme = urlparse(db).scheme
        if db.startswith("sqlite:///"):
            self.path = Path(db[len("sqlite:///"):]).resolve()
            if self.path.exists() and self.path.stat().st_size:
                raise SystemExit(f"bench needs a fresh store: {self.path} already exists")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.raw_path = self.path.with_name(f"{self.path.stem}-raw{self.path.suffix or '.db'}")
            for path in self._raw_files():
                path.unlink(missing_ok=True)
            self.url = f"sqlite:///{self.path}"
            self.raw_url = f"sqlite:///{self.raw_path}"
        elif self.scheme in ("postgresql", "postgres"):
            import psycopg

            self.base = db.split("?", 1)[0]
            tag = uuid.uuid4().hex[:10]
            self.schema, self.raw_schema = f"bench_{tag}", f"bench_raw_{tag}"
            with psycopg.connect(self.base, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{self.schema}"')
                conn.execute(f'CREATE SCHEMA "{self.raw_schema}"')
            self.url = f"{self.base}?schema={self.schema}"
            self.raw_url = f"{self.base}?schema={self.raw_schema}"
        else:
            raise SystemExit(f"unsupported --db {db!r}: sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME")

    @property
    def sqlite(self) -> bool:
        return self.scheme == "sqlite"

    def _raw_files(self) -> list[Path]:
        return [self.raw_path, *(self.raw_path.with_name(self.raw_path.name + s) for s in ("-wal", "-shm", "-journal"))]

    def raw_env(self, *, like_ledger: bool = False) -> dict[str, str]:
        """The library's own recorder (no APPLICATION_RECORDER_TOPIC) and, on SQLite, its own
        connections, with the ledger's mapper; `like_ledger`: SQLite's log checkpointed and
        its connections opened as the ledger's are."""
        env = environment_for(self.raw_url)
        env.pop("APPLICATION_RECORDER_TOPIC", None)
        if self.sqlite and like_ledger:
            env["APPLICATION_RECORDER_TOPIC"] = get_topic(CheckpointingSQLiteRecorder)
        elif self.sqlite:
            env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
        return env

    def drop_raw(self, *, again: bool = False) -> None:
        """Remove the raw baseline's store; `again`: and leave an empty one for another run."""
        if self.sqlite:
            for path in self._raw_files():
                path.unlink(missing_ok=True)
            return
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.raw_schema}" CASCADE')
            if again:
                conn.execute(f'CREATE SCHEMA "{self.raw_schema}"')


class Sql:
    """Plain queries on the ledger's own tables, spelled by its dialect, through its record-time index."""

    def __init__(self, ledger: SupportLedger):
        self.index = ledger.index
        d = self.index.dialect
        self.names = {"commits": d.commits, "marks": d.marks, "events": d.events, "p": d.param, "n": d.position}

    def rows(self, statement: str, params: list[Any] = ()) -> list[Any]:  # type: ignore[assignment]
        with self.index.transaction(commit=False) as cursor:
            cursor.execute(statement.format(**self.names), list(params))
            return cursor.fetchall()

    def instant(self, value: Any) -> datetime:
        return in_moscow(self.index.dialect.from_time(value))


# --- phases ----------------------------------------------------------------------------------


def apply_phase(ledger: SupportLedger, history: History, workers: int,
                stats: ApplyStats) -> tuple[float, Counter, list[tuple[int, str, str]]]:
    statuses: Counter = Counter()
    rejected: list[tuple[int, str, str]] = []
    lines = history.lines
    with progress(auto_refresh=False) as bar:
        task = bar.add_task("apply", total=len(lines), rate="")
        started = shown = time.perf_counter()
        for number, outcome in enumerate(apply_with_workers(ledger, lines, "bench", workers=workers, stats=stats), start=1):
            statuses[outcome.status] += 1
            if outcome.status == "rejected" and len(rejected) < 10:
                rejected.append((number, lines[number - 1], outcome.error or ""))
            if number % 250 == 0 and (now := time.perf_counter()) - shown >= 0.2:
                shown = now
                bar.update(task, completed=number, rate=f"{number / (now - started):,.0f} cmd/s", refresh=True)
        seconds = time.perf_counter() - started
        bar.update(task, completed=len(lines), rate=f"{len(lines) / seconds:,.0f} cmd/s", refresh=True)
    return seconds, statuses, rejected


def count_events(sql: Sql) -> int:
    return int(sql.rows("SELECT COUNT(*) AS n FROM {events}")[0]["n"])


def raw_phase(ledger: SupportLedger, sql: Sql, stores: Stores, total: int,
              like_ledger: bool = False) -> tuple[float, int, int]:
    """Re-save the recorded events, in the apply's transactions, with the library's plain
    recorder; only `events.put` is timed. `like_ledger`: with the settings the ledger gives
    itself (the collector's thresholds of a bulk apply; SQLite's checkpointing)."""
    app: Application[str] = Application(env=stores.raw_env(like_ledger=like_ledger))
    seconds, saved, transactions = 0.0, 0, 0
    statement = (
        "SELECT {n} AS n, originator_id AS o, originator_version AS v, topic AS t, state AS s "
        "FROM {events} WHERE {n} > {p} ORDER BY {n} LIMIT " + str(PAGE)
    )
    commits = [row["n"] for row in sql.rows("SELECT notification_id AS n FROM {commits} ORDER BY notification_id")]
    batch: list[Any] = []
    commit = 0  # the apply's transaction that recorded the events in `batch`

    def put(events: list[Any]) -> None:
        nonlocal seconds, saved, transactions
        started = time.perf_counter()
        app.events.put(events)
        seconds += time.perf_counter() - started
        saved += len(events)
        transactions += 1

    try:
        with progress() as bar:
            task = bar.add_task("raw baseline" + (", like the ledger" if like_ledger else ""), total=total, rate="")
            last = 0
            while rows := sql.rows(statement, [last]):
                for row in rows:
                    event = ledger.mapper.to_domain_event(StoredEvent(row["o"], row["v"], row["t"], bytes(row["s"])))
                    if row["n"] > commits[commit]:
                        put(batch)
                        batch = []
                        commit = bisect.bisect_left(commits, row["n"])
                    batch.append(event)
                last = rows[-1]["n"]
                bar.update(task, completed=saved + len(batch),
                           rate=f"{saved / seconds:,.0f} ev/s" if seconds else "")
            if batch:
                put(batch)
            bar.update(task, completed=saved)
    finally:
        app.close()
    return seconds, saved, transactions


def raw_read(ledger: SupportLedger) -> tuple[float, int]:
    """One raw read and decode of the whole log: every notification through the mapper."""
    started = time.perf_counter()
    start, decoded = 1, 0
    while notifications := ledger.recorder.select_notifications(start, limit=PAGE):
        for notification in notifications:
            ledger.mapper.to_domain_event(notification)
        decoded += len(notifications)
        start = notifications[-1].id + 1
    return time.perf_counter() - started, decoded


def asof_sample(sql: Sql, total: int) -> tuple[datetime, str, list[str]]:
    """K about 2/3 through the record, the client with most events by then, and the periods
    with most logged work for it (candidates for sample_period)."""
    upto = sql.rows("SELECT {n} AS n FROM {events} ORDER BY {n} LIMIT 1 OFFSET {p}", [max(0, total * 2 // 3)])[0]["n"]
    row = sql.rows("SELECT notification_id AS n, recorded_at AS r FROM {commits} WHERE notification_id >= {p} "
                   "ORDER BY notification_id LIMIT 1", [upto])[0]
    known_at, upto = sql.instant(row["r"]), row["n"]
    client_id = sql.rows(
        "SELECT m.client_id AS c, COUNT(*) AS n FROM {marks} m JOIN {events} e ON e.originator_id = m.originator_id "
        "WHERE m.mark = {p} AND e.{n} <= {p} GROUP BY m.client_id ORDER BY n DESC, m.client_id LIMIT 1",
        [STREAM_MARK, upto])[0]["c"]
    months: Counter = Counter()
    for r in sql.rows("SELECT mark FROM {marks} WHERE client_id = {p} AND mark LIKE {p} AND notification_id <= {p}",
                      [client_id, work_mark("%"), upto]):
        months[r["mark"].removeprefix(work_mark(""))] += 1  # tickets with work in the month
    return known_at, client_id, [period for period, _ in months.most_common()]


def asof_phase(url: str, sql: Sql) -> dict[str, Any]:
    total = count_events(sql)
    known_at, client_id, candidates = asof_sample(sql, total)
    err.log(f"as-of sample: client {client_id}, K = {known_at.isoformat()}, candidate periods {candidates[:6]}")
    with SupportLedger(url) as reader:
        started = time.perf_counter()
        recorded = reader.recorded_events(known_at=known_at)
        aggregates = fold(recorded)
        knowledge = replayed_knowledge(aggregates, recorded, client_id, known_at)
        replay_base = time.perf_counter() - started
    chosen: tuple[str, dict[str, Any], float] | None = None
    for want_draft in (True, False):
        for period in candidates:
            started = time.perf_counter()
            document = invoice_of(knowledge, period)
            seconds = time.perf_counter() - started
            has_time = any(line["kind"] == "standard_time" for line in document["lines"])
            if has_time and (document["status"] == "draft" or not want_draft):
                chosen = (period, document, seconds)
                break
        if chosen:
            break
    if chosen is None:  # no billable work known at K: still compare one period
        period = candidates[0] if candidates else period_of(moscow_date(known_at))
        started = time.perf_counter()
        chosen = (period, invoice_of(knowledge, period), time.perf_counter() - started)
    period, replayed, invoice_seconds = chosen
    del recorded, aggregates, knowledge
    with SupportLedger(url) as fresh:  # a fresh application, as the CLI would open it
        started = time.perf_counter()
        queried = invoice(fresh, client_id, period, known_at)
        query_seconds = time.perf_counter() - started
    equal = replayed == queried
    if not equal:
        err.print("[red]as-of documents differ[/]: replay vs query path")
        err.print_json(data={"replay": replayed, "query": queried}, default=str)
    return {
        "replay_seconds": replay_base + invoice_seconds, "query_seconds": query_seconds,
        "asof_equal": equal, "sample_client": client_id, "sample_period": period,
        "sample_known_at": known_at.isoformat(), "sample_lines": len(queried["lines"]),
    }


def serve_month_end(pipe: Any) -> None:
    """The spawned child: runs `month_end_child` on what it is sent, once."""
    try:
        arguments = pipe.recv()
    except EOFError:
        return
    pipe.send(month_end_child(*arguments))


def month_end_child(url: str, period: str, known_at: str) -> dict[str, Any]:
    """In a spawned process: a fresh ledger, the month-end computation, its peak RSS.

    ru_maxrss (Linux) also counts what the process held before its exec, i.e. a copy of
    the parent's RSS at fork time: the child is therefore started before the history is
    generated (see `bench`), and VmHWM (this process image only) is reported beside it."""
    import resource

    with SupportLedger(url) as ledger:
        started = time.perf_counter()
        documents = invoices_for_period(ledger, period, datetime.fromisoformat(known_at))
        seconds = time.perf_counter() - started
    hwm = None
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            hwm = next((int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:")), None)
    except OSError:
        pass
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "vm_hwm_mb": hwm,
            "seconds": seconds, "invoices": len(documents)}


def timed(name: str, phases: dict[str, float]) -> Callable[[Callable[[], Any]], Any]:
    def run(body: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        with err.status(f"{name}…"):
            result = body()
        phases[name] = round(time.perf_counter() - started, 3)
        err.log(f"phase {name}: {phases[name]:.1f} s")
        return result
    return run


# --- the run -------------------------------------------------------------------------------


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("inf")


def bench(args: argparse.Namespace) -> dict[str, Any]:
    # Started now, while this process is small: a spawned child's ru_maxrss includes the
    # RSS its parent had when it was forked (P4 must measure the month-end alone).
    # A process and a pipe, not a multiprocessing.Pool: a pool runs threads in this process,
    # and `apply` forks its workers only from a process that runs none.
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    child = context.Process(target=serve_month_end, args=(there,), daemon=True)
    child.start()
    there.close()

    def in_child(*arguments: str) -> dict[str, Any]:
        here.send(arguments)
        return here.recv()

    try:
        return _bench(args, in_child)
    finally:
        here.close()
        child.join(timeout=10)
        if child.exitcode is None:
            child.kill()


def _bench(args: argparse.Namespace, in_child: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    phases: dict[str, float] = {}
    history: History = timed("generate", phases)(lambda: generate(args.events, args.seed))
    err.log(f"history: {len(history.lines):,} commands, {history.expected_events:,} expected events, "
            f"{len(history.clients):,} clients, {history.invoices:,} invoices (seed {args.seed})")
    stores = Stores(args.db)
    err.log(f"ledger store: {stores.url}")
    try:
        with SupportLedger(stores.url) as ledger:
            started = time.perf_counter()
            stats = ApplyStats()
            with profiled(args.profile, "apply"):
                apply_seconds, statuses, rejected = apply_phase(ledger, history, args.workers, stats)
            phases["apply"] = round(time.perf_counter() - started, 3)
            save_seconds = stats.save_seconds
            err.log(f"phase apply: {phases['apply']:.1f} s — " + ", ".join(f"{n:,} {s}" for s, n in sorted(statuses.items()))
                    + f"; {stats.workers} worker process(es), {stats.barriers} barrier line(s), "
                    f"saving {save_seconds:.1f} s in all")
            for number, line, error in rejected[:5]:
                err.print(f"[red]rejected line {number}[/]: {error}\n  {line}", highlight=False, markup=True)
            sql = Sql(ledger)
            events = count_events(sql)
            if events != history.expected_events:
                err.log(f"[yellow]recorded {events:,} events, the generator expected {history.expected_events:,}[/]")
            started = time.perf_counter()
            raw_seconds, raw_events, transactions = raw_phase(ledger, sql, stores, events)
            phases["raw_baseline"] = round(time.perf_counter() - started, 3)
            err.log(f"phase raw baseline: {phases['raw_baseline']:.1f} s ({raw_events:,} events in "
                    f"{transactions:,} transactions, {raw_seconds:.2f} s saving)")
            stores.drop_raw(again=True)
            # Second, on a fresh store: the order is fixed (it may favour this run slightly).
            with bulk_collection():
                like_ledger_seconds, like_ledger_events, _ = timed("raw_like_ledger", phases)(
                    lambda: raw_phase(ledger, sql, stores, events, like_ledger=True))
        stores.drop_raw()

        period = history.last_full_period
        known_now = in_moscow(utc_now())
        with SupportLedger(stores.url) as reader:
            sql = Sql(reader)
            clients = len(reader.client_ids())

            def month_end() -> tuple[float, int]:
                with profiled(args.profile, "month_end"):
                    started = time.perf_counter()
                    documents = invoices_for_period(reader, period, known_now)
                    return time.perf_counter() - started, len(documents)

            month_end_seconds, documents = timed("month_end", phases)(month_end)
            raw_read_seconds, decoded = timed("raw_read", phases)(lambda: raw_read(reader))
            err.log(f"month-end {period}: {documents:,} invoices in {month_end_seconds:.2f} s; "
                    f"raw read and decode of {decoded:,} events in {raw_read_seconds:.2f} s")
            asof = timed("asof", phases)(lambda: asof_phase(stores.url, sql))
            verdict = timed("verify", phases)(reader.verify)
            if not verdict.ok:
                raise RuntimeError(f"the benchmark's store does not verify: {verdict.broken}")
            started = time.perf_counter()
            reader.head()
            head_ms = (time.perf_counter() - started) * 1000
            err.log(f"verify: {verdict.events:,} events in {verdict.head.commits:,} commits in {phases['verify']:.2f} s; "
                    f"head in {head_ms:.2f} ms")

        child = timed("month_end_rss", phases)(
            lambda: in_child(stores.url, period, known_now.isoformat()))
    except BaseException:
        stores.drop_raw()
        raise

    apply_rate = events / apply_seconds
    raw_rate = raw_events / raw_seconds
    result: dict[str, Any] = {
        "events": events,
        "clients": clients,
        "db": stores.scheme,
        "apply_events_per_s": round(apply_rate, 1),
        "raw_events_per_s": round(raw_rate, 1),
        "apply_ratio": round(ratio(apply_rate, raw_rate), 4),
        "apply_seconds": round(apply_seconds, 3),
        # Processes that ran the commands (commands.parallel), lines run while they waited.
        "apply_workers": stats.workers,
        "apply_barriers": stats.barriers,
        # Time spent saving (events, receipts, the record-time index, in the store's
        # transactions), summed over the processes that saved: with one process, the rest of
        # apply is parsing, rules, building events and invoices.
        "apply_save_seconds": round(save_seconds, 3),
        # P1 as it would be if everything but saving cost nothing: the save path's own ratio.
        "save_path_ratio": round(ratio(events / save_seconds, raw_rate), 4) if save_seconds else None,
        "raw_seconds": round(raw_seconds, 3),
        # The raw baseline with the settings the ledger gives itself, and P1 against it.
        "raw_like_ledger_events_per_s": round(like_ledger_events / like_ledger_seconds, 1),
        "apply_ratio_like_ledger": round(ratio(apply_rate, like_ledger_events / like_ledger_seconds), 4),
        "month_end_seconds": round(month_end_seconds, 3),
        "raw_read_seconds": round(raw_read_seconds, 3),
        "month_end_ratio": round(ratio(month_end_seconds, raw_read_seconds), 4),
        "replay_seconds": round(asof["replay_seconds"], 4),
        "query_seconds": round(asof["query_seconds"], 4),
        "asof_speedup": round(ratio(asof["replay_seconds"], asof["query_seconds"]), 2),
        "asof_equal": asof["asof_equal"],
        "peak_rss_mb": round(child["peak_rss_mb"], 1),
        "verify_s": phases["verify"],
        "verify_ratio": round(ratio(phases["verify"], raw_read_seconds), 4),
        "head_ms": round(head_ms, 3),
        "targets": {},
        "sample_client": asof["sample_client"],
        "sample_period": asof["sample_period"],
        "sample_known_at": asof["sample_known_at"],
        # extras
        "commands": len(history.lines),
        "rejected": statuses.get("rejected", 0),
        "month_end_period": period,
        "month_end_invoices": documents,
        "transactions": transactions,
        "child_month_end_seconds": round(child["seconds"], 3),
        "peak_rss_hwm_mb": None if child["vm_hwm_mb"] is None else round(child["vm_hwm_mb"], 1),
        "phase_seconds": phases,
        "seed": args.seed,
    }
    for name, (metric, op, bound) in TARGETS.items():
        value = result[metric]
        result["targets"][name] = value >= bound if op == ">=" else value <= bound

    location = str(stores.path) if stores.sqlite else f"schema {stores.schema}"
    err.log(f"ledger kept at {location}; ask it for the sample invoice with:")
    base = ["support-ledger", "invoice", asof["sample_client"], "--period", asof["sample_period"], "--db", stores.url]
    sys.stderr.write(f"  {shlex.join(base)}\n  {shlex.join([*base, '--known-at', asof['sample_known_at']])}\n")
    return result


def show(result: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"support-ledger bench — {result['events']:,} events, {result['clients']:,} clients, "
                        f"{result['db']}")
    table.add_column("target")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("goal")
    table.add_column("ok")
    rows = [
        ("P1", "apply_ratio", f"{result['apply_ratio']:.3f}",
         f"≥ 0.5  (apply {result['apply_events_per_s']:,.0f} ev/s in {result['apply_seconds']:.1f} s; "
         f"raw {result['raw_events_per_s']:,.0f} ev/s in {result['raw_seconds']:.1f} s"
         f"; against raw with the ledger's settings: {result['apply_ratio_like_ledger']:.3f})"),
        ("P2", "month_end_ratio", f"{result['month_end_ratio']:.3f}",
         f"≤ 1.0  (month-end {result['month_end_period']} {result['month_end_seconds']:.2f} s; "
         f"raw read {result['raw_read_seconds']:.2f} s)"),
        ("P3", "asof_speedup", f"{result['asof_speedup']:,.1f}",
         f"≥ 100  (replay {result['replay_seconds']:.3f} s; query {result['query_seconds']:.4f} s; "
         f"equal: {result['asof_equal']})"),
        ("P4", "peak_rss_mb", f"{result['peak_rss_mb']:,.0f}", "≤ 1024 MB (month-end in a fresh process)"),
        ("V", "verify_ratio", f"{result['verify_ratio']:.3f}",
         f"≤ 1.0  (verify {result['verify_s']:.2f} s; raw read {result['raw_read_seconds']:.2f} s; "
         f"head {result['head_ms']:.2f} ms)"),
    ]
    for target, figure, value, goal in rows:
        ok = result["targets"][target]
        table.add_row(target, figure, value, goal, "[green]yes[/]" if ok else "[red]no[/]")
    console.print(table)
    console.print(f"sample: {result['sample_client']} {result['sample_period']} as known at "
                  f"{result['sample_known_at']}; rejected commands: {result['rejected']}; phases (s): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in result["phase_seconds"].items()), highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="about how many events to record (default 20000)")
    parser.add_argument("--db", help="sqlite:///PATH (fresh) or postgresql://USER@HOST:PORT/DBNAME "
                                     "(default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="history seed (default 0)")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="processes for apply, as `support-ledger apply --workers` "
                             f"(default, as there: {default_workers()} on this machine)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of apply and month-end here "
                                                     "(slows them down)")
    args = parser.parse_args(argv)
    result = bench(args)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        show(result)
    return 0 if result["rejected"] == 0 and result["asof_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
