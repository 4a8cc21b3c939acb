"""The `entitlements` query (CONTRACT.md) on both stores: priority sources (I-7), obligations
(R-PTP-2, R-PTP-3), the engineer (R-PTP-5), new versions (R-PTP-4, I-8), the warranty window
(I-2), the service matrix (section 4), record time (I-9); LogTime's R-PTP-3 refusal; the CLI."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from commands.cli import main
from ledger.errors import NotFoundError
from ledger.timeutil import MOSCOW, utc_now
from projections.entitlements import entitlements
from tests.support import apply, applied, event_count

CLIENT = "acme"
CRM = "RegionSoft CRM"
MAIL = "RegionSoft Mail"

HANDOVER = "2025-01-15T12:00:00+03:00"  # R-PTP-6: free month [2025-01-15 12:00, 2025-02-15 12:00)
FREE_MONTH_ENDS = "2025-02-15T12:00:00+03:00"

SERVICES_WITH_PRIORITY = {
    activity: "included"
    for activity in (
        "consultation", "bug_fix", "remote_session", "integration",
        "personal_config", "analysis", "repair",
    )
}  # fmt: skip
SERVICES_WITHOUT_PRIORITY = {  # section 4: warranty column, else standard column
    "consultation": "free",
    "bug_fix": "free",
    "remote_session": "diagnostics_only",
    "integration": "billable",
    "analysis": "billable",
    "repair": "billable",
    "personal_config": "not_available",
}


def at(text: str) -> datetime:
    """An instant as the CONTRACT reads it: with an offset, or Moscow time."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=MOSCOW)


def ask(ledger, when: str, known_at: datetime | None = None, client_id: str = CLIENT) -> dict:
    return entitlements(ledger, client_id, at(when), known_at or utc_now())


def releases() -> list[dict]:
    return [
        {"command": "ReleaseVersion", "product": CRM, "version": "8.0", "released_on": "2019-06-01"},
        {"command": "ReleaseVersion", "product": CRM, "version": "9.0", "released_on": "2021-09-01"},
        {"command": "ReleaseVersion", "product": CRM, "version": "10.0", "released_on": "2025-03-03"},
        {"command": "ReleaseVersion", "product": MAIL, "version": "2.0", "released_on": "2018-01-10"},
        {"command": "ReleaseVersion", "product": MAIL, "version": "3.0", "released_on": "2024-12-01"},
    ]


def client(*, licensed: bool = True) -> list[dict]:
    commands = [{"command": "RegisterClient", "client_id": CLIENT, "name": "Acme LLC"}]
    if licensed:
        commands += [
            {"command": "IssueLicense", "client_id": CLIENT, "license_id": "L-1", "product": CRM,
             "issued_on": "2025-01-10"},
            {"command": "HandOverLicenseKey", "client_id": CLIENT, "license_id": "L-1", "at": HANDOVER},
        ]  # fmt: skip
    return commands


def subscribe(at_: str, subscription_id: str = "S-1") -> dict:
    return {"command": "SubscribePriority", "client_id": CLIENT, "subscription_id": subscription_id, "at": at_}


def cancel(at_: str, subscription_id: str = "S-1") -> dict:
    return {"command": "CancelPriority", "client_id": CLIENT, "subscription_id": subscription_id, "at": at_}


def open_ticket(ticket_id: str = "T-1", *, category: str = "question", at_: str = "2025-03-03T11:00:00+03:00",
                product: str = CRM, version: str = "9.0") -> dict:
    command = {
        "command": "OpenTicket", "ticket_id": ticket_id, "client_id": CLIENT, "at": at_,
        "channel": "portal", "subject": "Help", "category": category,
        "product": product, "version": version,
    }  # fmt: skip
    if category == "bug":
        command |= {"build": "9.0.1234", "description": "Crash on save", "screenshot": "err.png"}
    return command


# --- the CONTRACT shape ------------------------------------------------------------------------


