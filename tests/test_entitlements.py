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
from tests.builders import (
    CLIENT,
    PRODUCT,
    assign_engineer,
    cancel,
    end_pilot,
    finish_implementation,
    hand_over_key,
    issue_license,
    log,
    open_ticket,
    register,
    register_configuration,
    release,
    start_implementation,
    start_pilot,
    subscribe,
)
from tests.support import apply, applied, event_count

CRM = PRODUCT
MAIL = "RegionSoft Mail"

HANDOVER = "2025-01-15T12:00:00+03:00"  # R-PTP-6: free month [2025-01-15 12:00, 2025-02-15 12:00)
FREE_MONTH_ENDS = "2025-02-15T12:00:00+03:00"
OPENED = "2025-03-03T11:00:00+03:00"  # ticket T-1, unless a test says otherwise
WORKED = "2025-03-04T11:00:00+03:00"  # when work on T-1 is logged: after any free month (R-PTP-6)

RELEASES = [
    release("8.0", "2019-06-01", product=CRM),
    release("9.0", "2021-09-01", product=CRM),
    release("10.0", "2025-03-03", product=CRM),
    release("2.0", "2018-01-10", product=MAIL),
    release("3.0", "2024-12-01", product=MAIL),
]
# The client, registered when the commands are applied (no `at`), and the same client with
# licence L-1 whose key is handed over at HANDOVER.
REGISTERED = register(at=None)
LICENSED = [REGISTERED, issue_license("L-1", "2025-01-10", product=CRM), hand_over_key("L-1", HANDOVER)]

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


# --- the CONTRACT shape ------------------------------------------------------------------------


def test_contract_shape_of_entitlements(ledger):
    applied(ledger, *RELEASES, *LICENSED)
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
    applied(ledger, *LICENSED)
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
    applied(ledger, *LICENSED, issue_license("L-2", "2025-05-01", product=MAIL),
            hand_over_key("L-2", "2025-05-02T10:00:00+03:00"))
    assert ask(ledger, "2025-05-10T12:00:00+03:00")["priority"]["active"] is False


def test_R_PTP_1_paid_subscription_gives_paid_source(ledger):
    applied(ledger, REGISTERED, subscribe("S-1", "2025-03-01T00:00:00+03:00"),
            cancel("S-1", "2025-06-01T00:00:00+03:00"))
    assert ask(ledger, "2025-02-28T23:59:59+03:00")["priority"]["active"] is False
    during = ask(ledger, "2025-03-01T00:00:00+03:00")["priority"]
    assert during["active"] and during["sources"] == ["paid"]
    assert ask(ledger, "2025-05-31T23:59:59+03:00")["priority"]["sources"] == ["paid"]
    assert ask(ledger, "2025-06-01T00:00:00+03:00")["priority"]["sources"] == []  # cancelled


def test_R_PTP_7_pilot_gives_priority_during_and_not_after_EndPilot(ledger):
    applied(ledger, REGISTERED, start_pilot("P-1", "2025-04-01T09:00:00+03:00"))
    assert ask(ledger, "2025-04-01T08:59:59+03:00")["priority"]["active"] is False
    assert ask(ledger, "2025-04-01T09:00:00+03:00")["priority"]["sources"] == ["pilot"]
    assert ask(ledger, "2026-01-01T00:00:00+03:00")["priority"]["sources"] == ["pilot"]  # not ended yet
    applied(ledger, end_pilot("P-1", "2025-05-20T18:00:00+03:00"))
    assert ask(ledger, "2025-05-20T17:59:59+03:00")["priority"]["sources"] == ["pilot"]
    ended = ask(ledger, "2025-05-20T18:00:00+03:00")["priority"]
    assert not ended["active"] and ended["sources"] == []


def test_I_7_overlapping_sources_are_all_listed(ledger):
    applied(ledger, *LICENSED, start_pilot("P-1", "2025-01-01T10:00:00+03:00"),
            subscribe("S-1", "2025-02-01T00:00:00+03:00"))
    assert ask(ledger, "2025-01-10T12:00:00+03:00")["priority"]["sources"] == ["pilot"]
    assert ask(ledger, "2025-01-20T12:00:00+03:00")["priority"]["sources"] == ["first_month", "pilot"]
    assert ask(ledger, "2025-02-01T12:00:00+03:00")["priority"]["sources"] == ["paid", "first_month", "pilot"]
    assert ask(ledger, FREE_MONTH_ENDS)["priority"]["sources"] == ["paid", "pilot"]


