"""Reading the log's payloads in a second process while `verify` re-hashes the chain here.

`verify` must cost no more than one plain read and decode of the log, yet it also hashes
every event and walks every link. On a machine with a second core the decoding — the
larger part — goes to a helper process (`python -m ledger.store.payloads`, a fresh
interpreter: nothing of the caller's is inherited or run again), in chunks of events sent
through a pipe. The helper asks for work: it writes one byte for each chunk it has room
for, and is sent one only then (a thread of the helper takes chunks off the pipe as they
come, so a send does not wait while the helper reads); when it has not asked, this process
reads the chunk itself. So neither side waits on the other, and the faster one does more.
Both use `ledger.store.chain.read_payloads` with the same mapper; their findings merge.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import queue
import select
import subprocess
import sys
import tempfile
import threading
from typing import Any, BinaryIO

from ledger.store.chain import ChainedEvent, Payloads, PayloadReader, Read, read_payloads

CHUNK = 1000  # events handed over at a time (about 10 ms of the helper's work)
WAITING = 8  # chunks that may wait for the helper: enough to cover this side reading a page
READY, DONE = b"r", b"D"  # the helper's bytes: ready for a chunk; its findings follow


class ReadElsewhere(PayloadReader):
    """A `PayloadReader` that hands chunks to a helper process when it asks, and reads the
    others here."""

    def __init__(self, read: Read):
        self.read, self.here, self.asked = read, Payloads(), 0
        self.errors = tempfile.TemporaryFile()  # the helper's stderr: a traceback is kept, not shown
        self.process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors)
        with contextlib.suppress(OSError):  # room for the chunks waiting (else a send may wait)
            fcntl.fcntl(self.process.stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[union-attr]
        self.answers = self.process.stdout.fileno()  # type: ignore[union-attr]

    def add(self, events: list[ChainedEvent]) -> None:
        for start in range(0, len(events), CHUNK):
            chunk = events[start : start + CHUNK]
            if self._asked():
                self.asked -= 1
                # As five columns: a tuple each, not an object per event, to pickle and unpickle.
                pickle.dump(list(zip(*chunk)), self.process.stdin, pickle.HIGHEST_PROTOCOL)  # type: ignore[arg-type]
                self.process.stdin.flush()  # type: ignore[union-attr]
            else:
                read_payloads(self.read, chunk, self.here)

    def _asked(self) -> bool:
        """Whether the helper has asked for a chunk not yet sent (without waiting)."""
        while not self.asked and select.select([self.answers], [], [], 0)[0]:
            received = os.read(self.answers, 4096)
            if not received:
                return False  # the helper is gone: `result` says so
            self.asked += received.count(READY)
        return self.asked > 0

    def result(self) -> Payloads:
        try:
            pickle.dump(None, self.process.stdin, pickle.HIGHEST_PROTOCOL)  # type: ignore[arg-type]
            self.process.stdin.close()  # type: ignore[union-attr]
            answer = self.process.stdout.read()  # type: ignore[union-attr]
            found: Payloads = pickle.loads(answer[answer.index(DONE) + 1 :])
        except (OSError, ValueError, EOFError, pickle.UnpicklingError) as error:
            raise RuntimeError(f"the payload reader stopped (exit code {self.process.wait()}): "
                               f"{self._last_error()}") from error
        finally:
            self.close()
        found.merge(self.here)
        return found

    def _last_error(self) -> str:
        """The last line the helper wrote on stderr (its error, after a traceback)."""
        self.errors.seek(0)
        lines = self.errors.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no message"

    def close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(OSError):
                    pipe.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.errors.close()


def _serve(chunks: BinaryIO, answers: BinaryIO) -> None:
    """The helper: ask for chunks and read them until told there are no more, then answer
    with what it found."""
    from ledger.store.mapper import LedgerMapper, LedgerTranscoder

    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    found = Payloads()
    waiting: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()

    def take() -> None:  # off the pipe as soon as sent: the sender never waits on a full pipe
        while (chunk := pickle.load(chunks)) is not None:
            waiting.put(chunk)
        waiting.put(None)

    # The reader thread must get the GIL back soon after each read from the pipe, or the
    # pipe fills and the sender waits: hand the GIL over every 0.5 ms instead of 5.
    sys.setswitchinterval(0.0005)
    threading.Thread(target=take, daemon=True).start()
    answers.write(READY * WAITING)
    answers.flush()
    while (chunk := waiting.get()) is not None:
        answers.write(READY)
        answers.flush()
        read_payloads(mapper.read, map(ChainedEvent._make, zip(*chunk)), found)
    answers.write(DONE)
    pickle.dump(found, answers, pickle.HIGHEST_PROTOCOL)
    answers.flush()


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
