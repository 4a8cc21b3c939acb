"""Who is recording, and under which command: stamped on every event created inside.

The command bus opens a `recording(...)` block around each command, so aggregates never
pass the actor along by hand, yet every event carries it as an explicit field.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Recording:
    actor: str
    command_id: str | None = None


_current: ContextVar[Recording | None] = ContextVar("support_ledger_recording", default=None)


@contextmanager
def recording(actor: str, command_id: str | None = None) -> Iterator[Recording]:
    token = _current.set(Recording(actor=actor, command_id=command_id))
    try:
        yield _current.get()  # type: ignore[misc]
    finally:
        _current.reset(token)


def current_recording() -> Recording:
    found = _current.get()
    if found is None:
        raise RuntimeError("events can only be created inside ledger.context.recording(...)")
    return found


def current_actor() -> str:
    return current_recording().actor


def current_command_id() -> str | None:
    return current_recording().command_id
