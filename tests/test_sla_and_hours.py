"""The `sla` and `hours` queries (CONTRACT.md) on both stores: support minutes counted only in
support hours (R-HRS-1..3, I-1), calendar overrides through the ledger, record time (I-9), CLI."""

from __future__ import annotations

import json
from datetime import date

import pytest

from commands.cli import main
from ledger.errors import InvalidCommandError, NotFoundError
from ledger.timeutil import utc_now
from projections.support_time import hours, sla
from tests.builders import open_ticket, override_day, register, reopen, resolve, respond
from tests.support import applied

def sla_now(ledger, ticket_id: str = "T-1") -> dict:
    return sla(ledger, ticket_id, utc_now())


def hours_now(ledger, first: str, last: str) -> dict:
    return hours(ledger, date.fromisoformat(first), date.fromisoformat(last), utc_now())


# --- sla: minutes inside support hours only ------------------------------------------------------


def test_R_HRS_1_sla_across_a_weekend(ledger):
    applied(ledger, register(), open_ticket("T-1", at="2025-03-14T17:30:00+03:00"),
            respond("T-1", "2025-03-17T10:30:00+03:00"))
    # Fri 17:30–18:00 = 30, Sat/Sun closed, Mon 10:00–10:30 = 30: 60 support minutes.
    assert sla_now(ledger) == {
        "ticket_id": "T-1",
        "opened_at": "2025-03-14T17:30:00+03:00",
        "first_response_at": "2025-03-17T10:30:00+03:00",
        "resolved_at": None,  # not resolved yet
        "minutes_to_first_response": 60,
        "minutes_to_resolution": None,
    }


def test_sla_nothing_reached_yet_is_null(ledger):
    applied(ledger, register(), open_ticket("T-1", at="2025-03-14T17:30:00+03:00"))
    result = sla_now(ledger)
    assert result["first_response_at"] is None and result["minutes_to_first_response"] is None
    assert result["resolved_at"] is None and result["minutes_to_resolution"] is None


def test_R_HRS_3_sla_across_a_pre_holiday_day(ledger):
    # 2025-03-07 (Fri) precedes March 8 (statutory): closes 17:00. Mar 8–9 closed.
    applied(ledger, register(), open_ticket("T-1", at="2025-03-07T16:00:00+03:00"),
            respond("T-1", "2025-03-10T11:00:00+03:00"), resolve("T-1", "2025-03-10T15:30:00+03:00"))
    result = sla_now(ledger)
    assert result["minutes_to_first_response"] == 60 + 60  # 16:00–17:00 Fri, 10:00–11:00 Mon
    assert result["minutes_to_resolution"] == 60 + 330  # 16:00–17:00 Fri, 10:00–15:30 Mon


def test_R_HRS_2_I_1_sla_across_holidays_and_a_decree_transfer(ledger):
    # 2025-04-30 precedes May 1: closes 17:00 (R-HRS-3). May 1 holiday; May 2 a day off moved
    # from Jan 4 by decree; May 3–4 weekend; May 5–7 full days (May 8 is a moved day off, not a
    # statutory holiday, so May 7 is not pre-holiday); May 8 off, May 9 holiday, May 10–11
    # weekend; May 12 open.
    applied(ledger, register(), open_ticket("T-1", at="2025-04-30T16:30:00+03:00"),
            respond("T-1", "2025-05-05T10:45:00+03:00"), resolve("T-1", "2025-05-12T10:00:00+03:00"))
    result = sla_now(ledger)
    assert result["minutes_to_first_response"] == 30 + 45
    assert result["minutes_to_resolution"] == 30 + 3 * 480


@pytest.mark.parametrize(
    ("opened", "responded", "minutes"),
    [
        ("2025-03-15T12:00:00+03:00", "2025-03-17T10:15:00+03:00", 15),  # opened on a Saturday
        ("2025-03-17T07:00:00+03:00", "2025-03-17T09:59:00+03:00", 0),  # before opening, same day
        ("2025-03-17T07:00:00+03:00", "2025-03-17T10:20:00+03:00", 20),  # clock starts at 10:00
        ("2025-03-17T19:00:00+03:00", "2025-03-18T10:05:00+03:00", 5),  # opened after closing
        ("2025-03-14T14:30:00Z", "2025-03-17T07:30:00Z", 60),  # UTC in, Moscow hours counted
    ],
)
def test_R_HRS_1_sla_ticket_opened_outside_support_hours(ledger, opened, responded, minutes):
    applied(ledger, register(), open_ticket("T-1", at=opened), respond("T-1", responded))
    assert sla_now(ledger)["minutes_to_first_response"] == minutes


