"""The hash chain: every commit's link vouches for its events and for every commit before it.

Each transaction that records events also records one *link* (a `ledger_chain` row), in
the same transaction, while it holds the store's write lock, so links follow commit order:

    hash(n) = SHA-256( FORMAT, hash(n-1) as 32 bytes, sequence n, the commit's log position,
                       its event count, its record time, who recorded it, when the link
                       was adopted (empty unless built after the fact),
                       each event's log position, in log order,
                       SHA-256 of: for each event, in log order, its version, stream id,
                                   topic and stored state )

with `hash(0)` = 64 zeros (GENESIS). Every field has a fixed width or is preceded by its
length (big-endian), so no two commits encode to the same bytes (`_commit_header`,
`contents`). The events' own digest needs no position, so a writer computes it before it
takes the store's write lock (`contents`); under the lock it adds only what the store
decides then: positions, record time, the previous link (`next_link`). Record times are fixed-width UTC text (`utc_text`), the same on both
stores. Whoever rewrites, removes, reorders or adds an event, or changes a record time,
changes that link's hash and so every later one: an auditor who keeps a head (`head`)
can later prove that history up to it is unchanged (`verify(..., expect=hash)`).

A link also keeps a *manifest*: its events' positions, streams, versions and CRC-32s of
their canonical bytes (four JSON arrays). The manifest is not what the chain's security
rests on (the hash is); it lets `verify` name exactly which event broke a link: missing,
added, moved or changed.

Everything here is pure: the store hands in rows, in log order, and gets back links or a
verdict (`verify`). The recorders write the links (`ledger.store.sqlite`, `ledger.store.postgres`);
`ledger.store.index` reads them back.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
import json
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from ledger.events import event_id

FORMAT = b"support-ledger chain 1\n"
GENESIS = "0" * 64

# Signed, so that whatever a tampered row holds can still be hashed (and found different);
# for the values a ledger writes (all positive) they are the same bytes as unsigned ones.
_HEADER = struct.Struct(">qqqIII")  # sequence, position, event count, len(recorded_at), len(recorded_by), len(adopted_at)
_EVENT = struct.Struct(">qIIQ")  # version, len(stream), len(topic), len(state)


def utc_text(instant: datetime) -> str:
    """A record time as the chain hashes it (and SQLite stores it): fixed-width UTC text
    with microseconds, so that text order is time order."""
    return instant.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class ChainedEvent(NamedTuple):
    """A stored event as the chain sees it: where it sits in the log and its stored bytes.
    (A tuple: verify builds one per event of the whole log.)"""

    position: int
    stream: str
    version: int
    topic: str
    state: bytes

    @property
    def event_id(self) -> str:
        return event_id(self.stream, self.version)


@dataclass(frozen=True)
class Link:
    """One commit's row of the chain. `position` is the commit's last log position (the
    same key as its `ledger_commits` row); `events` counts events up to and including it.
    `adopted_at` is set on links built when an older store was first opened, after the
    fact (`build`): they vouch for history from then on, not from when it was written."""

    position: int
    sequence: int
    events: int
    recorded_at: str
    recorded_by: str
    hash: str
    manifest: str
    adopted_at: str | None = None

    def row(self) -> tuple[Any, ...]:
        return (self.position, self.sequence, self.events, self.recorded_at, self.recorded_by,
                self.hash, self.manifest, self.adopted_at)


@dataclass(frozen=True)
class Head:
    """The chain's last link: what an auditor keeps to check the record later."""

    position: int
    recorded_at: str | None
    hash: str
    events: int
    commits: int

    @classmethod
    def of(cls, link: Link | None) -> Head:
        if link is None:
            return cls(0, None, GENESIS, 0, 0)
        return cls(link.position, link.recorded_at, link.hash, link.events, link.sequence)

    def document(self) -> dict[str, Any]:
        return {"position": self.position, "recorded_at": self.recorded_at, "hash": self.hash,
                "events": self.events, "commits": self.commits}


def _commit_header(previous: str, sequence: int, position: int, count: int, recorded_at: str, recorded_by: str,
                   adopted_at: str | None) -> bytes:
    when, who, adopted = (text.encode("utf-8", "surrogatepass") for text in (recorded_at, recorded_by, adopted_at or ""))
    return b"".join((FORMAT, _hash_bytes(previous),
                     _HEADER.pack(sequence, position, count, len(when), len(who), len(adopted)), when, who, adopted))