def test_contract_shape_of_entitlements(ledger):
    applied(ledger, *releases(), *client())
    known_at = utc_now()
    result = entitlements(ledger, CLIENT, at("2025-01-20T12:00:00+03:00"), known_at)
    assert set(result) == {
        "client_id", "at", "known_at", "priority", "new_versions_included",
        "warranty_versions", "services",
    }  # fmt: skip
    assert set(result["priority"]) == {"active", "sources", "mandatory", "mandatory_reasons", "engineer"}
    assert result["client_id"] == CLIENT
    assert result["at"] == "2025-01-20T12:00:00+03:00"
    assert datetime.fromisoformat(result["known_at"]) == known_at
    assert isinstance(result["priority"]["active"], bool)
    assert isinstance(result["priority"]["mandatory"], bool)
    assert isinstance(result["new_versions_included"], bool)
    assert all(isinstance(v, list) for v in result["warranty_versions"].values())
    assert set(result["services"]) == set(SERVICES_WITH_PRIORITY)
    assert set(result["services"].values()) <= {
        "included", "free", "billable", "diagnostics_only", "not_available",
    }  # fmt: skip
    assert json.loads(json.dumps(result)) == result  # one plain JSON document


def test_unknown_client_is_not_found(ledger):
    with pytest.raises(NotFoundError) as missing:
        ask(ledger, "2025-01-20T12:00:00+03:00", client_id="nobody")
    assert missing.value.field == "client_id"


# --- I-7: sources of priority coverage ----------------------------------------------------------


def test_R_PTP_6_free_first_month_from_key_handover_to_one_month_later(ledger):
    applied(ledger, *client())
    before = ask(ledger, "2025-01-15T11:59:59+03:00")
    assert before["priority"] == {
        "active": False, "sources": [], "mandatory": False, "mandatory_reasons": [], "engineer": None,
    }  # fmt: skip
    assert ask(ledger, HANDOVER)["priority"]["sources"] == ["first_month"]  # half-open: holds at start
    last = ask(ledger, "2025-02-15T11:59:59+03:00")["priority"]
    assert last["active"] and last["sources"] == ["first_month"]
    after = ask(ledger, FREE_MONTH_ENDS)["priority"]  # I-7: not at its end
    assert not after["active"] and after["sources"] == []


def test_R_PTP_6_only_the_first_licence_key_starts_a_free_month(ledger):
    applied(
        ledger, *client(),
        {"command": "IssueLicense", "client_id": CLIENT, "license_id": "L-2", "product": MAIL,
         "issued_on": "2025-05-01"},
        {"command": "HandOverLicenseKey", "client_id": CLIENT, "license_id": "L-2",
         "at": "2025-05-02T10:00:00+03:00"},
    )  # fmt: skip
    assert ask(ledger, "2025-05-10T12:00:00+03:00")["priority"]["active"] is False


def test_R_PTP_1_paid_subscription_gives_paid_source(ledger):
    applied(ledger, *client(licensed=False), subscribe("2025-03-01T00:00:00+03:00"),
            cancel("2025-06-01T00:00:00+03:00"))
    assert ask(ledger, "2025-02-28T23:59:59+03:00")["priority"]["active"] is False
    during = ask(ledger, "2025-03-01T00:00:00+03:00")["priority"]
    assert during["active"] and during["sources"] == ["paid"]
    assert ask(ledger, "2025-05-31T23:59:59+03:00")["priority"]["sources"] == ["paid"]
    assert ask(ledger, "2025-06-01T00:00:00+03:00")["priority"]["sources"] == []  # cancelled


def test_R_PTP_7_pilot_gives_priority_during_and_not_after_EndPilot(ledger):
    applied(
        ledger, *client(licensed=False),
        {"command": "StartPilot", "client_id": CLIENT, "pilot_id": "P-1",
         "at": "2025-04-01T09:00:00+03:00", "contract": "PILOT-7"},
    )  # fmt: skip
    assert ask(ledger, "2025-04-01T08:59:59+03:00")["priority"]["active"] is False
    assert ask(ledger, "2025-04-01T09:00:00+03:00")["priority"]["sources"] == ["pilot"]
    assert ask(ledger, "2026-01-01T00:00:00+03:00")["priority"]["sources"] == ["pilot"]  # not ended yet
    applied(ledger, {"command": "EndPilot", "client_id": CLIENT, "pilot_id": "P-1",
                     "at": "2025-05-20T18:00:00+03:00"})
    assert ask(ledger, "2025-05-20T17:59:59+03:00")["priority"]["sources"] == ["pilot"]
    ended = ask(ledger, "2025-05-20T18:00:00+03:00")["priority"]
    assert not ended["active"] and ended["sources"] == []