def test_sla_instants_are_shown_in_moscow_time(ledger):
    applied(ledger, register(), open_ticket("T-1", at="2025-03-14T14:30:00Z"),
            respond("T-1", "2025-03-17T07:30:00Z"))
    result = sla_now(ledger)
    assert result["opened_at"] == "2025-03-14T17:30:00+03:00"
    assert result["first_response_at"] == "2025-03-17T10:30:00+03:00"


def test_sla_first_response_is_the_first_one(ledger):
    applied(ledger, register(), open_ticket("T-1", at="2025-03-17T10:00:00+03:00"),
            respond("T-1", "2025-03-17T10:40:00+03:00"), respond("T-1", "2025-03-17T15:00:00+03:00"))
    assert sla_now(ledger)["minutes_to_first_response"] == 40


def test_sla_reopened_ticket_has_no_resolution_until_resolved_again(ledger):
    applied(ledger, register(), open_ticket("T-1", at="2025-03-17T10:00:00+03:00"),
            respond("T-1", "2025-03-17T10:30:00+03:00"), resolve("T-1", "2025-03-17T12:00:00+03:00"))
    assert sla_now(ledger)["minutes_to_resolution"] == 120

    applied(ledger, reopen("T-1", "2025-03-18T10:00:00+03:00"))
    reopened = sla_now(ledger)
    assert reopened["resolved_at"] is None and reopened["minutes_to_resolution"] is None
    assert reopened["minutes_to_first_response"] == 30  # the first response stands

    applied(ledger, resolve("T-1", "2025-03-18T11:00:00+03:00"))
    again = sla_now(ledger)
    assert again["resolved_at"] == "2025-03-18T11:00:00+03:00"
    # From opening: Mon 10:00–18:00 = 480, Tue 10:00–11:00 = 60.
    assert again["minutes_to_resolution"] == 480 + 60


def test_I_9_sla_as_known_before_the_response_was_recorded(ledger):
    applied(ledger, register(), open_ticket("T-1", at="2025-03-14T17:30:00+03:00"))
    known_before = ledger.recorded_events()[-1].recorded_at
    applied(ledger, respond("T-1", "2025-03-17T10:30:00+03:00"))
    then = sla(ledger, "T-1", known_before)
    assert then["first_response_at"] is None and then["minutes_to_first_response"] is None
    assert sla_now(ledger)["minutes_to_first_response"] == 60


def test_I_1_calendar_override_in_the_ledger_changes_the_sla(ledger):
    applied(ledger, register(), open_ticket("T-1", at="2025-03-14T17:30:00+03:00"),
            respond("T-1", "2025-03-18T10:30:00+03:00"))
    # Fri 17:30–18:00 = 30, Mon 10:00–18:00 = 480, Tue 10:00–10:30 = 30.
    assert sla_now(ledger)["minutes_to_first_response"] == 30 + 480 + 30
    known_before = ledger.recorded_events()[-1].recorded_at
    applied(ledger, override_day("2025-03-17", "holiday", "test closure"))
    assert sla_now(ledger)["minutes_to_first_response"] == 30 + 30  # Monday now closed
    assert sla(ledger, "T-1", known_before)["minutes_to_first_response"] == 30 + 480 + 30


def test_sla_unknown_ticket_is_not_found(ledger):
    applied(ledger, register())
    with pytest.raises(NotFoundError) as missing:
        sla_now(ledger, "T-404")
    assert missing.value.field == "ticket_id"


# --- hours: one entry per day ---------------------------------------------------------------------


def test_R_HRS_1_to_3_hours_one_entry_per_day_with_times_or_nulls(ledger):
    assert hours_now(ledger, "2025-03-06", "2025-03-10") == {
        "days": [
            {"date": "2025-03-06", "open": "10:00", "close": "18:00", "reason": "рабочий день"},
            {"date": "2025-03-07", "open": "10:00", "close": "17:00", "reason": "предпраздничный день"},
            {"date": "2025-03-08", "open": None, "close": None, "reason": "Международный женский день"},
            {"date": "2025-03-09", "open": None, "close": None, "reason": "выходной"},
            {"date": "2025-03-10", "open": "10:00", "close": "18:00", "reason": "рабочий день"},
        ]
    }


def test_I_1_hours_show_a_day_off_moved_by_decree_and_a_working_saturday(ledger):
    days = {d["date"]: d for d in hours_now(ledger, "2025-05-02", "2025-11-01")["days"]}
    assert days["2025-05-02"] == {
        "date": "2025-05-02", "open": None, "close": None,
        "reason": "Выходной (перенесено с 04.01.2025)",
    }  # fmt: skip
    # 2025-11-01 (Saturday) works for Monday 2025-11-03, which precedes November 4: 17:00.
    saturday = days["2025-11-01"]
    assert (saturday["open"], saturday["close"]) == ("10:00", "17:00")
    assert saturday["reason"]  # a weekend day that is open says why


