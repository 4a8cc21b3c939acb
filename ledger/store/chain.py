"""The hash chain: every commit's link vouches for its events and for every commit before it.

Each transaction that records events also records one *link* (a `ledger_chain` row), in
the same transaction, while it holds the store's write lock, so links follow commit order:

    hash(n) = SHA-256( FORMAT, hash(n-1) as 32 bytes, sequence n, the commit's log position,
                       its record time, who recorded it, its event count,
                       and for each event, in log order: its position, stream id,
                       version, topic and stored state )

with `hash(0)` = 64 zeros (GENESIS). Every field has a fixed width or is preceded by its
length (big-endian), so no two commits encode to the same bytes (`_commit_header`,
`_event_bytes`). Record times are fixed-width UTC text (`utc_text`), the same on both
stores. Whoever rewrites, removes, reorders or adds an event, or changes a record time,
changes that link's hash and so every later one: an auditor who keeps a head (`head`)
can later prove that history up to it is unchanged (`verify(..., expect=hash)`).

A link also keeps a *manifest*: each event's position, stream, version and a CRC-32 of its
canonical bytes. The manifest is not what the chain's security rests on (the hash is);
it lets `verify` name exactly which event broke a link: missing, added, moved or changed.

Everything here is pure: the store hands in rows, in log order, and gets back links or a
verdict (`verify`). `ledger.persistence` reads and writes them.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ledger.events import event_id

FORMAT = b"support-ledger chain 1\n"
GENESIS = "0" * 64

_HEADER = struct.Struct(">QQQII")  # sequence, position, event count, len(recorded_at), len(recorded_by)
_EVENT = struct.Struct(">QQIIQ")  # position, version, len(stream), len(topic), len(state)


def utc_text(instant: datetime) -> str:
    """A record time as the chain hashes it (and SQLite stores it): fixed-width UTC text
    with microseconds, so that text order is time order."""
    return instant.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class ChainedEvent:
    """A stored event as the chain sees it: where it sits in the log and its stored bytes."""

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


def _event_bytes(event: ChainedEvent) -> bytes:
    stream, topic = event.stream.encode("utf-8", "surrogatepass"), event.topic.encode("utf-8", "surrogatepass")
    return b"".join((_EVENT.pack(event.position, event.version, len(stream), len(topic), len(event.state)),
                     stream, topic, event.state))


def _commit_header(previous: str, sequence: int, position: int, count: int, recorded_at: str, recorded_by: str) -> bytes:
    when, who = recorded_at.encode(), recorded_by.encode("utf-8", "surrogatepass")
    return b"".join((FORMAT, bytes.fromhex(previous), _HEADER.pack(sequence, position, count, len(when), len(who)),
                     when, who))


def link_hash(previous: str, sequence: int, position: int, recorded_at: str, recorded_by: str,
              events: Sequence[ChainedEvent]) -> tuple[str, list[int]]:
    """The link's hash, and each event's CRC-32 (its locator in the manifest)."""
    digest = hashlib.sha256(_commit_header(previous, sequence, position, len(events), recorded_at, recorded_by))
    crcs = []
    for event in events:
        encoded = _event_bytes(event)
        digest.update(encoded)
        crcs.append(zlib.crc32(encoded))
    return digest.hexdigest(), crcs


def next_link(head: Head, position: int, recorded_at: str, recorded_by: str,
              events: Sequence[ChainedEvent], adopted_at: str | None = None) -> Link:
    """The link a commit of `events` (in log order) adds after the chain's `head`."""
    sequence = head.commits + 1
    hashed, crcs = link_hash(head.hash, sequence, position, recorded_at, recorded_by, events)
    manifest = json.dumps([[e.position, e.stream, e.version, crc] for e, crc in zip(events, crcs, strict=True)],
                          separators=(",", ":"))  # ASCII: any stream id fits a text column
    return Link(position, sequence, head.events + len(events), recorded_at, recorded_by, hashed, manifest, adopted_at)


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
    chain_starts_at: int  # the first log position whose link was written with it
    events: int  # events read
    broken: Broken | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def document(self) -> dict[str, Any]:
        return {"ok": self.ok, "head": self.head.document(), "chain_starts_at": self.chain_starts_at,
                "broken": None if self.broken is None else self.broken.document()}