def _hash_bytes(text: str) -> bytes:
    """A link's hash as 32 bytes; a stored one that is not hex (a tampered chain row) is
    hashed as it stands, so a writer still extends the chain and verify finds the row."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


_TOPICS: dict[str, bytes] = {}  # encoded topics: a log has a few dozen


class Contents(NamedTuple):
    """A commit's events as the chain takes them in, before the store gives them positions."""

    digest: bytes  # SHA-256 of the events' canonical bytes, in order
    crcs: list[int]  # each event's CRC-32 of the same bytes: its locator in the manifest
    listing: str  # the manifest's streams, versions and CRCs, as JSON (without its brackets)


def contents(events: Iterable[Sequence[Any]], *, listing: bool = True) -> Contents:
    """What a commit's events — (position, stream, version, topic, state), in log order;
    the position is not read, a writer has none yet — put into its link. `listing`: also
    the manifest's columns (verify compares them instead). (This runs for every event
    saved and verified: one loop, no call per event but C ones.)"""
    pack, topics, encoded, streams, versions = _EVENT.pack, _TOPICS, [], [], []
    for _, stream, version, topic, state in events:
        stream_bytes = stream.encode("utf-8", "surrogatepass")
        topic_bytes = topics.get(topic) or topics.setdefault(topic, topic.encode("utf-8", "surrogatepass"))
        encoded.append(b"".join((pack(version, len(stream_bytes), len(topic_bytes), len(state)),
                                 stream_bytes, topic_bytes, state)))
        streams.append(stream)
        versions.append(version)
    crcs = list(map(zlib.crc32, encoded))
    # ASCII JSON: any stream id fits a text column.
    listed = json.dumps([streams, versions, crcs], separators=(",", ":"))[1:-1] if listing else ""
    return Contents(hashlib.sha256(b"".join(encoded)).digest(), crcs, listed)


def link_hash(previous: str, sequence: int, position: int, recorded_at: str, recorded_by: str,
              positions: Sequence[int], taken: Contents, adopted_at: str | None = None) -> str:
    """The link's hash (see the module's docstring)."""
    return hashlib.sha256(b"".join((
        _commit_header(previous, sequence, position, len(positions), recorded_at, recorded_by, adopted_at),
        struct.pack(f">{len(positions)}q", *positions), taken.digest))).hexdigest()


def next_link(head: Head, position: int, recorded_at: str, recorded_by: str, positions: Sequence[int],
              taken: Contents, adopted_at: str | None = None) -> Link:
    """The link a commit adds after the chain's `head`: its events' `positions` (in log
    order) and what `contents` took of them."""
    sequence = head.commits + 1
    hashed = link_hash(head.hash, sequence, position, recorded_at, recorded_by, positions, taken, adopted_at)
    # Four columns — positions, streams, versions, CRCs — cost half of a list per event.
    manifest = f"[{json.dumps(list(positions), separators=(',', ':'))},{taken.listing}]"
    return Link(position, sequence, head.events + len(positions), recorded_at, recorded_by, hashed, manifest,
                adopted_at)


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    """The first place where the record no longer matches its chain."""

    event_id: str | None  # e.g. "ticket/T-1002#4"; None when no event can be named
    commit: int | None  # the log position of the commit (link) it breaks
    problem: str  # "payload changed", "event missing", "event added", "order changed", ...
    expected_hash: str | None  # what the chain holds
    found_hash: str | None  # what the record now hashes to
    detail: str = ""
    position: int | None = None  # where in the log (to find the first of several)

    def document(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "commit": self.commit, "problem": self.problem,
                "expected_hash": self.expected_hash, "found_hash": self.found_hash, "detail": self.detail}


@dataclass(frozen=True)
class CommitRow:
    """A `ledger_commits` row: the record time queries use."""

    position: int
    recorded_at: str


@dataclass(frozen=True)
class Verdict:
    head: Head
    chain_starts_at: int  # the first log position whose link was written with its events
    adopted_at: str | None  # when links were built over an older record (None: never)
    events: int  # events read
    broken: Broken | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def document(self) -> dict[str, Any]:
        return {"ok": self.ok, "head": self.head.document(), "chain_starts_at": self.chain_starts_at,
                "adopted_at": self.adopted_at, "broken": None if self.broken is None else self.broken.document()}


MarkRow = tuple[str, str, str, int]  # (stream, mark, client, position of the first event carrying it)


