"""The catalog: product versions (R-WTY-5), price lists (I-6), calendar overrides (I-1)."""

from __future__ import annotations

import bisect
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from ledger.aggregates.base import LedgerAggregate
from ledger.errors import AlreadyExistsError
from ledger.events import CalendarDayOverridden, CatalogOpened, PriceListPublished, VersionReleased
from ledger.rules.warranty import Release

if TYPE_CHECKING:
    from ledger.rules.calendar import SupportCalendar


class Catalog(LedgerAggregate):
    """One per ledger: the facts every client's entitlements and bills are computed from."""

    stream_prefix = "catalog"
    KEY = "main"

    @classmethod
    def open(cls) -> Catalog:
        return cls._start(CatalogOpened, cls.KEY)

    def release_version(self, product: str, version: str, released_on: date) -> None:
        if (product, version) in self.releases:
            raise AlreadyExistsError(
                f"{product} {version} was already released on "
                f"{self.releases[product, version].isoformat()}",
                field="version",
            )
        self._record(VersionReleased, product=product, version=version, released_on=released_on)

    def publish_price_list(
        self, effective_from: date, norm_hour: Decimal, priority_month: Decimal
    ) -> None:
        """A later publication for the same or an earlier date is a correction (I-6)."""
        if self.price_lists.get(effective_from) == (norm_hour, priority_month):
            raise AlreadyExistsError(
                f"this price list is already in force from {effective_from.isoformat()}",
                field="effective_from",
            )
        self._record(
            PriceListPublished,
            effective_from=effective_from,
            norm_hour=norm_hour,
            priority_month=priority_month,
        )

    def override_calendar_day(self, day: date, kind: str, reason: str) -> None:
        if self.calendar_overrides.get(day, (None, None))[0] == kind:
            raise AlreadyExistsError(
                f"{day.isoformat()} is already overridden as {kind}", field="date"
            )
        self._record(CalendarDayOverridden, day=day, kind=kind, reason=reason)

    # --- what the rules read -------------------------------------------------------------

    def release_list(self) -> list[Release]:
        """Every release, oldest first (the rules read it for every logged hour, I-4)."""
        return self._release_list

    def products(self) -> list[str]:
        return sorted({product for product, _ in self.releases})

    def support_calendar(self) -> SupportCalendar:
        """I-1: the production calendar with this catalog's overrides taking precedence."""
        from ledger.rules.calendar import CalendarOverride, SupportCalendar  # when asked (issue 17)

        return SupportCalendar(
            CalendarOverride(day, kind, reason)  # type: ignore[arg-type]
            for day, (kind, reason) in sorted(self.calendar_overrides.items())
        )

    @classmethod
    def empty(cls) -> Catalog:
        """A catalog with nothing published, for reading before anything was recorded."""
        catalog = cls.__new__(cls)
        catalog._start_empty()
        return catalog

    def _start_empty(self) -> None:
        self.releases: dict[tuple[str, str], date] = {}
        self._release_list: list[Release] = []  # the same releases, oldest first
        self.price_lists: dict[date, tuple[Decimal, Decimal]] = {}
        self.calendar_overrides: dict[date, tuple[str, str]] = {}

    @LedgerAggregate.when.register
    def _(self, event: CatalogOpened) -> None:
        self._start_empty()

    @LedgerAggregate.when.register
    def _(self, event: VersionReleased) -> None:
        self.releases[event.product, event.version] = event.released_on
        release = Release(event.product, event.version, event.released_on)
        bisect.insort_right(self._release_list, release, key=lambda r: r.released_on)

    @LedgerAggregate.when.register
    def _(self, event: PriceListPublished) -> None:
        self.price_lists[event.effective_from] = (event.norm_hour, event.priority_month)

    @LedgerAggregate.when.register
    def _(self, event: CalendarDayOverridden) -> None:
        self.calendar_overrides[event.day] = (event.kind, event.reason)
