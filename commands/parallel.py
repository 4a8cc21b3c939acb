"""Applying a long command file on several cores, with the outcomes of applying it on one.

Every aggregate a command can read or write belongs to one client — the client, its
priority subscription, its tickets and invoices — except the catalog, which commands read
and only catalog commands write, and the command receipts, one per command_id. So the lines
of a file are dealt to worker processes by client (`Router`): all of a client's lines go to
one worker, in file order, and each worker runs its share as `apply_lines` would (the same
batches, working set and saves, in its own transactions). A line that could touch what two
workers own, or what every worker reads, is a *barrier*: the workers finish and save what
they were given, this process runs the line on its own, and the workers forget what they
had cached. Between two barriers no aggregate is touched by two processes, so each line
sees the state it would see if the file were applied line after line, and gets the same
outcome; the outcomes are handed back in file order.

A barrier is:
- a line naming neither a client nor a ticket the ledger or the file knows: the catalog
  commands, and lines about a ticket no one opened (refused unless another writer opens it);
- a line for one client about a ticket of another's (its ticket id taken, usually refused);
- a command_id seen earlier in the file on another worker's line (the first one to save
  its receipt must be the earlier line).

Lines that are not a JSON object are refused here, before any worker sees them. What the
ledger records is the same as applying line after line, except the record order between
two clients' events (each client's stay in file order) and the record time at which an
invoice issued in the file was computed (its lines are the same: I-9, see README).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from commands.bus import (
    BATCH_SIZE,
    CACHE_LIMIT,
    PARALLEL_AFTER,
    ApplyStats,
    Outcome,
    WorkingSet,
    apply_batch,
    apply_here,
    command_streams,
    execute,
    lines_to_apply,
    parse_line,
)
from ledger.aggregates import Catalog, Ticket
from ledger.application import SupportLedger
from ledger.bulk import bulk_collection
from ledger.store.urls import parse_url

ROUTING_WINDOW = 1_000  # lines decoded (and their unknown tickets looked up) at a time
IN_FLIGHT = 2  # batches handed to a worker and not yet answered: one running, one waiting
BARRIER = -1
CATALOG = Catalog.stream_for(Catalog.KEY)


def default_workers() -> int:
    """Processes that apply a long file: one per core this process may run on, up to four
    (beyond that SQLite's single writer is the limit)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def can_share(ledger: SupportLedger) -> bool:
    """Whether other processes can open this ledger's store (an in-memory SQLite cannot)."""
    return not parse_url(ledger.url).in_memory


class Router:
    """Which worker runs each line, such that between two barriers every aggregate is
    touched by one worker only (see the module's docstring)."""

    def __init__(self, ledger: SupportLedger, workers: int):
        self.ledger = ledger
        self.workers = workers
        self.ticket_clients: dict[str, str] = {}  # as recorded, or as the file opens them
        self.command_ids: dict[str, int] = {}  # since the last barrier: worker by command_id

    def look_up(self, decoded: Iterable[Any]) -> None:
        """Learn, in one read, the clients of the tickets these lines name that are not known yet."""
        unknown = {data["ticket_id"] for data in decoded
                   if isinstance(data, dict) and isinstance(data.get("ticket_id"), str)
                   and data["ticket_id"] not in self.ticket_clients}
        if unknown:
            found = self.ledger.stream_clients([Ticket.stream_for(ticket_id) for ticket_id in unknown])
            prefix = len(Ticket.stream_for(""))
            self.ticket_clients.update((stream[prefix:], client_id) for stream, client_id in found.items())

    def route(self, data: dict[str, Any]) -> int:
        """The worker for a decoded line, or BARRIER."""
        client_id, ticket_id = _text(data, "client_id"), _text(data, "ticket_id")
        if ticket_id is not None:
            owner = self.ticket_clients.get(ticket_id)
            if owner is None and client_id is not None:
                self.ticket_clients[ticket_id] = owner = client_id  # the file opens it
            if owner is None or (client_id is not None and client_id != owner):
                return BARRIER
            client_id = owner
        if client_id is None:
            return BARRIER
        worker = zlib.crc32(client_id.encode("utf-8", "surrogatepass")) % self.workers  # JSON may escape a lone surrogate
        command_id = _text(data, "command_id")
        if command_id is not None and self.command_ids.setdefault(command_id, worker) != worker:
            return BARRIER
        return worker

    def after_barrier(self, data: dict[str, Any]) -> None:
        """Everything is saved: receipts can be found in the store again, and a ticket the
        barrier line named is looked up again (it may just have been opened)."""
        self.command_ids.clear()
        ticket_id = _text(data, "ticket_id")
        if ticket_id is not None:
            self.ticket_clients.pop(ticket_id, None)


def _text(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    return value if isinstance(value, str) else None


def apply_with_workers(ledger: SupportLedger, lines: Iterable[str], actor: str, batch_size: int = BATCH_SIZE, *,
                       workers: int, stats: ApplyStats | None = None,
                       stop: Callable[[], bool] | None = None) -> Iterator[Outcome]:
    """`commands.bus.apply_lines`, run by `workers` processes when the file holds more than
    PARALLEL_AFTER commands and other processes can open the store; the outcomes and what
    is recorded are those of applying it in this process, line after line (see above)."""
    commands = lines_to_apply(lines, stop)
    head = list(itertools.islice(commands, PARALLEL_AFTER + 1))
    if workers <= 1 or len(head) <= PARALLEL_AFTER or not can_share(ledger):
        yield from apply_here(ledger, itertools.chain(head, commands), actor, batch_size, stats)
        return
    with _Workers(ledger.url, actor, workers) as pool:
        stats = stats or ApplyStats()
        stats.workers = workers
        yield from _Dealer(ledger, pool, actor, batch_size, stats).run(itertools.chain(head, commands))


class _Workers:
    """The worker processes, each with a pipe of batches and a pipe of answers. Batches are
    written by a thread per worker: dealing never waits for a busy worker.

    A worker is a fork of this process when that is safe (`_can_fork`): it starts with the
    ledger already imported, where a fresh interpreter spends about half a second importing
    it. Otherwise it is `python -m commands.parallel`, so that nothing of the caller's main
    module runs again in it."""

    def __init__(self, url: str, actor: str, count: int):
        self.url, self.actor, self.count = url, actor, count
        self.processes: list[subprocess.Popen[bytes] | _Forked] = []
        self.answers: list[Connection] = []
        self.outboxes: list[queue.SimpleQueue[Any]] = []
        self.senders: list[threading.Thread] = []

    def __enter__(self) -> _Workers:
        ends: list[int] = []  # of the pipes, until each is closed or owned by a Connection
        try:
            for _ in range(self.count):
                ends.extend((*os.pipe(), *os.pipe()))
            pipes = [ends[index * 4:index * 4 + 4] for index in range(self.count)]
            fork = _can_fork()
            for index, (batches_read, _, _, answers_write) in enumerate(pipes):
                if fork:  # the worker closes every end of every pipe but its own two
                    others = [fd for fd in ends if fd not in (batches_read, answers_write)]
                    self.processes.append(_Forked(self.url, self.actor, index, batches_read, answers_write, others))
                else:
                    self.processes.append(self._spawn(index, batches_read, answers_write))
            # The threads start once every worker is forked (a fork copies no thread).
            for index, (batches_read, batches_write, answers_read, answers_write) in enumerate(pipes):
                del ends[:4]
                os.close(batches_read)
                os.close(answers_write)
                self.answers.append(Connection(answers_read, writable=False))
                outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
                sender = threading.Thread(target=_send_until_none, args=(outbox, Connection(batches_write, readable=False)),
                                          name=f"support-ledger-apply-{index}", daemon=True)
                sender.start()
                self.outboxes.append(outbox)
                self.senders.append(sender)
        except BaseException:
            for fd in ends:
                os.close(fd)
            self.__exit__()
            raise
        return self

    def _spawn(self, index: int, batches_read: int, answers_write: int) -> subprocess.Popen[bytes]:
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        return subprocess.Popen(
            [sys.executable, "-m", "commands.parallel", self.url, self.actor, str(index),
             str(batches_read), str(answers_write)],
            pass_fds=(batches_read, answers_write), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, env=env,
            process_group=0)  # out of the terminal's group: a Ctrl-C is the dealer's alone

    def __exit__(self, *exc_info: object) -> None:
        for outbox in self.outboxes:
            outbox.put(None)  # the worker stops once its pipe is closed
        for sender in self.senders:
            sender.join(timeout=30)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for answers in self.answers:
            answers.close()

    def send(self, worker: int, message: Any) -> None:
        self.outboxes[worker].put(message)

    def answer(self) -> tuple[int, list[tuple[int, str, str | None, str | None]], float]:
        """The next worker's answer: (worker, [(position, status, command_id, error)], save seconds)."""
        ready = wait(self.answers)
        index = self.answers.index(ready[0])  # type: ignore[arg-type]
        try:
            message = self.answers[index].recv()
        except EOFError:
            code = self.processes[index].wait()
            raise RuntimeError(f"apply worker {index} stopped (exit code {code})") from None
        if isinstance(message, BaseException):
            raise message
        return message


def _can_fork() -> bool:
    """Whether a worker can be a fork of this process: the platform forks, and no other
    thread runs here (a PostgreSQL store's connection pool runs threads, and a fork would
    hold copies of their locks that nothing ever releases)."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


class _Forked:
    """A worker forked from this process (multiprocessing's fork start method), waited for
    and killed as a `subprocess.Popen` is."""

    def __init__(self, url: str, actor: str, index: int, batches: int, answers: int, others: list[int]):
        self.process = multiprocessing.get_context("fork").Process(
            target=_forked_work, args=(url, actor, index, batches, answers, others),
            name=f"support-ledger-apply-{index}")
        self.process.start()

    def wait(self, timeout: float | None = None) -> int | None:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired("support-ledger apply worker", timeout or 0)
        return self.process.exitcode

    def kill(self) -> None:
        self.process.kill()


def _forked_work(url: str, actor: str, index: int, batches: int, answers: int, others: list[int]) -> None:
    for fd in others:  # else a worker would keep another's pipe open after the dealer closes it
        os.close(fd)
    _work(url, actor, index, Connection(batches, writable=False), Connection(answers, readable=False))


def _send_until_none(outbox: queue.SimpleQueue[Any], pipe: Connection) -> None:
    with pipe:
        while (message := outbox.get()) is not None:
            try:
                pipe.send(message)
            except OSError:  # the worker is gone; the dealer learns why from its answers
                return


class _Dealer:
    """Deals lines to the workers and hands their outcomes back in file order."""

    def __init__(self, ledger: SupportLedger, pool: _Workers, actor: str, batch_size: int, stats: ApplyStats):
        self.ledger, self.pool, self.actor, self.batch_size = ledger, pool, actor, batch_size
        self.stats = stats
        count = pool.count
        self.router = Router(ledger, count)
        self.batches: list[list[tuple[int, str]]] = [[] for _ in range(count)]
        self.in_flight = [0] * count
        self.forget: list[list[str]] = [[] for _ in range(count)]  # streams to drop before the next batch
        self.least = max(1, batch_size // 10)
        self.outcomes: dict[int, Outcome] = {}
        self.next_out = 0  # the position of the next outcome to hand back
        # Lines read ahead of the next outcome before waiting: the workers' batches in flight.
        self.ahead = (IN_FLIGHT + 1) * batch_size * count

    def run(self, lines: Iterator[str]) -> Iterator[Outcome]:
        position = 0
        while window := list(itertools.islice(lines, ROUTING_WINDOW)):
            decoded = [_decode(text) for text in window]
            self.router.look_up(decoded)
            for text, data in zip(window, decoded, strict=True):
                if data is None:  # not a JSON object: refused as apply_lines refuses it
                    self.outcomes[position] = parse_line(text)  # type: ignore[assignment]
                elif (worker := self.router.route(data)) == BARRIER:
                    yield from self._barrier(position, text, data)
                else:
                    batch = self.batches[worker]
                    batch.append((position, text))
                    # A full batch, or enough to start an idle worker on (after a barrier).
                    if len(batch) >= self.batch_size or (len(batch) >= self.least and not self.in_flight[worker]):
                        self._send(worker)
                position += 1
            yield from self._ready()
            while position - self.next_out > self.ahead:  # wait for the workers to catch up
                self._send_all()
                if not any(self.in_flight):
                    break
                self._receive()
                yield from self._ready()
        yield from self._drain()

    def _drain(self) -> Iterator[Outcome]:
        """Hand every line dealt so far to the workers and wait for all their outcomes."""
        self._send_all()
        while any(self.in_flight):
            self._receive()
        yield from self._ready()

    def _barrier(self, position: int, text: str, data: dict[str, Any]) -> Iterator[Outcome]:
        yield from self._drain()
        parsed = parse_line(text)
        if isinstance(parsed, Outcome):
            self.outcomes[position] = parsed
        else:
            self.outcomes[position] = execute(self.ledger, parsed, self.actor, self.stats)
            # What the line may have changed, the workers read again.
            changed = [CATALOG, *command_streams(parsed)]
            self.forget = [[*streams, *changed] for streams in self.forget]
        self.router.after_barrier(data)
        self.stats.barriers += 1

    def _send(self, worker: int) -> None:
        while self.in_flight[worker] >= IN_FLIGHT:
            self._receive()
        self.pool.send(worker, (self.batches[worker], self.forget[worker]))
        self.batches[worker], self.forget[worker] = [], []
        self.in_flight[worker] += 1

    def _send_all(self) -> None:
        for worker, batch in enumerate(self.batches):
            if batch:
                self._send(worker)

    def _receive(self) -> None:
        worker, answered, save_seconds = self.pool.answer()
        self.in_flight[worker] -= 1
        for position, status, command_id, error in answered:
            self.outcomes[position] = Outcome(status, command_id, error)  # type: ignore[arg-type]
        self.stats.save_seconds += save_seconds

    def _ready(self) -> Iterator[Outcome]:
        """The outcomes due next, collecting (without waiting) answers that have arrived,
        so that outcomes flow while lines are read."""
        while True:
            while self.next_out in self.outcomes:
                yield self.outcomes.pop(self.next_out)
                self.next_out += 1
            if not (any(self.in_flight) and wait(self.pool.answers, timeout=0)):
                return
            self._receive()


def _decode(text: str) -> dict[str, Any] | None:
    """A line's JSON object for routing, or None: the line is refused (by `parse_line`).
    Plain `json.loads`, at C speed: a line with a key twice is routed by one of its values
    and refused by the worker's `parse_line`, touching nothing."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _work(url: str, actor: str, index: int, batches: Connection, answers: Connection) -> None:
    """A worker: apply each batch it is given, as `apply_lines` would, and answer with its
    outcomes, until its pipe of batches is closed."""
    # An interrupt is the dealer's to handle (Ctrl-C reaches every process of the terminal's
    # group): it stops dealing, and this worker finishes what it was given.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        stats = ApplyStats()
        with SupportLedger(url) as ledger, bulk_collection():
            working = WorkingSet(ledger, new_command_ids=True, stats=stats)
            while True:
                try:
                    batch, forget = batches.recv()
                except EOFError:
                    return
                working.drop(forget)
                stats.save_seconds = 0.0
                outcomes = apply_batch(ledger, working, [parse_line(text) for _, text in batch], actor)
                working.evict(CACHE_LIMIT)
                answers.send((index, [(position, o.status, o.command_id, o.error)
                                      for (position, _), o in zip(batch, outcomes, strict=True)],
                              stats.save_seconds))
    except BaseException as error:  # noqa: BLE001 - handed to the dealer, which raises it
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:  # noqa: BLE001 - it cannot cross: say what it was
            error = RuntimeError(f"apply worker {index}: {type(error).__name__}: {error}")
        try:
            answers.send(error)
        except OSError:  # the dealer is gone (killed): no one to tell
            pass


if __name__ == "__main__":
    _url, _actor, _index, _batches, _answers = sys.argv[1:6]
    _work(_url, _actor, int(_index), Connection(int(_batches), writable=False),
          Connection(int(_answers), readable=False))
