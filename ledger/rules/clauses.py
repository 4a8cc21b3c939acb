"""Where each rule comes from: rule ID → the clause of the Russian original.

The vendor's clients know the regulation ("Регламент технической поддержки клиентов",
RegionSoft, in force from 2019-08-01) by its clause numbers (п. 1.5, п. 2.1.2 …); the ledger
cites rules by ID (R-STP-3, I-7 …, defined in docs/rules.md). `CLAUSES` maps every ID to the
clause(s) it comes from, so a document can print "R-STP-3 (п. 2.1.2)". An interpretation
(I-…) maps to the clause it interprets, or to None where the regulation is silent (I-9).
Section 4 of the original, the service matrix, has no clause number: it is cited "разд. 4".
"""

from __future__ import annotations

import re

CLAUSES: dict[str, str | None] = {
    # 1. Время работы и формат предоставления техподдержки
    "R-CH-1": "п. 1.1–1.4",
    "R-CH-2": "п. 1.2, 2.1.1",
    "R-HRS-1": "п. 1.5",
    "R-HRS-2": "п. 1.5",
    "R-HRS-3": "п. 1.5",
    # 2.1.1 Гарантийная техподдержка (ГТП)
    "R-WTY-1": "п. 2.1.1",
    "R-WTY-2": "п. 2.1.1",
    "R-WTY-3": "п. 2.1.1",
    "R-WTY-4": "п. 2.1.1",
    "R-WTY-5": "п. 2.1.1",
    # 2.1.2 Стандартная техподдержка (СТП)
    "R-STP-1": "п. 2.1.2",
    "R-STP-2": "п. 2.1.2",
    "R-STP-3": "п. 2.1.2",
    # 2.1.3 Приоритетная техподдержка (ПТП); the monthly fee is stated only in the matrix
    "R-PTP-1": "п. 2.1.3, разд. 4",
    "R-PTP-2": "п. 2.1.3",
    "R-PTP-3": "п. 2.1.3",
    "R-PTP-4": "п. 2.1.3",
    "R-PTP-5": "п. 2.1.3",
    "R-PTP-6": "п. 2.1.3",
    "R-PTP-7": "п. 2.1.3",
    # 3. Дополнительные условия
    "R-EXC-1": "п. 3.1",
    "R-EXC-2": "п. 3.2, 3.3",
    "R-EXC-3": "п. 3.2",
    "R-EXC-4": "п. 3.4",
    "R-EXC-5": "п. 3.5",
    # Interpretations: the clause each one interprets
    "I-1": "п. 1.5",
    "I-2": "п. 2.1.1",
    "I-3": "п. 2.1.1, 2.1.2, 3.1, 3.2",
    "I-4": "п. 2.1, разд. 4",
    "I-5": "п. 2.1.2",
    "I-6": "п. 2.1.2, разд. 4",
    "I-7": "п. 2.1.3, разд. 4",
    "I-8": "п. 2.1.3",
    "I-9": None,
    "I-10": "п. 2.1.1",
}


_CITATION = re.compile(r"\b((?:R-[A-Z]+|I)-)(\d+)((?:\.\.\d+|(?:/\d+)+)?)(?![\w-])")


def rule_ids(text: str) -> list[str]:
    """Every rule ID cited in `text`, in order, without repeats; a range is spelled out.

    "R-PTP-1..3" is R-PTP-1, R-PTP-2, R-PTP-3; "R-EXC-1/2" is R-EXC-1 and R-EXC-2.
    """
    found: list[str] = []
    for prefix, first, tail in _CITATION.findall(text):
        if tail.startswith(".."):
            numbers = range(int(first), int(tail[2:]) + 1)
        else:
            numbers = [int(first), *(int(n) for n in tail.split("/")[1:])]
        for number in numbers:
            rule_id = f"{prefix}{number}"
            if rule_id not in found:
                found.append(rule_id)
    return found


def clause_of(rule_id: str) -> str | None:
    """The clause of the Russian original a rule comes from, e.g. "п. 2.1.2" for R-STP-3.

    None where the regulation is silent (an interpretation of the project's own, I-9).
    A citation of several rules ("R-EXC-1/2", "R-PTP-1..7") gives their distinct clauses
    joined by "; ". An ID that is not a rule raises KeyError: every cited ID must be defined.
    """
    rule_id = rule_id.strip()
    if rule_id in CLAUSES:
        return CLAUSES[rule_id]
    members = rule_ids(rule_id)
    unknown = [member for member in members if member not in CLAUSES]
    if not members or unknown or _CITATION.sub("", rule_id).strip(" ,;"):
        raise KeyError(f"{rule_id!r} is not a rule ID of docs/rules.md")
    points: list[str] = []       # "2.1.3", "3.2" … in order of citation
    sections: list[str] = []     # "разд. 4"
    for member in members:
        for part in (CLAUSES[member] or "").removeprefix("п. ").split(", "):
            bucket = sections if part.startswith("разд.") else points
            if part and part not in bucket:
                bucket.append(part)
    cited = ([f"п. {', '.join(points)}"] if points else []) + sections
    return ", ".join(cited) or None