@dataclass
class Payloads:
    """What reading every payload as its event type found: the first that cannot be read,
    and the stream marks the events carry ((stream, mark) -> (client, first position)),
    with the ids of the events that carry a mark first."""

    unreadable: Broken | None = None
    marks: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    ids: dict[int, str] = field(default_factory=dict)

    def merge(self, other: Payloads) -> None:
        """Add what another reader found (of other events of the same log)."""
        if other.unreadable is not None and (self.unreadable is None
                                             or other.unreadable.position < self.unreadable.position):  # type: ignore[operator]
            self.unreadable = other.unreadable
        for key, (client_id, position) in other.marks.items():
            if key not in self.marks or position < self.marks[key][1]:
                self.marks[key] = (client_id, position)
        self.ids.update(other.ids)


class PayloadReader:
    """Reads payloads as `verify` hands it the log: `add` a page of events, in log order;
    `result` once the log is read. `read_payloads` does it here; a reader may also do it in
    another process (ledger.store.payloads)."""

    def add(self, events: list[ChainedEvent]) -> None:
        raise NotImplementedError

    def result(self) -> Payloads:
        raise NotImplementedError

    def close(self) -> None:
        """Let go of whatever the reader holds (a helper process), whether or not it finished."""


# Reading one stored event as its type: why it cannot be read (None: it can), its client
# and the marks the record-time index must hold for it.
Read = Callable[[ChainedEvent], tuple[str | None, str | None, tuple[str, ...]]]


def read_payloads(read: Read, events: Iterable[ChainedEvent], found: Payloads | None = None) -> Payloads:
    """Read each event's payload; note the first unreadable one and every mark."""
    found = found or Payloads()
    marks, ids = found.marks, found.ids
    for event in events:
        unreadable, client_id, carried = read(event)
        if unreadable is not None:
            if found.unreadable is None:
                found.unreadable = Broken(event.event_id, None, unreadable.split(":")[0], None, None, unreadable,
                                          event.position)
            continue
        for mark in carried:
            if (event.stream, mark) not in marks:
                marks[event.stream, mark] = (client_id or "", event.position)
                ids[event.position] = event.event_id
    return found


class ReadHere(PayloadReader):
    def __init__(self, read: Read):
        self.read, self.found = read, Payloads()

    def add(self, events: list[ChainedEvent]) -> None:
        read_payloads(self.read, events, self.found)

    def result(self) -> Payloads:
        return self.found


def verify(head: Head, links: Iterable[Link], commits: Iterable[CommitRow], pages: Iterable[list[ChainedEvent]],
           payloads: PayloadReader, marks: Callable[[], Iterable[MarkRow]], expect: str | None = None) -> Verdict:
    """Re-hash every link from the first, comparing each with the events and record times
    the store holds now; check every stream (versions contiguous from 1) and, through
    `payloads`, that every payload reads as its event type. The three inputs are in log
    order (the events in pages, as the store reads them). Then compare the stream marks
    the store holds with those its events carry (they decide which events a client's
    queries read; they follow from the events, so they are not hashed). `expect`: a hash printed by `head` earlier, which must still be a link."""
    walk = _Walk(payloads)
    broken = walk.run(links, commits, pages)
    found = payloads.result()
    if found.unreadable is not None and (broken is None or broken.position is None
                                         or found.unreadable.position < broken.position):  # type: ignore[operator]
        broken = found.unreadable
    if broken is None:
        broken = _compare_marks(found, marks())
    if broken is None and expect is not None and expect != GENESIS and expect not in walk.hashes:
        broken = Broken(None, None, "expected head not in chain", expect, head.hash,
                        "the head given with --expect is not a link of this chain: history before it was rewritten")
    return Verdict(head, walk.adopted_upto + 1, walk.adopted_at, walk.events, broken)


