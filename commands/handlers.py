"""One handler per command: get the aggregates, act on them, return what must be saved.

Handlers never save: the bus (`commands.bus`) saves everything a handler returns, with
the command's receipt, in one transaction. So a command is atomic — a refusal anywhere
records nothing — and a handler can be tested with any ledger-like object.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from commands import models as m
from ledger.aggregates import Client, Invoice, Subscription, Ticket
from ledger.aggregates.base import LedgerAggregate
from ledger.application import AggregateAccess
from ledger.errors import AlreadyExistsError, ConflictingStateError, RuleViolationError
from ledger.timeutil import in_moscow, period_bounds, start_of_day, utc_now

Touched = list[LedgerAggregate]


# --- the catalog -----------------------------------------------------------------------------


def release_version(cmd: m.ReleaseVersion, ledger: AggregateAccess) -> Touched:
    catalog = ledger.catalog()
    catalog.release_version(cmd.product, cmd.version, cmd.released_on)
    return [catalog]


def publish_price_list(cmd: m.PublishPriceList, ledger: AggregateAccess) -> Touched:
    catalog = ledger.catalog()
    catalog.publish_price_list(cmd.effective_from, cmd.norm_hour, cmd.priority_month)
    return [catalog]


def override_calendar_day(cmd: m.OverrideCalendarDay, ledger: AggregateAccess) -> Touched:
    catalog = ledger.catalog()
    catalog.override_calendar_day(cmd.date, cmd.kind, cmd.reason)
    return [catalog]


# --- clients -----------------------------------------------------------------------------------


def register_client(cmd: m.RegisterClient, ledger: AggregateAccess) -> Touched:
    if ledger.find(Client, cmd.client_id) is not None:
        raise AlreadyExistsError(f"client {cmd.client_id!r} is already registered", field="client_id")
    registered_at = cmd.at or in_moscow(utc_now())
    client = Client.register(cmd.client_id, cmd.name, registered_at)
    return [client, Subscription.open_for(cmd.client_id, registered_at)]


def issue_license(cmd: m.IssueLicense, ledger: AggregateAccess) -> Touched:
    client = ledger.client(cmd.client_id)
    client.issue_license(cmd.license_id, cmd.product, cmd.issued_on)
    return [client]


def hand_over_license_key(cmd: m.HandOverLicenseKey, ledger: AggregateAccess) -> Touched:
    client, priority = ledger.client(cmd.client_id), ledger.subscription(cmd.client_id)
    if client.hand_over_license_key(cmd.license_id, cmd.at):
        priority.grant_free_month(cmd.license_id, cmd.at)  # R-PTP-6
    return [client, priority]


def start_implementation(cmd: m.StartImplementation, ledger: AggregateAccess) -> Touched:
    client = ledger.client(cmd.client_id)
    client.start_implementation(cmd.at)
    return [client]


def finish_implementation(cmd: m.FinishImplementation, ledger: AggregateAccess) -> Touched:
    client = ledger.client(cmd.client_id)
    client.finish_implementation(cmd.at)
    return [client]


def register_personal_configuration(cmd: m.RegisterPersonalConfiguration, ledger: AggregateAccess) -> Touched:
    client = ledger.client(cmd.client_id)
    client.register_personal_configuration(cmd.configuration_id, cmd.at)
    return [client]


def start_pilot(cmd: m.StartPilot, ledger: AggregateAccess) -> Touched:
    client, priority = ledger.client(cmd.client_id), ledger.subscription(cmd.client_id)
    client.start_pilot(cmd.pilot_id, cmd.at, cmd.contract)
    priority.grant_pilot_coverage(cmd.pilot_id, cmd.at)  # R-PTP-7
    return [client, priority]


def end_pilot(cmd: m.EndPilot, ledger: AggregateAccess) -> Touched:
    client, priority = ledger.client(cmd.client_id), ledger.subscription(cmd.client_id)
    client.end_pilot(cmd.pilot_id, cmd.at)
    priority.end_pilot_coverage(cmd.pilot_id, cmd.at)
    return [client, priority]


def assign_engineer(cmd: m.AssignEngineer, ledger: AggregateAccess) -> Touched:
    client = ledger.client(cmd.client_id)
    client.assign_engineer(cmd.engineer, cmd.at)
    return [client]


def subscribe_priority(cmd: m.SubscribePriority, ledger: AggregateAccess) -> Touched:
    priority = ledger.subscription(cmd.client_id)
    priority.subscribe(cmd.subscription_id, cmd.at)
    return [priority]


def cancel_priority(cmd: m.CancelPriority, ledger: AggregateAccess) -> Touched:
    priority = ledger.subscription(cmd.client_id)
    priority.cancel(cmd.subscription_id, cmd.at)
    return [priority]


# --- tickets -------------------------------------------------------------------------------------


def open_ticket(cmd: m.OpenTicket, ledger: AggregateAccess) -> Touched:
    ledger.client(cmd.client_id)
    if ledger.find(Ticket, cmd.ticket_id) is not None:
        raise AlreadyExistsError(f"ticket {cmd.ticket_id!r} already exists", field="ticket_id")
    fields = cmd.model_dump(exclude={"command", "command_id"})
    return [Ticket.open(**fields)]


def classify_ticket(cmd: m.ClassifyTicket, ledger: AggregateAccess) -> Touched:
    ticket = ledger.ticket(cmd.ticket_id)
    ticket.classify(cmd.category, cmd.at, cmd.reason)
    return [ticket]


def confirm_bug(cmd: m.ConfirmBug, ledger: AggregateAccess) -> Touched:
    ticket = ledger.ticket(cmd.ticket_id)
    ticket.confirm_bug(cmd.at)
    return [ticket]


def reject_bug(cmd: m.RejectBug, ledger: AggregateAccess) -> Touched:
    ticket = ledger.ticket(cmd.ticket_id)
    ticket.reject_bug(cmd.at, cmd.category, cmd.reason)
    return [ticket]


def log_time(cmd: m.LogTime, ledger: AggregateAccess) -> Touched:
    ticket = ledger.ticket(cmd.ticket_id)
    first_key_handover = ledger.client(ticket.client_id).first_key_handover  # R-PTP-6
    ticket.log_time(
        entry_id=cmd.entry_id, engineer=cmd.engineer, started_at=cmd.started_at,
        minutes=cmd.minutes, activity=cmd.activity, purpose=cmd.purpose,
        coverage=ledger.subscription(ticket.client_id).coverage(first_key_handover),
        releases=ledger.catalog().release_list(),
    )
    return [ticket]


def correct_time(cmd: m.CorrectTime, ledger: AggregateAccess) -> Touched:
    ticket = ledger.ticket(cmd.ticket_id)
    ticket.correct_time(cmd.entry_id, cmd.minutes, cmd.reason)
    return [ticket]


def void_time(cmd: m.VoidTime, ledger: AggregateAccess) -> Touched:
    ticket = ledger.ticket(cmd.ticket_id)
    ticket.void_time(cmd.entry_id, cmd.reason)
    return [ticket]


def respond_to_ticket(cmd: m.RespondToTicket, ledger: AggregateAccess) -> Touched:
    ticket = ledger.ticket(cmd.ticket_id)
    ticket.respond(cmd.at)
    return [ticket]


def resolve_ticket(cmd: m.ResolveTicket, ledger: AggregateAccess) -> Touched:
    ticket = ledger.ticket(cmd.ticket_id)
    ticket.resolve(cmd.at)
    return [ticket]


def reopen_ticket(cmd: m.ReopenTicket, ledger: AggregateAccess) -> Touched:
    ticket = ledger.ticket(cmd.ticket_id)
    ticket.reopen(cmd.at)
    return [ticket]


# --- invoices -------------------------------------------------------------------------------------


def issue_invoice(cmd: m.IssueInvoice, ledger: AggregateAccess) -> Touched:
    ledger.client(cmd.client_id)
    if ledger.invoice(cmd.client_id, cmd.period) is not None:
        raise AlreadyExistsError(
            f"the invoice of {cmd.client_id!r} for {cmd.period} was already issued; "
            "later facts become adjustments on a later period",
            rule="I-9",
        )
    _require_period_over(cmd.period, cmd.at)
    # Frozen from what the store has recorded (the bus saves first what a batch holds for
    # this client: `IssueInvoice.reads_the_record`). The bill is imported by the one command
    # that computes one (start-up, issue 17).
    from ledger.billing.bill import bill
    from ledger.billing.load import client_for_period

    with ledger.store.reading():
        known_at = ledger.store.last_recorded_at() or in_moscow(utc_now())
        draft = bill(client_for_period(ledger.store, cmd.client_id, cmd.period, known_at), cmd.period)
    if blocking := draft.blocking():
        raise RuleViolationError(f"the invoice of {cmd.client_id!r} for {cmd.period} cannot be issued: "
                                 + "; ".join(problem.description for problem in blocking),
                                 rule=blocking[0].rules[0])
    return [Invoice.issue(cmd.client_id, cmd.period, cmd.at, draft.document(), known_at)]


def _require_period_over(period: str, at: datetime) -> None:
    _, following = period_bounds(period)
    if at < start_of_day(following):
        raise ConflictingStateError(
            f"the invoice for {period} can be issued from {following.isoformat()} 00:00 Moscow time",
            field="at",
        )


HANDLERS: dict[type[m.Command], Callable[..., Touched]] = {
    m.ReleaseVersion: release_version,
    m.PublishPriceList: publish_price_list,
    m.OverrideCalendarDay: override_calendar_day,
    m.RegisterClient: register_client,
    m.IssueLicense: issue_license,
    m.HandOverLicenseKey: hand_over_license_key,
    m.StartImplementation: start_implementation,
    m.FinishImplementation: finish_implementation,
    m.RegisterPersonalConfiguration: register_personal_configuration,
    m.StartPilot: start_pilot,
    m.EndPilot: end_pilot,
    m.AssignEngineer: assign_engineer,
    m.SubscribePriority: subscribe_priority,
    m.CancelPriority: cancel_priority,
    m.OpenTicket: open_ticket,
    m.ClassifyTicket: classify_ticket,
    m.ConfirmBug: confirm_bug,
    m.RejectBug: reject_bug,
    m.LogTime: log_time,
    m.CorrectTime: correct_time,
    m.VoidTime: void_time,
    m.RespondToTicket: respond_to_ticket,
    m.ResolveTicket: resolve_ticket,
    m.ReopenTicket: reopen_ticket,
    m.IssueInvoice: issue_invoice,
}
