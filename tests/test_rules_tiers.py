"""The tier of a piece of work (I-4) and the section-4 service matrix (R-EXC-3, R-PTP-3)."""

from __future__ import annotations

import pytest

from ledger.errors import RuleViolationError
from ledger.rules.tiers import services, tier_of_work

# I-4's activities, spelled out here so a change to the vocabulary shows up as a failure.
ACTIVITIES = (
    "consultation", "bug_fix", "remote_session", "integration",
    "personal_config", "analysis", "repair",
)  # fmt: skip
PURPOSE = {"remote_session": "diagnostics"}  # a remote session always carries a purpose
SUPPORT_CATEGORIES = (
    "question", "bug", "environment", "data_recovery", "customization",
    "integration", "personal_config", "client_change_restore",
)  # fmt: skip


def decide(
    activity: str = "consultation",
    *,
    purpose: str | None = None,
    category: str = "question",
    bug_verdict: str | None = None,
    under_warranty: bool = True,
    priority: bool = False,
):
    if activity == "remote_session" and purpose is None:
        purpose = "diagnostics"
    return tier_of_work(
        activity=activity,
        purpose=purpose,
        category=category,
        bug_verdict=bug_verdict,
        under_warranty=under_warranty,
        priority=priority,
    )


# --- I-4 step 1: restoring after the client's own changes is paid (R-EXC-3) -------------------


@pytest.mark.parametrize("activity", ACTIVITIES)
@pytest.mark.parametrize("priority", [False, True])
def test_R_EXC_3_client_change_restore_is_billable_whatever_the_tier(activity, priority):
    # I-4 step 1 comes before priority (step 2), warranty (step 3) and even R-PTP-3 (step 5).
    decision = decide(activity, category="client_change_restore", priority=priority)
    assert decision.tier == "billable"
    assert "R-EXC-3" in decision.rules


# --- I-4 step 2: priority coverage includes the work ------------------------------------------


@pytest.mark.parametrize("activity", ACTIVITIES)
@pytest.mark.parametrize(
    "category", [c for c in SUPPORT_CATEGORIES if c != "client_change_restore"]
)
def test_I_4_step_2_priority_includes_every_activity(activity, category):
    decision = decide(activity, category=category, under_warranty=False, priority=True)
    assert decision.tier == "included"
    assert "I-7" in decision.rules or "R-PTP-1" in decision.rules


def test_I_4_step_2_priority_includes_remote_session_assistance():
    assert decide("remote_session", purpose="assistance", priority=True).tier == "included"


def test_I_4_step_2_priority_includes_work_on_an_unsettled_bug():
    # Step 2 precedes the "pending" rule: under priority nothing is charged either way.
    assert decide("bug_fix", category="bug", bug_verdict=None, priority=True).tier == "included"


# --- I-4: a bug neither confirmed nor rejected is pending -------------------------------------


@pytest.mark.parametrize("activity", ["consultation", "bug_fix", "remote_session", "analysis"])
@pytest.mark.parametrize("under_warranty", [True, False])
def test_I_4_work_on_a_pending_bug_is_pending(activity, under_warranty):
    decision = decide(activity, category="bug", bug_verdict=None, under_warranty=under_warranty)
    assert decision.tier == "pending"


# --- I-4 step 3: free under warranty ----------------------------------------------------------


@pytest.mark.parametrize(
    ("activity", "purpose", "category", "bug_verdict"),
    [
        ("consultation", None, "question", None),  # R-WTY-1: consultations
        ("bug_fix", None, "question", None),
        ("consultation", None, "bug", "confirmed"),
        ("bug_fix", None, "bug", "confirmed"),  # R-WTY-1: fixing confirmed bugs
        ("remote_session", "diagnostics", "question", None),  # section 4: diagnostics only
        ("remote_session", "diagnostics", "bug", "confirmed"),
    ],
)
def test_I_4_step_3_warranty_work_is_free(activity, purpose, category, bug_verdict):
    decision = decide(activity, purpose=purpose, category=category, bug_verdict=bug_verdict)
    assert decision.tier == "free"
    assert "R-WTY-1" in decision.rules


def test_I_4_step_3_remote_session_for_assistance_is_billable_not_warranty():
    # Section 4: warranty allows a remote session for diagnostics only.
    for category, verdict in (("question", None), ("bug", "confirmed")):
        decision = decide("remote_session", purpose="assistance", category=category, bug_verdict=verdict)
        assert decision.tier == "billable"


