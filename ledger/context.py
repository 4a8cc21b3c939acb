"""Who is recording, and under which command: stamped on every event created inside.

The command bus opens a `recording(...)` block around each command, so aggregates never
pass the actor along by hand, yet every event carries it as an explicit field.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Recording:
    actor: str
    command_id: str | None = None


_current: ContextVar[Recording | None] = ContextVar("support_ledger_recording", default=None)


class recording:  # noqa: N801 - used as a function: `with recording(actor, command_id):`
    """The block in which events are stamped with this actor and command id. (A class, not
    a generator: it is entered once per command.)"""

    def __init__(self, actor: str, command_id: str | None = None):
        self._recording = Recording(actor=actor, command_id=command_id)

    def __enter__(self) -> Recording:
        self._token = _current.set(self._recording)
        return self._recording

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)


def current_recording() -> Recording:
    found = _current.get()
    if found is None:
        raise RuntimeError("events can only be created inside ledger.context.recording(...)")
    return found


def current_actor() -> str:
    return current_recording().actor


def current_command_id() -> str | None:
    return current_recording().command_id
