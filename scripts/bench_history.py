"""A realistic synthetic history for the ledger, as command-file lines (`scripts/bench.py`).

    from bench_history import generate
    history = generate(events=20_000, seed=1)
    history.lines            # JSON Lines, in apply order, every one with a command_id

Deterministic for a given (events, seed). About events/100 clients over 2023-01-01 …
2025-12-31: product releases (some older than five years before 2023, so the warranty
window of R-WTY-5 matters), price lists (in force since 2022, yearly changes, a mid-year
change and one back-dated correction, I-6), calendar overrides, clients registered over
time with licences and key handovers (free first month, R-PTP-6), pilots (R-PTP-7), paid
priority subscriptions and cancellations (never overlapping: R-PTP-1), implementations
(R-PTP-2), personal configurations under priority coverage (R-PTP-3), dedicated engineers
(R-PTP-5), tickets of every category (I-3) with responses, resolutions, reopenings, bug
verdicts, reclassifications, logged work consistent with I-4, corrections and voids, and
issued invoices for about events/200 client-periods (each issued after its period ends).

Commands are emitted in valid-time order (globally, hence per client); the history ends
when the expected number of recorded events reaches `events`. Expected events per command
are the events the handlers record plus the command receipt (`expected_events`).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

START = datetime(2023, 1, 1)
END = datetime(2025, 12, 31, 18, 0)  # last instant of the history (Moscow time)
LAST_TICKET_DAY = date(2025, 12, 19)

# product -> [(version, released_on)], oldest first; versions before 2018 are outside
# warranty for the whole history, those of 2018-2020 drop out of it during the history.
RELEASES: dict[str, list[tuple[str, date]]] = {
    "RegionSoft CRM": [
        ("5.0", date(2016, 3, 1)), ("6.0", date(2019, 4, 1)), ("7.0", date(2021, 6, 1)),
        ("7.5", date(2024, 9, 16)), ("8.0", date(2025, 10, 6)),
    ],
    "RegionSoft Application Server": [
        ("2.0", date(2015, 5, 12)), ("3.0", date(2017, 11, 20)), ("3.1", date(2023, 2, 20)),
        ("3.2", date(2025, 4, 14)),
    ],
    "RegionSoft Tasks": [
        ("1.0", date(2018, 2, 1)), ("2.0", date(2020, 9, 1)), ("2.1", date(2024, 3, 4)),
    ],
}
PRODUCT_WEIGHTS = {"RegionSoft CRM": 0.65, "RegionSoft Application Server": 0.2, "RegionSoft Tasks": 0.15}
PRODUCT_CODES = {"RegionSoft CRM": "CRM", "RegionSoft Application Server": "AS", "RegionSoft Tasks": "TSK"}

# (published at, effective_from, norm_hour, priority_month)
PRICE_LISTS: list[tuple[datetime, date, str, str]] = [
    (datetime(2022, 12, 1, 9), date(2022, 1, 1), "2000.00", "10000.00"),
    (datetime(2022, 12, 1, 9, 5), date(2023, 1, 1), "2200.00", "11000.00"),
    (datetime(2023, 12, 15, 12), date(2024, 1, 1), "2500.00", "12000.00"),
    # Back-dated correction (I-6): published in March for January; adjusts what is owed.
    (datetime(2024, 3, 11, 15), date(2024, 1, 1), "2450.00", "11800.00"),
    (datetime(2024, 12, 16, 12), date(2025, 1, 1), "3000.00", "15000.00"),
    (datetime(2025, 6, 16, 12), date(2025, 7, 1), "3200.00", "15500.00"),
]
CALENDAR_OVERRIDES: list[tuple[datetime, date, str, str]] = [
    (datetime(2022, 11, 30, 9), date(2021, 11, 1), "holiday", "Указ Президента РФ от 20.10.2021 № 595 (нерабочие дни)"),
    (datetime(2022, 11, 30, 9), date(2021, 11, 2), "holiday", "Указ Президента РФ от 20.10.2021 № 595 (нерабочие дни)"),
    (datetime(2022, 11, 30, 9), date(2021, 11, 3), "holiday", "Указ Президента РФ от 20.10.2021 № 595 (нерабочие дни)"),
    (datetime(2024, 12, 20, 9), date(2024, 12, 28), "shortened", "Сокращённый рабочий день по решению руководства"),
]

ENGINEERS = [
    "Ирина Смирнова", "Пётр Волков", "Анна Кузнецова", "Дмитрий Орлов", "Елена Морозова",
    "Сергей Лебедев", "Ольга Новикова", "Алексей Фёдоров", "Мария Павлова", "Николай Егоров",
    "Татьяна Соколова", "Андрей Васильев",
]
COMPANY_WORDS = ["Акме", "Бореал", "Кедр", "Север", "Вектор", "Гранит", "Дельта", "Меридиан",
                 "Орбита", "Полюс", "Радуга", "Сигма", "Титан", "Урал", "Факел", "Эталон"]
LEGAL_FORMS = ["ООО", "АО", "ПАО", "ИП"]

CATEGORY_WEIGHTS = {
    "question": 28, "bug": 20, "environment": 12, "data_recovery": 8, "customization": 11,
    "integration": 8, "personal_config": 6, "client_change_restore": 7,
}
SUBJECTS = {
    "question": ["How to set up the sales funnel report", "Where to change the default currency",
                 "How to import contacts from Excel", "Installing the client on a new workstation"],
    "bug": ["Error 0xE12 when posting an invoice", "Report designer crashes on export",
            "Calendar shows tasks on the wrong day", "Unhandled exception on login"],
    "environment": ["Antivirus blocks the application server", "Lost connection after a network change",
                    "Firewall drops the client connections", "Slow work after moving to new hardware"],
    "data_recovery": ["Database will not open after a power cut", "Lost administrator password",
                      "Damaged database index"],
    "customization": ["Tune a script in the deal card", "Change the database structure for a new field",
                      "A report designer template needs tuning"],
    "integration": ["Integrate with our IP telephony", "Connect the SMS gateway", "Sync with 1C accounting"],
    "personal_config": ["Adjust the personal logistics configuration", "Post-project support of the custom module"],
    "client_change_restore": ["Our admin edited the database, nothing works", "Restore after our script broke the forms"],
}
# The activities of work that fit a ticket of each category (I-4), with weights.
WORK = {
    "question": [("consultation", None, 6), ("remote_session", "diagnostics", 2), ("remote_session", "assistance", 1)],
    "environment": [("repair", None, 3), ("remote_session", "assistance", 3), ("analysis", None, 2), ("consultation", None, 1)],
    "data_recovery": [("repair", None, 4), ("analysis", None, 2), ("remote_session", "assistance", 1)],
    "customization": [("analysis", None, 4), ("consultation", None, 1), ("remote_session", "assistance", 1)],
    "integration": [("integration", None, 5), ("consultation", None, 1)],
    "personal_config": [("personal_config", None, 5), ("consultation", None, 1)],
    "client_change_restore": [("repair", None, 4), ("remote_session", "assistance", 1)],
}
RECLASSIFY = {  # a likely reclassification (I-3)
    "question": ["environment", "customization", "data_recovery"],
    "environment": ["question", "client_change_restore", "data_recovery"],
    "data_recovery": ["client_change_restore", "environment"],
    "customization": ["question", "integration"],
    "integration": ["customization", "environment"],
    "client_change_restore": ["environment", "data_recovery"],
}
REJECTED_AS = ["environment", "customization", "client_change_restore", "question", "data_recovery"]

# Events each command records besides its receipt (ledger handlers), and the receipt.
RECEIPT_EVENTS = 1
AGGREGATE_EVENTS = Counter({
    "RegisterClient": 2,  # client + its priority account
    "StartPilot": 2, "EndPilot": 2,  # the pilot and its coverage
})
FIRST_HANDOVER_EVENTS = 2  # the key handover and the free month (R-PTP-6)
CATALOG_OPENED_EVENTS = 1  # the first catalog command also opens the catalog


def expected_events(command: str, *, first_handover: bool = False) -> int:
    if command == "HandOverLicenseKey" and first_handover:
        return FIRST_HANDOVER_EVENTS + RECEIPT_EVENTS
    return AGGREGATE_EVENTS.get(command, 1) + RECEIPT_EVENTS


# --- the result ------------------------------------------------------------------------------


@dataclass
class History:
    lines: list[str]
    expected_events: int
    clients: list[str]
    commands: Counter = field(default_factory=Counter)
    last_full_period: str = "2025-11"
    invoices: int = 0
    seed: int = 0

    def __len__(self) -> int:
        return len(self.lines)


# --- time helpers ------------------------------------------------------------------------------


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M")


def _business_time(rng: random.Random, day: date) -> datetime:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, rng.randint(10, 16), rng.randrange(0, 60, 5))


def _later_business_time(rng: random.Random, after: datetime, min_days: int, max_days: int) -> datetime:
    day = (after + timedelta(days=rng.randint(min_days, max_days))).date()
    candidate = _business_time(rng, day)
    return candidate if candidate > after else after + timedelta(minutes=rng.randint(15, 90))


def _period(instant: datetime | date) -> str:
    return f"{instant.year:04d}-{instant.month:02d}"


def _next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


# --- one client ------------------------------------------------------------------------------


@dataclass
class ClientPlan:
    index: int
    client_id: str
    registered_at: datetime
    products: list[tuple[str, datetime]] = field(default_factory=list)  # product, usable from
    coverage: list[tuple[datetime, datetime]] = field(default_factory=list)  # [start, end)
    engineer: str | None = None
    weight: float = 1.0
    tickets: int = 0
    commands: int = 0
    # period -> time entries logged then, as [ticket_id, entry_id, minutes, corrected or voided]
    entries: dict[str, list[list[Any]]] = field(default_factory=dict)
    issued: list[tuple[str, datetime]] = field(default_factory=list)  # (period, issued at)

    def covered(self, start: datetime, end: datetime) -> bool:
        """Priority coverage holds at every moment of [start, end] (I-7)."""
        return any(s <= start and end < e for s, e in self.coverage)

    def products_at(self, at: datetime) -> list[str]:
        return [product for product, since in self.products if since <= at]


class Generator:
    def __init__(self, events: int, seed: int):
        self.target = events
        self.seed = seed
        self.rng = random.Random(seed)
        self.items: list[tuple[datetime, int, str]] = []  # (emission time, sequence, line)
        self.sequence = 0
        self.expected = 0
        self.commands: Counter = Counter()
        self.catalog_opened = False
        self.clients: list[ClientPlan] = []
        self.invoices = 0

    # --- emitting ---------------------------------------------------------------------------

    def emit(self, when: datetime, command: str, command_id: str, /, *, first_handover: bool = False,
             **fields: Any) -> None:
        assert when <= END, (command, command_id, when)
        body = {"command": command, "command_id": command_id, **fields}
        self.items.append((when, self.sequence, json.dumps(body, ensure_ascii=False, separators=(",", ":"))))
        self.sequence += 1
        self.commands[command] += 1
        events = expected_events(command, first_handover=first_handover)
        if command in ("ReleaseVersion", "PublishPriceList", "OverrideCalendarDay") and not self.catalog_opened:
            self.catalog_opened = True
            events += CATALOG_OPENED_EVENTS
        self.expected += events

    def client_command(self, plan: ClientPlan, when: datetime, command: str, /, **fields: Any) -> bool:
        """Emit one of the client's commands; False (and nothing emitted) past the history's end."""
        if when > END:
            return False
        plan.commands += 1
        self.emit(when, command, f"{plan.client_id}:{plan.commands}", **fields)
        return True

    # --- the catalog --------------------------------------------------------------------------

    def catalog(self) -> None:
        for published_at, day, kind, reason in CALENDAR_OVERRIDES:
            self.emit(published_at, "OverrideCalendarDay", f"cal:{day.isoformat()}:{kind}",
                      date=day.isoformat(), kind=kind, reason=reason)
        for product, versions in RELEASES.items():
            for version, released_on in versions:
                at = max(datetime(2022, 12, 1, 8), datetime.combine(released_on, datetime.min.time()) + timedelta(hours=9))
                self.emit(at, "ReleaseVersion", f"rel:{PRODUCT_CODES[product]}:{version}",
                          product=product, version=version, released_on=released_on.isoformat())
        for n, (published_at, effective_from, norm_hour, priority_month) in enumerate(PRICE_LISTS):
            self.emit(published_at, "PublishPriceList", f"price:{n}:{effective_from.isoformat()}",
                      effective_from=effective_from.isoformat(), norm_hour=norm_hour, priority_month=priority_month)

    # --- clients --------------------------------------------------------------------------------

    def client(self, index: int) -> ClientPlan:
        rng = self.rng
        span = (datetime(2025, 9, 30) - START).days
        registered_on = (START + timedelta(days=int(span * rng.random() ** 1.4))).date()
        registered_at = _business_time(rng, registered_on)
        plan = ClientPlan(index, f"c{index:05d}", registered_at, weight=rng.lognormvariate(0, 0.6))
        name = f"{rng.choice(LEGAL_FORMS)} «{rng.choice(COMPANY_WORDS)}-{index}»"
        self.client_command(plan, registered_at, "RegisterClient", client_id=plan.client_id, name=name,
                            at=_iso(registered_at))

        product = rng.choices(list(PRODUCT_WEIGHTS), weights=list(PRODUCT_WEIGHTS.values()))[0]
        code = PRODUCT_CODES[product]
        cursor = registered_at
        engineer = rng.choice(ENGINEERS)

        # A pilot first (R-PTP-7): free priority for its whole duration.
        if rng.random() < 0.15:
            pilot_id = f"{plan.client_id}-PILOT-1"
            started = _later_business_time(rng, cursor, 1, 10)
            ended = _later_business_time(rng, started, 30, 90)
            self.client_command(plan, started, "StartPilot", client_id=plan.client_id, pilot_id=pilot_id,
                                at=_iso(started), contract=f"Договор № П-{index}/{started.year} о пилотном проекте")
            self.client_command(plan, started, "AssignEngineer", client_id=plan.client_id, engineer=engineer,
                                at=_iso(started))
            plan.engineer = engineer
            plan.products.append((product, started))
            if ended <= END:
                self.client_command(plan, ended, "EndPilot", client_id=plan.client_id, pilot_id=pilot_id,
                                    at=_iso(ended))
            plan.coverage.append((started, min(ended, END + timedelta(days=1))))
            cursor = ended
            if cursor > END - timedelta(days=20):
                return plan

        # The first licence and its key: the free first month (R-PTP-6).
        issued_on = (cursor + timedelta(days=rng.randint(1, 14))).date()
        license_id = f"{plan.client_id}-{code}-1"
        self.client_command(plan, datetime.combine(issued_on, datetime.min.time()) + timedelta(hours=9),
                            "IssueLicense", client_id=plan.client_id, license_id=license_id, product=product,
                            issued_on=issued_on.isoformat())
        handover = _later_business_time(rng, datetime.combine(issued_on, datetime.min.time()), 0, 5)
        if handover > END:
            return plan
        plan.commands += 1
        self.emit(handover, "HandOverLicenseKey", f"{plan.client_id}:{plan.commands}", first_handover=True,
                  client_id=plan.client_id, license_id=license_id, at=_iso(handover))
        if not any(p == product for p, _ in plan.products):
            plan.products.append((product, handover))
        free_end = handover + relativedelta(months=1)
        plan.coverage.append((handover, free_end))
        if plan.engineer is None:
            self.client_command(plan, handover, "AssignEngineer", client_id=plan.client_id, engineer=engineer,
                                at=_iso(handover))
            plan.engineer = engineer

        # Implementation (R-PTP-2): priority is mandatory meanwhile, so these clients subscribe.
        implementation = rng.random() < 0.22
        implementation_end: datetime | None = None
        if implementation:
            started = _later_business_time(rng, handover, 1, 10)
            implementation_end = _later_business_time(rng, started, 60, 180)
            self.client_command(plan, started, "StartImplementation", client_id=plan.client_id, at=_iso(started))
            if implementation_end <= END:
                self.client_command(plan, implementation_end, "FinishImplementation", client_id=plan.client_id,
                                    at=_iso(implementation_end))

        # Paid priority (R-PTP-1): non-overlapping subscriptions, some cancelled, some renewed.
        if implementation or rng.random() < 0.35:
            paid: list[tuple[datetime, datetime]] = []
            start = free_end if rng.random() < 0.7 else _later_business_time(rng, free_end, 10, 200)
            for n in range(1, 4):
                if start > END:
                    break
                subscription_id = f"{plan.client_id}-PTP-{n}"
                self.client_command(plan, start, "SubscribePriority", client_id=plan.client_id,
                                    subscription_id=subscription_id, at=_iso(start))
                earliest_cancel = start + timedelta(days=90)
                if n == 1 and implementation_end is not None:
                    earliest_cancel = max(earliest_cancel, implementation_end + timedelta(days=30))
                cancel = _later_business_time(rng, earliest_cancel, 0, 600) if rng.random() < 0.45 else None
                if cancel is None or cancel > END:
                    paid.append((start, END + timedelta(days=1)))
                    break
                self.client_command(plan, cancel, "CancelPriority", client_id=plan.client_id,
                                    subscription_id=subscription_id, at=_iso(cancel))
                paid.append((start, cancel))
                if rng.random() < 0.5:
                    break
                start = _later_business_time(rng, cancel, 0, 120)
            plan.coverage += paid
            # Personal configurations (R-PTP-3) only under paid coverage.
            long_enough = [(s, e) for s, e in paid if e - s > timedelta(days=40)]
            if long_enough and rng.random() < 0.35:
                s, e = long_enough[0]
                at = _later_business_time(rng, s, 1, 20)
                if at < min(e, END):
                    self.client_command(plan, at, "RegisterPersonalConfiguration", client_id=plan.client_id,
                                        configuration_id=f"{plan.client_id}-CFG-1", at=_iso(at))
            # A new dedicated engineer now and then (R-PTP-5).
            if rng.random() < 0.2:
                at = _later_business_time(rng, handover, 60, 500)
                if at <= END:
                    other = rng.choice([e for e in ENGINEERS if e != plan.engineer])
                    self.client_command(plan, at, "AssignEngineer", client_id=plan.client_id, engineer=other,
                                        at=_iso(at))

        # A second product now and then (no second free month).
        if rng.random() < 0.15:
            others = [p for p in RELEASES if p != product]
            second = rng.choice(others)
            issued = (handover + timedelta(days=rng.randint(60, 500))).date()
            if datetime.combine(issued, datetime.min.time()) < END - timedelta(days=10):
                license_id = f"{plan.client_id}-{PRODUCT_CODES[second]}-2"
                self.client_command(plan, datetime.combine(issued, datetime.min.time()) + timedelta(hours=9),
                                    "IssueLicense", client_id=plan.client_id, license_id=license_id,
                                    product=second, issued_on=issued.isoformat())
                key_at = _later_business_time(rng, datetime.combine(issued, datetime.min.time()), 0, 5)
                if key_at <= END:
                    self.client_command(plan, key_at, "HandOverLicenseKey", client_id=plan.client_id,
                                        license_id=license_id, at=_iso(key_at))
                    plan.products.append((second, key_at))
        return plan

    # --- tickets ----------------------------------------------------------------------------------

    def ticket(self, plan: ClientPlan) -> None:
        rng = self.rng
        first = min(since for _, since in plan.products) + timedelta(hours=1)
        last = datetime.combine(LAST_TICKET_DAY, datetime.min.time())
        if first >= last:
            return
        opened = _business_time(rng, (first + timedelta(seconds=rng.random() * (last - first).total_seconds())).date())
        if opened <= first:
            opened = first + timedelta(minutes=rng.randint(30, 300))
        products = plan.products_at(opened) or [plan.products[0][0]]
        product = rng.choice(products)
        released = [(v, d) for v, d in RELEASES[product] if datetime.combine(d, datetime.min.time()) <= opened]
        if not released:
            return
        roll = rng.random()
        if roll < 0.6 or len(released) == 1:
            version = released[-1][0]
        elif roll < 0.85 or len(released) == 2:
            version = released[-2][0]
        else:
            version = rng.choice(released[:-2])[0]

        category = rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]
        if category == "personal_config" and not plan.covered(opened, opened + timedelta(days=10)):
            category = "customization"
        plan.tickets += 1
        ticket_id = f"T-{plan.index}-{plan.tickets}"
        fields: dict[str, Any] = {}
        if category == "bug":
            channel = "portal"  # R-CH-2
            fields = {"build": f"{version}.{rng.randint(100, 1999)}",
                      "description": f"Steps: open the module, press Save; see error {rng.randint(1000, 9999)}",
                      "screenshot": f"portal://attachments/{ticket_id}/error.png"}
        else:
            channel = rng.choices(["portal", "email", "phone"], weights=[5, 3, 2])[0]
        stopped = False

        def cmd(when: datetime, name: str, /, **f: Any) -> bool:
            nonlocal stopped  # past the end of the history: nothing more of this ticket
            stopped = stopped or not self.client_command(plan, when, name, **f)
            return not stopped

        cmd(opened, "OpenTicket", ticket_id=ticket_id, client_id=plan.client_id, at=_iso(opened), channel=channel,
            subject=rng.choice(SUBJECTS[category]), category=category, product=product, version=version, **fields)

        cursor = opened
        if rng.random() < 0.92:
            cursor = opened + timedelta(minutes=rng.randint(5, 240))
            cmd(cursor, "RespondToTicket", ticket_id=ticket_id, at=_iso(cursor))

        # Reclassification as understanding grows (I-3).
        if category in RECLASSIFY and rng.random() < 0.1:
            cursor += timedelta(minutes=rng.randint(10, 120))
            category = rng.choice(RECLASSIFY[category])
            cmd(cursor, "ClassifyTicket", ticket_id=ticket_id, category=category, at=_iso(cursor),
                reason="reclassified after the first diagnosis")

        entries: list[tuple[str, datetime, int, list[Any]]] = []
        verdict: str | None = None
        n_entries = rng.choices([0, 1, 2, 3, 4, 5], weights=[3, 30, 30, 20, 10, 7])[0]
        for k in range(1, n_entries + 1):
            started = cursor + timedelta(minutes=rng.randint(10, 600)) if k > 1 or rng.random() < 0.5 \
                else _later_business_time(rng, cursor, 0, 2)
            if category == "bug" and verdict is None:
                activity, purpose = "remote_session", "diagnostics"
            elif category == "bug":
                activity, purpose = ("bug_fix", None) if verdict == "confirmed" else ("analysis", None)
            else:
                options = WORK[category]
                activity, purpose, _ = rng.choices(options, weights=[w for *_, w in options])[0]
            if activity == "personal_config" and not plan.covered(started, started + timedelta(hours=1)):
                activity, purpose = "consultation", None  # R-PTP-3: only under priority coverage
            minutes = rng.choice([5, 10, 15, 20, 25, 30, 40, 45, 50, 60, 75, 90, 120, 150, 180, 240])
            entry_id = f"{ticket_id}/{k}"
            engineer = plan.engineer if plan.engineer and rng.random() < 0.7 else rng.choice(ENGINEERS)
            if not cmd(started, "LogTime", ticket_id=ticket_id, entry_id=entry_id, engineer=engineer,
                       started_at=_iso(started), minutes=minutes, activity=activity,
                       **({"purpose": purpose} if purpose else {})):
                break
            record = [ticket_id, entry_id, minutes, False]
            plan.entries.setdefault(_period(started), []).append(record)
            entries.append((entry_id, started, minutes, record))
            cursor = started + timedelta(minutes=minutes)
            if category == "bug" and verdict is None and rng.random() < 0.85:
                cursor = _later_business_time(rng, cursor, 0, 3)
                if rng.random() < 0.65:
                    verdict = "confirmed"
                    cmd(cursor, "ConfirmBug", ticket_id=ticket_id, at=_iso(cursor))
                else:
                    verdict = "rejected"
                    category = rng.choice(REJECTED_AS)
                    cmd(cursor, "RejectBug", ticket_id=ticket_id, at=_iso(cursor), category=category,
                        reason="not a product bug: the cause is on the client's side")

        if rng.random() < 0.88:
            cursor = _later_business_time(rng, cursor, 0, 2)
            cmd(cursor, "ResolveTicket", ticket_id=ticket_id, at=_iso(cursor))
            if rng.random() < 0.05:
                cursor = _later_business_time(rng, cursor, 1, 10)
                cmd(cursor, "ReopenTicket", ticket_id=ticket_id, at=_iso(cursor))
                cursor = _later_business_time(rng, cursor, 0, 3)
                cmd(cursor, "ResolveTicket", ticket_id=ticket_id, at=_iso(cursor))

        # Corrections and voids, recorded some days after the work (valid at the work's time).
        for entry_id, started, minutes, record in entries:
            roll = rng.random()
            record[3] = roll < 0.08
            if roll < 0.06:
                at = min(_later_business_time(rng, started, 1, 20), END)
                stopped = False
                new = minutes + rng.choice([-5, 10, 15, 30]) if minutes > 5 else minutes + 10
                cmd(at, "CorrectTime", ticket_id=ticket_id, entry_id=entry_id, minutes=new,
                    reason="the engineer logged the wrong duration")
            elif roll < 0.08:
                at = min(_later_business_time(rng, started, 1, 20), END)
                stopped = False
                cmd(at, "VoidTime", ticket_id=ticket_id, entry_id=entry_id, reason="logged on the wrong ticket")

    # --- invoices -------------------------------------------------------------------------------

    def invoices_for(self, count: int) -> None:
        rng = self.rng
        issued: set[tuple[str, str]] = set()
        last = "2025-11"
        worked = [(plan, period) for plan in self.clients for period in sorted(plan.entries) if period <= last]
        attempts = 0
        while self.invoices < count and attempts < count * 20:
            attempts += 1
            if worked and rng.random() < 0.7:  # mostly periods in which the client had work
                plan, start = rng.choice(worked)
            else:
                plan, start = rng.choice(self.clients), None
            periods = []
            period = _period(plan.registered_at)
            while period <= last:
                periods.append(period)
                period = _next_period(period)
            if not periods:
                continue
            first = periods.index(start) if start in periods else rng.randrange(len(periods))
            for period in periods[first:first + rng.randint(1, 3)]:
                if self.invoices >= count or (plan.client_id, period) in issued:
                    break
                issued.add((plan.client_id, period))
                following = _next_period(period)
                at = datetime(int(following[:4]), int(following[5:]), rng.randint(1, 5), 10, rng.randrange(0, 60, 5))
                self.client_command(plan, at, "IssueInvoice", client_id=plan.client_id, period=period, at=_iso(at))
                plan.issued.append((period, at))
                self.invoices += 1

    def disputes(self, share: float) -> None:
        """After some invoices are issued, the client disputes a time entry of the period and
        it is corrected: the next unissued period shows an adjustment (I-9)."""
        rng = self.rng
        for plan in self.clients:
            for period, issued_at in plan.issued:
                candidates = [record for record in plan.entries.get(period, []) if not record[3]]
                if not candidates or rng.random() >= share:
                    continue
                record = rng.choice(candidates)
                record[3] = True
                ticket_id, entry_id, minutes, _ = record
                at = _later_business_time(rng, issued_at, 1, 10)
                new = minutes - 60 if minutes > 60 else minutes + 60  # always another R-STP-3 step
                self.client_command(plan, at, "CorrectTime", ticket_id=ticket_id, entry_id=entry_id, minutes=new,
                                    reason="corrected after the client disputed the issued invoice")

    # --- the whole history ----------------------------------------------------------------------

    def run(self) -> History:
        self.catalog()
        n_clients = max(4, round(self.target / 100))
        for index in range(1, n_clients + 1):
            self.clients.append(self.client(index))
        invoices = max(1, round(self.target / 200))
        reserved = invoices * expected_events("IssueInvoice")
        with_products = [p for p in self.clients if p.products]
        weights = [p.weight for p in with_products]
        while self.expected + reserved < self.target and with_products:
            self.ticket(self.rng.choices(with_products, weights=weights)[0])
        self.invoices_for(invoices)
        self.disputes(0.4)
        self.items.sort(key=lambda item: (item[0], item[1]))
        last_at = self.items[-1][0]
        last_full = _period(last_at.replace(day=1) - timedelta(days=1))
        return History(
            lines=[line for _, _, line in self.items],
            expected_events=self.expected,
            clients=[p.client_id for p in self.clients],
            commands=self.commands,
            last_full_period=last_full,
            invoices=self.invoices,
            seed=self.seed,
        )


def generate(events: int, seed: int = 0) -> History:
    """A history of about `events` recorded events (see the module docstring)."""
    if events < 100:
        raise ValueError("events must be at least 100")
    return Generator(events, seed).run()


if __name__ == "__main__":  # python scripts/bench_history.py 20000 [SEED] > history.jsonl
    import sys

    history = generate(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    sys.stdout.write("\n".join(history.lines) + "\n")
    print(f"{len(history.lines)} commands, {history.expected_events} expected events, "
          f"{len(history.clients)} clients, {history.invoices} invoices", file=sys.stderr)
