"""The tamper suite: an attacker with the owner's rights removes the triggers and changes
the record in one of the ways below. `verify` must fail (exit 3) naming exactly the first
broken event and what is wrong; the untouched record must pass.

The expectation of each tampering is worked out here from the rows it changed, not from the
chain: the first event, in log order, whose stored form is no longer what was committed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from commands.bus import apply_lines
from commands.cli import main
from ledger.application import SupportLedger
from ledger.events import event_id
from ledger.store.tables import CHAIN_TABLE, COMMITS_TABLE, MARKS_TABLE
from tests.builders import reopen
from tests.integrity_support import DEMO_COMMANDS, Raw, raw_store
from tests.support import apply

TAMPERINGS = 100

Expected = tuple[str, str]  # (event id, problem)


def build_store(url: str) -> None:
    """The demo, with commits of one command and of many: a line at a time, then in batches."""
    with SupportLedger(url) as ledger:
        apply(ledger, *DEMO_COMMANDS[:30])
        list(apply_lines(ledger, [json.dumps(line) for line in DEMO_COMMANDS[30:]], "batcher", batch_size=7))


def commit_of(raw_log: list[tuple], commits: list[tuple], position: int) -> list[tuple]:
    """The events of the commit that holds `position`, in log order."""
    ends = [c[0] for c in commits]
    end = min(e for e in ends if e >= position)
    start = max([e for e in ends if e < end], default=0)
    return [row for row in raw_log if start < row[0] <= end]


def _changed_payload(raw: Raw, rng: random.Random) -> Expected:
    position, stream, version, _, state = rng.choice(raw.log())
    raw.run(f"UPDATE {raw.q(raw.events)} SET state = ? WHERE {raw.position} = ?", (state + b" ", position))
    return event_id(stream, version), "payload changed"


def _deleted_event(raw: Raw, rng: random.Random) -> Expected:
    position, stream, version, *_ = rng.choice(raw.log())
    raw.run(f"DELETE FROM {raw.q(raw.events)} WHERE {raw.position} = ?", (position,))
    return event_id(stream, version), "event missing"


def _swapped_payloads(raw: Raw, rng: random.Random) -> Expected:
    log = raw.log()
    while True:
        first, second = sorted(rng.sample(log, 2))
        if first[4] != second[4]:
            break
    for row, state in ((first, second[4]), (second, first[4])):
        raw.run(f"UPDATE {raw.q(raw.events)} SET state = ? WHERE {raw.position} = ?", (state, row[0]))
    return event_id(first[1], first[2]), "payload changed"


def _record_time_changed(raw: Raw, rng: random.Random) -> Expected:
    commits, log = raw.commits(), raw.log()
    position, recorded_at = rng.choice(commits)
    if raw.sqlite:
        moved = (datetime.fromisoformat(recorded_at) + timedelta(seconds=rng.randint(-3600, 3600) or 1))
        value = moved.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    else:
        value = recorded_at + timedelta(seconds=rng.randint(-3600, 3600) or 1)
    raw.run(f"UPDATE {raw.q(COMMITS_TABLE)} SET recorded_at = ? WHERE notification_id = ?", (value, position))
    first = commit_of(log, commits, position)[0]
    return event_id(first[1], first[2]), "record time changed"


def _forged_event(raw: Raw, rng: random.Random) -> Expected:
    log = raw.log()
    streams: dict[str, int] = {}
    for _, stream, version, *_ in log:
        streams[stream] = max(streams.get(stream, 0), version)
    stream = rng.choice(sorted(streams))
    _, _, _, topic, state = rng.choice(log)
    if rng.random() < 0.5:  # the next version of an existing stream, or a new stream
        version = streams[stream] + 1
    else:
        stream, version = f"ticket/FORGED-{rng.randint(1, 999)}", 1
    raw.run(f"INSERT INTO {raw.q(raw.events)} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
            (stream, version, topic, state))
    return event_id(stream, version), "event added"


def _truncated_tail(raw: Raw, rng: random.Random) -> Expected:
    log = raw.log()
    cut = log[-rng.randint(1, 12):]
    raw.run(f"DELETE FROM {raw.q(raw.events)} WHERE {raw.position} >= ?", (cut[0][0],))
    return event_id(cut[0][1], cut[0][2]), "event missing"


def _chain_row_changed(raw: Raw, rng: random.Random) -> Expected:
    commits, log = raw.commits(), raw.log()
    position = rng.choice(commits)[0]
    column, value = rng.choice([("hash", "%064x" % rng.getrandbits(256)), ("recorded_by", "someone-else")])
    raw.run(f"UPDATE {raw.q(CHAIN_TABLE)} SET {column} = ? WHERE notification_id = ?", (value, position))
    first = commit_of(log, commits, position)[0]
    return event_id(first[1], first[2]), "chain row changed"


def _chain_row_deleted(raw: Raw, rng: random.Random) -> Expected:
    commits, log = raw.commits(), raw.log()
    position = rng.choice(commits)[0]
    raw.run(f"DELETE FROM {raw.q(CHAIN_TABLE)} WHERE notification_id = ?", (position,))
    first = commit_of(log, commits, position)[0]
    return event_id(first[1], first[2]), "chain row missing"


def _order_changed(raw: Raw, rng: random.Random) -> Expected:
    """Two events of one commit trade places in the log."""
    commits, log = raw.commits(), raw.log()
    commit = rng.choice([c for c in commits if len(commit_of(log, commits, c[0])) > 1])
    first, second = sorted(rng.sample(commit_of(log, commits, commit[0]), 2))
    table, column = raw.q(raw.events), raw.position
    raw.run(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (-1, first[0]))
    raw.run(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (first[0], second[0]))
    raw.run(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (second[0], -1))
    return event_id(first[1], first[2]), "order changed"


def _mark_changed(raw: Raw, rng: random.Random) -> Expected:
    """A stream mark decides which events a client's queries read: deleted, or moved to
    another client. Named at the event that carried it first."""
    stream, mark, client_id, position = rng.choice(raw.run(f"SELECT * FROM {raw.q(MARKS_TABLE)} ORDER BY 1, 2"))
    if rng.random() < 0.5:
        raw.run(f"DELETE FROM {raw.q(MARKS_TABLE)} WHERE originator_id = ? AND mark = ?", (stream, mark))
    else:
        raw.run(f"UPDATE {raw.q(MARKS_TABLE)} SET client_id = ? WHERE originator_id = ? AND mark = ?",
                (client_id + "-other", stream, mark))
    carrier = next(row for row in raw.log() if row[0] == position)
    return event_id(carrier[1], carrier[2]), "index changed"


TAMPER: dict[str, Callable[[Raw, random.Random], Expected]] = {
    "changed payload": _changed_payload,
    "deleted event": _deleted_event,
    "swapped payloads": _swapped_payloads,
    "record time changed": _record_time_changed,
    "forged event": _forged_event,
    "truncated tail": _truncated_tail,
    "chain row changed": _chain_row_changed,
    "chain row deleted": _chain_row_deleted,
    "order changed": _order_changed,
    "mark changed": _mark_changed,
}


def test_random_tamperings_are_each_caught_at_the_first_broken_event(db_url, capsys):
    build_store(db_url)
    rng = random.Random(20261205)
    with raw_store(db_url) as raw, SupportLedger(db_url) as ledger:
        raw.drop_triggers()
        pristine = raw.snapshot()
        head = ledger.head()
        assert ledger.verify().ok
        kinds = list(TAMPER)
        for round_ in range(TAMPERINGS):
            kind = kinds[round_ % len(kinds)] if round_ < len(kinds) else rng.choice(kinds)
            expected = TAMPER[kind](raw, rng)
            # Now and then with the payloads read in a helper process too, as on long logs.
            verdict = ledger.verify(expect=head.hash, helper=round_ % 10 == 3)
            assert verdict.broken is not None, (round_, kind, expected)
            assert (verdict.broken.event_id, verdict.broken.problem) == expected, (round_, kind, verdict.broken)
            if round_ % 25 == 0:  # the command line says the same, with exit status 3
                assert main(["verify", "--db", db_url, "--json"]) == 3
                printed = json.loads(capsys.readouterr().out)["broken"]
                assert (printed["event_id"], printed["problem"]) == expected
            raw.restore(pristine)
            if round_ % 10 == 0:
                assert ledger.verify(expect=head.hash).ok, (round_, kind)
        assert main(["verify", "--db", db_url]) == 0


def test_a_kept_head_passes_after_appends_and_fails_after_a_change_before_it(db_url):
    build_store(db_url)
    with SupportLedger(db_url) as ledger:
        kept = ledger.head()
        apply(ledger, reopen("T-1001", "2025-02-06T12:00"))
        assert ledger.verify(expect=kept.hash).ok
        with raw_store(db_url) as raw:
            raw.drop_triggers()
            position, stream, version, _, state = raw.log()[1]
            raw.run(f"UPDATE {raw.q(raw.events)} SET state = ? WHERE {raw.position} = ?", (state + b" ", position))
        verdict = ledger.verify(expect=kept.hash)
        assert verdict.broken is not None and verdict.broken.event_id == event_id(stream, version)


# --- attacks found in review: each is caught, and named ---------------------------------------------


def _row_of(raw: Raw, stream: str, version: int) -> tuple:
    return next(row for row in raw.log() if row[1] == stream and row[2] == version)


def _below_every_position(raw: Raw) -> Expected:
    """Insert only (triggers left in place): an event at a position below every other."""
    _, _, _, topic, state = _row_of(raw, "ticket/T-2001", 1)
    raw.run(f"INSERT INTO {raw.q(raw.events)} ({raw.position}, originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?, ?)", (-(2**63), "ticket/T-2009", 1, topic, state))
    return "ticket/T-2009#1", "event added"


def _commit_below_every_position(raw: Raw) -> Expected:
    """Insert only: a commit row that would make every "as known at now" read nothing."""
    raw.run(f"INSERT INTO {raw.q(COMMITS_TABLE)} VALUES (?, ?)",
            (-1, "2999-01-01T00:00:00.000000Z" if raw.sqlite else datetime(2999, 1, 1, tzinfo=timezone.utc)))
    return None, "chain row missing"


def _link_time_changed(raw: Raw) -> Expected:
    position = raw.commits()[-1][0]
    raw.run(f"UPDATE {raw.q(CHAIN_TABLE)} SET recorded_at = ? WHERE notification_id = ?",
            ("1999-01-01T00:00:00.000000Z", position))
    first = commit_of(raw.log(), raw.commits(), position)[0]
    return event_id(first[1], first[2]), "chain row changed"


def _version_as_text(raw: Raw) -> Expected:
    position = _row_of(raw, "ticket/T-2002", 2)[0]
    if not raw.sqlite:  # PostgreSQL keeps the column's type: the version itself changes
        raw.run(f"UPDATE {raw.q(raw.events)} SET originator_version = 7 WHERE {raw.position} = ?", (position,))
    else:
        raw.run(f"UPDATE {raw.q(raw.events)} SET originator_version = '0_2' WHERE {raw.position} = ?", (position,))
    return "ticket/T-2002#2", "event changed"


def _stream_renamed(raw: Raw) -> Expected:
    position = _row_of(raw, "ticket/T-2002", 2)[0]
    raw.run(f"UPDATE {raw.q(raw.events)} SET originator_id = 'ticket/T-2003' WHERE {raw.position} = ?", (position,))
    return "ticket/T-2002#2", "event changed"


def _manifest_only(raw: Raw) -> Expected:
    position = raw.commits()[5][0]
    manifest = json.loads(raw.run(f"SELECT manifest FROM {raw.q(CHAIN_TABLE)} WHERE notification_id = ?", (position,))[0][0])
    manifest[3][0] ^= 1  # the first event's CRC
    raw.run(f"UPDATE {raw.q(CHAIN_TABLE)} SET manifest = ? WHERE notification_id = ?", (json.dumps(manifest), position))
    first = commit_of(raw.log(), raw.commits(), position)[0]
    return event_id(first[1], first[2]), "chain row changed"


def _adoption_claimed(raw: Raw) -> Expected:
    position = raw.commits()[2][0]
    raw.run(f"UPDATE {raw.q(CHAIN_TABLE)} SET adopted_at = ? WHERE notification_id = ?",
            ("2026-01-01T00:00:00.000000Z", position))
    first = commit_of(raw.log(), raw.commits(), position)[0]
    return event_id(first[1], first[2]), "chain row changed"


REVIEWED = {f.__name__.strip("_"): f for f in (_below_every_position, _commit_below_every_position, _link_time_changed,
                                              _version_as_text, _stream_renamed, _manifest_only, _adoption_claimed)}


@pytest.mark.parametrize("attack", sorted(REVIEWED))
def test_attacks_found_in_review_are_caught_and_named(db_url, attack):
    build_store(db_url)
    with raw_store(db_url) as raw:
        if attack not in {"below_every_position", "commit_below_every_position"}:
            raw.drop_triggers()
        expected = REVIEWED[attack](raw)
    with SupportLedger(db_url) as ledger:
        broken = ledger.verify().broken
    assert broken is not None and (broken.problem == expected[1]) and (expected[0] is None or broken.event_id == expected[0]), broken


def test_queries_on_an_event_no_commit_covers_end_in_one_line(db_url, capsys):
    """Insert only: an event after the last commit has no record time."""
    build_store(db_url)
    with raw_store(db_url) as raw:
        _, _, _, topic, state = _row_of(raw, "catalog/main", 1)
        last = max(row[2] for row in raw.log() if row[1] == "catalog/main")
        raw.run(f"INSERT INTO {raw.q(raw.events)} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                ("catalog/main", last + 1, topic, state))
    for argv in (["invoice", "acme", "--period", "2025-03"], ["hours", "2025-03-01", "2025-03-02"],
                 ["entitlements", "acme", "--at", "2025-03-01T12:00"]):
        assert main([*argv, "--db", db_url]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"catalog/main#{last + 1}" in err and "verify" in err, err


# --- SQLite keeps any type in any column: a value stored as another type is a change ----------------


SQLITE_TYPE_GAMES = {
    "a stream id stored as a blob": ("UPDATE stored_events SET originator_id = CAST(originator_id AS BLOB) "
                                     "WHERE originator_id = 'ticket/T-1002' AND originator_version = 6", "ticket/T-1002#6"),
    "a topic stored as a blob": ("UPDATE stored_events SET topic = CAST(topic AS BLOB) "
                                 "WHERE originator_id = 'ticket/T-1002' AND originator_version = 3", "ticket/T-1002#3"),
    "a payload stored as text": ("UPDATE stored_events SET state = CAST(state AS TEXT) "
                                 "WHERE originator_id = 'ticket/T-1002' AND originator_version = 3", "ticket/T-1002#3"),
    "a mark's client stored as a blob": ("UPDATE ledger_stream_marks SET client_id = CAST(client_id AS BLOB) "
                                         "WHERE originator_id = 'ticket/T-1002' AND mark = 'stream'", "ticket/T-1002#1"),
    "a link's writer stored as a blob": ("UPDATE ledger_chain SET recorded_by = CAST(recorded_by AS BLOB) "
                                         "WHERE notification_id = (SELECT MAX(notification_id) FROM ledger_chain)", None),
}


@pytest.mark.parametrize("game", sorted(SQLITE_TYPE_GAMES))
def test_a_value_stored_as_another_type_is_a_change(tmp_path, capsys, game):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    build_store(url)
    statement, named = SQLITE_TYPE_GAMES[game]
    with raw_store(url) as raw:
        raw.drop_triggers()
        raw.run(statement)
    with SupportLedger(url) as ledger:
        broken = ledger.verify().broken
        assert broken is not None and (named is None or broken.event_id == named), broken
        assert not ledger.verify(helper=True).ok
    for argv in (["history", "acme", "--json"], ["history", "acme"], ["sla", "T-1002"], ["verify"]):
        code = main([*argv, "--db", url])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err and code in (0, 1, 3), (argv, captured.err)
