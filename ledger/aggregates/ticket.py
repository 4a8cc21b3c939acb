"""A support ticket: its classification (I-3), the bug verdict (R-WTY-2), the work logged
on it (I-4) with corrections, and the moments its SLA clock reads (R-HRS-1..3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledger.aggregates.base import LedgerAggregate, require_not_before
from ledger.errors import (
    AlreadyExistsError,
    ConflictingStateError,
    InvalidCommandError,
    NotFoundError,
    RuleViolationError,
)
from ledger.events import (
    BugConfirmed,
    BugRejected,
    TicketClassified,
    TicketOpened,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TimeCorrected,
    TimeLogged,
    TimeVoided,
)
from ledger.rules.coverage import CoverageInterval, sources_at
from ledger.rules.tiers import TierDecision, tier_of_work
from ledger.rules.warranty import Release, is_under_warranty
from ledger.vocabulary import BUG_REPORT_FACTS, CATEGORIES, EXCLUDED_CATEGORIES


def require_support_category(category: str) -> None:
    """I-3: a ticket takes one of the support categories; the excluded kinds of work are
    refused citing their clause (R-EXC-1, R-EXC-2)."""
    if category in EXCLUDED_CATEGORIES:
        rule = EXCLUDED_CATEGORIES[category]
        raise RuleViolationError(
            f"{category!r} is not technical support (the regulation excludes it)",
            rule=rule,
            field="category",
        )
    if category not in CATEGORIES:
        raise InvalidCommandError(
            f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}",
            field="category",
        )


def missing_bug_report_facts(facts: dict[str, str | None]) -> list[str]:
    """R-WTY-3, I-10: the facts a bug report lacks (empty when complete)."""
    return [name for name in BUG_REPORT_FACTS if not (facts.get(name) or "").strip()]


@dataclass
class TimeEntry:
    engineer: str
    started_at: datetime
    minutes: int
    activity: str
    purpose: str | None
    voided: bool = False


class Ticket(LedgerAggregate):
    stream_prefix = "ticket"

    @classmethod
    def open(
        cls,
        *,
        ticket_id: str,
        client_id: str,
        at: datetime,
        channel: str,
        subject: str,
        category: str,
        product: str,
        version: str,
        build: str | None = None,
        description: str | None = None,
        screenshot: str | None = None,
    ) -> Ticket:
        require_support_category(category)
        facts = dict(product=product, version=version, build=build,
                     description=description, screenshot=screenshot)
        if category == "bug":
            cls._require_bug_report(facts)
            if channel != "portal":
                raise RuleViolationError(
                    f"a bug report goes through the portal, not {channel!r}",
                    rule="R-CH-2",
                    field="channel",
                )
        return cls._start(
            TicketOpened, ticket_id, ticket_id=ticket_id, client_id=client_id, at=at,
            channel=channel, subject=subject, category=category, **facts,
        )

    @staticmethod
    def _require_bug_report(facts: dict[str, str | None]) -> None:
        missing = missing_bug_report_facts(facts)
        if missing:
            raise RuleViolationError(
                f"a bug report needs {', '.join(missing)} (R-WTY-3)", rule="I-10", field=missing[0]
            )

    # --- classification (I-3) and the bug verdict (R-WTY-2) --------------------------------

    def classify(self, category: str, at: datetime, reason: str) -> None:
        require_support_category(category)
        if category == self.category:
            raise ConflictingStateError(
                f"ticket {self.ticket_id!r} is already classified as {category!r}", field="category"
            )
        if category == "bug":
            self._require_bug_report(self.facts)
        require_not_before(at, self.opened_at, field="at", what="the ticket was opened")
        self._record(TicketClassified, category=category, at=at, reason=reason)

    def confirm_bug(self, at: datetime) -> None:
        self._require_pending_bug()
        require_not_before(at, self.opened_at, field="at", what="the ticket was opened")
        self._record(BugConfirmed, at=at)

    def reject_bug(self, at: datetime, category: str, reason: str) -> None:
        self._require_pending_bug()
        require_support_category(category)
        if category == "bug":
            raise InvalidCommandError("a rejected bug takes another category", field="category")
        require_not_before(at, self.opened_at, field="at", what="the ticket was opened")
        self._record(BugRejected, at=at, category=category, reason=reason)

    def _require_pending_bug(self) -> None:
        if self.category != "bug" or self.bug_verdict is not None:
            state = f"classified as {self.category!r}" if self.category != "bug" else f"already {self.bug_verdict}"
            raise ConflictingStateError(
                f"ticket {self.ticket_id!r} is not a pending bug report ({state})", rule="I-4"
            )

    # --- work (I-4) -------------------------------------------------------------------------

    def log_time(
        self, *, entry_id: str, engineer: str, started_at: datetime, minutes: int,
        activity: str, purpose: str | None, coverage: list[CoverageInterval], releases: list[Release],
    ) -> None:
        """Record work on this ticket, once every check holds: among them I-4, that some tier
        allows the work given the client's `coverage` and the catalog's `releases` as known
        (work no tier allows, R-PTP-3, is refused now, not discovered on the invoice)."""
        if entry_id in self.entries:
            raise AlreadyExistsError(
                f"time entry {entry_id!r} is already logged on ticket {self.ticket_id!r}",
                field="entry_id",
            )
        if activity == "remote_session" and purpose is None:
            raise InvalidCommandError(
                "a remote_session needs a purpose: diagnostics or assistance (section 4)",
                field="purpose",
            )
        if activity != "remote_session" and purpose is not None:
            raise InvalidCommandError("purpose applies to remote_session only", field="purpose")
        require_not_before(started_at, self.opened_at, field="started_at", what="the ticket was opened")
        self._tier(activity, purpose, started_at, coverage, releases)
        self._record(
            TimeLogged, entry_id=entry_id, engineer=engineer, started_at=started_at,
            minutes=minutes, activity=activity, purpose=purpose,
        )

    def correct_time(self, entry_id: str, minutes: int, reason: str) -> None:
        entry = self._live_entry(entry_id)
        if entry.minutes == minutes:
            raise ConflictingStateError(
                f"time entry {entry_id!r} already has {minutes} minutes", field="minutes"
            )
        self._record(
            TimeCorrected, entry_id=entry_id, minutes=minutes, reason=reason,
            entry_started_at=entry.started_at,
        )

    def void_time(self, entry_id: str, reason: str) -> None:
        entry = self._live_entry(entry_id)
        self._record(TimeVoided, entry_id=entry_id, reason=reason, entry_started_at=entry.started_at)

    def _live_entry(self, entry_id: str) -> TimeEntry:
        entry = self.entries.get(entry_id)
        if entry is None:
            raise NotFoundError(
                f"ticket {self.ticket_id!r} has no time entry {entry_id!r}", field="entry_id"
            )
        if entry.voided:
            raise ConflictingStateError(f"time entry {entry_id!r} was voided", field="entry_id")
        return entry

    def tier_of(
        self, entry: TimeEntry, coverage: list[CoverageInterval], releases: list[Release]
    ) -> TierDecision:
        """I-4 for one entry: the ticket's classification as known, the client's coverage
        and the warranty window at the instant the work was done."""
        return self._tier(entry.activity, entry.purpose, entry.started_at, coverage, releases)

    def _tier(self, activity: str, purpose: str | None, started_at: datetime,
              coverage: list[CoverageInterval], releases: list[Release]) -> TierDecision:
        return tier_of_work(
            activity=activity,
            purpose=purpose,
            category=self.category,
            bug_verdict=self.bug_verdict,
            under_warranty=is_under_warranty(releases, self.facts["product"], self.facts["version"], started_at),
            priority=bool(sources_at(coverage, started_at)),
        )

    # --- the SLA moments ---------------------------------------------------------------------

    def respond(self, at: datetime) -> None:
        require_not_before(at, self.opened_at, field="at", what="the ticket was opened")
        self._record(TicketResponded, at=at)

    def resolve(self, at: datetime) -> None:
        if self.resolved_at is not None:
            raise ConflictingStateError(
                f"ticket {self.ticket_id!r} is already resolved", field="ticket_id"
            )
        require_not_before(at, self.reopened_at or self.opened_at, field="at",
                           what="the ticket was opened or reopened")
        self._record(TicketResolved, at=at)

    def reopen(self, at: datetime) -> None:
        if self.resolved_at is None:
            raise ConflictingStateError(f"ticket {self.ticket_id!r} is not resolved", field="ticket_id")
        require_not_before(at, self.resolved_at, field="at", what="the ticket was resolved")
        self._record(TicketReopened, at=at)

    # --- state -------------------------------------------------------------------------------

    @LedgerAggregate.when.register
    def _(self, event: TicketOpened) -> None:
        self.ticket_id = event.ticket_id
        self.client_id = event.client_id
        self.opened_at = event.at
        self.channel = event.channel
        self.subject = event.subject
        self.category = event.category
        self.facts = dict(product=event.product, version=event.version, build=event.build,
                          description=event.description, screenshot=event.screenshot)
        self.bug_verdict: str | None = None
        self.entries: dict[str, TimeEntry] = {}
        self.first_response_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.reopened_at: datetime | None = None

    @LedgerAggregate.when.register
    def _(self, event: TicketClassified) -> None:
        self.category = event.category
        self.bug_verdict = None

    @LedgerAggregate.when.register
    def _(self, event: BugConfirmed) -> None:
        self.bug_verdict = "confirmed"

    @LedgerAggregate.when.register
    def _(self, event: BugRejected) -> None:
        self.bug_verdict = "rejected"
        self.category = event.category

    @LedgerAggregate.when.register
    def _(self, event: TimeLogged) -> None:
        self.entries[event.entry_id] = TimeEntry(
            event.engineer, event.started_at, event.minutes, event.activity, event.purpose
        )

    @LedgerAggregate.when.register
    def _(self, event: TimeCorrected) -> None:
        self.entries[event.entry_id].minutes = event.minutes

    @LedgerAggregate.when.register
    def _(self, event: TimeVoided) -> None:
        self.entries[event.entry_id].voided = True

    @LedgerAggregate.when.register
    def _(self, event: TicketResponded) -> None:
        if self.first_response_at is None or event.at < self.first_response_at:
            self.first_response_at = event.at

    @LedgerAggregate.when.register
    def _(self, event: TicketResolved) -> None:
        self.resolved_at = event.at

    @LedgerAggregate.when.register
    def _(self, event: TicketReopened) -> None:
        self.resolved_at = None
        self.reopened_at = event.at
