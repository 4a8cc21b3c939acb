"""Every CONTRACT.md command: what it records when applied, and what it refuses.

A happy path checks the events a command recorded (types, key payload fields), the actor and
command_id stamped on every one of them, and the valid time (`valid_at`). A refusal checks the
CONTRACT.md promise: status "rejected", an error naming the field or the docs/rules.md rule
that refused it, and nothing recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.bus import Outcome, decode_object, parse_command, parse_line
from commands.models import COMMAND_NAMES, Command
from ledger.errors import LedgerError
from ledger.events import LedgerEvent
from tests.builders import (
    BUG_FACTS,
    CLIENT,
    CURRENT,
    PRODUCT,
    SET_UP,
    assign_engineer,
    cancel,
    classify,
    confirm_bug,
    correct_time,
    end_pilot,
    finish_implementation,
    hand_over_key,
    issue,
    issue_license,
    log,
    open_ticket,
    override_day,
    price_list,
    register,
    register_configuration,
    reject_bug,
    release,
    reopen,
    resolve,
    respond,
    start_implementation,
    start_pilot,
    subscribe,
    void_time,
)
from tests.support import CONTRACT_COMMANDS, apply, applied, event_count, event_types
from tests.test_persistence import EVERY_COMMAND

MOSCOW = ZoneInfo("Europe/Moscow")
UTC = timezone.utc
RULE_ID = re.compile(r"^(R-[A-Z]+-\d+|I-\d+)$")

LICENSE = "L-1"
OPENED = "2025-03-03T11:00"  # when the fixture's tickets Q-1 and B-1 were opened


# --- helpers -------------------------------------------------------------------------------


def recorded_by(ledger, command: dict[str, Any], *, actor: str = "alice") -> list[LedgerEvent]:
    """Apply `command` under a fresh command_id as `actor`; check the envelope every event
    it recorded shares (actor, command_id, one receipt) and return the other events."""
    command_id = f"happy-{command['command']}-{event_count(ledger)}"
    before = event_count(ledger)
    [outcome] = apply(ledger, {**command, "command_id": command_id}, actor=actor)
    assert outcome == Outcome("applied", command_id, None)
    new = ledger.recorded_events()[before:]
    assert new, "an applied command records at least one event"
    for recorded in new:
        assert recorded.event.actor == actor, recorded
        assert recorded.event.command_id == command_id, recorded
    receipts = [r.event for r in new if r.type == "CommandAccepted"]
    assert len(receipts) == 1 and receipts[0].command == command["command"]
    return [r.event for r in new if r.type != "CommandAccepted"]


def names_it(error: str, name: str) -> bool:
    """The error names a rule ID anywhere, or a field as `field:` (one of `; `-joined parts)."""
    if RULE_ID.match(name):
        return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", error) is not None
    return re.search(rf"(^|; ){re.escape(name)}:", error) is not None


def refused(ledger, command: dict[str, Any], *names: str) -> str:
    """`command` is rejected, its error names one of `names`, and nothing is recorded."""
    before = event_count(ledger)
    [outcome] = apply(ledger, command)
    assert outcome.status == "rejected", (command, outcome)
    assert outcome.error and any(names_it(outcome.error, n) for n in names), (names, outcome.error)
    assert event_count(ledger) == before, f"a refused command recorded events: {outcome.error}"
    return outcome.error


def moscow(*args: int) -> datetime:
    return datetime(*args, tzinfo=MOSCOW)


@pytest.fixture
def acme(ledger):
    """A client with an issued licence, a released version, a price list, a question ticket Q-1 with one
    time entry E-1, and a pending bug report B-1 (all facts, via the portal)."""
    applied(
        ledger,
        release(CURRENT, "2024-06-01"),
        price_list("2024-01-01", norm_hour="1500.00", priority_month="30000.00"),
        register(),
        issue_license(LICENSE, "2025-01-10"),
        open_ticket("Q-1", at=OPENED),
        open_ticket("B-1", "bug", at=OPENED),
        log("Q-1", "E-1", "2025-03-03T12:00", 45, activity="consultation"),
    )
    return ledger


# --- the command set ---------------------------------------------------------------------------



def test_the_bus_knows_every_contract_command():
    assert CONTRACT_COMMANDS <= set(COMMAND_NAMES)


def test_the_content_hash_keeps_the_form_stored_receipts_were_written_with():
    """Receipts keep `content_sha256`; a re-sent command is a duplicate only if it hashes the
    same (CONTRACT.md idempotency), so the canonical form may never change: the validated
    fields but command_id, as JSON with sorted keys and no spaces."""
    command = parse_command({"command": "LogTime", "command_id": "x-1", "ticket_id": " T-1 ", "entry_id": "e1",
                             "engineer": "ivanov", "started_at": "2025-03-05T10:30", "minutes": 45,
                             "activity": "analysis"})
    canonical = ('{"activity":"analysis","command":"LogTime","engineer":"ivanov","entry_id":"e1",'
                 '"minutes":45,"purpose":null,"started_at":"2025-03-05T10:30:00+03:00","ticket_id":"T-1"}')
    assert command.content_sha256() == hashlib.sha256(canonical.encode()).hexdigest()


# --- happy paths: the catalog ------------------------------------------------------------------


def test_release_version_records_the_release_valid_from_that_moscow_day(ledger):
    events = recorded_by(ledger, release("9.1", "2025-03-01"))
    assert [type(e).__name__ for e in events] == ["CatalogOpened", "VersionReleased"]
    released = events[1]
    assert (released.product, released.version, released.released_on) == (PRODUCT, "9.1", date(2025, 3, 1))
    assert released.client_id is None
    # A date means that day in Moscow: 00:00 MSK is 21:00 UTC the day before.
    assert released.valid_at == datetime(2025, 2, 28, 21, 0, tzinfo=UTC)
    assert ledger.catalog().releases[PRODUCT, "9.1"] == date(2025, 3, 1)


def test_publish_price_list_keeps_money_as_exact_decimals(ledger):
    events = recorded_by(ledger, price_list("2025-01-01", norm_hour="1500.00", priority_month="30000.50"))
    [published] = [e for e in events if type(e).__name__ == "PriceListPublished"]
    assert published.norm_hour == Decimal("1500.00") and isinstance(published.norm_hour, Decimal)
    assert published.priority_month == Decimal("30000.50")
    assert published.valid_at == moscow(2025, 1, 1)


def test_override_calendar_day_records_kind_and_reason(ledger):
    events = recorded_by(ledger, override_day("2025-12-31", "holiday", reason="Decree 1234"))
    [override] = [e for e in events if type(e).__name__ == "CalendarDayOverridden"]
    assert (override.day, override.kind, override.reason) == (date(2025, 12, 31), "holiday", "Decree 1234")
    assert override.valid_at == moscow(2025, 12, 31)


# --- happy paths: clients -------------------------------------------------------------------------


def test_register_client_opens_the_client_and_its_priority_account(ledger):
    events = recorded_by(ledger, register("c-2", "2025-02-01T09:15", name="Beta"))
    assert [type(e).__name__ for e in events] == ["ClientRegistered", "PriorityAccountOpened"]
    assert all(e.client_id == "c-2" for e in events)
    assert events[0].name == "Beta"
    assert events[0].valid_at == datetime(2025, 2, 1, 6, 15, tzinfo=UTC)  # naive is Moscow
    assert ledger.client("c-2").name == "Beta"


def test_register_client_without_at_is_registered_now(ledger):
    before = datetime.now(UTC)
    [registered, _] = recorded_by(ledger, register("c-3", at=None, name="Gamma"))
    after = datetime.now(UTC)
    assert before <= registered.registered_at <= after


def test_issue_license_records_the_licence(acme):
    events = recorded_by(acme, issue_license("L-2", "2025-02-15"))
    [issued] = events
    assert type(issued).__name__ == "LicenseIssued"
    assert (issued.client_id, issued.license_id, issued.product, issued.issued_on) == (
        CLIENT, "L-2", PRODUCT, date(2025, 2, 15))
    assert issued.valid_at == moscow(2025, 2, 15)


def test_hand_over_first_license_key_grants_the_free_priority_month_r_ptp_6(acme):
    """R-PTP-6, I-7: from the handover to the same Moscow instant one calendar month later;
    2025-01-31 12:00 + one month is clamped to the last day of February."""
    events = recorded_by(acme, hand_over_key(LICENSE, "2025-01-31T12:00"))
    assert [type(e).__name__ for e in events] == ["LicenseKeyHandedOver", "PriorityFreeMonthGranted"]
    handed, granted = events
    handover = moscow(2025, 1, 31, 12, 0)
    assert handed.at == handover and handed.valid_at == handover and handed.license_id == LICENSE
    assert granted.client_id == CLIENT and granted.license_id == LICENSE
    assert granted.starts_at == handover and granted.valid_at == handover
    assert granted.ends_at == moscow(2025, 2, 28, 12, 0)
    assert acme.subscription(CLIENT).free_month is not None


def test_free_month_is_counted_on_the_moscow_clock_r_ptp_6(acme):
    """23:30 UTC on Jan 31 is 02:30 on Feb 1 in Moscow, so the month ends on Mar 1 02:30 MSK."""
    events = recorded_by(acme, hand_over_key(LICENSE, "2025-01-31T23:30:00+00:00"))
    granted = events[1]
    assert granted.starts_at == moscow(2025, 2, 1, 2, 30)
    assert granted.ends_at == moscow(2025, 3, 1, 2, 30)


def test_free_month_in_a_leap_february_r_ptp_6(ledger):
    applied(ledger,
            register(CLIENT, "2024-01-01T10:00"),
            issue_license(LICENSE, "2024-01-20"))
    events = recorded_by(ledger, hand_over_key(LICENSE, "2024-01-30T09:00"))
    assert events[1].ends_at == moscow(2024, 2, 29, 9, 0)


def test_second_license_key_handover_grants_no_free_month_r_ptp_6(acme):
    applied(acme,
            issue_license("L-2", "2025-02-01", product="Other"),
            hand_over_key(LICENSE, "2025-01-15T10:00"))
    events = recorded_by(acme, hand_over_key("L-2", "2025-02-02T10:00"))
    assert [type(e).__name__ for e in events] == ["LicenseKeyHandedOver"]
    assert event_types(acme, CLIENT).count("PriorityFreeMonthGranted") == 1


def test_free_month_granted_once_even_for_a_backdated_first_license_r_ptp_6(acme):
    """A licence recorded later with an earlier issue date does not grant a second month."""
    applied(acme,
            hand_over_key(LICENSE, "2025-01-15T10:00"),
            issue_license("L-0", "2024-12-01"),
            hand_over_key("L-0", "2025-01-20T10:00"))
    assert event_types(acme, CLIENT).count("PriorityFreeMonthGranted") == 1


def test_first_license_key_handed_over_after_a_later_one_still_grants_the_month_r_ptp_6(acme):
    applied(acme,
            issue_license("L-2", "2025-02-01", product="Other"),
            hand_over_key("L-2", "2025-02-02T10:00"),
            hand_over_key(LICENSE, "2025-02-10T10:00"))
    granted = [r.event for r in acme.recorded_events(client_id=CLIENT)
               if r.type == "PriorityFreeMonthGranted"]
    assert [g.license_id for g in granted] == [LICENSE]
    assert granted[0].starts_at == moscow(2025, 2, 10, 10, 0)


def test_start_and_finish_implementation(acme):
    [started] = recorded_by(acme, start_implementation("2025-02-01T10:00"))
    assert type(started).__name__ == "ImplementationStarted" and started.client_id == CLIENT
    assert started.valid_at == moscow(2025, 2, 1, 10, 0)
    assert acme.client(CLIENT).implementation_in_progress
    [finished] = recorded_by(acme, finish_implementation("2025-05-01T10:00:00+00:00"))
    assert type(finished).__name__ == "ImplementationFinished"
    assert finished.valid_at == datetime(2025, 5, 1, 10, 0, tzinfo=UTC)
    assert not acme.client(CLIENT).implementation_in_progress


def test_register_personal_configuration(acme):
    [registered] = recorded_by(acme, register_configuration("PC-1", "2025-02-01T10:00"))
    assert type(registered).__name__ == "PersonalConfigurationRegistered"
    assert (registered.client_id, registered.configuration_id) == (CLIENT, "PC-1")
    assert registered.valid_at == moscow(2025, 2, 1, 10, 0)


def test_start_pilot_grants_pilot_coverage_and_end_pilot_ends_it_r_ptp_7(acme):
    events = recorded_by(acme, start_pilot("P-1", "2025-02-01T10:00", contract="Pilot 7/2025"))
    assert [type(e).__name__ for e in events] == ["PilotStarted", "PilotCoverageGranted"]
    started, granted = events
    assert (started.pilot_id, started.contract, started.at) == ("P-1", "Pilot 7/2025", moscow(2025, 2, 1, 10))
    assert (granted.pilot_id, granted.starts_at, granted.client_id) == ("P-1", moscow(2025, 2, 1, 10), CLIENT)
    assert acme.subscription(CLIENT).pilots["P-1"].ends_at is None

    events = recorded_by(acme, end_pilot("P-1", "2025-04-01T18:00"))
    assert [type(e).__name__ for e in events] == ["PilotEnded", "PilotCoverageEnded"]
    ended, coverage_ended = events
    assert ended.at == moscow(2025, 4, 1, 18) and ended.valid_at == moscow(2025, 4, 1, 18)
    assert coverage_ended.ends_at == moscow(2025, 4, 1, 18) and coverage_ended.pilot_id == "P-1"
    assert acme.subscription(CLIENT).pilots["P-1"].ends_at == moscow(2025, 4, 1, 18)


def test_assign_engineer(acme):
    [assigned] = recorded_by(acme, assign_engineer("petrov", "2025-02-01T10:00"))
    assert type(assigned).__name__ == "EngineerAssigned"
    assert (assigned.engineer, assigned.client_id) == ("petrov", CLIENT)
    assert assigned.valid_at == moscow(2025, 2, 1, 10)


def test_subscribe_and_cancel_priority_r_ptp_1(acme):
    [subscribed] = recorded_by(acme, subscribe("S-1", "2025-02-01T00:00"))
    assert type(subscribed).__name__ == "PrioritySubscribed"
    assert (subscribed.subscription_id, subscribed.client_id) == ("S-1", CLIENT)
    assert subscribed.valid_at == moscow(2025, 2, 1)
    [cancelled] = recorded_by(acme, cancel("S-1", "2025-06-01T00:00"))
    assert type(cancelled).__name__ == "PriorityCancelled" and cancelled.valid_at == moscow(2025, 6, 1)
    # A new subscription may start when the cancelled one has ended.
    recorded_by(acme, subscribe("S-2", "2025-06-01T00:00"))


# --- happy paths: tickets ----------------------------------------------------------------------------


def test_open_ticket_records_every_field(acme):
    [opened] = recorded_by(acme, open_ticket("B-2", "bug", at="2025-03-14T10:30", channel="portal",
                                             facts=BUG_FACTS))
    assert type(opened).__name__ == "TicketOpened"
    assert opened.originator_id == "ticket/B-2"
    assert (opened.ticket_id, opened.client_id, opened.channel, opened.category) == ("B-2", CLIENT, "portal", "bug")
    assert (opened.product, opened.version) == (PRODUCT, CURRENT)
    assert {k: getattr(opened, k) for k in BUG_FACTS} == BUG_FACTS
    assert opened.valid_at == datetime(2025, 3, 14, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize("channel", ["portal", "email", "phone"])
def test_open_question_ticket_on_every_channel_r_ch_1(acme, channel):
    [opened] = recorded_by(acme, open_ticket("Q-9", channel=channel))
    assert opened.channel == channel and opened.build is None


def test_classify_ticket(acme):
    [classified] = recorded_by(acme, classify("Q-1", "environment", "2025-03-03T12:00",
                                              reason="antivirus blocks the port"))
    assert type(classified).__name__ == "TicketClassified"
    assert (classified.category, classified.reason, classified.client_id) == (
        "environment", "antivirus blocks the port", CLIENT)
    assert classified.valid_at == moscow(2025, 3, 3, 12)
    assert acme.ticket("Q-1").category == "environment"


def test_classify_a_ticket_with_every_fact_as_bug_i_10(acme):
    applied(acme, open_ticket("Q-2", channel="portal", facts=BUG_FACTS))
    [classified] = recorded_by(acme, classify("Q-2", "bug", "2025-03-03T12:00", reason="looks like a bug"))
    assert classified.category == "bug"


def test_confirm_bug(acme):
    [confirmed] = recorded_by(acme, confirm_bug("B-1", "2025-03-04T10:00"))
    assert type(confirmed).__name__ == "BugConfirmed" and confirmed.client_id == CLIENT
    assert confirmed.valid_at == moscow(2025, 3, 4, 10)
    assert acme.ticket("B-1").bug_verdict == "confirmed"


def test_reject_bug_moves_the_ticket_to_its_new_category(acme):
    [rejected] = recorded_by(acme, reject_bug("B-1", "data_recovery", "2025-03-04T10:00",
                                              reason="damaged database"))
    assert type(rejected).__name__ == "BugRejected"
    assert (rejected.category, rejected.reason) == ("data_recovery", "damaged database")
    assert rejected.valid_at == moscow(2025, 3, 4, 10)
    assert acme.ticket("B-1").category == "data_recovery"


@pytest.mark.parametrize("minutes", [1, 1440])
def test_log_time_at_the_minutes_bounds(acme, minutes):
    [logged] = recorded_by(acme, log("Q-1", "E-9", minutes=minutes, activity="consultation"))
    assert logged.minutes == minutes


def test_log_time_records_the_work(acme):
    [logged] = recorded_by(acme, log("Q-1", "E-2", "2025-03-14T10:30", 95, activity="remote_session",
                                     purpose="diagnostics"))
    assert type(logged).__name__ == "TimeLogged"
    assert (logged.entry_id, logged.engineer, logged.minutes, logged.activity, logged.purpose) == (
        "E-2", "ivanov", 95, "remote_session", "diagnostics")
    assert logged.client_id == CLIENT
    # "2025-03-14T10:30" without an offset is Moscow time: 07:30 UTC.
    assert logged.started_at == datetime(2025, 3, 14, 7, 30, tzinfo=UTC)
    assert logged.valid_at == datetime(2025, 3, 14, 7, 30, tzinfo=UTC)


def test_an_instant_with_an_offset_is_kept_as_that_instant(acme):
    [logged] = recorded_by(acme, log("Q-1", "E-3", "2025-03-14T10:30:00+05:00", activity="consultation"))
    assert logged.started_at == datetime(2025, 3, 14, 5, 30, tzinfo=UTC)
    [logged_z] = recorded_by(acme, log("Q-1", "E-4", "2025-03-14T10:30:00Z", activity="consultation"))
    assert logged_z.started_at == datetime(2025, 3, 14, 10, 30, tzinfo=UTC)
    stored = acme.ticket("Q-1").entries
    assert stored["E-3"].started_at == datetime(2025, 3, 14, 5, 30, tzinfo=UTC)
    assert stored["E-4"].started_at == datetime(2025, 3, 14, 10, 30, tzinfo=UTC)


def test_correct_time_is_valid_when_the_entry_started(acme):
    [corrected] = recorded_by(acme, correct_time("Q-1", "E-1", 30, reason="typo"))
    assert type(corrected).__name__ == "TimeCorrected"
    assert (corrected.entry_id, corrected.minutes, corrected.reason) == ("E-1", 30, "typo")
    assert corrected.valid_at == moscow(2025, 3, 3, 12, 0)  # E-1 started then
    assert acme.ticket("Q-1").entries["E-1"].minutes == 30


def test_void_time(acme):
    [voided] = recorded_by(acme, void_time("Q-1", "E-1", reason="logged on the wrong ticket"))
    assert type(voided).__name__ == "TimeVoided" and voided.entry_id == "E-1"
    assert voided.valid_at == moscow(2025, 3, 3, 12, 0)
    assert acme.ticket("Q-1").entries["E-1"].voided


def test_respond_resolve_reopen_resolve(acme):
    for command, at, event in [
        (respond, "2025-03-03T11:30", "TicketResponded"),
        (resolve, "2025-03-04T15:00", "TicketResolved"),
        (reopen, "2025-03-05T10:00", "TicketReopened"),
        (resolve, "2025-03-06T11:00", "TicketResolved"),
    ]:
        [recorded] = recorded_by(acme, command("Q-1", at))
        assert type(recorded).__name__ == event and recorded.client_id == CLIENT
        assert recorded.valid_at == datetime.fromisoformat(at).replace(tzinfo=MOSCOW)
    assert acme.ticket("Q-1").resolved_at == moscow(2025, 3, 6, 11)


# --- happy paths: invoices -------------------------------------------------------------------------


def test_issue_invoice_once_the_period_is_over_i_9(acme):
    [issued] = recorded_by(acme, issue("2025-03", "2025-04-01T00:00"))
    assert type(issued).__name__ == "InvoiceIssued"
    assert (issued.client_id, issued.period) == (CLIENT, "2025-03")
    assert issued.valid_at == moscow(2025, 4, 1)
    # I-9: the invoice is frozen as computed: its total is the sum of its lines.
    assert issued.total == sum((Decimal(line["amount"]) for line in issued.lines), Decimal("0"))
    assert acme.invoice(CLIENT, "2025-03") is not None


def test_issue_invoice_at_moscow_midnight_written_in_utc(acme):
    """21:00 UTC on Mar 31 is 00:00 Apr 1 in Moscow: the March period is over."""
    [issued] = recorded_by(acme, issue("2025-03", "2025-03-31T21:00:00Z"))
    assert issued.valid_at == moscow(2025, 4, 1)


# --- refusals: malformed commands ------------------------------------------------------------------


def test_unknown_command_is_refused_naming_the_command_field(ledger):
    refused(ledger, {"command": "DeleteEverything"}, "command")
    refused(ledger, {"client_id": CLIENT, "name": "no command key"}, "command")


def test_unknown_field_is_refused_naming_it(ledger):
    error = refused(ledger, {"command": "RegisterClient", "client_id": CLIENT, "name": "Acme",
                             "colour": "red"}, "colour")
    assert "unknown field" in error


def test_missing_required_field_is_refused_naming_it(ledger):
    refused(ledger, {"command": "RegisterClient", "name": "Acme"}, "client_id")
    refused(ledger, {"command": "RegisterClient", "client_id": "   ", "name": "Acme"}, "client_id")


@pytest.mark.parametrize("minutes", [0, 1441, 30.5, "30", -5, True, None])
def test_log_time_minutes_must_be_a_whole_number_from_1_to_1440(acme, minutes):
    refused(acme, log("Q-1", "E-9", minutes=minutes, activity="consultation"), "minutes")


@pytest.mark.parametrize("minutes", [0, 1441, 30.5, "30"])
def test_correct_time_minutes_must_be_a_whole_number_from_1_to_1440(acme, minutes):
    refused(acme, correct_time("Q-1", "E-1", minutes), "minutes")


def test_correct_time_to_the_same_minutes_is_refused(acme):
    refused(acme, correct_time("Q-1", "E-1", 45), "minutes")


def test_remote_session_needs_a_purpose(acme):
    refused(acme, log("Q-1", "E-9", activity="remote_session"), "purpose")


@pytest.mark.parametrize("activity", ["consultation", "bug_fix", "integration", "analysis"])
def test_purpose_applies_to_remote_sessions_only(acme, activity):
    refused(acme, log("Q-1", "E-9", activity=activity, purpose="diagnostics"), "purpose")


def test_unknown_activity_and_purpose_are_refused(acme):
    refused(acme, log("Q-1", "E-9", activity="installation"), "activity")
    refused(acme, log("Q-1", "E-9", activity="remote_session", purpose="fun"), "purpose")


@pytest.mark.parametrize("field", ["norm_hour", "priority_month"])
@pytest.mark.parametrize("amount", [1500.0, 1500, "1500.001", "-5.00", "abc", "1,500.00", "", "1e3"])
def test_money_is_a_decimal_string_with_at_most_two_places(ledger, field, amount):
    command = price_list("2025-01-01", norm_hour="1500.00", priority_month="30000.00")
    refused(ledger, {**command, field: amount}, field)


@pytest.mark.parametrize("released_on", ["2025-02-30", "2025/03/01", "2025-3-1", 20250301,
                                         "2025-03-01T00:00", "", "yesterday"])
def test_bad_dates_are_refused_naming_the_field(ledger, released_on):
    refused(ledger, release("9.1", released_on), "released_on")


@pytest.mark.parametrize("at", ["yesterday", "2025-03-14T25:00", "2025-13-01T10:00", 1741937400, ""])
def test_bad_instants_are_refused_naming_the_field(acme, at):
    refused(acme, start_implementation(at), "at")


@pytest.mark.parametrize("period", ["2025-13", "2025-3", "March", "2025-03-01", 202503])
def test_bad_periods_are_refused_naming_the_field(acme, period):
    refused(acme, issue(period, "2026-01-01T00:00"), "period")


def test_bad_calendar_override_kind_is_refused(ledger):
    refused(ledger, override_day("2025-12-31", "party"), "kind")


def test_bad_channel_is_refused(acme):
    refused(acme, open_ticket("Q-9", channel="telegram"), "channel")


# --- refusals: unknown things -------------------------------------------------------------------------

NOBODY = "nobody"  # no client of that id was registered
CLIENT_COMMANDS = [
    issue_license("L-9", "2025-01-10", client_id=NOBODY),
    hand_over_key(LICENSE, "2025-02-01T10:00", client_id=NOBODY),
    start_implementation("2025-02-01T10:00", client_id=NOBODY),
    finish_implementation("2025-02-01T10:00", client_id=NOBODY),
    register_configuration("PC-1", "2025-02-01T10:00", client_id=NOBODY),
    start_pilot("P-1", "2025-02-01T10:00", client_id=NOBODY),
    end_pilot("P-1", "2025-02-01T10:00", client_id=NOBODY),
    assign_engineer("petrov", "2025-02-01T10:00", client_id=NOBODY),
    subscribe("S-1", "2025-02-01T10:00", client_id=NOBODY),
    cancel("S-1", "2025-02-01T10:00", client_id=NOBODY),
    issue("2025-01", "2025-02-01T10:00", client_id=NOBODY),
]


@pytest.mark.parametrize("command", CLIENT_COMMANDS, ids=lambda c: c["command"])
def test_unknown_client_is_refused(acme, command):
    refused(acme, command, "client_id")


def test_open_ticket_for_an_unknown_client_is_refused(acme):
    refused(acme, open_ticket("Q-9", client_id=NOBODY), "client_id")


NO_TICKET = "T-404"  # no ticket of that id was opened
TICKET_COMMANDS = [
    classify(NO_TICKET, "environment", "2025-03-04T10:00"),
    confirm_bug(NO_TICKET, "2025-03-04T10:00"),
    reject_bug(NO_TICKET, "question", "2025-03-04T10:00"),
    log(NO_TICKET, "E-9", "2025-03-04T10:00", 30, activity="consultation"),
    correct_time(NO_TICKET, "E-1", 30),
    void_time(NO_TICKET, "E-1"),
    respond(NO_TICKET, "2025-03-04T10:00"),
    resolve(NO_TICKET, "2025-03-04T10:00"),
    reopen(NO_TICKET, "2025-03-04T10:00"),
]


@pytest.mark.parametrize("command", TICKET_COMMANDS, ids=lambda c: c["command"])
def test_unknown_ticket_is_refused(acme, command):
    refused(acme, command, "ticket_id")


def test_unknown_licence_is_refused(acme):
    refused(acme, hand_over_key("L-404", "2025-02-01T10:00"), "license_id")


def test_unknown_pilot_is_refused(acme):
    refused(acme, end_pilot("P-404", "2025-02-01T10:00"), "pilot_id")


def test_unknown_subscription_is_refused(acme):
    refused(acme, cancel("S-404", "2025-02-01T10:00"), "subscription_id")


@pytest.mark.parametrize("command", [
    correct_time("Q-1", "E-404", 30),
    void_time("Q-1", "E-404"),
    # E-1 is logged on Q-1, not on B-1
    void_time("B-1", "E-1"),
], ids=["correct-missing", "void-missing", "void-other-ticket"])
def test_unknown_entry_is_refused(acme, command):
    refused(acme, command, "entry_id")


@pytest.mark.parametrize("command", [
    correct_time("Q-1", "E-1", 30),
    void_time("Q-1", "E-1", reason="again"),
], ids=["correct", "void"])
def test_a_voided_entry_cannot_be_corrected_or_voided(acme, command):
    applied(acme, void_time("Q-1", "E-1", reason="wrong ticket"))
    refused(acme, command, "entry_id")


# --- refusals: duplicate ids -----------------------------------------------------------------------


def test_duplicate_client_is_refused(acme):
    refused(acme, register(at=None, name="Other"), "client_id")


def test_duplicate_licence_is_refused(acme):
    refused(acme, issue_license(LICENSE, "2025-02-01", product="Other"), "license_id")


def test_duplicate_pilot_is_refused_leaving_coverage_alone(acme):
    applied(acme, start_pilot("P-1", "2025-02-01T10:00"))
    refused(acme, start_pilot("P-1", "2025-03-01T10:00", contract="c2"), "pilot_id")
    assert acme.subscription(CLIENT).pilots["P-1"].starts_at == moscow(2025, 2, 1, 10)


def test_duplicate_subscription_is_refused(acme):
    applied(acme,
            subscribe("S-1", "2025-02-01T10:00"),
            cancel("S-1", "2025-03-01T10:00"))
    refused(acme, subscribe("S-1", "2025-04-01T10:00"), "subscription_id")


def test_duplicate_ticket_is_refused(acme):
    refused(acme, open_ticket("Q-1", at="2025-03-05T10:00"), "ticket_id")


def test_duplicate_entry_is_refused(acme):
    refused(acme, log("Q-1", "E-1", minutes=10, activity="consultation"), "entry_id")


def test_duplicate_configuration_is_refused(acme):
    applied(acme, register_configuration("PC-1", "2025-02-01T10:00"))
    refused(acme, register_configuration("PC-1", "2025-02-02T10:00"), "configuration_id")


def test_duplicate_version_release_is_refused(acme):
    refused(acme, release(CURRENT, "2024-07-01"), "version")


def test_republishing_the_same_price_list_is_refused_but_a_correction_is_not_i_6(ledger):
    command = price_list("2025-01-01", norm_hour="1500.00", priority_month="30000.00")
    applied(ledger, command)
    refused(ledger, command, "effective_from")
    applied(ledger, {**command, "norm_hour": "1600.00"})  # I-6: a correction


def test_overriding_a_day_twice_the_same_way_is_refused(ledger):
    command = override_day("2025-12-31", "holiday")
    applied(ledger, command)
    refused(ledger, command, "date")


# --- refusals: the regulation -----------------------------------------------------------------------

EXCLUDED = [("installation", "R-EXC-1"), ("training", "R-EXC-1"), ("development", "R-EXC-1"),
            ("third_party_setup", "R-EXC-1"), ("on_site_deployment", "R-EXC-1"),
            ("code_review", "R-EXC-2")]


@pytest.mark.parametrize(("category", "rule"), EXCLUDED)
def test_open_ticket_for_excluded_work_is_refused_citing_the_clause_i_3(acme, category, rule):
    refused(acme, open_ticket("X-1", category), rule)


@pytest.mark.parametrize(("category", "rule"), EXCLUDED)
def test_classify_ticket_as_excluded_work_is_refused_citing_the_clause_i_3(acme, category, rule):
    refused(acme, classify("Q-1", category, "2025-03-04T10:00"), rule)


@pytest.mark.parametrize(("category", "rule"), EXCLUDED)
def test_reject_bug_to_excluded_work_is_refused_citing_the_clause_i_3(acme, category, rule):
    refused(acme, reject_bug("B-1", category, "2025-03-04T10:00"), rule)


def test_unknown_category_is_refused_naming_the_field(acme):
    refused(acme, open_ticket("X-1", "gossip"), "category")
    refused(acme, classify("Q-1", "gossip", "2025-03-04T10:00"), "category")


@pytest.mark.parametrize("missing", [
    ("build",), ("description",), ("screenshot",), ("build", "description", "screenshot"),
])
def test_bug_report_missing_facts_is_refused_listing_them_i_10(acme, missing):
    facts = {k: v for k, v in BUG_FACTS.items() if k not in missing}
    error = refused(acme, open_ticket("B-9", "bug", facts=facts), "I-10")
    for name in BUG_FACTS:
        assert (name in error) == (name in missing), (name, error)


def test_classifying_as_bug_a_ticket_without_the_facts_is_refused_i_10(acme):
    applied(acme, open_ticket("Q-2", channel="portal", facts={"build": "9.0.1"}))
    error = refused(acme, classify("Q-2", "bug", "2025-03-04T10:00"), "I-10")
    assert "description" in error and "screenshot" in error and "build" not in error


@pytest.mark.parametrize("channel", ["email", "phone"])
def test_bug_report_outside_the_portal_is_refused_r_ch_2(acme, channel):
    refused(acme, open_ticket("B-9", "bug", channel=channel), "R-CH-2")


def test_subscribing_while_a_paid_subscription_is_active_is_refused_r_ptp_1(acme):
    applied(acme, subscribe("S-1", "2025-02-01T10:00"))
    refused(acme, subscribe("S-2", "2025-03-01T10:00"), "R-PTP-1")
    # Nor may a new one start before it (it would run into the open one).
    refused(acme, subscribe("S-2", "2025-01-15T10:00"), "R-PTP-1")


def test_subscribing_inside_a_cancelled_subscription_is_refused_r_ptp_1(acme):
    applied(acme,
            subscribe("S-1", "2025-02-01T10:00"),
            cancel("S-1", "2025-04-01T10:00"))
    refused(acme, subscribe("S-2", "2025-03-01T10:00"), "R-PTP-1")


def test_cancelling_priority_twice_is_refused(acme):
    applied(acme,
            subscribe("S-1", "2025-02-01T10:00"),
            cancel("S-1", "2025-03-01T10:00"))
    refused(acme, cancel("S-1", "2025-04-01T10:00"), "subscription_id")


def test_cancelling_before_the_subscription_started_is_refused(acme):
    applied(acme, subscribe("S-1", "2025-02-01T10:00"))
    refused(acme, cancel("S-1", "2025-01-01T10:00"), "at")


def test_handing_over_a_key_twice_is_refused(acme):
    applied(acme, hand_over_key(LICENSE, "2025-01-15T10:00"))
    refused(acme, hand_over_key(LICENSE, "2025-01-16T10:00"), "license_id")
    assert event_types(acme, CLIENT).count("PriorityFreeMonthGranted") == 1


def test_handing_over_a_key_before_the_licence_was_issued_is_refused(acme):
    refused(acme, hand_over_key(LICENSE, "2025-01-09T23:59"), "at")


def test_ending_a_pilot_twice_or_before_it_started_is_refused(acme):
    applied(acme, start_pilot("P-1", "2025-02-01T10:00"))
    refused(acme, end_pilot("P-1", "2025-01-31T10:00"), "at")
    applied(acme, end_pilot("P-1", "2025-03-01T10:00"))
    refused(acme, end_pilot("P-1", "2025-03-02T10:00"), "pilot_id")


def test_implementation_cannot_start_twice_nor_finish_unstarted_r_ptp_2(acme):
    refused(acme, finish_implementation("2025-02-01T10:00"),
            "R-PTP-2")
    applied(acme, start_implementation("2025-02-01T10:00"))
    refused(acme, start_implementation("2025-02-02T10:00"),
            "R-PTP-2")
    refused(acme, finish_implementation("2025-01-31T10:00"),
            "at")


def test_confirm_bug_on_a_ticket_that_is_not_a_bug_is_refused(acme):
    error = refused(acme, confirm_bug("Q-1", "2025-03-04T10:00"),
                    "I-4", "ticket_id", "category")
    assert "Q-1" in error


def test_confirm_or_reject_a_bug_already_judged_is_refused(acme):
    applied(acme, confirm_bug("B-1", "2025-03-04T10:00"))
    refused(acme, confirm_bug("B-1", "2025-03-05T10:00"),
            "I-4", "ticket_id")
    refused(acme, reject_bug("B-1", "question", "2025-03-05T10:00"), "I-4", "ticket_id")


def test_reject_bug_to_category_bug_is_refused(acme):
    refused(acme, reject_bug("B-1", "bug", "2025-03-04T10:00"), "category")


def test_classify_to_the_current_category_is_refused(acme):
    refused(acme, classify("Q-1", "question", "2025-03-04T10:00"), "category")


def test_resolving_twice_is_refused(acme):
    applied(acme, resolve("Q-1", "2025-03-04T10:00"))
    refused(acme, resolve("Q-1", "2025-03-05T10:00"), "ticket_id")


def test_reopening_an_unresolved_ticket_is_refused(acme):
    refused(acme, reopen("Q-1", "2025-03-04T10:00"), "ticket_id")


@pytest.mark.parametrize("command", [
    classify("Q-1", "environment", "2025-03-03T10:59"),
    respond("Q-1", "2025-03-03T10:59"),
    resolve("Q-1", "2025-03-03T10:59"),
    confirm_bug("B-1", "2025-03-03T10:59"),
], ids=lambda c: c["command"])
def test_ticket_facts_before_the_ticket_was_opened_are_refused(acme, command):
    refused(acme, command, "at")


def test_work_before_the_ticket_was_opened_is_refused(acme):
    # Q-1 opened at 11:00 Moscow = 08:00 UTC.
    refused(acme, log("Q-1", "E-9", "2025-03-03T07:59:00Z", activity="consultation"), "started_at")
    applied(acme, log("Q-1", "E-9", "2025-03-03T08:00:00Z", activity="consultation"))


def test_issuing_an_invoice_twice_is_refused_i_9(acme):
    applied(acme, issue("2025-03", "2025-04-01T10:00"))
    refused(acme, issue("2025-03", "2025-04-02T10:00"), "I-9")


@pytest.mark.parametrize("at", ["2025-03-31T23:59:59", "2025-03-31T20:59:59Z", "2025-03-15T10:00"])
def test_issuing_an_invoice_before_the_period_ends_is_refused(acme, at):
    refused(acme, issue("2025-03", at), "at")
    assert acme.invoice(CLIENT, "2025-03") is None


def test_events_of_every_client_command_carry_the_client(acme):
    """Every event of the client's aggregates (client, priority, tickets, invoices) names it."""
    applied(acme,
            hand_over_key(LICENSE, "2025-01-15T10:00"),
            resolve("Q-1", "2025-03-04T10:00"),
            issue("2025-03", "2025-04-01T10:00"))
    streams = {r.event.originator_id.split("/")[0]: r.event.client_id for r in acme.recorded_events()
               if not r.event.originator_id.startswith(("catalog/", "command/"))}
    assert set(streams) == {"client", "priority", "ticket", "invoice"}
    assert set(streams.values()) == {CLIENT}


