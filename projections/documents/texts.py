"""What a document says about a line and an event, in the document's language.

A line is typed (`ledger.billing.bill.Line`); its Russian text is rendered from its fields
through the catalog, never translated from the English `description`. The English text is
the ledger's own wording (`description`, `computation`), unchanged. Quantities, prices and
amounts are formatted for the language in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledger.billing.bill import ClientKnowledge, Line, LineKey
from ledger.rules.prices import standard_amount
from projections.documents.i18n import Language


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


EVENT_WORDS = {
    "CatalogOpened": N_("catalog opened"),
    "VersionReleased": N_("product version released"),
    "PriceListPublished": N_("price list published"),
    "CalendarDayOverridden": N_("support calendar day changed"),
    "ClientRegistered": N_("client registered"),
    "LicenseIssued": N_("licence issued"),
    "LicenseKeyHandedOver": N_("licence key handed over"),
    "ImplementationStarted": N_("implementation project started"),
    "ImplementationFinished": N_("implementation project finished"),
    "PersonalConfigurationRegistered": N_("personal configuration registered"),
    "PilotStarted": N_("pilot project started"),
    "PilotEnded": N_("pilot project ended"),
    "EngineerAssigned": N_("dedicated support engineer assigned"),
    "PriorityAccountOpened": N_("priority support account opened"),
    "PrioritySubscribed": N_("priority support subscribed"),
    "PriorityCancelled": N_("priority support cancelled"),
    "PriorityFreeMonthGranted": N_("free month of priority support granted"),
    "PilotCoverageGranted": N_("priority support granted for the pilot project"),
    "PilotCoverageEnded": N_("priority support for the pilot project ended"),
    "TicketOpened": N_("ticket opened"),
    "TicketClassified": N_("ticket classified"),
    "BugConfirmed": N_("bug confirmed"),
    "BugRejected": N_("bug rejected"),
    "TimeLogged": N_("time logged"),
    "TimeCorrected": N_("logged time corrected"),
    "TimeVoided": N_("logged time voided"),
    "TicketResponded": N_("first response to the ticket"),
    "TicketResolved": N_("ticket resolved"),
    "TicketReopened": N_("ticket reopened"),
    "InvoiceIssued": N_("invoice issued"),
}

ACTIVITY_WORDS = {
    "consultation": N_("consultation"),
    "bug_fix": N_("bug fix"),
    "remote_session": N_("remote desktop session"),
    "integration": N_("integration with third-party products"),
    "personal_config": N_("personal configuration support"),
    "analysis": N_("analysis and tuning"),
    "repair": N_("repair"),
}

CATEGORY_WORDS = {
    "question": N_("question"),
    "bug": N_("suspected bug"),
    "environment": N_("environment"),
    "data_recovery": N_("data recovery"),
    "customization": N_("customization"),
    "integration": N_("integration"),
    "personal_config": N_("personal configuration"),
    "client_change_restore": N_("restoring after the client's own changes"),
}


def event_words(lang: Language, event_type: str) -> str:
    """What happened, in words: "time logged", "учтено время"."""
    words = EVENT_WORDS.get(event_type)
    return lang.gettext(words) if words else event_type


@dataclass
class LineText:
    """A line as the document shows it."""

    line: Line
    description: str
    quantity: str
    unit_price: str
    amount: str
    computation: str
    rules: list[str]
    events: list[dict[str, Any]] = field(default_factory=list)


class Texts:
    """Line and event texts for one client's document in one language. `events` maps event
    ids to their documents (`projections.history.event_document`)."""

    def __init__(self, language: Language, knowledge: ClientKnowledge, events: dict[str, dict[str, Any]]):
        self.lang, self.knowledge, self.events = language, knowledge, events

    # --- lines ----------------------------------------------------------------------------

    def line(self, line: Line, holder: str) -> LineText:
        """`holder`: the period of the invoice the line is on."""
        lang = self.lang
        english = lang.lang == "en"
        return LineText(
            line=line,
            description=line.description if english else self.description(line),
            quantity=self.quantity(line),
            unit_price=self.unit_price(line),
            amount=lang.money(line.amount),
            computation=line.computation if english else self.computation(line, holder),
            rules=lang.rules(line.rules),
        )

    def description(self, line: Line) -> str:
        _ = self.lang.gettext
        if line.kind == "adjustment":
            if not line.adjusts_key:  # a key of a kind this module does not know: say the key
                return line.description
            reference = self._reference(line)
            return _("Adjustment to the issued invoice for %(period)s: %(line)s",
                     period=self.lang.month(line.adjusts_period), line=self.description(reference))
        if line.kind == "priority_fee":
            period = self.lang.month(LineKey.parse(line.key).period)
            if not line.days_in_month:  # rebuilt from its key: no days to tell
                return _("Priority support monthly fee, %(period)s", period=period)
            return _("Priority support monthly fee, %(period)s: %(days)s of %(month_days)s",
                     period=period, days=self._days(line.quantity), month_days=self.lang.number(line.days_in_month))
        if line.kind == "priority_free":
            grant_key = LineKey.parse(line.key)
            ref = grant_key.ref
            grant = (_("free first month after the licence key %(ref)s was handed over", ref=ref)
                     if grant_key.source == "first_month" else _("pilot project %(ref)s", ref=ref))
            text = _("Priority support free of charge (%(grant)s), %(period)s", grant=grant,
                     period=self.lang.month(grant_key.period))
            return text + (": " + self._days(line.quantity) if line.quantity else "")
        ticket = self._ticket(line.ticket_id)
        day = self.lang.date(line.date) if line.date else ""
        if line.needs_decision:
            return _("Work on ticket %(ticket)s, %(date)s, without the priority support it needs: "
                     "not charged, needs a decision", ticket=ticket, date=day)
        text = _("Standard support, ticket %(ticket)s, %(date)s", ticket=ticket, date=day)
        if line.pending:
            text += _(" — waiting for the bug verdict")
        return text

    def quantity(self, line: Line) -> str:
        if line.kind == "standard_time":
            return self.lang.ngettext("%(num)s hour", "%(num)s hours", line.quantity)
        if line.kind in ("priority_fee", "priority_free"):
            return self._days(line.quantity)
        return self.lang.number(line.quantity)

    def unit_price(self, line: Line) -> str:
        price = self.lang.money(line.unit_price)
        if line.kind == "standard_time":
            return self.lang.gettext("%(price)s per norm hour", price=price)
        if line.kind == "priority_fee":
            return self.lang.gettext("%(price)s per month", price=price)
        return price

    def computation(self, line: Line, holder: str) -> str:
        _, money = self.lang.gettext, self.lang.money
        if line.kind == "adjustment":
            reference = self._reference(line)
            was = reference.amount  # 0.00 for a line that was not on the issued invoice
            before = self._adjusted_before(line, holder)
            text = _("now %(now)s − issued %(was)s − adjusted before %(before)s = %(delta)s (I-9)",
                     now=money(was + before + line.amount), was=money(was), before=money(before),
                     delta=money(line.amount))
            if line.needs_decision:
                text += "; " + self.computation(reference, holder)
            return text
        price_list = self._price_list(line)
        if line.kind == "priority_fee":
            return _("%(price)s per month (%(price_list)s, I-6) × %(days)s/%(month_days)s charged days of the "
                     "month (I-7) = %(amount)s", price=money(line.unit_price), price_list=price_list,
                     days=self.lang.number(line.quantity), month_days=self.lang.number(line.days_in_month or 0),
                     amount=money(line.amount))
        if line.kind == "priority_free":
            ref = LineKey.parse(line.key).ref
            rule = line.rules[0]
            return _("%(days)s covered by %(ref)s (%(rule)s) × %(zero)s = %(zero)s",
                     days=self._days(line.quantity), ref=ref, rule=self.lang.rule(rule), zero=money(0))
        worked = self._minutes(line.minutes_worked or 0)
        if line.needs_decision:
            return _("%(worked)s of work (entries %(entries)s) logged under priority support that no longer "
                     "holds as known now, and no other tier allows it (R-PTP-3, I-4): not charged (%(zero)s); "
                     "decide whether to restore the coverage, bill it by agreement or write it off",
                     worked=worked, entries=", ".join(line.entry_ids or ()), zero=money(0))
        billed = line.minutes_billed or 0
        text = _("%(worked)s worked → %(billed)s billed (R-STP-3, I-5) × %(price)s per norm hour "
                 "(%(price_list)s, I-6) = %(amount)s", worked=worked,
                 billed=self._minutes(billed) if billed % 60 else self._hours(billed // 60),
                 price=money(line.unit_price), price_list=price_list,
                 amount=money(standard_amount(billed, line.unit_price)))  # R-STP-2, kopecks half up (I-7)
        if line.pending:
            text += _("; not charged while the suspected bug is neither confirmed nor rejected (I-4)")
        return text

    def problem(self, problem: dict[str, Any]) -> str:
        """What someone must decide before the invoice is right (R-PTP-3) or can be issued (I-6)."""
        if self.lang.lang == "en":
            return f"{problem['description']} ({', '.join(self.lang.rules(problem['rules']))})"
        _ = self.lang.gettext
        rules = ", ".join(self.lang.rules(problem["rules"]))
        where = (_("ticket %(ticket)s, %(date)s", ticket=self._ticket(problem["ticket_id"]),
                   date=self.lang.date(problem["date"])) if problem.get("ticket_id") and problem.get("date")
                 else self.lang.month(problem["period"]))
        minutes = self._minutes(problem["minutes_worked"]) if problem.get("minutes_worked") else ""
        if "I-6" in problem["rules"] and minutes:
            return _("%(where)s: no price list is in force, %(minutes)s of work not priced; the invoice cannot be "
                     "issued until one is published (%(rules)s)", where=where, minutes=minutes, rules=rules)
        if "I-6" in problem["rules"]:
            return _("%(where)s: no price list is in force on some charged days of priority support; the invoice "
                     "cannot be issued until one is published (%(rules)s)", where=where, rules=rules)
        return _("%(where)s: %(minutes)s of work without the priority support it needs; decide whether to restore "
                 "the coverage, bill it by agreement or write it off (%(rules)s)", where=where, minutes=minutes,
                 rules=rules)

    # --- events ---------------------------------------------------------------------------

    def event(self, document: dict[str, Any]) -> dict[str, Any]:
        """An event as a client reads it: what happened, when, when the ledger learned it, who."""
        lang = self.lang
        return {
            "event_id": document["event_id"],
            "what": event_words(lang, document["type"]),
            "details": self._details(document["type"], document["payload"]),
            "valid_at": lang.instant(document["valid_at"]),
            "recorded_at": lang.instant(document["recorded_at"]),
            "actor": document["actor"],
            "recorded_by": document["recorded_by"] or "",
        }

    def _details(self, kind: str, payload: dict[str, Any]) -> str:
        _, lang = self.lang.gettext, self.lang
        if kind == "TimeLogged":
            activity = ACTIVITY_WORDS.get(payload["activity"], payload["activity"])
            return _("%(entry)s: %(engineer)s, %(minutes)s, %(activity)s", entry=payload["entry_id"],
                     engineer=payload["engineer"], minutes=self._minutes(payload["minutes"]),
                     activity=_(activity))
        if kind == "TimeCorrected":
            return _("%(entry)s: %(minutes)s (%(reason)s)", entry=payload["entry_id"],
                     minutes=self._minutes(payload["minutes"]), reason=payload["reason"])
        if kind == "TimeVoided":
            return _("%(entry)s (%(reason)s)", entry=payload["entry_id"], reason=payload["reason"])
        if kind in ("TicketOpened", "TicketClassified", "BugRejected"):
            category = CATEGORY_WORDS.get(payload["category"], payload["category"])
            text = _("category: %(category)s", category=_(category))
            if payload.get("subject"):
                text = f"«{payload['subject']}», {text}" if lang.lang == "ru" else f"“{payload['subject']}”, {text}"
            if payload.get("version"):
                text += _(", version %(version)s", version=payload["version"])
            if payload.get("reason"):
                text += f" ({payload['reason']})"
            return text
        if kind == "PriceListPublished":
            return _("from %(date)s: %(norm_hour)s per norm hour, %(month)s per month of priority support",
                     date=lang.date(payload["effective_from"]), norm_hour=lang.money(payload["norm_hour"]),
                     month=lang.money(payload["priority_month"]))
        if kind == "VersionReleased":
            return f"{payload['product']} {payload['version']}"
        for name in ("license_id", "subscription_id", "pilot_id", "engineer", "period"):
            if payload.get(name):
                return str(payload[name])
        return ""

    # --- helpers --------------------------------------------------------------------------

    def _days(self, count: Decimal | int) -> str:
        return self.lang.ngettext("%(num)s day", "%(num)s days", count)

    def _hours(self, count: int) -> str:
        return self.lang.ngettext("%(num)s hour", "%(num)s hours", count)

    def _minutes(self, count: int) -> str:
        return self.lang.ngettext("%(num)s minute", "%(num)s minutes", count)

    def _ticket(self, ticket_id: str | None) -> str:
        ticket = self.knowledge.tickets.get(ticket_id or "")
        if ticket is None:
            return ticket_id or ""
        quoted = f"«{ticket.subject}»" if self.lang.lang == "ru" else f"“{ticket.subject}”"
        return f"{ticket_id} {quoted}"

    def _price_list(self, line: Line) -> str:
        """The price list a line was priced by: the publication among its events whose price
        is the line's unit price (the latest recorded, as I-6 takes it)."""
        name = "norm_hour" if line.kind == "standard_time" else "priority_month"
        published = [self.events[e]["payload"] for e in line.events
                     if e in self.events and self.events[e]["type"] == "PriceListPublished"
                     and Decimal(self.events[e]["payload"][name]) == line.unit_price]
        if not published:
            return self.lang.gettext("the price list in force")
        effective = self.lang.date(published[-1]["effective_from"])
        return self.lang.gettext("price list in force from %(date)s", date=effective)

    def _issued_lines(self, period: str | None) -> dict[str, Line]:
        invoice = self.knowledge.invoices.get(period or "")
        return {} if invoice is None else {d["key"]: Line.from_document(d) for d in invoice.lines}

    def _reference(self, adjustment: Line) -> Line:
        """The line an adjustment corrects: as issued, else what its key says (a line that
        appeared after the issue)."""
        issued = self._issued_lines(adjustment.adjusts_period)
        key = adjustment.adjusts_key or ""
        if key in issued:
            return issued[key]
        return line_of_key(key, adjustment)

    def _adjusted_before(self, adjustment: Line, holder: str) -> Decimal:
        """What adjustments issued before the invoice holding `adjustment` already added to
        the same line (I-9)."""
        holding = self.knowledge.invoices.get(holder)
        total = Decimal("0.00")
        for period, invoice in self.knowledge.invoices.items():
            if period == holder or (holding is not None and invoice.known_at >= holding.known_at):
                continue
            for document in invoice.lines:
                if (document["kind"] == "adjustment" and document.get("adjusts_period") == adjustment.adjusts_period
                        and document.get("adjusts_key") == adjustment.adjusts_key):
                    total += Decimal(document["amount"])
        return total


def line_of_key(key: str, adjustment: Line) -> Line:
    """A line that was not on the issued invoice, rebuilt from its key (bill.py's key forms)
    as far as a description needs: kind, ticket, day, period."""
    parts = LineKey.parse(key)
    kind = parts.kind
    zero = Decimal("0.00")
    values: dict[str, Any] = {}
    if kind == "standard_time":
        values = {"ticket_id": parts.ticket_id, "date": parts.day, "pending": parts.pending,
                  "needs_decision": parts.needs_decision, "minutes_worked": adjustment.minutes_worked,
                  "entry_ids": adjustment.entry_ids}
    return Line(key=key, kind=kind if kind in ("standard_time", "priority_fee", "priority_free") else "adjustment",
                description=key, quantity=zero, unit_price=zero, amount=zero, rules=adjustment.rules, **values)