class _Walk:
    """One pass over the log, a commit at a time."""

    def __init__(self, payloads: PayloadReader):
        self.payloads = payloads
        self.head = Head.of(None)  # the last link verified
        self.versions: dict[str, int] = {}  # each stream's last version seen
        self.hashes: set[str] = set()
        self.adopted_upto, self.adopted_at = 0, None
        self.events = 0

    def run(self, links: Iterable[Link], commits: Iterable[CommitRow],
            pages: Iterable[list[ChainedEvent]]) -> Broken | None:
        pending = _Pages(pages)
        for position, link, commit in _commits(links, commits):
            actual = pending.take_upto(position)
            self.events += len(actual)
            self.payloads.add(actual)
            broken = self._commit(position, link, commit, actual)
            if broken is not None:
                return broken
        extra = pending.take_upto(None)
        self.events += len(extra)
        self.payloads.add(extra)
        if extra:
            return Broken(extra[0].event_id, None, "event added", None, None,
                          f"{len(extra)} event(s) after the chain's last link, from position {extra[0].position}",
                          extra[0].position)
        return None

    def _commit(self, position: int, link: Link | None, commit: CommitRow | None,
                actual: list[ChainedEvent]) -> Broken | None:
        first = actual[0] if actual else None
        at = first.position if first is not None else position
        name = first.event_id if first is not None else None
        streams = self._stream_problems(actual)  # after the link's own findings at the same position
        problems: list[tuple[int, str | None, str, str]] = []
        if link is None:
            problems.append((at, name, "chain row missing", f"the commit at position {position} has no link"))
            return self._first(problems + streams, position, None, None)
        previous = self.head
        recorded_at = link.recorded_at if commit is None else commit.recorded_at
        positions, taken = [e.position for e in actual], contents(actual, listing=False)
        found = link_hash(previous.hash, previous.commits + 1, position, recorded_at, link.recorded_by, positions,
                          taken, link.adopted_at)
        crcs = taken.crcs
        manifest = _manifest(link.manifest)
        listed = manifest is not None and manifest == [positions, [e.stream for e in actual],
                                                       [e.version for e in actual], crcs]
        counted = manifest is not None and link.sequence == previous.commits + 1 \
            and link.events == previous.events + len(manifest[0])
        if found == link.hash and counted:
            # The events and record time are what was committed; anything else is the link's own row.
            if not listed or (commit is not None and commit.recorded_at != link.recorded_at):
                problems.append((at, name, "chain row changed", "the link's own row was edited"))
        elif manifest is not None and not listed and (content := _content_problems(manifest, actual, crcs)):
            problems += content
        elif commit is not None and commit.recorded_at != link.recorded_at and link.hash == link_hash(
                previous.hash, previous.commits + 1, position, link.recorded_at, link.recorded_by, positions,
                taken, link.adopted_at):
            problems.append((at, name, "record time changed",
                             f"recorded at {commit.recorded_at}, chained as {link.recorded_at}"))
        else:
            problems.append((at, name, "chain row changed", "the link does not match the events it vouches for"))
        if commit is None:
            problems.append((at, name, "record time missing", f"the commit at position {position} has no record time"))
        if problems or streams:
            return self._first(problems + streams, position, link.hash, found)
        self.head = Head.of(link)
        self.hashes.add(link.hash)
        if link.adopted_at is not None:
            self.adopted_upto, self.adopted_at = position, link.adopted_at
        return None

    @staticmethod
    def _first(problems: list[tuple[int, str | None, str, str]], commit: int, expected: str | None,
               found: str | None) -> Broken:
        at, name, problem, detail = min(problems, key=lambda item: item[0])
        return Broken(name, commit, problem, expected, found, detail, at)

    def _stream_problems(self, actual: list[ChainedEvent]) -> list[tuple[int, str | None, str, str]]:
        problems: list[tuple[int, str | None, str, str]] = []
        versions, last = self.versions, self.versions.get
        for event in actual:
            expected = last(event.stream, 0) + 1
            if event.version != expected:
                if event.version > expected:
                    problems.append((event.position, event_id(event.stream, expected), "event missing",
                                     f"{event.stream} goes from version {expected - 1} to {event.version}"))
                else:
                    problems.append((event.position, event.event_id, "order changed",
                                     f"{event.event_id} comes after version {expected - 1}"))
            versions[event.stream] = max(event.version, expected - 1)
        return problems


def _manifest(text: Any) -> list[list[Any]] | None:
    """A link's four columns — positions, streams, versions, CRCs — or None when unreadable."""
    try:
        columns = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None
    if not (isinstance(columns, list) and len(columns) == 4 and all(isinstance(c, list) for c in columns)
            and len({len(c) for c in columns}) == 1):
        return None
    return columns


