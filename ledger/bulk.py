"""Bulk work with the cyclic garbage collector run less often.

Applying a file of commands (`commands.bus.apply_lines`) and computing a month's invoices
(`projections.month_end`) allocate many short-lived objects (parsed commands, events, rows)
while keeping many long-lived ones (cached aggregates, the documents computed so far). With
Python's default thresholds the collector runs every 700 allocations and keeps re-scanning
the long-lived ones: a fifth of a bulk apply's time at 100k events (scripts/bench.py),
10–14% of a month-end run's at 300k (timed with `gc.callbacks`). Reference counting still
frees everything that is not in a cycle at once.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between two young-generation collections during bulk work (Python's default: 700).
BULK_GC_THRESHOLD = 50_000


class _BulkCollection:
    """Run the cyclic garbage collector less often during bulk work.

    Runs may overlap (two threads, or one caller reading two generators that use it): the
    first to start saves the process's thresholds and the last to finish restores them,
    also when a caller stops reading early. A process that turned automatic collection off
    (threshold 0), or set a higher threshold, keeps its setting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved = gc.get_threshold()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._running == 0:
                self._saved = gc.get_threshold()
                if 0 < self._saved[0] < BULK_GC_THRESHOLD:
                    gc.set_threshold(BULK_GC_THRESHOLD, *self._saved[1:])
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    gc.set_threshold(*self._saved)


bulk_collection = _BulkCollection()