def test_refused_then_fixed_command_applies(acme):
    """A refusal leaves the ledger as it was, so the corrected command goes through."""
    refused(acme, log("Q-1", "E-2", minutes=0, activity="consultation"), "minutes")
    applied(acme, log("Q-1", "E-2", minutes=15, activity="consultation"))
    assert acme.ticket("Q-1").entries["E-2"].minutes == 15


# --- parsing a line: pydantic's JSON parser and the step-by-step path agree -----------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False)
    | st.sampled_from(["", " ", "45", "45.0", "1500.00", "1e3", "2025-03-03", "2025-03-03T12:00",
                       "2025-03-03T12:00:00Z", "2025-02-30", "T1", " T1 ", "bug", "portal", "analysis",
                       "2025-03", "2025-13", "\u0416", "0x10"])
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)


def _step_by_step(line: str) -> Command | None:
    """The path that names mistakes: JSON with unique keys, then the command's model."""
    try:
        return parse_command(decode_object(line))
    except (ValueError, LedgerError):
        return None


@settings(max_examples=600, deadline=None)
@given(base=st.sampled_from(EVERY_COMMAND), data=st.data())
def test_a_line_parses_to_the_same_command_on_both_paths(base, data):
    """`parse_line` tries pydantic's JSON parser first (one pass) and falls back to the
    step-by-step path for a line it refuses: the outcome must always be the step-by-step
    path's. Fields are replaced, removed or added with arbitrary JSON values."""
    command = dict(base)
    for _ in range(data.draw(st.integers(0, 3))):
        field = data.draw(st.sampled_from([*command, "extra", "command_id"]))
        if data.draw(st.booleans()) and field in command:
            del command[field]
        else:
            command[field] = data.draw(JSON_VALUES)
    line = json.dumps(command, ensure_ascii=data.draw(st.booleans()))
    expected = _step_by_step(line)
    parsed = parse_line(line)
    if expected is None:
        assert isinstance(parsed, Outcome) and parsed.status == "rejected"
    else:
        assert parsed == expected and type(parsed) is type(expected)


