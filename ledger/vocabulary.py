"""The regulation's vocabulary: the closed sets of words commands and events may use.

One home for each list, so commands, events, rules and projections agree on spelling.
"""

from __future__ import annotations

from typing import Literal

# Ticket categories a support engineer may assign (I-3).
Category = Literal[
    "question",
    "bug",
    "environment",
    "data_recovery",
    "customization",
    "integration",
    "personal_config",
    "client_change_restore",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]

# Kinds of work the regulation excludes from support altogether (I-3), with the clause.
EXCLUDED_CATEGORIES: dict[str, str] = {
    "installation": "R-EXC-1",
    "training": "R-EXC-1",
    "development": "R-EXC-1",
    "third_party_setup": "R-EXC-1",
    "on_site_deployment": "R-EXC-1",
    "code_review": "R-EXC-2",
}

# Kinds of logged work (I-4) and the remote-session purposes of the section-4 matrix.
Activity = Literal[
    "consultation",
    "bug_fix",
    "remote_session",
    "integration",
    "personal_config",
    "analysis",
    "repair",
]
ACTIVITIES: tuple[str, ...] = Activity.__args__  # type: ignore[attr-defined]
Purpose = Literal["diagnostics", "assistance"]

Channel = Literal["portal", "email", "phone"]  # R-CH-1
CalendarDayKind = Literal["holiday", "working", "shortened"]  # I-1 overrides

# Facts a bug report must carry (R-WTY-3, I-10), in the order a user reads them.
BUG_REPORT_FACTS: tuple[str, ...] = ("product", "version", "build", "description", "screenshot")
