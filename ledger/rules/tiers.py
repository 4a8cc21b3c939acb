"""The tier of a piece of work (I-4) and the section-4 service matrix it reads from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ledger.errors import RuleViolationError
from ledger.vocabulary import ACTIVITIES

Tier = Literal["included", "free", "billable", "pending"]
Service = Literal["included", "free", "billable", "diagnostics_only", "not_available"]

# Section 4, warranty column: what warranty support does for free.
WARRANTY_COLUMN: dict[str, Service] = {
    "consultation": "free",
    "bug_fix": "free",
    "remote_session": "diagnostics_only",
}
# Section 4, standard column: everything but personal configurations, paid per actual time.
STANDARD_COLUMN: frozenset[str] = frozenset(ACTIVITIES) - {"personal_config"}


@dataclass(frozen=True)
class TierDecision:
    tier: Tier
    rules: tuple[str, ...]
    reason: str


def warranty_allows(activity: str, purpose: str | None) -> bool:
    """Section 4: consultations and bug fixes; a remote session only for diagnostics."""
    service = WARRANTY_COLUMN.get(activity)
    return service == "free" or (service == "diagnostics_only" and purpose == "diagnostics")


def tier_of_work(
    *,
    activity: str,
    purpose: str | None,
    category: str,
    bug_verdict: str | None,
    under_warranty: bool,
    priority: bool,
) -> TierDecision:
    """I-4: classify one time entry at the instant the work was done.

    `category` and `bug_verdict` are the ticket's classification as known (I-3);
    `under_warranty` whether the ticket's version is covered then (I-2); `priority`
    whether the client has priority coverage then (I-7). Raises RuleViolationError for
    personal-configuration work without priority coverage (R-PTP-3)."""
    if category == "client_change_restore":
        return TierDecision("billable", ("R-EXC-3", "I-4"),
                            "restoring after the client's own changes is paid whatever the tier")
    if priority:
        return TierDecision("included", ("R-PTP-1", "I-4", "I-7"), "included in priority support")
    if activity not in STANDARD_COLUMN and not warranty_allows(activity, purpose):
        raise RuleViolationError(
            f"{activity} work needs priority support, and the client has no priority coverage then",
            rule="R-PTP-3",
        )
    if category == "bug" and bug_verdict is None:
        return TierDecision("pending", ("R-WTY-2", "I-4"),
                            "suspected bug not yet confirmed or rejected: not charged until it is")
    warranty_case = category == "question" or (category == "bug" and bug_verdict == "confirmed")
    if warranty_case and under_warranty and warranty_allows(activity, purpose):  # R-WTY-1
        return TierDecision("free", ("R-WTY-1", "R-WTY-5", "I-2", "I-4"), "free under warranty")
    return TierDecision("billable", ("R-STP-1", "R-STP-2", "I-4"), "standard support, paid per actual time")


def services(priority: bool) -> dict[str, Service]:
    """Section 4 for one client at one instant, for a ticket whose version is under
    warranty: each activity of I-4 and what the client gets."""
    if priority:
        return {activity: "included" for activity in ACTIVITIES}
    return {
        activity: WARRANTY_COLUMN.get(activity)
        or ("billable" if activity in STANDARD_COLUMN else "not_available")
        for activity in ACTIVITIES
    }
