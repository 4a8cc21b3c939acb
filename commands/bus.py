"""The command bus: validate, hand to the one handler, save atomically with the receipt.

Idempotency (CONTRACT.md): a command_id applied before with the same content is a
`duplicate` and records nothing; with other content it is refused. The receipt is saved in
the same transaction as the command's events, so two racing writers cannot both apply it.

Commands run against a `WorkingSet`: the aggregates they read, kept in memory with the
events each accepted command added. A refused command's changes are rolled back in memory,
so it records nothing. `execute` runs one command and saves it; `apply_lines` runs a batch
of commands and saves the whole batch in one transaction — each command stays atomic and
its outcome exact, because if the batch cannot be saved (another writer got there first)
every command of it is run again on its own. An optimistic-concurrency conflict is
retried, never lost.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from commands.handlers import HANDLERS
from commands.turns import writers_turn
from commands.models import COMMAND_ADAPTER, COMMAND_NAMES, SCHEDULING, Command, future_fact
from ledger.aggregates import Client, CommandReceipt, Invoice, Subscription, Ticket
from ledger.aggregates.base import LedgerAggregate
from ledger.application import A, AggregateAccess, ConcurrentWriteError, SupportLedger
from ledger.bulk import bulk_collection
from ledger.context import recording
from ledger.errors import DuplicateCommandIdError, InvalidCommandError, LedgerError
from ledger.timeutil import utc_now

CONFLICT_TIMEOUT = 60.0  # seconds a command that lost a race to another writer is tried again
# Commands saved per transaction by apply_lines. Each commit syncs the log to disk (about
# 6 ms on SQLite here) and rewrites the index pages it touched: at a million events on
# SQLite, apply took 37.5 s with 2000 against 39.8 s with 500 (scripts/bench.py). A batch's
# outcomes are reported once it is saved (README, "Decisions").
BATCH_SIZE = 2000
CACHE_LIMIT = 50_000  # aggregates kept between batches (the least recently used go first)
# A file of this many commands or fewer is applied in one process; a longer one may be dealt
# to worker processes (`commands.parallel`): starting a worker costs about half a second.
PARALLEL_AFTER = 10_000

Status = Literal["applied", "duplicate", "rejected"]
RECEIPTS = CommandReceipt.stream_for("")  # "command/": the prefix of every receipt stream


@dataclass(frozen=True)
class Outcome:
    status: Status
    command_id: str | None = None
    error: str | None = None


@dataclass
class ApplyStats:
    """What a bulk apply did besides its outcomes: for benchmarks and progress reports."""

    save_seconds: float = 0.0  # spent saving, summed over the processes that saved
    workers: int = 1  # processes that ran commands (1: this one)
    barriers: int = 0  # lines run here while the workers waited (see commands.parallel)


# --- parsing -------------------------------------------------------------------------------


def parse_command(data: Any) -> Command:
    """A command from decoded JSON, or InvalidCommandError naming every bad field."""
    if not isinstance(data, dict):
        raise InvalidCommandError("a command is a JSON object")
    name = data.get("command")
    if name not in COMMAND_NAMES:
        raise InvalidCommandError(
            f"unknown command {name!r}; expected one of {', '.join(COMMAND_NAMES)}"
            if name is not None else "missing",
            field="command",
        )
    try:
        return COMMAND_ADAPTER.validate_python(data)
    except ValidationError as error:
        raise InvalidCommandError(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"][1:]) or "command"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{field}: {message}")
    return "; ".join(problems)


def parse_line(text: str) -> Command | Outcome:
    """One line of a command file: the command, or the rejection that names what is wrong."""
    try:
        # The usual case, in one pass of pydantic's own JSON parser. What it accepts, the
        # steps below accept as the same command; a line it refuses goes through them, to
        # have its mistake named. Either way the outcome is theirs (tests/test_commands.py).
        command = COMMAND_ADAPTER.validate_json(text)
    except ValueError:
        pass
    else:
        if not _may_repeat_a_key(text, len(command.model_fields_set)):
            return command
    command_id = None
    try:
        data = decode_object(text)
        if isinstance(data, dict) and isinstance(data.get("command_id"), str):
            command_id = data["command_id"]
        return parse_command(data)
    except UnicodeEncodeError as error:  # read with surrogateescape: bytes that are not UTF-8
        return Outcome("rejected", None, f"line is not UTF-8 text (at character {error.start + 1})")
    except json.JSONDecodeError as error:
        return Outcome("rejected", None, f"line is not valid JSON: {error.msg} at column {error.colno}")
    except (RecursionError, ValueError) as error:  # e.g. absurd nesting or a 5000-digit number
        return Outcome("rejected", None, f"line is not usable JSON: {str(error) or type(error).__name__}")
    except LedgerError as error:
        return Outcome("rejected", command_id, str(error))


_KEYS_COUNTED = json.JSONDecoder(object_pairs_hook=len)  # an object decodes to its number of keys


def _may_repeat_a_key(text: str, fields: int) -> bool:
    """Whether a line pydantic's parser accepted with `fields` distinct fields may hold a
    key twice (it keeps the last value). Every key is a field, since unknown fields are
    refused. Where no quote is followed by JSON whitespace, every key ends in `":`, so
    `":` occurs once per key and once per string value holding it: as often as the
    distinct fields only when no key repeats. Otherwise the keys are counted exactly."""
    if text.count('":') == fields and not _QUOTE_GAP.search(text):
        return False
    return _KEYS_COUNTED.decode(text) != fields


_QUOTE_GAP = re.compile(r'"[ \t\r\n]')


def decode_object(text: str) -> Any:
    """A line's JSON, with every object's keys unique (JSON leaves a repeated key to the
    reader: one takes the first, another the last; a ledger must not guess): a repeated key
    is InvalidCommandError naming it. Bytes that were not UTF-8 (read with surrogateescape)
    are UnicodeEncodeError."""
    text.encode("utf-8")
    return _UNIQUE_KEYS.decode(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise InvalidCommandError(f"the key {repeated!r} appears twice in one object", field=repeated)
    return data


_UNIQUE_KEYS = json.JSONDecoder(object_pairs_hook=_unique_keys)


def numbered_lines(stream: Iterable[bytes]) -> Iterator[tuple[int, str]]:
    """The lines of a command file read in binary, numbered from 1, split at `\n` only (a
    CR, U+2028 or U+0085 inside a JSON string is part of its line), without a UTF-8
    byte-order mark before the first and a CR before each `\n`. Bytes that are not UTF-8
    are kept as lone surrogates, so that only their line is refused (`parse_line`)."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        yield number, raw.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8", "surrogateescape")