def test_I_7_overlapping_sources_are_all_listed(ledger):
    applied(
        ledger, *client(),
        {"command": "StartPilot", "client_id": CLIENT, "pilot_id": "P-1",
         "at": "2025-01-01T10:00:00+03:00", "contract": "PILOT-7"},
        subscribe("2025-02-01T00:00:00+03:00"),
    )  # fmt: skip
    assert ask(ledger, "2025-01-10T12:00:00+03:00")["priority"]["sources"] == ["pilot"]
    assert ask(ledger, "2025-01-20T12:00:00+03:00")["priority"]["sources"] == ["first_month", "pilot"]
    assert ask(ledger, "2025-02-01T12:00:00+03:00")["priority"]["sources"] == ["paid", "first_month", "pilot"]
    assert ask(ledger, FREE_MONTH_ENDS)["priority"]["sources"] == ["paid", "pilot"]


# --- R-PTP-2, R-PTP-3: when priority is mandatory -------------------------------------------------


def test_R_PTP_2_mandatory_while_implementation_is_in_progress(ledger):
    applied(
        ledger, *client(licensed=False),
        {"command": "StartImplementation", "client_id": CLIENT, "at": "2025-02-03T10:00:00+03:00"},
        {"command": "FinishImplementation", "client_id": CLIENT, "at": "2025-06-30T18:00:00+03:00"},
    )  # fmt: skip
    before = ask(ledger, "2025-02-03T09:59:59+03:00")["priority"]
    assert (before["mandatory"], before["mandatory_reasons"]) == (False, [])
    during = ask(ledger, "2025-04-01T12:00:00+03:00")["priority"]
    assert during["mandatory"] is True
    assert len(during["mandatory_reasons"]) == 1
    assert during["mandatory_reasons"][0].startswith("R-PTP-2")
    assert during["active"] is False  # mandatory, yet not subscribed: both facts are shown
    after = ask(ledger, "2025-06-30T18:00:00+03:00")["priority"]
    assert (after["mandatory"], after["mandatory_reasons"]) == (False, [])


def test_R_PTP_3_mandatory_once_a_personal_configuration_is_registered(ledger):
    applied(
        ledger, *client(licensed=False),
        {"command": "RegisterPersonalConfiguration", "client_id": CLIENT,
         "configuration_id": "PC-42", "at": "2025-03-01T10:00:00+03:00"},
    )  # fmt: skip
    assert ask(ledger, "2025-02-28T12:00:00+03:00")["priority"]["mandatory"] is False
    later = ask(ledger, "2027-01-01T12:00:00+03:00")["priority"]  # no end: it stays mandatory
    assert later["mandatory"] is True
    [reason] = later["mandatory_reasons"]
    assert reason.startswith("R-PTP-3") and "PC-42" in reason


def test_R_PTP_2_R_PTP_3_both_reasons_are_listed(ledger):
    applied(
        ledger, *client(licensed=False),
        {"command": "StartImplementation", "client_id": CLIENT, "at": "2025-02-03T10:00:00+03:00"},
        {"command": "RegisterPersonalConfiguration", "client_id": CLIENT,
         "configuration_id": "PC-42", "at": "2025-03-01T10:00:00+03:00"},
    )  # fmt: skip
    reasons = ask(ledger, "2025-03-02T12:00:00+03:00")["priority"]["mandatory_reasons"]
    assert sorted(r.split(":")[0] for r in reasons) == ["R-PTP-2", "R-PTP-3"]


# --- R-PTP-5: the dedicated engineer --------------------------------------------------------------


def test_R_PTP_5_engineer_only_while_priority_is_active(ledger):
    applied(ledger, *client(),
            {"command": "AssignEngineer", "client_id": CLIENT, "engineer": "ivanov",
             "at": "2025-01-16T10:00:00+03:00"})  # fmt: skip
    assert ask(ledger, "2025-01-20T12:00:00+03:00")["priority"]["engineer"] == "ivanov"
    # The free month is over: no priority, so no dedicated engineer (R-PTP-5).
    assert ask(ledger, FREE_MONTH_ENDS)["priority"]["engineer"] is None


