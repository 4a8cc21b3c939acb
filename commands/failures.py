"""How a run of the CLI or of a back-office script ends when something goes wrong: one line
on stderr naming the option or the cause, and an exit status — never a traceback.

`report_failures(work)` runs the work and turns what it raises into that line:

| raised | line | status |
|---|---|---|
| `UserError`, `LedgerError` (a refusal, naming its field or rule), `DamagedRecordError` | `error: <message>` | 1 |
| the store's failures (the library's `PersistenceError`, a database driver's error) | `error: --db: <first line>` | 1 |
| any other `OSError` (e.g. a file that cannot be written) | `error: <file>: <reason>` | 1 |
| Ctrl-C (`KeyboardInterrupt`) | `interrupted (SIGINT)` | 130 |
| SIGTERM (raised as `Terminated`, a `KeyboardInterrupt`) | `interrupted (SIGTERM)` | 143 |
| a closed standard output (`... | head`) | nothing | 0 |
| anything else: a bug in the ledger | `error: internal error (<type>: <first line>) … traceback in <file>` | 70 |

Notes added to the exception (`error.add_note(...)`) follow on the same line, so a run that
stopped halfway can say what it had already done. A bug's traceback goes to a file in the
temporary folder, named on that line, for whoever reports it; `SUPPORT_LEDGER_TRACEBACK=1`
prints it on stderr instead.

Outputs are checked before a run changes anything: `writable_output` answers whether a path
can be written, and `option_value` parses an option's text, both failing with a `UserError`
that names the option.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from ledger.errors import DamagedRecordError, LedgerError

T = TypeVar("T")

FAILED = 1
INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug, not the caller's mistake
INTERRUPTED = 128  # + the signal's number: 130 for Ctrl-C (SIGINT), 143 for SIGTERM


class UserError(Exception):
    """A mistake in how the program was called (an option, a path); printed as one line, status 1."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program was, so that it stops as it would for Ctrl-C."""


def report_failures(work: Callable[[], int]) -> int:
    """Run `work` and return its exit status; what it raises ends as the table above says."""
    with _sigterm_raises():
        try:
            status = work()
            sys.stdout.flush()  # a reader that stopped early is met here, not while Python exits
            return status
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM as `Terminated`
            number = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
            return _report(stop, f"interrupted ({number.name})", INTERRUPTED + number, prefix="")
        except (UserError, LedgerError, DamagedRecordError) as error:
            return _report(error, str(error), FAILED)
        except BrokenPipeError:  # whoever read our output stopped reading: nothing left to say
            _silence_stdout()
            return 0
        except Exception as error:
            if isinstance(error, _store_errors()):
                reason = first_line(error)
                return _report(error, reason if reason.startswith("--db") else f"--db: {reason}", FAILED)
            if isinstance(error, OSError):
                where = f"{error.filename}: " if error.filename else ""
                return _report(error, f"{where}{error.strerror or first_line(error)}", FAILED)
            return _internal_error(error)


def _internal_error(error: Exception) -> int:
    """A bug: one line on stderr, the traceback kept in a file for the report."""
    import tempfile
    import traceback

    details = "".join(traceback.format_exception(error))
    if os.environ.get("SUPPORT_LEDGER_TRACEBACK"):
        print(details, end="", file=sys.stderr)
        where = "printed above"
    else:
        try:
            with tempfile.NamedTemporaryFile("w", prefix="support-ledger-traceback-", suffix=".txt",
                                             delete=False, encoding="utf-8") as handle:
                handle.write(details)
            where = f"in {handle.name}"
        except OSError:
            where = "not kept (the temporary folder cannot be written)"
    summary = f"{type(error).__name__}: {first_line(error)}" if str(error) else type(error).__name__
    return _report(error, f"internal error ({summary}): a bug in support-ledger; the traceback is {where}",
                   INTERNAL)


def option_value(option: str, parse: Callable[[str], T], text: str) -> T:
    """`parse(text)`, or a UserError naming `option` when the text is not a value of it
    (ValueError, or OverflowError for a date beyond the calendar)."""
    try:
        return parse(text)
    except (ValueError, OverflowError) as error:
        reason = first_line(error)
        raise UserError(f"{option}: {reason}" if repr(text) in reason else f"{option}: {text!r}: {reason}") from None


def writable_output(option: str, text: str) -> Path:
    """The path `text` names, once it is known this process can write it there: its folder
    exists and may be written in, and it is not a folder. Found out by opening it for
    appending (which changes nothing in a file that exists), so whatever would refuse the
    write — permissions, a read-only file system — refuses here, before the run changes
    anything; a file created to find out is removed again. A UserError names `option`."""
    if not text:
        raise UserError(f"{option}: no file name given")
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise UserError(f"{option}: {text} is a folder; give the name of a file in it")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UserError(f"{option}: cannot write {text}: the folder {folder} {what}")
    if path.exists() and not path.is_file():  # a device or a named pipe: opening it could block
        if not os.access(path, os.W_OK):
            raise UserError(f"{option}: cannot write {text}: permission denied")
        return path
    existed = os.path.lexists(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666))
    except OSError as error:
        raise UserError(f"{option}: cannot write {text}: {error.strerror}") from None
    if not existed:
        path.unlink(missing_ok=True)
    return path


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _report(error: BaseException, message: str, status: int, prefix: str = "error: ") -> int:
    text = "; ".join([message, *getattr(error, "__notes__", [])])
    print(prefix + " ".join(text.splitlines()), file=sys.stderr)
    return status


def _store_errors() -> tuple[type[BaseException], ...]:
    """The store's failures: the library's, and a driver's that reached us unwrapped, each
    once something imported it (a SQLite run never imports the PostgreSQL driver, and
    `--help` neither)."""
    errors: list[type[BaseException]] = [sqlite3.Error]
    for module, name in (("eventsourcing.persistence", "PersistenceError"), ("psycopg", "Error")):
        imported = sys.modules.get(module)  # only what something imported can have been raised
        if imported is not None:
            errors.append(getattr(imported, name))
    return tuple(errors)


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While inside: SIGTERM raises `Terminated` in the main thread instead of killing the
    process at once, so that it stops where Ctrl-C would, and says so."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _silence_stdout() -> None:
    """Point standard output at nothing, so that Python's own flush at exit does not
    complain about the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