@pytest.mark.parametrize("earlier", ['"\\ud800"', "[" * 300 + "]" * 300, '"2025-03-01T09:00"', "null"],
                         ids=["lone-surrogate-escape", "nested-300-deep", "valid", "null"])
def test_a_line_with_a_key_twice_is_refused_naming_it(earlier):
    """JSON leaves a repeated key to the reader (pydantic's parser keeps the last value,
    json.loads too); the ledger refuses the line, whatever the first value (issue 16)."""
    line = '{"command":"ResolveTicket","ticket_id":"T1","at":' + earlier + ',"at":"2025-03-03T12:00"}'
    parsed = parse_line(line)
    assert parsed == Outcome("rejected", None, "at: the key 'at' appears twice in one object")
    assert _step_by_step(line) is None


def test_a_key_written_with_an_escape_is_the_same_key():
    line = '{"command":"ResolveTicket","ticket_id":"T1","\\u0061t":"2025-03-01T09:00","at":"2025-03-03T12:00"}'
    assert parse_line(line) == Outcome("rejected", None, "at: the key 'at' appears twice in one object")


def test_log_time_checks_the_tier_before_it_records(ledger):
    """A command is a straight line (issue 17): the aggregate refuses work no tier allows
    (R-PTP-3: personal-configuration work without priority coverage) before recording
    anything, so nothing has to be undone."""
    from ledger.errors import LedgerError as Refused

    applied(ledger, *SET_UP)
    ticket = ledger.ticket("T1")
    version = ticket.version
    with pytest.raises(Refused, match="R-PTP-3"):
        ticket.log_time(entry_id="E1", engineer="e", started_at=ticket.opened_at, minutes=30,
                        activity="personal_config", purpose=None, coverage=[], releases=ledger.catalog().release_list())
    assert ticket.pending_events == [] and ticket.version == version and "E1" not in ticket.entries
