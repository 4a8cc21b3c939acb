"""The client's priority-support account: paid subscriptions (R-PTP-1), the free first
month (R-PTP-6) and pilot coverage (R-PTP-7). Coverage intervals are derived from it and
the client's first licence key handover (I-7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledger.aggregates.base import LedgerAggregate, require_not_before
from ledger.errors import AlreadyExistsError, ConflictingStateError, NotFoundError
from ledger.events import (
    PilotCoverageEnded,
    PilotCoverageGranted,
    PriorityAccountOpened,
    PriorityCancelled,
    PriorityFreeMonthGranted,
    PrioritySubscribed,
)
from ledger.rules.coverage import CoverageInterval, KeyHandover, free_month_coverage, free_priority_month


@dataclass
class Interval:
    """Half-open [starts_at, ends_at); open-ended while ends_at is None (I-7)."""

    starts_at: datetime
    ends_at: datetime | None = None

    def is_open_at(self, at: datetime) -> bool:
        return self.ends_at is None or self.ends_at > at


class Subscription(LedgerAggregate):
    stream_prefix = "priority"

    @classmethod
    def open_for(cls, client_id: str, opened_at: datetime) -> Subscription:
        return cls._start(PriorityAccountOpened, client_id, client_id=client_id, opened_at=opened_at)

    def subscribe(self, subscription_id: str, at: datetime) -> None:
        if subscription_id in self.paid:
            raise AlreadyExistsError(
                f"subscription {subscription_id!r} already exists", field="subscription_id"
            )
        for other_id, other in self.paid.items():
            if other.is_open_at(at) or other.starts_at >= at:
                raise ConflictingStateError(
                    f"paid priority subscription {other_id!r} would overlap one starting "
                    f"{at.isoformat()}",
                    rule="R-PTP-1",
                )
        self._record(PrioritySubscribed, subscription_id=subscription_id, at=at)

    def cancel(self, subscription_id: str, at: datetime) -> None:
        interval = self.paid.get(subscription_id)
        if interval is None:
            raise NotFoundError(
                f"client {self.client_id!r} has no subscription {subscription_id!r}",
                field="subscription_id",
            )
        if interval.ends_at is not None:
            raise ConflictingStateError(
                f"subscription {subscription_id!r} was already cancelled at "
                f"{interval.ends_at.isoformat()}",
                field="subscription_id",
            )
        require_not_before(at, interval.starts_at, field="at", what="the subscription started")
        self._record(PriorityCancelled, subscription_id=subscription_id, at=at)

    def grant_free_month(self, license_id: str, handover_at: datetime) -> None:
        """R-PTP-6: record, once per client, the grant of the free month at the handover
        that was then the first licence key handover. The record of that moment only:
        coverage reads the month from the licences (`coverage`), so a licence learned
        later that turns out to be the first moves the month without another event."""
        if self.free_month is not None:
            return
        starts_at, ends_at = free_priority_month(handover_at)
        self._record(PriorityFreeMonthGranted, license_id=license_id, starts_at=starts_at, ends_at=ends_at)

    def grant_pilot_coverage(self, pilot_id: str, starts_at: datetime) -> None:
        self._record(PilotCoverageGranted, pilot_id=pilot_id, starts_at=starts_at)

    def end_pilot_coverage(self, pilot_id: str, ends_at: datetime) -> None:
        self._record(PilotCoverageEnded, pilot_id=pilot_id, ends_at=ends_at)

    def coverage(self, first_key_handover: KeyHandover | None) -> list[CoverageInterval]:
        """I-7: every interval of priority coverage, paid or free, as known. The free first
        month (R-PTP-6) comes from the client's first licence key handover as known
        (`Client.first_key_handover`), not from the grant recorded at some handover: the
        same facts give the same month whatever order they were recorded in (I-9)."""
        intervals = [
            CoverageInterval("paid", i.starts_at, i.ends_at, ref)
            for ref, i in self.paid.items()
        ] + [
            CoverageInterval("pilot", i.starts_at, i.ends_at, ref)
            for ref, i in self.pilots.items()
        ] + free_month_coverage(first_key_handover)
        return sorted(intervals, key=lambda i: (i.starts_at, i.source))

    @LedgerAggregate.when.register
    def _(self, event: PriorityAccountOpened) -> None:
        self.client_id = event.client_id
        self.paid: dict[str, Interval] = {}
        # The grant as recorded (R-PTP-6); `coverage` derives the month from the licences.
        self.free_month: tuple[str, Interval] | None = None
        self.pilots: dict[str, Interval] = {}

    @LedgerAggregate.when.register
    def _(self, event: PrioritySubscribed) -> None:
        self.paid[event.subscription_id] = Interval(event.at)

    @LedgerAggregate.when.register
    def _(self, event: PriorityCancelled) -> None:
        self.paid[event.subscription_id].ends_at = event.at

    @LedgerAggregate.when.register
    def _(self, event: PriorityFreeMonthGranted) -> None:
        self.free_month = (event.license_id, Interval(event.starts_at, event.ends_at))

    @LedgerAggregate.when.register
    def _(self, event: PilotCoverageGranted) -> None:
        self.pilots[event.pilot_id] = Interval(event.starts_at)

    @LedgerAggregate.when.register
    def _(self, event: PilotCoverageEnded) -> None:
        self.pilots[event.pilot_id].ends_at = event.ends_at
