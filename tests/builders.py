"""Command builders every test file may use (issue 17: one set, not one per file): each
returns a CONTRACT.md command as a dict, with the defaults the tests share — the client
`acme`, the product `RegionSoft CRM`, its current version 9.0 — and the facts a bug report
needs (R-CH-2, R-WTY-3, I-10)."""

from __future__ import annotations

CLIENT = "acme"
PRODUCT = "RegionSoft CRM"
CURRENT = "9.0"  # released 2024-06-01: the current version in 2025 (I-2)
PREVIOUS = "8.0"  # released 2022-03-01: covered while T < 2027-03-01 (R-WTY-5, I-2)
OLDER = "7.0"  # released 2018-03-01: older than the previous version, never covered (I-2)
BUG_FACTS = {"build": "9.0.1234", "description": "Open report X, press Print",
             "screenshot": "https://portal.example/s/1.png"}


def price_list(effective_from: str, norm_hour: str = "3000.00", priority_month: str = "15000.00") -> dict:
    return {"command": "PublishPriceList", "effective_from": effective_from,
            "norm_hour": norm_hour, "priority_month": priority_month}


def release(version: str, released_on: str, product: str = PRODUCT) -> dict:
    return {"command": "ReleaseVersion", "product": product, "version": version, "released_on": released_on}


def register(client_id: str = CLIENT, at: str = "2025-01-10T09:00") -> dict:
    return {"command": "RegisterClient", "client_id": client_id, "name": client_id.title(), "at": at}


def open_ticket(ticket_id: str, category: str, *, client_id: str = CLIENT, version: str = CURRENT,
                at: str = "2025-03-03T09:00", product: str = PRODUCT) -> dict:
    command = {"command": "OpenTicket", "ticket_id": ticket_id, "client_id": client_id, "at": at,
               "channel": "email", "subject": f"Subject of {ticket_id}", "category": category,
               "product": product, "version": version}
    if category == "bug":  # R-CH-2, R-WTY-3, I-10: a bug report goes through the portal with every fact
        command.update(channel="portal", **BUG_FACTS)
    return command


def log(ticket_id: str, entry_id: str, started_at: str, minutes: int, activity: str = "repair",
        purpose: str | None = None) -> dict:
    command = {"command": "LogTime", "ticket_id": ticket_id, "entry_id": entry_id, "engineer": "ivanov",
               "started_at": started_at, "minutes": minutes, "activity": activity}
    if purpose is not None:
        command["purpose"] = purpose
    return command


def subscribe(subscription_id: str, at: str, client_id: str = CLIENT) -> dict:
    return {"command": "SubscribePriority", "client_id": client_id, "subscription_id": subscription_id, "at": at}


def cancel(subscription_id: str, at: str, client_id: str = CLIENT) -> dict:
    return {"command": "CancelPriority", "client_id": client_id, "subscription_id": subscription_id, "at": at}


def issue(period: str, at: str, client_id: str = CLIENT) -> dict:
    return {"command": "IssueInvoice", "client_id": client_id, "period": period, "at": at}


# A client with a licence whose key was handed over (the free month: R-PTP-6) and one open
# ticket T1, in a catalog of its own product: the set-up of the fault and fuzz tests.
SET_UP = [
    {"command": "ReleaseVersion", "product": "Ledger", "version": "9.0", "released_on": "2024-06-01"},
    {"command": "PublishPriceList", "effective_from": "2025-01-01", "norm_hour": "1500.00",
     "priority_month": "30000.00"},
    {"command": "RegisterClient", "client_id": "acme", "name": "Acme", "at": "2025-01-10T09:00"},
    {"command": "IssueLicense", "client_id": "acme", "license_id": "L1", "product": "Ledger",
     "issued_on": "2025-01-10"},
    {"command": "HandOverLicenseKey", "client_id": "acme", "license_id": "L1", "at": "2025-01-15T10:00"},
    {"command": "OpenTicket", "ticket_id": "T1", "client_id": "acme", "at": "2025-03-03T11:00",
     "channel": "phone", "subject": "How to", "category": "question", "product": "Ledger", "version": "9.0"},
]