def is_blank(text: str) -> bool:
    """A line with nothing but spaces, tabs and a line end: no command, no outcome."""
    return not text.strip(" \t\r\n")


# --- the working set ---------------------------------------------------------------------


class WorkingSet(AggregateAccess):
    """Aggregates read from the ledger once and kept in memory, with the events accepted
    commands added to them, in command order, until they are saved together."""

    def __init__(self, ledger: SupportLedger, *, new_command_ids: bool = False, stats: ApplyStats | None = None):
        self.ledger = ledger
        self.stats = stats
        # Assume command_ids are new and do not read their receipts: a reused one is
        # caught when saving (the store's key refuses a second receipt) or, if the command
        # is refused, by reading its receipt then (`_run`). Batches start so.
        self.new_command_ids = new_command_ids
        self.cache: dict[str, LedgerAggregate | None] = {}  # None: known not to exist
        self.events: list[Any] = []  # accepted, not yet saved
        self._saved_or_accepted: dict[str, int] = {}  # pending events accepted per stream
        self._read: set[str] = set()  # streams the current command read
        self._pending_clients: set[str | None] = set()  # whom the accepted events concern
        self._receipts: list[str] = []  # receipt streams (read or accepted) cached until the batch ends

    def find(self, cls: type[A], key: str) -> A | None:
        stream = cls.stream_for(key)
        if stream in self.cache:
            self.cache[stream] = self.cache.pop(stream)  # now the most recently used
        else:
            self.prefetch([stream])
        self._read.add(stream)
        return self.cache[stream]  # type: ignore[return-value]

    def prefetch(self, streams: Iterable[str]) -> None:
        """Read many aggregates in one go; those that do not exist are remembered as such."""
        wanted = [s for s in set(streams) if s not in self.cache]
        if wanted:
            found = self.ledger.load_streams(wanted)
            for stream in wanted:
                self.cache[stream] = found.get(stream)
                if stream.startswith(RECEIPTS):
                    self._receipts.append(stream)

    def evict(self, keep: int) -> None:
        """Between batches: forget the receipts read or written (a command_id is seldom sent
        twice in one run, and the store answers when it is: see `new_command_ids`), so that
        the cache holds the aggregates commands read, and forget the least recently used
        aggregates beyond `keep` (none has unsaved events)."""
        for stream in self._receipts:
            self.cache.pop(stream, None)
        self._receipts.clear()
        for stream in list(itertools.islice(self.cache, max(0, len(self.cache) - keep))):
            if stream not in self._saved_or_accepted:
                del self.cache[stream]

    def drop(self, streams: Iterable[str]) -> None:
        """Between batches: forget these aggregates (another process may have changed them)."""
        for stream in streams:
            self.cache.pop(stream, None)

    def accept(self, touched: list[LedgerAggregate]) -> None:
        """The command succeeded: its events join the batch, its new aggregates the cache."""
        for aggregate in touched:
            already = self._saved_or_accepted.get(aggregate.id, 0)
            added = aggregate.pending_events[already:]
            self.events += added
            if isinstance(aggregate, CommandReceipt):
                self._receipts.append(aggregate.id)
            elif added:
                self._pending_clients.add(aggregate.client_id)  # None: the catalog
            self._saved_or_accepted[aggregate.id] = len(aggregate.pending_events)
            self.cache[aggregate.id] = aggregate
        self._read.clear()

    def receipt(self, command_id: str) -> CommandReceipt | None:
        if self.new_command_ids and CommandReceipt.stream_for(command_id) not in self.cache:
            return None
        return super().receipt(command_id)

    def pending_concerns(self, client_id: str) -> bool:
        """Whether events accepted but not saved yet concern this client or the catalog."""
        return client_id in self._pending_clients or None in self._pending_clients

    def roll_back(self) -> None:
        """The command was refused: undo whatever it did to the aggregates it read."""
        for stream in self._read:
            aggregate = self.cache.get(stream)
            accepted = self._saved_or_accepted.get(stream, 0)
            if aggregate is not None and len(aggregate.pending_events) > accepted:
                self.cache[stream] = self._rebuild(stream, aggregate.pending_events[:accepted])
        self._read.clear()

    def _rebuild(self, stream: str, accepted: list[Any]) -> LedgerAggregate | None:
        aggregate: Any = self.ledger.load_streams([stream]).get(stream)
        for event in accepted:
            aggregate = event.mutate(aggregate)
        if aggregate is not None:
            aggregate.pending_events[:] = accepted
        return aggregate

    @property
    def store(self) -> SupportLedger:
        return self.ledger

    def reset(self) -> None:
        """Forget everything: the next reads come from the store."""
        self.cache.clear()
        self.events.clear()
        self._saved_or_accepted.clear()
        self._pending_clients.clear()
        self._receipts.clear()
        self._read.clear()

    def save(self) -> None:
        """Save every accepted event in one transaction."""
        if self.events:
            started = time.perf_counter()
            try:
                self.ledger.save_atomically(*self.events)
            finally:
                if self.stats is not None:
                    self.stats.save_seconds += time.perf_counter() - started
        for stream in self._saved_or_accepted:
            aggregate = self.cache.get(stream)
            if aggregate is not None:
                aggregate.pending_events.clear()
        self.events.clear()
        self._saved_or_accepted.clear()
        self._pending_clients.clear()


