"""The warranty window: R-WTY-5 as read by I-2 (current version, previous one for 5 years)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ledger.rules.warranty import Release, covered_versions, is_under_warranty, released_by
from ledger.timeutil import MOSCOW

CRM = "RegionSoft CRM"
MAIL = "RegionSoft Mail"

# Oldest first. 8.0 + 5 years = 2024-06-01; 9.0 + 5 years = 2026-09-01.
RELEASES = [
    Release(CRM, "7.0", date(2016, 2, 1)),
    Release(CRM, "8.0", date(2019, 6, 1)),
    Release(CRM, "9.0", date(2021, 9, 1)),
    Release(CRM, "10.0", date(2025, 3, 3)),
    Release(MAIL, "3.0", date(2024, 12, 1)),  # another product: never counts for CRM
]

_MICROSECOND = timedelta(microseconds=1)


def msk(text: str) -> datetime:
    """A Moscow wall-clock instant, "YYYY-MM-DD HH:MM[:SS]"."""
    return datetime.fromisoformat(text).replace(tzinfo=MOSCOW)


def test_R_WTY_5_I_2_release_instant_is_midnight_moscow_of_the_release_date():
    assert Release(CRM, "9.0", date(2021, 9, 1)).released_at == msk("2021-09-01 00:00")
    assert Release(CRM, "9.0", date(2021, 9, 1)).released_at.utcoffset() == timedelta(hours=3)


def test_I_2_current_version_is_newest_released_at_or_before_T_and_previous_within_five_years():
    # At 2025-04-01: current 10.0 (2025-03-03); previous 9.0, 2021-09-01 + 5 y = 2026-09-01 > T.
    assert covered_versions(RELEASES, CRM, msk("2025-04-01 12:00")) == ["10.0", "9.0"]


def test_I_2_current_version_takes_over_at_00_00_moscow_of_its_release_date():
    # Just before 10.0 is out, 9.0 is current; 8.0 (2019-06-01 + 5 y = 2024-06-01) is out of
    # warranty by then, so 9.0 alone is covered.
    assert covered_versions(RELEASES, CRM, msk("2025-03-03 00:00") - _MICROSECOND) == ["9.0"]
    assert covered_versions(RELEASES, CRM, msk("2025-03-03 00:00")) == ["10.0", "9.0"]


def test_I_2_a_version_released_after_T_is_not_covered_it_is_not_current_yet():
    at = msk("2025-01-15 12:00")
    assert "10.0" not in covered_versions(RELEASES, CRM, at)
    assert not is_under_warranty(RELEASES, CRM, "10.0", at)
    assert is_under_warranty(RELEASES, CRM, "9.0", at)


def test_R_WTY_5_previous_version_covered_until_five_years_after_its_release():
    # Previous 8.0 released 2019-06-01; current 9.0 from 2021-09-01. R-WTY-5: covered while
    # T < 2019-06-01 + 5 years = 2024-06-01 00:00 Moscow; from that instant on, not.
    anniversary = msk("2024-06-01 00:00")
    assert covered_versions(RELEASES, CRM, anniversary - _MICROSECOND) == ["9.0", "8.0"]
    assert covered_versions(RELEASES, CRM, anniversary) == ["9.0"]
    assert is_under_warranty(RELEASES, CRM, "8.0", msk("2024-05-31 23:59:59"))
    assert not is_under_warranty(RELEASES, CRM, "8.0", anniversary)


def test_R_WTY_5_five_year_boundary_is_moscow_midnight_whatever_the_offset_of_T():
    # 2024-06-01 00:00 Moscow = 2024-05-31 21:00 UTC.
    assert is_under_warranty(
        RELEASES, CRM, "8.0", datetime(2024, 5, 31, 20, 59, 59, tzinfo=timezone.utc)
    )
    assert not is_under_warranty(
        RELEASES, CRM, "8.0", datetime(2024, 5, 31, 21, 0, tzinfo=timezone.utc)
    )


def test_I_2_versions_older_than_the_previous_are_never_covered():
    # I-2: only the previous version gets the 5-year window; a version two behind the current
    # is out even while it is less than 5 years old.
    releases = [
        Release(CRM, "7.0", date(2020, 1, 10)),
        Release(CRM, "8.0", date(2020, 6, 1)),
        Release(CRM, "9.0", date(2021, 1, 1)),
    ]
    at = msk("2021-02-01 12:00")  # 7.0 is 1 year old, yet it is not the previous version
    assert covered_versions(releases, CRM, at) == ["9.0", "8.0"]
    assert not is_under_warranty(releases, CRM, "7.0", at)


def test_I_2_only_the_current_version_when_the_product_has_a_single_release():
    releases = [Release(CRM, "1.0", date(2020, 1, 1))]
    assert covered_versions(releases, CRM, msk("2030-01-01 00:00")) == ["1.0"]


def test_I_2_nothing_released_yet_covers_nothing():
    assert covered_versions(RELEASES, CRM, msk("2016-01-31 23:59")) == []
    assert covered_versions([], CRM, msk("2025-01-01 00:00")) == []
    assert covered_versions(RELEASES, "Unknown product", msk("2025-01-01 00:00")) == []
    assert not is_under_warranty(RELEASES, CRM, "7.0", msk("2016-01-31 23:59"))


def test_I_2_releases_of_other_products_are_ignored():
    # MAIL 3.0 (2024-12-01) is newer than CRM 9.0 but must not become CRM's "current".
    at = msk("2025-01-15 12:00")
    assert covered_versions(RELEASES, CRM, at) == ["9.0"]
    assert covered_versions(RELEASES, MAIL, at) == ["3.0"]
    assert not is_under_warranty(RELEASES, CRM, "3.0", at)
    assert [r.version for r in released_by(RELEASES, MAIL, at)] == ["3.0"]


def test_I_2_release_order_is_by_date_not_by_input_order():
    shuffled = [RELEASES[3], RELEASES[0], RELEASES[2], RELEASES[1]]
    assert covered_versions(shuffled, CRM, msk("2025-04-01 12:00")) == ["10.0", "9.0"]
    assert [r.version for r in released_by(shuffled, CRM, msk("2025-04-01 12:00"))] == [
        "7.0", "8.0", "9.0", "10.0",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2019-05-31 23:59", ["7.0"]),  # 7.0 current; no previous yet
        ("2019-06-01 00:00", ["8.0", "7.0"]),  # 7.0 (2016-02-01) < 5 y old: 2021-02-01
        ("2021-01-31 23:59", ["8.0", "7.0"]),
        ("2021-02-01 00:00", ["8.0"]),  # 7.0 turned 5
        ("2021-09-01 00:00", ["9.0", "8.0"]),
        ("2026-09-01 00:00", ["10.0"]),  # 9.0 turned 5
    ],
)
def test_R_WTY_5_I_2_window_over_the_product_history(at, expected):
    assert covered_versions(RELEASES, CRM, msk(at)) == expected