# --- R-PTP-2, R-PTP-3: when priority is mandatory -------------------------------------------------


def test_R_PTP_2_mandatory_while_implementation_is_in_progress(ledger):
    applied(ledger, REGISTERED, start_implementation("2025-02-03T10:00:00+03:00"),
            finish_implementation("2025-06-30T18:00:00+03:00"))
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
    applied(ledger, REGISTERED, register_configuration("PC-42", "2025-03-01T10:00:00+03:00"))
    assert ask(ledger, "2025-02-28T12:00:00+03:00")["priority"]["mandatory"] is False
    later = ask(ledger, "2027-01-01T12:00:00+03:00")["priority"]  # no end: it stays mandatory
    assert later["mandatory"] is True
    [reason] = later["mandatory_reasons"]
    assert reason.startswith("R-PTP-3") and "PC-42" in reason


def test_R_PTP_2_R_PTP_3_both_reasons_are_listed(ledger):
    applied(ledger, REGISTERED, start_implementation("2025-02-03T10:00:00+03:00"),
            register_configuration("PC-42", "2025-03-01T10:00:00+03:00"))
    reasons = ask(ledger, "2025-03-02T12:00:00+03:00")["priority"]["mandatory_reasons"]
    assert sorted(r.split(":")[0] for r in reasons) == ["R-PTP-2", "R-PTP-3"]


# --- R-PTP-5: the dedicated engineer --------------------------------------------------------------


def test_R_PTP_5_engineer_only_while_priority_is_active(ledger):
    applied(ledger, *LICENSED, assign_engineer("ivanov", "2025-01-16T10:00:00+03:00"))
    assert ask(ledger, "2025-01-20T12:00:00+03:00")["priority"]["engineer"] == "ivanov"
    # The free month is over: no priority, so no dedicated engineer (R-PTP-5).
    assert ask(ledger, FREE_MONTH_ENDS)["priority"]["engineer"] is None


def test_R_PTP_5_engineer_is_the_latest_assignment_at_or_before_T(ledger):
    applied(ledger, REGISTERED, subscribe("S-1", "2025-01-01T00:00:00+03:00"),
            # Recorded out of valid-time order: the later assignment first.
            assign_engineer("petrova", "2025-03-01T10:00:00+03:00"),
            assign_engineer("ivanov", "2025-02-01T10:00:00+03:00"))
    assert ask(ledger, "2025-01-31T12:00:00+03:00")["priority"]["engineer"] is None  # none yet
    assert ask(ledger, "2025-02-01T10:00:00+03:00")["priority"]["engineer"] == "ivanov"
    assert ask(ledger, "2025-03-01T09:59:59+03:00")["priority"]["engineer"] == "ivanov"
    assert ask(ledger, "2025-03-01T10:00:00+03:00")["priority"]["engineer"] == "petrova"


def test_R_PTP_5_reassignment_at_the_same_instant_wins(ledger):
    applied(ledger, REGISTERED, subscribe("S-1", "2025-01-01T00:00:00+03:00"),
            assign_engineer("ivanov", "2025-02-01T10:00:00+03:00"),
            assign_engineer("petrova", "2025-02-01T10:00:00+03:00"))
    # The same valid time, recorded later: the latest assignment is petrova's.
    assert ask(ledger, "2025-02-02T12:00:00+03:00")["priority"]["engineer"] == "petrova"


# --- R-PTP-4, I-8: new versions --------------------------------------------------------------------


def test_R_PTP_4_I_8_continuous_since_first_handover_includes_new_versions(ledger):
    # Free month, then paid from the very instant it ends: continuous since the handover.
    applied(ledger, *LICENSED, subscribe("S-1", FREE_MONTH_ENDS))
    assert ask(ledger, HANDOVER)["new_versions_included"] is True
    assert ask(ledger, "2025-06-01T12:00:00+03:00")["new_versions_included"] is True


def test_R_PTP_4_I_8_gap_of_a_day_then_twelve_months_needed(ledger):
    # Free month ends 2025-02-15 12:00; paid from 2025-02-16 12:00: a 1-day gap breaks it,
    # so new versions only once the new run is 12 months old (2026-02-16 12:00).
    applied(ledger, *LICENSED, subscribe("S-1", "2025-02-16T12:00:00+03:00"))
    assert ask(ledger, "2025-02-10T12:00:00+03:00")["new_versions_included"] is True
    assert ask(ledger, "2025-06-01T12:00:00+03:00")["new_versions_included"] is False
    assert ask(ledger, "2026-02-16T11:59:59+03:00")["new_versions_included"] is False
    assert ask(ledger, "2026-02-16T12:00:00+03:00")["new_versions_included"] is True