@pytest.mark.parametrize("activity", ["integration", "analysis", "repair"])
@pytest.mark.parametrize(("category", "bug_verdict"), [("question", None), ("bug", "confirmed")])
def test_I_4_step_4_integration_analysis_repair_are_billable_without_priority(
    activity, category, bug_verdict
):
    # Section 4: warranty column says "no", standard column "paid per actual time".
    decision = decide(activity, category=category, bug_verdict=bug_verdict, under_warranty=True)
    assert decision.tier == "billable"
    assert "R-STP-2" in decision.rules


@pytest.mark.parametrize("activity", ["consultation", "bug_fix", "remote_session"])
def test_I_4_question_on_a_version_out_of_warranty_is_billable(activity):
    # I-4 step 3 needs the version covered (I-2); otherwise step 4: standard, billable.
    assert decide(activity, category="question", under_warranty=False).tier == "billable"


def test_I_4_confirmed_bug_on_a_version_out_of_warranty_is_billable():
    assert decide("bug_fix", category="bug", bug_verdict="confirmed", under_warranty=False).tier == "billable"


@pytest.mark.parametrize("category", ["environment", "data_recovery", "customization", "integration"])
@pytest.mark.parametrize("activity", ["consultation", "bug_fix", "remote_session"])
def test_I_4_R_STP_1_categories_outside_warranty_are_billable(category, activity):
    # A rejected bug reclassified e.g. to `environment` (RejectBug sets the new category).
    assert decide(activity, category=category, bug_verdict="rejected").tier == "billable"
    assert decide(activity, category=category, bug_verdict=None).tier == "billable"


# --- I-4 step 5: personal configurations need priority (R-PTP-3) ------------------------------


@pytest.mark.parametrize(
    ("category", "bug_verdict", "under_warranty"),
    [
        ("question", None, True),
        ("question", None, False),
        ("bug", "confirmed", True),
        ("environment", "rejected", True),
        ("personal_config", None, True),
    ],
)
def test_R_PTP_3_personal_config_without_priority_is_refused(category, bug_verdict, under_warranty):
    with pytest.raises(RuleViolationError) as refused:
        decide("personal_config", category=category, bug_verdict=bug_verdict, under_warranty=under_warranty)
    assert refused.value.rule == "R-PTP-3"
    assert str(refused.value).startswith("R-PTP-3")


def test_R_PTP_3_personal_config_on_a_pending_bug_without_priority_is_refused():
    # I-4 step 5: no verdict can make personal_config work free or standard, so it is refused
    # at once instead of being "pending" and failing once the bug is confirmed.
    with pytest.raises(RuleViolationError) as refused:
        decide("personal_config", category="bug", bug_verdict=None)
    assert refused.value.rule == "R-PTP-3"


# --- section 4: the matrix as `services` reads it ---------------------------------------------


def test_section_4_services_with_priority_are_all_included():
    assert services(priority=True) == {activity: "included" for activity in ACTIVITIES}


def test_section_4_services_without_priority_follow_warranty_then_standard_column():
    assert services(priority=False) == {
        "consultation": "free",  # warranty: yes
        "bug_fix": "free",  # warranty: normal queue
        "remote_session": "diagnostics_only",  # warranty: diagnostics only
        "integration": "billable",  # warranty: no; standard: paid per actual time
        "analysis": "billable",  # R-STP-1 row
        "repair": "billable",  # R-STP-1 row
        "personal_config": "not_available",  # priority only (R-PTP-3)
    }


@pytest.mark.parametrize("priority", [False, True])
def test_section_4_services_agree_with_the_tier_of_work_on_a_covered_question(priority):
    # `services` describes I-4 for a ticket whose version is under warranty: check each
    # activity against tier_of_work so the two cannot drift apart.
    expected_tier = {
        "included": "included", "free": "free", "billable": "billable",
        "diagnostics_only": "free",  # with purpose=diagnostics
    }  # fmt: skip
    for activity, service in services(priority=priority).items():
        if service == "not_available":
            with pytest.raises(RuleViolationError):
                decide(activity, category="question", priority=priority)
        else:
            assert decide(activity, category="question", priority=priority).tier == expected_tier[service]