def test_R_PTP_5_engineer_is_the_latest_assignment_at_or_before_T(ledger):
    applied(
        ledger, *client(licensed=False), subscribe("2025-01-01T00:00:00+03:00"),
        # Recorded out of valid-time order: the later assignment first.
        {"command": "AssignEngineer", "client_id": CLIENT, "engineer": "petrova",
         "at": "2025-03-01T10:00:00+03:00"},
        {"command": "AssignEngineer", "client_id": CLIENT, "engineer": "ivanov",
         "at": "2025-02-01T10:00:00+03:00"},
    )  # fmt: skip
    assert ask(ledger, "2025-01-31T12:00:00+03:00")["priority"]["engineer"] is None  # none yet
    assert ask(ledger, "2025-02-01T10:00:00+03:00")["priority"]["engineer"] == "ivanov"
    assert ask(ledger, "2025-03-01T09:59:59+03:00")["priority"]["engineer"] == "ivanov"
    assert ask(ledger, "2025-03-01T10:00:00+03:00")["priority"]["engineer"] == "petrova"


def test_R_PTP_5_reassignment_at_the_same_instant_wins(ledger):
    applied(
        ledger, *client(licensed=False), subscribe("2025-01-01T00:00:00+03:00"),
        {"command": "AssignEngineer", "client_id": CLIENT, "engineer": "ivanov",
         "at": "2025-02-01T10:00:00+03:00"},
        {"command": "AssignEngineer", "client_id": CLIENT, "engineer": "petrova",
         "at": "2025-02-01T10:00:00+03:00"},
    )  # fmt: skip
    # The same valid time, recorded later: the latest assignment is petrova's.
    assert ask(ledger, "2025-02-02T12:00:00+03:00")["priority"]["engineer"] == "petrova"


# --- R-PTP-4, I-8: new versions --------------------------------------------------------------------


def test_R_PTP_4_I_8_continuous_since_first_handover_includes_new_versions(ledger):
    # Free month, then paid from the very instant it ends: continuous since the handover.
    applied(ledger, *client(), subscribe(FREE_MONTH_ENDS))
    assert ask(ledger, HANDOVER)["new_versions_included"] is True
    assert ask(ledger, "2025-06-01T12:00:00+03:00")["new_versions_included"] is True


def test_R_PTP_4_I_8_gap_of_a_day_then_twelve_months_needed(ledger):
    # Free month ends 2025-02-15 12:00; paid from 2025-02-16 12:00: a 1-day gap breaks it,
    # so new versions only once the new run is 12 months old (2026-02-16 12:00).
    applied(ledger, *client(), subscribe("2025-02-16T12:00:00+03:00"))
    assert ask(ledger, "2025-02-10T12:00:00+03:00")["new_versions_included"] is True
    assert ask(ledger, "2025-06-01T12:00:00+03:00")["new_versions_included"] is False
    assert ask(ledger, "2026-02-16T11:59:59+03:00")["new_versions_included"] is False
    assert ask(ledger, "2026-02-16T12:00:00+03:00")["new_versions_included"] is True


def test_R_PTP_4_I_8_gap_under_a_day_keeps_continuity(ledger):
    # 2025-02-15 12:00 -> 2025-02-16 11:59: 23 h 59 min, continuity holds.
    applied(ledger, *client(), subscribe("2025-02-16T11:59:00+03:00"))
    assert ask(ledger, "2025-06-01T12:00:00+03:00")["new_versions_included"] is True
    assert ask(ledger, "2025-02-16T06:00:00+03:00")["new_versions_included"] is False  # nothing holds


def test_R_PTP_4_I_8_before_the_first_handover_twelve_months_are_needed(ledger):
    applied(
        ledger, *client(licensed=False),
        {"command": "StartPilot", "client_id": CLIENT, "pilot_id": "P-1",
         "at": "2024-06-01T00:00:00+03:00", "contract": "PILOT-7"},
        {"command": "IssueLicense", "client_id": CLIENT, "license_id": "L-1", "product": CRM,
         "issued_on": "2025-01-10"},
        {"command": "HandOverLicenseKey", "client_id": CLIENT, "license_id": "L-1", "at": HANDOVER},
    )  # fmt: skip
    # At 2024-08-01 the licence is not bought yet and the pilot is 2 months old (I-8: 12 needed).
    assert ask(ledger, "2024-08-01T12:00:00+03:00")["new_versions_included"] is False
    # From the handover on, the run (begun 2024-06-01) is continuous since it: included.
    assert ask(ledger, HANDOVER)["new_versions_included"] is True


# --- R-WTY-5, I-2: warranty versions per product ---------------------------------------------------


