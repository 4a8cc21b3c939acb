"""Command builders every test file uses (issue 17: one set, not one per file): one function
per CONTRACT.md command, returning it as a dict, in the order of CONTRACT.md's command table.

The defaults are the ones the tests share — the client `acme`, the product `RegionSoft CRM`,
its current version 9.0, and the facts a bug report needs (R-CH-2, R-WTY-3, I-10) — so a
test writes only the fields it is about. A builder never checks a value: a test of a refusal
passes the bad value through it. A command_id is added where a test needs one:
`{**register(), "command_id": "c1"}`. A command that is itself under test (malformed, hostile,
or an exact line a CLI test feeds) is written out literally in its test instead.
"""

from __future__ import annotations

CLIENT = "acme"
PRODUCT = "RegionSoft CRM"
CURRENT = "9.0"  # released 2024-06-01: the current version in 2025 (I-2)
PREVIOUS = "8.0"  # released 2022-03-01: covered while T < 2027-03-01 (R-WTY-5, I-2)
OLDER = "7.0"  # released 2018-03-01: older than the previous version, never covered (I-2)
BUG_FACTS = {"build": "9.0.1234", "description": "Open report X, press Print",
             "screenshot": "https://portal.example/s/1.png"}

# --- the catalog ---------------------------------------------------------------------------


def release(version: str = CURRENT, released_on: str = "2024-06-01", product: str = PRODUCT) -> dict:
    return {"command": "ReleaseVersion", "product": product, "version": version, "released_on": released_on}


def price_list(effective_from: str = "2025-01-01", norm_hour: str = "3000.00",
               priority_month: str = "15000.00") -> dict:
    return {"command": "PublishPriceList", "effective_from": effective_from,
            "norm_hour": norm_hour, "priority_month": priority_month}


def override_day(day: str, kind: str = "holiday", reason: str = "decree") -> dict:
    return {"command": "OverrideCalendarDay", "date": day, "kind": kind, "reason": reason}


# --- clients -------------------------------------------------------------------------------


def register(client_id: str = CLIENT, at: str | None = "2025-01-10T09:00", *, name: str | None = None) -> dict:
    """`at=None` leaves `at` out: the client is registered when the command is applied."""
    command = {"command": "RegisterClient", "client_id": client_id, "name": name or client_id.title()}
    if at is not None:
        command["at"] = at
    return command


def issue_license(license_id: str = "L1", issued_on: str = "2025-01-10", *, client_id: str = CLIENT,
                  product: str = PRODUCT) -> dict:
    return {"command": "IssueLicense", "client_id": client_id, "license_id": license_id, "product": product,
            "issued_on": issued_on}


def hand_over_key(license_id: str = "L1", at: str = "2025-01-15T10:00", *, client_id: str = CLIENT) -> dict:
    return {"command": "HandOverLicenseKey", "client_id": client_id, "license_id": license_id, "at": at}


def start_implementation(at: str, client_id: str = CLIENT) -> dict:
    return {"command": "StartImplementation", "client_id": client_id, "at": at}


def finish_implementation(at: str, client_id: str = CLIENT) -> dict:
    return {"command": "FinishImplementation", "client_id": client_id, "at": at}


def register_configuration(configuration_id: str, at: str, client_id: str = CLIENT) -> dict:
    return {"command": "RegisterPersonalConfiguration", "client_id": client_id,
            "configuration_id": configuration_id, "at": at}


def start_pilot(pilot_id: str, at: str, contract: str = "PILOT-7", client_id: str = CLIENT) -> dict:
    return {"command": "StartPilot", "client_id": client_id, "pilot_id": pilot_id, "at": at, "contract": contract}


def end_pilot(pilot_id: str, at: str, client_id: str = CLIENT) -> dict:
    return {"command": "EndPilot", "client_id": client_id, "pilot_id": pilot_id, "at": at}


def assign_engineer(engineer: str, at: str, client_id: str = CLIENT) -> dict:
    return {"command": "AssignEngineer", "client_id": client_id, "engineer": engineer, "at": at}