def test_R_PTP_4_I_8_gap_under_a_day_keeps_continuity(ledger):
    # 2025-02-15 12:00 -> 2025-02-16 11:59: 23 h 59 min, continuity holds.
    applied(ledger, *LICENSED, subscribe("S-1", "2025-02-16T11:59:00+03:00"))
    assert ask(ledger, "2025-06-01T12:00:00+03:00")["new_versions_included"] is True
    assert ask(ledger, "2025-02-16T06:00:00+03:00")["new_versions_included"] is False  # nothing holds


def test_R_PTP_4_I_8_before_the_first_handover_twelve_months_are_needed(ledger):
    applied(ledger, REGISTERED, start_pilot("P-1", "2024-06-01T00:00:00+03:00"),
            issue_license("L-1", "2025-01-10"), hand_over_key("L-1", HANDOVER))
    # At 2024-08-01 the licence is not bought yet and the pilot is 2 months old (I-8: 12 needed).
    assert ask(ledger, "2024-08-01T12:00:00+03:00")["new_versions_included"] is False
    # From the handover on, the run (begun 2024-06-01) is continuous since it: included.
    assert ask(ledger, HANDOVER)["new_versions_included"] is True


# --- R-WTY-5, I-2: warranty versions per product ---------------------------------------------------


def test_R_WTY_5_I_2_warranty_versions_per_product(ledger):
    applied(ledger, *RELEASES, *LICENSED,
            open_ticket("T-1", product=MAIL, version="2.0", at="2025-01-20T11:00:00+03:00"))
    # CRM at 2025-02-01: current 9.0; previous 8.0 is past 2019-06-01 + 5 y = 2024-06-01.
    # MAIL: current 3.0 (2024-12-01); previous 2.0 until 2018-01-10 + 5 y = 2023-01-10: out.
    assert ask(ledger, "2025-02-01T12:00:00+03:00")["warranty_versions"] == {CRM: ["9.0"], MAIL: ["3.0"]}
    # CRM at 2025-03-03 00:00 Moscow: 10.0 is current, 9.0 the previous (until 2026-09-01).
    assert ask(ledger, "2025-03-03T00:00:00+03:00")["warranty_versions"][CRM] == ["10.0", "9.0"]
    assert ask(ledger, "2026-09-01T00:00:00+03:00")["warranty_versions"][CRM] == ["10.0"]


def test_I_2_warranty_versions_as_known_at_K_ignore_later_releases(ledger):
    applied(ledger, *RELEASES[:2], *LICENSED)
    known_at = ledger.recorded_events()[-1].recorded_at
    applied(ledger, release("10.0", "2025-03-03"))
    # As known at K: 9.0 current, 8.0 past its 5 years (2024-06-01).
    assert ask(ledger, "2025-04-01T12:00:00+03:00", known_at)["warranty_versions"] == {CRM: ["9.0"]}
    assert ask(ledger, "2025-04-01T12:00:00+03:00")["warranty_versions"] == {CRM: ["10.0", "9.0"]}


# --- section 4: services -----------------------------------------------------------------------------


def test_section_4_services_follow_the_matrix(ledger):
    applied(ledger, *LICENSED)
    assert ask(ledger, "2025-01-20T12:00:00+03:00")["services"] == SERVICES_WITH_PRIORITY
    assert ask(ledger, "2025-03-01T12:00:00+03:00")["services"] == SERVICES_WITHOUT_PRIORITY


# --- I-9: record time ------------------------------------------------------------------------------


def test_I_9_known_at_before_SubscribePriority_gives_the_earlier_answer(ledger):
    applied(ledger, REGISTERED, assign_engineer("ivanov", "2025-02-01T10:00:00+03:00"))
    known_before = ledger.recorded_events()[-1].recorded_at
    # Recorded later, valid from the past (2025-03-01).
    applied(ledger, subscribe("S-1", "2025-03-01T00:00:00+03:00"))
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
    applied(ledger, *RELEASES)
    known_at = ledger.recorded_events()[-1].recorded_at
    applied(ledger, *LICENSED)
    with pytest.raises(NotFoundError):
        ask(ledger, HANDOVER, known_at)


# --- LogTime: R-PTP-3 is enforced when the work is logged (I-4 step 5) ------------------------------