def _run(working: WorkingSet, command: Command, actor: str) -> Outcome:
    """Run one command in the working set: accepted, a duplicate, or refused (rolled back)."""
    content = command.content_sha256()
    try:
        if command.command_id is not None:
            receipt = working.receipt(command.command_id)
            if receipt is not None:
                return _repeat(command, receipt, content)
        if (future := future_fact(command, utc_now())) is not None:
            field, value = future
            raise InvalidCommandError(
                f"{value} is later than now: {command.command} records what has happened "
                f"(only {', '.join(SCHEDULING)} may name a time ahead)", field=field)
        with recording(actor, command.command_id):
            touched = HANDLERS[type(command)](command, working)
            if command.command_id is not None:
                touched.append(CommandReceipt.accept(command.command_id, command.command, content))
    except LedgerError as error:
        working.roll_back()
        if working.new_command_ids and command.command_id is not None:
            # Its receipt was not read: a re-sent command is a duplicate, not a refusal.
            receipt = working.ledger.receipt(command.command_id)
            if receipt is not None:
                return _outcome_of_repeat(command, receipt, content)
        return Outcome("rejected", command.command_id, str(error))
    working.accept(touched)
    return Outcome("applied", command.command_id)


def _outcome_of_repeat(command: Command, receipt: CommandReceipt, content: str) -> Outcome:
    try:
        return _repeat(command, receipt, content)
    except LedgerError as error:
        return Outcome("rejected", command.command_id, str(error))


