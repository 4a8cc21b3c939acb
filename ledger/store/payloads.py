"""Reading the log's payloads in a second process while `verify` re-hashes the chain here.

`verify` must cost no more than one plain read and decode of the log, yet it also hashes
every event and walks every link. On a machine with a second core the decoding — the
larger part — goes to a helper process (`python -m ledger.store.payloads`, a fresh
interpreter: nothing of the caller's is inherited or run again), fed pages of stored events
through a pipe by a sender thread. Whenever the helper is behind (its queue is full, e.g.
while it starts), this process reads the page itself, so neither side waits on the other.
Both use `ledger.store.chain.read_payloads` with the same mapper; their findings merge.
"""

from __future__ import annotations

import pickle
import queue
import subprocess
import sys
import threading
from typing import Any, BinaryIO

from ledger.store.chain import ChainedEvent, Payloads, PayloadReader, Read, read_payloads

QUEUED_PAGES = 2  # pages waiting for the helper before this process reads one itself


class ReadElsewhere(PayloadReader):
    """A `PayloadReader` that hands pages to a helper process, reading here when it is behind."""

    def __init__(self, read: Read):
        self.read, self.here = read, Payloads()
        self.process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE)
        self.pages: queue.Queue[list[ChainedEvent] | None] = queue.Queue(maxsize=QUEUED_PAGES)
        self.sender = threading.Thread(target=self._send, daemon=True)
        self.sender.start()

    def add(self, events: list[ChainedEvent]) -> None:
        if not events:
            return
        try:
            self.pages.put_nowait(events)
        except queue.Full:
            read_payloads(self.read, events, self.here)

    def result(self) -> Payloads:
        self.pages.put(None)
        self.sender.join()
        try:
            found: Payloads = pickle.load(self.process.stdout)  # type: ignore[arg-type]
        except (EOFError, pickle.UnpicklingError) as error:
            raise RuntimeError(f"the payload reader stopped (exit code {self.process.wait()})") from error
        finally:
            self.close()
        found.merge(self.here)
        return found

    def close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def _send(self) -> None:
        stdin: BinaryIO = self.process.stdin  # type: ignore[assignment]
        try:
            while (page := self.pages.get()) is not None:
                pickle.dump([tuple(event) for event in page], stdin, pickle.HIGHEST_PROTOCOL)
            stdin.close()
        except OSError:  # the helper is gone: `result` says so
            while self.pages.get() is not None:
                pass


def _serve(pages: BinaryIO, answer: BinaryIO) -> None:
    """The helper: read each page it is sent, then answer with what it found."""
    from ledger.persistence import LedgerMapper, LedgerTranscoder

    mapper = LedgerMapper(transcoder=LedgerTranscoder())
    found = Payloads()
    while True:
        try:
            page: list[Any] = pickle.load(pages)
        except EOFError:
            break
        read_payloads(mapper.read, (ChainedEvent(*row) for row in page), found)
    pickle.dump(found, answer, pickle.HIGHEST_PROTOCOL)
    answer.flush()


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