@dataclass(frozen=True)
class Reading:
    """What reading a stored event as its type gave: why it cannot be read (None: it can),
    and the client and marks the record-time index must hold for it."""

    unreadable: str | None
    client_id: str | None = None
    marks: tuple[str, ...] = ()


MarkRow = tuple[str, str, str, int]  # (stream, mark, client, position of the first event carrying it)


def verify(head: Head, links: Iterable[Link], commits: Iterable[CommitRow], events: Iterable[ChainedEvent],
           read: Callable[[ChainedEvent], Reading], marks: Callable[[], Iterable[MarkRow]],
           expect: str | None = None) -> Verdict:
    """Re-hash every link from the first, comparing each with the events and record times
    the store holds now, and check every stream (versions contiguous from 1) and payload.
    All three inputs are in log order. Then compare the stream marks the store holds with
    those its events carry (they decide which events a client's queries read, and are not
    hashed: they follow from the events). `expect`: a hash printed by `head` earlier, which
    must still be a link of the chain."""
    walk = _Walk(read)
    broken = walk.run(links, commits, events)
    if broken is None:
        broken = walk.compare_marks(marks())
    if broken is None and expect is not None and expect != GENESIS and expect not in walk.hashes:
        broken = Broken(None, None, "expected head not in chain", expect, head.hash,
                        "the head given with --expect is not a link of this chain: history before it was rewritten")
    return Verdict(head, walk.adopted_upto + 1, walk.events, broken)


class _Walk:
    """One pass over the log, a commit at a time."""

    def __init__(self, read: Callable[[ChainedEvent], Reading]):
        self.read = read
        self.marks: dict[tuple[str, str], tuple[str, int]] = {}  # what the index must hold
        self.ids: dict[int, str] = {}  # the event id at each position that carries a mark first
        self.previous: Link | None = None  # the last link verified
        self.versions: dict[str, int] = {}  # each stream's last version seen
        self.hashes: set[str] = set()
        self.adopted_upto = 0
        self.events = 0

    def run(self, links: Iterable[Link], commits: Iterable[CommitRow], events: Iterable[ChainedEvent]) -> Broken | None:
        pending = _Peekable(iter(events))
        for position, link, commit in _commits(links, commits):
            actual = pending.take_upto(position)
            self.events += len(actual)
            broken = self._commit(position, link, commit, actual)
            if broken is not None:
                return broken
        extra = pending.take_upto(None)
        self.events += len(extra)
        if extra:
            return Broken(extra[0].event_id, None, "event added", None, None,
                          f"{len(extra)} event(s) after the chain's last link, at position {extra[0].position}")
        return None

    def _commit(self, position: int, link: Link | None, commit: CommitRow | None,
                actual: list[ChainedEvent]) -> Broken | None:
        first = actual[0].event_id if actual else None
        if link is None:
            return Broken(first, position, "chain row missing", None, None,
                          f"the commit at position {position} has no link")
        expected_head = Head.of(self.previous)
        try:
            manifest = [(int(p), str(s), int(v), int(c)) for p, s, v, c in json.loads(link.manifest)]
        except (ValueError, TypeError):
            return Broken(first, position, "chain row changed", link.hash, None, "its manifest is unreadable")
        recorded_at = link.recorded_at if commit is None else commit.recorded_at
        found, crcs = link_hash(expected_head.hash, expected_head.commits + 1, position, recorded_at,
                                link.recorded_by, actual)
        problems = _content_problems(manifest, actual, crcs)
        problems += self._stream_problems(actual)
        if problems:
            at, name, problem, detail = min(problems, key=lambda item: item[0])
            return Broken(name, position, problem, link.hash, found, detail)
        if commit is None:
            return Broken(first, position, "record time missing", link.hash, None,
                          f"the commit at position {position} has no record time")
        if found != link.hash or link.sequence != expected_head.commits + 1 \
                or link.events != expected_head.events + len(manifest):
            if commit.recorded_at != link.recorded_at:
                return Broken(first, position, "record time changed", link.hash, found,
                              f"recorded at {commit.recorded_at}, chained as {link.recorded_at}")
            return Broken(first, position, "chain row changed", link.hash, found,
                          "the link does not match the events it vouches for")
        self.previous = link
        self.hashes.add(link.hash)
        if link.adopted_at is not None:
            self.adopted_upto = position
        return None

    def _stream_problems(self, actual: list[ChainedEvent]) -> list[tuple[int, str, str, str]]:
        problems = []
        for event in actual:
            expected = self.versions.get(event.stream, 0) + 1
            if event.version > expected:
                problems.append((event.position, event_id(event.stream, expected), "event missing",
                                 f"{event.stream} goes from version {expected - 1} to {event.version}"))
            elif event.version < expected:
                problems.append((event.position, event.event_id, "order changed",
                                 f"{event.event_id} comes after version {expected - 1}"))
            self.versions[event.stream] = max(event.version, expected - 1)
            reading = self.read(event)
            if reading.unreadable is not None:
                problems.append((event.position, event.event_id, reading.unreadable.split(":")[0],
                                 reading.unreadable))
            for mark in reading.marks:
                if (event.stream, mark) not in self.marks:
                    self.marks[event.stream, mark] = (reading.client_id or "", event.position)
                    self.ids[event.position] = event.event_id
        return problems

    def compare_marks(self, stored: Iterable[MarkRow]) -> Broken | None:
        """The first (by log position) stream mark that differs from what the events carry."""
        wanted = dict(self.marks)
        wrong: list[tuple[int, str, str]] = []
        for stream, mark, client_id, position in stored:
            expected = wanted.pop((stream, mark), None)
            if expected != (client_id, position):
                at = position if expected is None else expected[1]
                wrong.append((at, self.ids.get(at, event_id(stream, 1)),
                              f"the index marks {stream} {mark!r} for client {client_id!r} at position {position}"
                              + ("" if expected is None else f"; its events say {expected[0]!r} at {expected[1]}")))
        wrong += [(position, self.ids[position], f"the index lacks {stream} {mark!r} (client {client_id!r})")
                  for (stream, mark), (client_id, position) in wanted.items()]
        if not wrong:
            return None
        at, name, detail = min(wrong)
        return Broken(name, None, "index changed", None, None, detail)