def test_R_PTP_3_personal_config_work_without_priority_is_refused_and_records_nothing(ledger):
    # The free month ended 2025-02-15; nothing else covers 2025-03-04.
    applied(ledger, *RELEASES, *LICENSED, open_ticket("T-1", "personal_config", at=OPENED))
    before = event_count(ledger)
    [outcome] = apply(ledger, log("T-1", "E-1", WORKED, activity="personal_config"))
    assert outcome.status == "rejected"
    assert outcome.error.startswith("R-PTP-3")
    assert event_count(ledger) == before
    # Other work on the same ticket is standard support, and is accepted.
    applied(ledger, log("T-1", "E-2", WORKED, activity="consultation"))


def test_R_PTP_3_personal_config_work_refused_even_on_a_question_ticket(ledger):
    applied(ledger, *RELEASES, REGISTERED, open_ticket("T-1", "question", at=OPENED))
    before = event_count(ledger)
    [outcome] = apply(ledger, log("T-1", "E-1", WORKED, activity="personal_config"))
    assert outcome.status == "rejected" and "R-PTP-3" in outcome.error
    assert event_count(ledger) == before


def test_R_PTP_3_personal_config_work_within_the_free_month_is_applied(ledger):
    applied(ledger, *RELEASES, *LICENSED, open_ticket("T-1", "personal_config", at="2025-01-20T10:00:00+03:00"))
    applied(ledger, log("T-1", "E-1", "2025-01-20T11:00:00+03:00", activity="personal_config"))
    # The same work at the instant the free month ends (half-open, I-7) is refused.
    [outcome] = apply(ledger, log("T-1", "E-2", FREE_MONTH_ENDS, activity="personal_config"))
    assert outcome.status == "rejected" and outcome.error.startswith("R-PTP-3")


@pytest.mark.parametrize("coverage", [start_pilot("P-1", "2025-03-01T00:00:00+03:00"),
                                      subscribe("S-1", "2025-03-01T00:00:00+03:00")], ids=["pilot", "paid"])
def test_R_PTP_3_personal_config_work_with_priority_is_applied(ledger, coverage):
    applied(ledger, *RELEASES, REGISTERED, coverage, open_ticket("T-1", "personal_config", at=OPENED))
    before = event_count(ledger)
    applied(ledger, log("T-1", "E-1", WORKED, activity="personal_config"))
    assert [r.type for r in ledger.recorded_events()[before:]] == ["TimeLogged"]


def test_R_EXC_3_personal_config_work_on_client_change_restore_is_billable_not_refused(ledger):
    # I-4 step 1 (R-EXC-3, paid whatever the tier) decides before step 5 (R-PTP-3).
    applied(ledger, *RELEASES, REGISTERED, open_ticket("T-1", "client_change_restore", at=OPENED))
    applied(ledger, log("T-1", "E-1", WORKED, activity="personal_config"))


def test_R_PTP_3_personal_config_work_on_a_pending_bug_without_priority_is_refused(ledger):
    # No tier but priority allows personal_config (I-4 step 5), whatever the bug's verdict
    # turns out to be: refuse it now rather than discover it on the invoice.
    applied(ledger, *RELEASES, REGISTERED, open_ticket("T-1", "bug", at=OPENED))
    before = event_count(ledger)
    [outcome] = apply(ledger, log("T-1", "E-1", WORKED, activity="personal_config"))
    assert outcome.status == "rejected" and "R-PTP-3" in outcome.error
    assert event_count(ledger) == before


# --- the CLI ------------------------------------------------------------------------------------------


def test_cli_entitlements_json_is_the_projection(ledger, db_url, capsys):
    applied(ledger, *RELEASES, *LICENSED, assign_engineer("ivanov", "2025-01-16T10:00:00+03:00"))
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
    applied(ledger, REGISTERED)
    known_before = ledger.recorded_events()[-1].recorded_at
    applied(ledger, subscribe("S-1", "2025-03-01T00:00:00+03:00"))
    code = main(["entitlements", CLIENT, "--at", "2025-04-01T12:00:00+03:00", "--known-at",
                 known_before.isoformat(), "--json", "--db", db_url])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out) == ask(ledger, "2025-04-01T12:00:00+03:00", known_before)
    assert json.loads(out)["priority"]["active"] is False


def test_cli_entitlements_unknown_client_is_one_error_line(ledger, db_url, capsys):
    applied(ledger, *LICENSED)
    code = main(["entitlements", "nobody", "--at", "2025-01-20T12:00", "--json", "--db", db_url])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error:")
    assert "client_id" in err