def subscribe(subscription_id: str, at: str, client_id: str = CLIENT) -> dict:
    return {"command": "SubscribePriority", "client_id": client_id, "subscription_id": subscription_id, "at": at}


def cancel(subscription_id: str, at: str, client_id: str = CLIENT) -> dict:
    return {"command": "CancelPriority", "client_id": client_id, "subscription_id": subscription_id, "at": at}


# --- tickets -------------------------------------------------------------------------------


def open_ticket(ticket_id: str, category: str = "question", *, client_id: str = CLIENT, version: str = CURRENT,
                at: str = "2025-03-03T09:00", product: str = PRODUCT, channel: str | None = None,
                subject: str | None = None, facts: dict | None = None) -> dict:
    """A bug report comes through the portal with every fact (R-CH-2, R-WTY-3, I-10) unless
    `channel` or `facts` says otherwise; other tickets come by email with no facts."""
    if facts is None:
        facts = BUG_FACTS if category == "bug" else {}
    if channel is None:
        channel = "portal" if category == "bug" else "email"
    return {"command": "OpenTicket", "ticket_id": ticket_id, "client_id": client_id, "at": at,
            "channel": channel, "subject": subject or f"Subject of {ticket_id}", "category": category,
            "product": product, "version": version, **facts}


def classify(ticket_id: str, category: str, at: str, reason: str = "r") -> dict:
    return {"command": "ClassifyTicket", "ticket_id": ticket_id, "category": category, "at": at, "reason": reason}


def confirm_bug(ticket_id: str, at: str) -> dict:
    return {"command": "ConfirmBug", "ticket_id": ticket_id, "at": at}


def reject_bug(ticket_id: str, category: str, at: str, reason: str = "r") -> dict:
    return {"command": "RejectBug", "ticket_id": ticket_id, "at": at, "category": category, "reason": reason}


def log(ticket_id: str, entry_id: str, started_at: str = "2025-03-03T12:00", minutes: int = 45,
        activity: str = "repair", purpose: str | None = None, *, engineer: str = "ivanov") -> dict:
    command = {"command": "LogTime", "ticket_id": ticket_id, "entry_id": entry_id, "engineer": engineer,
               "started_at": started_at, "minutes": minutes, "activity": activity}
    if purpose is not None:
        command["purpose"] = purpose
    return command


def correct_time(ticket_id: str, entry_id: str, minutes: int, reason: str = "r") -> dict:
    return {"command": "CorrectTime", "ticket_id": ticket_id, "entry_id": entry_id, "minutes": minutes,
            "reason": reason}


def void_time(ticket_id: str, entry_id: str, reason: str = "r") -> dict:
    return {"command": "VoidTime", "ticket_id": ticket_id, "entry_id": entry_id, "reason": reason}


def respond(ticket_id: str, at: str) -> dict:
    return {"command": "RespondToTicket", "ticket_id": ticket_id, "at": at}


def resolve(ticket_id: str, at: str) -> dict:
    return {"command": "ResolveTicket", "ticket_id": ticket_id, "at": at}


def reopen(ticket_id: str, at: str) -> dict:
    return {"command": "ReopenTicket", "ticket_id": ticket_id, "at": at}


# --- invoices ------------------------------------------------------------------------------


def issue(period: str, at: str, client_id: str = CLIENT) -> dict:
    return {"command": "IssueInvoice", "client_id": client_id, "period": period, "at": at}


# A client with a licence whose key was handed over (the free month: R-PTP-6) and one open
# ticket T1, in a catalog of its own product: the set-up of the fault and fuzz tests.
SET_UP = [
    release("9.0", "2024-06-01", product="Ledger"),
    price_list("2025-01-01", norm_hour="1500.00", priority_month="30000.00"),
    register("acme", "2025-01-10T09:00"),
    issue_license("L1", "2025-01-10", product="Ledger"),
    hand_over_key("L1", "2025-01-15T10:00"),
    open_ticket("T1", "question", at="2025-03-03T11:00", channel="phone", subject="How to", product="Ledger"),
]