def _content_problems(manifest: list[tuple[int, str, int, int]], actual: list[ChainedEvent],
                      crcs: list[int]) -> list[tuple[int, str, str, str]]:
    """Where the commit's events differ from what its link lists: the first, by position."""
    expected = {position: (stream, version, crc) for position, stream, version, crc in manifest}
    found = {event.position: (event, crc) for event, crc in zip(actual, crcs, strict=True)}
    expected_ids = {(stream, version) for stream, version, _ in expected.values()}
    found_ids = {(event.stream, event.version) for event in actual}
    for position in sorted(expected.keys() | found.keys()):
        want, got = expected.get(position), found.get(position)
        if want is not None and got is not None and (want[0], want[1]) == (got[0].stream, got[0].version):
            if want[2] != got[1]:
                return [(position, got[0].event_id, "payload changed", f"at position {position}")]
            continue
        if got is not None and (got[0].stream, got[0].version) not in expected_ids:
            return [(position, got[0].event_id, "event added", f"at position {position}, in no link")]
        if want is not None and (want[0], want[1]) not in found_ids:
            return [(position, event_id(want[0], want[1]), "event missing", f"was at position {position}")]
        name = event_id(want[0], want[1]) if want is not None else got[0].event_id  # type: ignore[index]
        return [(position, name, "order changed", f"position {position} holds another event than was chained")]
    return []


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


class _Peekable:
    def __init__(self, items: Iterator[ChainedEvent]):
        self.items = items
        self.next: ChainedEvent | None = next(items, None)

    def take_upto(self, position: int | None) -> list[ChainedEvent]:
        """The events up to and including `position` (None: all that are left)."""
        taken = []
        while self.next is not None and (position is None or self.next.position <= position):
            taken.append(self.next)
            self.next = next(self.items, None)
        return taken


def build(units: Iterable[tuple[int, str, list[ChainedEvent]]], adopted_at: str) -> Iterator[Link]:
    """Links for a store written before the chain: one per (commit position, record time,
    events), in log order, each marked as adopted at `adopted_at` (who wrote them is unknown)."""
    head = Head.of(None)
    for position, recorded_at, events in units:
        link = next_link(head, position, recorded_at, "", events, adopted_at)
        head = Head.of(link)
        yield link