def _repeat(command: Command, receipt: CommandReceipt, content: str) -> Outcome:
    if receipt.content_sha256 == content and receipt.command == command.command:
        return Outcome("duplicate", command.command_id)
    raise DuplicateCommandIdError(
        f"command_id {command.command_id!r} was already used for a different command",
        field="command_id",
    )


def execute(ledger: SupportLedger, command: Command, actor: str, stats: ApplyStats | None = None, *,
            lost: bool = False) -> Outcome:
    """Apply one validated command on its own; a refusal is returned, never raised.

    When another writer saved to an aggregate this command read (optimistic concurrency),
    the command is read and decided again, in the writers' turn (`commands.turns`), until
    it is saved or CONFLICT_TIMEOUT seconds have passed: writers hammering one ticket all
    get their turn, and only a store that busy for that long fails the command, saying so.
    `lost`: the command lost a race already (its batch did), so it starts in its turn."""
    deadline = time.monotonic() + CONFLICT_TIMEOUT
    attempts = 0
    while True:
        attempts += 1
        with writers_turn(ledger) if lost else contextlib.nullcontext():
            working = WorkingSet(ledger, stats=stats)
            outcome = _run(working, command, actor)
            try:
                working.save()
                return outcome
            except ConcurrentWriteError:
                lost = True  # someone else wrote first: read again and decide again, in turn
        if time.monotonic() >= deadline:
            return Outcome("rejected", command.command_id,
                           f"other writers changed what this command reads {attempts} times in "
                           f"{CONFLICT_TIMEOUT:.0f} s; nothing was recorded: retry the command")


def apply_line(ledger: SupportLedger, text: str, actor: str) -> Outcome:
    """One line of a command file: decode, validate, execute."""
    parsed = parse_line(text)
    return parsed if isinstance(parsed, Outcome) else execute(ledger, parsed, actor)


# --- batches ---------------------------------------------------------------------------------


def apply_lines(
    ledger: SupportLedger, lines: Iterable[str], actor: str, batch_size: int = BATCH_SIZE, *,
    stats: ApplyStats | None = None, stop: Callable[[], bool] | None = None,
) -> Iterator[Outcome]:
    """Apply command-file lines in order, in this process, one outcome per line (blank
    lines give none), saving up to `batch_size` commands per transaction.
    (`commands.parallel.apply_with_workers` runs a long file in worker processes.)

    Once `stop()` is true, no further line is read: the lines read so far are applied and
    their outcomes handed back, and the outcomes end there (an interrupted `apply`)."""
    yield from apply_here(ledger, lines_to_apply(lines, stop), actor, batch_size, stats)