def test_R_WTY_5_I_2_warranty_versions_per_product(ledger):
    applied(ledger, *releases(), *client(),
            open_ticket(product=MAIL, version="2.0", at_="2025-01-20T11:00:00+03:00"))
    # CRM at 2025-02-01: current 9.0; previous 8.0 is past 2019-06-01 + 5 y = 2024-06-01.
    # MAIL: current 3.0 (2024-12-01); previous 2.0 until 2018-01-10 + 5 y = 2023-01-10: out.
    assert ask(ledger, "2025-02-01T12:00:00+03:00")["warranty_versions"] == {CRM: ["9.0"], MAIL: ["3.0"]}
    # CRM at 2025-03-03 00:00 Moscow: 10.0 is current, 9.0 the previous (until 2026-09-01).
    assert ask(ledger, "2025-03-03T00:00:00+03:00")["warranty_versions"][CRM] == ["10.0", "9.0"]
    assert ask(ledger, "2026-09-01T00:00:00+03:00")["warranty_versions"][CRM] == ["10.0"]


def test_I_2_warranty_versions_as_known_at_K_ignore_later_releases(ledger):
    applied(ledger, *releases()[:2], *client())
    known_at = ledger.recorded_events()[-1].recorded_at
    applied(ledger, {"command": "ReleaseVersion", "product": CRM, "version": "10.0",
                     "released_on": "2025-03-03"})
    # As known at K: 9.0 current, 8.0 past its 5 years (2024-06-01).
    assert ask(ledger, "2025-04-01T12:00:00+03:00", known_at)["warranty_versions"] == {CRM: ["9.0"]}
    assert ask(ledger, "2025-04-01T12:00:00+03:00")["warranty_versions"] == {CRM: ["10.0", "9.0"]}


# --- section 4: services -----------------------------------------------------------------------------


def test_section_4_services_follow_the_matrix(ledger):
    applied(ledger, *client())
    assert ask(ledger, "2025-01-20T12:00:00+03:00")["services"] == SERVICES_WITH_PRIORITY
    assert ask(ledger, "2025-03-01T12:00:00+03:00")["services"] == SERVICES_WITHOUT_PRIORITY


# --- I-9: record time ------------------------------------------------------------------------------


def test_I_9_known_at_before_SubscribePriority_gives_the_earlier_answer(ledger):
    applied(ledger, *client(licensed=False),
            {"command": "AssignEngineer", "client_id": CLIENT, "engineer": "ivanov",
             "at": "2025-02-01T10:00:00+03:00"})  # fmt: skip
    known_before = ledger.recorded_events()[-1].recorded_at
    # Recorded later, valid from the past (2025-03-01).
    applied(ledger, subscribe("2025-03-01T00:00:00+03:00"))
    when = "2025-04-01T12:00:00+03:00"

    then = ask(ledger, when, known_before)
    assert then["known_at"] == known_before.astimezone(MOSCOW).isoformat()
    assert then["priority"]["active"] is False and then["priority"]["sources"] == []
    assert then["priority"]["engineer"] is None
    assert then["services"] == SERVICES_WITHOUT_PRIORITY

    now = ask(ledger, when)
    assert now["priority"]["sources"] == ["paid"]
    assert now["priority"]["engineer"] == "ivanov"
    assert now["services"] == SERVICES_WITH_PRIORITY


def test_I_9_known_at_before_the_client_was_recorded_is_not_found(ledger):
    applied(ledger, *releases())
    known_at = ledger.recorded_events()[-1].recorded_at
    applied(ledger, *client())
    with pytest.raises(NotFoundError):
        ask(ledger, HANDOVER, known_at)


# --- LogTime: R-PTP-3 is enforced when the work is logged (I-4 step 5) ------------------------------


def log(entry_id: str, activity: str = "personal_config", *, started_at: str = "2025-03-04T11:00:00+03:00",
        ticket_id: str = "T-1", minutes: int = 45) -> dict:
    return {
        "command": "LogTime", "ticket_id": ticket_id, "entry_id": entry_id, "engineer": "ivanov",
        "started_at": started_at, "minutes": minutes, "activity": activity,
    }  # fmt: skip


def test_R_PTP_3_personal_config_work_without_priority_is_refused_and_records_nothing(ledger):
    # The free month ended 2025-02-15; nothing else covers 2025-03-04.
    applied(ledger, *releases(), *client(), open_ticket(category="personal_config"))
    before = event_count(ledger)
    [outcome] = apply(ledger, log("E-1"))
    assert outcome.status == "rejected"
    assert outcome.error.startswith("R-PTP-3")
    assert event_count(ledger) == before
    # Other work on the same ticket is standard support, and is accepted.
    applied(ledger, log("E-2", "consultation"))