def test_hours_covers_every_day_of_a_range_both_ends_included(ledger):
    days = hours_now(ledger, "2024-01-01", "2024-12-31")["days"]
    assert len(days) == 366  # 2024 is a leap year
    assert days[0]["date"] == "2024-01-01" and days[-1]["date"] == "2024-12-31"
    assert [date.fromisoformat(d["date"]).toordinal() for d in days] == list(
        range(date(2024, 1, 1).toordinal(), date(2024, 12, 31).toordinal() + 1)
    )
    for day in days:
        assert (day["open"] is None) == (day["close"] is None)
        assert day["open"] in (None, "10:00") and day["close"] in (None, "17:00", "18:00")
        assert day["reason"]


def test_hours_single_day(ledger):
    assert hours_now(ledger, "2025-03-07", "2025-03-07")["days"] == [
        {"date": "2025-03-07", "open": "10:00", "close": "17:00", "reason": "предпраздничный день"}
    ]


def test_hours_to_before_from_is_refused_naming_TO_DATE(ledger):
    with pytest.raises(InvalidCommandError) as refused:
        hours_now(ledger, "2025-03-10", "2025-03-09")
    assert refused.value.field == "TO_DATE"
    assert str(refused.value).startswith("TO_DATE")


def test_I_1_override_through_the_ledger_closes_a_day(ledger):
    # 2021-11-01 was a one-off non-working day (decree) the package does not know.
    applied(ledger, register())
    assert hours_now(ledger, "2021-11-01", "2021-11-01")["days"][0]["open"] == "10:00"
    known_before = ledger.recorded_events()[-1].recorded_at
    applied(ledger, override_day("2021-11-01", "holiday", "нерабочий день (указ Президента)"))
    [day] = hours_now(ledger, "2021-11-01", "2021-11-01")["days"]
    assert (day["open"], day["close"]) == (None, None)
    assert "override" in day["reason"] and "указ Президента" in day["reason"]
    # I-9: as known before the override was recorded, the day was open.
    [then] = hours(ledger, date(2021, 11, 1), date(2021, 11, 1), known_before)["days"]
    assert (then["open"], then["close"]) == ("10:00", "18:00")


@pytest.mark.parametrize(
    ("day", "kind", "expected"),
    [
        ("2021-11-06", "working", ("10:00", "18:00")),  # a Saturday opened by decree
        ("2021-11-02", "shortened", ("10:00", "17:00")),
        ("2021-11-03", "working", ("10:00", "17:00")),  # still precedes November 4 (R-HRS-3)
    ],
)
def test_I_1_override_kinds(ledger, day, kind, expected):
    applied(ledger, override_day(day, kind, "test decree"))
    [result] = hours_now(ledger, day, day)["days"]
    assert (result["open"], result["close"]) == expected


# --- the CLI ----------------------------------------------------------------------------------------


def test_cli_hours_json_is_the_projection(ledger, db_url, capsys):
    applied(ledger, override_day("2021-11-01", "holiday", "нерабочий день (указ Президента)"))
    code = main(["hours", "2021-10-29", "2021-11-08", "--json", "--db", db_url])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert json.loads(out) == hours_now(ledger, "2021-10-29", "2021-11-08")  # one JSON document
    assert len(json.loads(out)["days"]) == 11


def test_cli_hours_to_before_from_is_one_error_line_naming_TO_DATE(db_url, capsys, ledger):  # ledger: the store exists
    code = main(["hours", "2025-03-10", "2025-03-09", "--json", "--db", db_url])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("error: TO_DATE")


def test_cli_sla_json_is_the_projection(ledger, db_url, capsys):
    applied(ledger, register(), open_ticket("T-1", at="2025-03-07T16:00:00+03:00"),
            respond("T-1", "2025-03-10T11:00:00+03:00"))
    code = main(["sla", "T-1", "--json", "--db", db_url])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    printed = json.loads(out)
    assert printed == sla_now(ledger)
    assert printed["minutes_to_first_response"] == 120  # R-HRS-3: 60 on Fri (to 17:00) + 60 Mon


def test_cli_sla_known_at(ledger, db_url, capsys):
    applied(ledger, register(), open_ticket("T-1", at="2025-03-14T17:30:00+03:00"))
    known_before = ledger.recorded_events()[-1].recorded_at
    applied(ledger, respond("T-1", "2025-03-17T10:30:00+03:00"))
    code = main(["sla", "T-1", "--known-at", known_before.isoformat(), "--json", "--db", db_url])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["minutes_to_first_response"] is None


def test_cli_sla_unknown_ticket_is_one_error_line(ledger, db_url, capsys):
    applied(ledger, register())
    code = main(["sla", "T-404", "--json", "--db", db_url])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error:")
    assert "T-404" in err
