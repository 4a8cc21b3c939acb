"""The warranty window (R-WTY-5, I-2): which versions of a product warranty support covers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property

from dateutil.relativedelta import relativedelta

from ledger.timeutil import start_of_day

WARRANTY_YEARS_FOR_PREVIOUS = 5  # R-WTY-5


@dataclass(frozen=True)
class Release:
    product: str
    version: str
    released_on: date

    @cached_property
    def released_at(self) -> datetime:
        return start_of_day(self.released_on)

    @cached_property
    def previous_covered_until(self) -> datetime:
        """R-WTY-5: once superseded, this version stays covered until 5 years after its release."""
        return self.released_at + relativedelta(years=WARRANTY_YEARS_FOR_PREVIOUS)


def released_by(releases: Iterable[Release], product: str, at: datetime) -> list[Release]:
    """I-2: the product's versions officially released at or before `at`, oldest first."""
    return sorted(
        (r for r in releases if r.product == product and r.released_at <= at),
        key=lambda r: r.released_on,
    )


def covered_versions(releases: Iterable[Release], product: str, at: datetime) -> list[str]:
    """R-WTY-5, I-2: the current version (newest released at or before `at`), and the one
    released just before it while `at` is less than 5 years after that one's release.
    Newest first; empty when nothing of the product is released yet."""
    released = released_by(releases, product, at)
    if not released:
        return []
    covered = [released[-1].version]
    if len(released) >= 2:
        previous = released[-2]
        if at < previous.previous_covered_until:
            covered.append(previous.version)
    return covered


def is_under_warranty(releases: Iterable[Release], product: str, version: str, at: datetime) -> bool:
    """R-WTY-5, I-2: an older version, or one not released yet, is outside warranty."""
    return version in covered_versions(releases, product, at)