def lines_to_apply(lines: Iterable[str], stop: Callable[[], bool] | None = None) -> Iterator[str]:
    """The lines that are commands (not blank), read until `stop()` is true."""
    commands = (text for text in lines if not is_blank(text))
    return commands if stop is None else itertools.takewhile(lambda _: not stop(), commands)


def apply_here(ledger: SupportLedger, lines: Iterable[str], actor: str, batch_size: int = BATCH_SIZE,
               stats: ApplyStats | None = None) -> Iterator[Outcome]:
    """`apply_lines` in this process, for lines that are not blank."""
    yield from apply_parsed(ledger, map(parse_line, lines), actor, batch_size, stats)


def apply_parsed(ledger: SupportLedger, items: Iterable[Command | Outcome], actor: str,
                 batch_size: int = BATCH_SIZE, stats: ApplyStats | None = None) -> Iterator[Outcome]:
    """Commands already parsed (or the outcome of a line that did not parse), in order, up to
    `batch_size` per transaction; one outcome each."""
    working = WorkingSet(ledger, new_command_ids=True, stats=stats)
    batch: list[Command | Outcome] = []
    with bulk_collection():
        for item in items:
            batch.append(item)
            if len(batch) >= batch_size:
                yield from apply_batch(ledger, working, batch, actor)
                batch = []
                working.evict(CACHE_LIMIT)
        yield from apply_batch(ledger, working, batch, actor)


def apply_batch(ledger: SupportLedger, working: WorkingSet, batch: list[Command | Outcome],
                actor: str) -> list[Outcome]:
    """Run a batch of parsed lines in `working` and save it in one transaction."""
    working.prefetch(stream for item in batch if isinstance(item, Command)
                     for stream in command_streams(item, receipts=not working.new_command_ids))
    outcomes: list[Outcome] = []
    saved_upto = 0

    def save() -> None:
        """Save what the batch accepted so far; if another writer interfered, run each of
        those commands again on its own, so that every outcome stays exact."""
        nonlocal saved_upto
        try:
            working.save()
        except ConcurrentWriteError:
            # Another writer, or a command_id used before: from now on receipts are read,
            # and what was not saved is run again, in the writers' turn (`commands.turns`):
            # as one batch, and if that loses too, command by command.
            working.reset()
            working.new_command_ids = False
            unsaved = [(position, item) for position, item in enumerate(batch[saved_upto:len(outcomes)], saved_upto)
                       if isinstance(item, Command)]
            with writers_turn(ledger):
                for position, item in unsaved:
                    outcomes[position] = _run(working, item, actor)
                try:
                    working.save()
                    unsaved = []
                except ConcurrentWriteError:
                    working.reset()
            for position, item in unsaved:
                outcomes[position] = execute(ledger, item, actor, working.stats, lost=True)
        saved_upto = len(outcomes)

    for item in batch:
        if isinstance(item, Outcome):
            outcomes.append(item)
        else:
            # A command that computes from the record (`reads_the_record`: an invoice is
            # frozen from the store as known at its last record time) first has the batch
            # save whatever it holds for this client (or the catalog). Other clients'
            # pending facts cannot change it; they are recorded after K.
            if item.reads_the_record and working.pending_concerns(item.field_or_none("client_id")):
                save()
            outcomes.append(_run(working, item, actor))
    save()
    return outcomes


def command_streams(command: Command, *, receipts: bool = True) -> list[str]:
    """The aggregates a command is likely to read, for prefetching in bulk; among them every
    one it can change, but for the catalog."""
    streams = []
    if receipts and command.command_id is not None:
        streams.append(CommandReceipt.stream_for(command.command_id))
    client_id = command.field_or_none("client_id")
    if client_id is not None:
        streams += [Client.stream_for(client_id), Subscription.stream_for(client_id)]
    ticket_id = command.field_or_none("ticket_id")
    if ticket_id is not None:
        streams.append(Ticket.stream_for(ticket_id))
    period = command.field_or_none("period")
    if client_id is not None and period is not None:  # the invoice it may issue
        streams.append(Invoice.stream_for(Invoice.key(client_id, period)))
    return streams