def _content_problems(manifest: list[list[Any]], actual: list[ChainedEvent],
                      crcs: list[int]) -> list[tuple[int, str | None, str, str]]:
    """Where the commit's events differ from what its link lists: the first, by position.
    (Only asked when they differ: the usual case is one comparison of the columns.)"""
    try:
        rows = [(int(p), str(s), int(v), int(c)) for p, s, v, c in zip(*manifest, strict=True)]
    except (ValueError, TypeError, OverflowError):
        return [(actual[0].position if actual else 0, actual[0].event_id if actual else None, "chain row changed",
                 "its manifest is unreadable")]
    expected = {position: (stream, version, crc) for position, stream, version, crc in rows}
    found: dict[int, tuple[ChainedEvent, int]] = {}
    for event, crc in zip(actual, crcs, strict=True):
        if event.position in found:
            return [(event.position, event.event_id, "event added", f"a second event at position {event.position}")]
        found[event.position] = (event, crc)
    expected_ids = {(stream, version) for stream, version, _ in expected.values()}
    found_ids = {(event.stream, event.version) for event in actual}
    for position in sorted(expected.keys() | found.keys()):
        want, got = expected.get(position), found.get(position)
        if want is not None and got is not None and (want[0], want[1]) == (got[0].stream, got[0].version):
            if want[2] != got[1]:
                return [(position, got[0].event_id, "payload changed", f"at position {position}")]
            continue
        moved = (got is not None and (got[0].stream, got[0].version) in expected_ids) or \
            (want is not None and (want[0], want[1]) in found_ids)
        if want is not None and got is not None and not moved:
            return [(position, event_id(want[0], want[1]), "event changed",
                     f"position {position} now holds {got[0].event_id}")]
        if moved:
            name = event_id(want[0], want[1]) if want is not None else got[0].event_id  # type: ignore[index]
            return [(position, name, "order changed", f"position {position} holds another event than was chained")]
        if got is not None:
            return [(position, got[0].event_id, "event added", f"at position {position}, in no link")]
        return [(position, event_id(want[0], want[1]), "event missing", f"was at position {position}")]  # type: ignore[index]
    return []


def _compare_marks(found: Payloads, stored: Iterable[MarkRow]) -> Broken | None:
    """The first (by log position) stream mark that differs from what the events carry."""
    wanted = dict(found.marks)
    wrong: list[tuple[int, str, str]] = []
    for stream, mark, client_id, position in stored:
        expected = wanted.pop((stream, mark), None)
        if expected != (client_id, position):
            at = position if expected is None else expected[1]
            wrong.append((at, found.ids.get(at, event_id(stream, 1)),
                          f"the index marks {stream} {mark!r} for client {client_id!r} at position {position}"
                          + ("" if expected is None else f"; its events say {expected[0]!r} at {expected[1]}")))
    wrong += [(position, found.ids[position], f"the index lacks {stream} {mark!r} (client {client_id!r})")
              for (stream, mark), (client_id, position) in wanted.items()]
    if not wrong:
        return None
    at, name, detail = min(wrong)
    return Broken(name, None, "index changed", None, None, detail, at)


def _commits(links: Iterable[Link], commits: Iterable[CommitRow]) -> Iterator[tuple[int, Link | None, CommitRow | None]]:
    """Links and commit rows side by side, by log position (either may lack the other)."""
    link_iter, commit_iter = iter(links), iter(commits)
    link, commit = next(link_iter, None), next(commit_iter, None)
    while link is not None or commit is not None:
        if commit is None or (link is not None and link.position < commit.position):
            yield link.position, link, None  # type: ignore[union-attr]
            link = next(link_iter, None)
        elif link is None or commit.position < link.position:
            yield commit.position, None, commit
            commit = next(commit_iter, None)
        else:
            yield link.position, link, commit
            link, commit = next(link_iter, None), next(commit_iter, None)


class _Pages:
    """The log's events, read a page at a time, handed out up to a position."""

    def __init__(self, pages: Iterable[list[ChainedEvent]]):
        self.pages = iter(pages)
        self.page: list[ChainedEvent] = []
        self.at = 0  # the first event of `page` not handed out

    def take_upto(self, position: int | None) -> list[ChainedEvent]:
        """The events up to and including `position` (None: all that are left)."""
        taken: list[ChainedEvent] = []
        while True:
            if self.at == len(self.page):
                page = next(self.pages, None)
                if page is None:
                    return taken
                self.page, self.at = page, 0
                continue
            end = len(self.page) if position is None else bisect_right(self.page, position, self.at, key=_position)
            taken += self.page[self.at : end]
            self.at = end
            if end < len(self.page):
                return taken


def _position(event: ChainedEvent) -> int:
    return event.position


def build(commits: Iterable[CommitRow], pages: Iterable[list[ChainedEvent]], adopted_at: str) -> Iterator[Link]:
    """Links for a store written before the chain: one per commit, over the events up to
    its position (both in log order, the events in pages as the store reads them), each
    marked as adopted at `adopted_at` (who wrote them is unknown)."""
    head, pending = Head.of(None), _Pages(pages)
    for commit in commits:
        events = pending.take_upto(commit.position)
        link = next_link(head, commit.position, commit.recorded_at, "", [e.position for e in events],
                         contents(events), adopted_at)
        head = Head.of(link)
        yield link