def test_R_PTP_3_personal_config_work_refused_even_on_a_question_ticket(ledger):
    applied(ledger, *releases(), *client(licensed=False), open_ticket(category="question"))
    before = event_count(ledger)
    [outcome] = apply(ledger, log("E-1"))
    assert outcome.status == "rejected" and "R-PTP-3" in outcome.error
    assert event_count(ledger) == before


def test_R_PTP_3_personal_config_work_within_the_free_month_is_applied(ledger):
    applied(ledger, *releases(), *client(), open_ticket(category="personal_config", at_="2025-01-20T10:00:00+03:00"))
    applied(ledger, log("E-1", started_at="2025-01-20T11:00:00+03:00"))
    # The same work at the instant the free month ends (half-open, I-7) is refused.
    [outcome] = apply(ledger, log("E-2", started_at=FREE_MONTH_ENDS))
    assert outcome.status == "rejected" and outcome.error.startswith("R-PTP-3")


@pytest.mark.parametrize(
    "coverage",
    [
        {"command": "StartPilot", "client_id": CLIENT, "pilot_id": "P-1",
         "at": "2025-03-01T00:00:00+03:00", "contract": "PILOT-7"},
        {"command": "SubscribePriority", "client_id": CLIENT, "subscription_id": "S-1",
         "at": "2025-03-01T00:00:00+03:00"},
    ],
    ids=["pilot", "paid"],
)  # fmt: skip
def test_R_PTP_3_personal_config_work_with_priority_is_applied(ledger, coverage):
    applied(ledger, *releases(), *client(licensed=False), coverage, open_ticket(category="personal_config"))
    before = event_count(ledger)
    applied(ledger, log("E-1"))
    assert [r.type for r in ledger.recorded_events()[before:]] == ["TimeLogged"]


def test_R_EXC_3_personal_config_work_on_client_change_restore_is_billable_not_refused(ledger):
    # I-4 step 1 (R-EXC-3, paid whatever the tier) decides before step 5 (R-PTP-3).
    applied(ledger, *releases(), *client(licensed=False), open_ticket(category="client_change_restore"))
    applied(ledger, log("E-1"))


def test_R_PTP_3_personal_config_work_on_a_pending_bug_without_priority_is_refused(ledger):
    # No tier but priority allows personal_config (I-4 step 5), whatever the bug's verdict
    # turns out to be: refuse it now rather than discover it on the invoice.
    applied(ledger, *releases(), *client(licensed=False), open_ticket(category="bug"))
    before = event_count(ledger)
    [outcome] = apply(ledger, log("E-1"))
    assert outcome.status == "rejected" and "R-PTP-3" in outcome.error
    assert event_count(ledger) == before


# --- the CLI ------------------------------------------------------------------------------------------


def test_cli_entitlements_json_is_the_projection(ledger, db_url, capsys):
    applied(ledger, *releases(), *client(),
            {"command": "AssignEngineer", "client_id": CLIENT, "engineer": "ivanov",
             "at": "2025-01-16T10:00:00+03:00"})  # fmt: skip
    # Without an offset the instant is Moscow time (CONTRACT.md "Times").
    code = main(["entitlements", CLIENT, "--at", "2025-01-20T12:00", "--json", "--db", db_url])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    printed = json.loads(out)  # exactly one JSON document, nothing else on stdout
    expected = ask(ledger, "2025-01-20T12:00:00+03:00")
    assert printed.pop("known_at") and expected.pop("known_at")
    assert printed == expected
    assert printed["priority"]["engineer"] == "ivanov"


def test_cli_entitlements_known_at(ledger, db_url, capsys):
    applied(ledger, *client(licensed=False))
    known_before = ledger.recorded_events()[-1].recorded_at
    applied(ledger, subscribe("2025-03-01T00:00:00+03:00"))
    code = main(["entitlements", CLIENT, "--at", "2025-04-01T12:00:00+03:00", "--known-at",
                 known_before.isoformat(), "--json", "--db", db_url])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out) == ask(ledger, "2025-04-01T12:00:00+03:00", known_before)
    assert json.loads(out)["priority"]["active"] is False


def test_cli_entitlements_unknown_client_is_one_error_line(ledger, db_url, capsys):
    applied(ledger, *client())
    code = main(["entitlements", "nobody", "--at", "2025-01-20T12:00", "--json", "--db", db_url])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error:")
    assert "client_id" in err
