"""The rules page (docs/rules.md) defines every rule ID the project cites, each with the
clause of the Russian original that ledger/rules/clauses.py gives it, and the project's
documentation links only to files inside the repository (issue 18, item 3)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.rules.clauses import CLAUSES, clause_of, rule_ids

ROOT = Path(__file__).resolve().parent.parent
RULES_PAGE = ROOT / "docs" / "rules.md"
CITING = [ROOT / "ledger", ROOT / "projections", ROOT / "commands", ROOT / "scripts", ROOT / "docs",
          ROOT / "README.md"]

# Anything spelled like a rule ID, misspellings included (R-STP3, I-4): a letter R or I, a
# dash, an optional family and a number, then an optional range (..7) or list (/2/3).
CITATION = re.compile(r"\b([RI]-(?:[A-Z]+-?)?)(\d+)((?:\.\.\d+|(?:/\d+)+)?)(?![\w-])")
# A definition on the rules page: "- **R-STP-3** (п. 2.1.2) …", "- **I-9** (the regulation is silent) …"
DEFINITION = re.compile(r"^- \*\*([RI]-[A-Z0-9-]+)\*\* \(([^)]*)\)", re.MULTILINE)
SILENT = "the regulation is silent"
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def cited_ids(text: str) -> set[str]:
    """Every ID `text` cites, ranges and lists spelled out."""
    found: set[str] = set()
    for prefix, first, tail in CITATION.findall(text):
        if tail.startswith(".."):
            numbers = list(range(int(first), int(tail[2:]) + 1))
        else:
            numbers = [int(first), *(int(n) for n in tail.split("/")[1:])]
        found.update(f"{prefix}{number}" for number in numbers)
    return found


def citing_files() -> list[Path]:
    files: list[Path] = []
    for place in CITING:
        candidates = [place] if place.is_file() else sorted(place.rglob("*"))
        files += [path for path in candidates if path.is_file() and "__pycache__" not in path.parts]
    return files


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None  # a binary file (a font, a compiled catalog) cites nothing a reader sees


def definitions() -> dict[str, str]:
    """Rule ID → the clause the rules page gives it ("" where the regulation is silent)."""
    found: dict[str, str] = {}
    for rule_id, clause in DEFINITION.findall(RULES_PAGE.read_text(encoding="utf-8")):
        assert rule_id not in found, f"{rule_id} is defined twice in docs/rules.md"
        found[rule_id] = "" if clause == SILENT else clause.removeprefix("interprets ")
    return found


def undefined_citations(defined: set[str], files: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Cited ID → the files that cite it, for the IDs not in `defined`."""
    undefined: dict[str, list[str]] = {}
    for name, text in files:
        for rule_id in sorted(cited_ids(text) - defined):
            undefined.setdefault(rule_id, []).append(name)
    return undefined


def test_every_cited_rule_id_is_defined_on_the_rules_page():
    files = [(str(path.relative_to(ROOT)), text) for path in citing_files()
             if (text := text_of(path)) is not None]
    assert any(name == "README.md" for name, _ in files)
    assert sum("R-STP-3" in text for _, text in files) > 3  # the scan reads the code that cites rules
    undefined = undefined_citations(set(definitions()), files)
    assert not undefined, "rule IDs cited but not defined in docs/rules.md: " + "; ".join(
        f"{rule_id} in {', '.join(names)}" for rule_id, names in sorted(undefined.items()))


def test_the_check_fails_on_an_undefined_or_misspelt_id():
    defined = set(definitions())
    assert undefined_citations(defined, [("a.py", "rounded as R-STP-3 and I-4 say")]) == {}
    assert undefined_citations(defined, [("a.py", "see R-STP-9")]) == {"R-STP-9": ["a.py"]}
    assert undefined_citations(defined, [("a.py", "see R-STP3")]) == {"R-STP3": ["a.py"]}
    assert undefined_citations(defined, [("a.py", "R-PTP-1..8")]) == {"R-PTP-8": ["a.py"]}
    assert undefined_citations(defined, [("a.py", "R-EXC-1/2/9, I-11")]) == {"R-EXC-9": ["a.py"], "I-11": ["a.py"]}


def test_ranges_and_lists_are_spelled_out():
    assert cited_ids("R-HRS-1..3 and R-EXC-1/2") == {"R-HRS-1", "R-HRS-2", "R-HRS-3", "R-EXC-1", "R-EXC-2"}
    assert set(rule_ids("R-HRS-1..3 and R-EXC-1/2")) == cited_ids("R-HRS-1..3 and R-EXC-1/2")
    assert cited_ids("ticket T-1001, R-STP-2/3, I-10") == {"R-STP-2", "R-STP-3", "I-10"}


def test_every_rule_on_the_page_has_its_clause_in_the_map_and_they_agree():
    page = definitions()
    assert len(page) == 35  # 2 channels, 3 hours, 5 warranty, 3 standard, 7 priority, 5 exclusions, 10 interpretations
    assert set(page) == set(CLAUSES), (
        f"on the page only: {sorted(set(page) - set(CLAUSES))}; in the map only: {sorted(set(CLAUSES) - set(page))}")
    disagree = {rule_id: (clause, CLAUSES[rule_id]) for rule_id, clause in page.items()
                if clause != (CLAUSES[rule_id] or "")}
    assert not disagree, f"docs/rules.md and ledger/rules/clauses.py disagree (page, map): {disagree}"


@pytest.mark.parametrize(("rule_id", "clause"), [
    ("R-HRS-1", "п. 1.5"),        # «с понедельника по пятницу с 10:00 по 18:00 МСК»
    ("R-WTY-5", "п. 2.1.1"),      # «… не старше 5-ти лет с момента официального выхода»
    ("R-STP-3", "п. 2.1.2"),      # «первый час работы округляется до 30 минут в большую сторону»
    ("R-PTP-6", "п. 2.1.3"),      # «… бесплатно сроком на 1 месяц с момента передачи лицензионного ключа»
    ("R-EXC-3", "п. 3.2"),        # «… исключительно на платной основе и в пределах технической возможности»
    ("I-5", "п. 2.1.2"),          # the rounding unit interprets the rounding clause
    ("I-9", None),                # two time axes: the regulation says nothing
    ("R-EXC-1/2", "п. 3.1, 3.2, 3.3"),
    ("R-PTP-1..7", "п. 2.1.3, разд. 4"),
])
def test_clause_of(rule_id, clause):
    assert clause_of(rule_id) == clause


@pytest.mark.parametrize("not_a_rule", ["R-STP-9", "R-1", "T-1001", "I-4 and more", ""])
def test_clause_of_refuses_what_is_not_a_rule(not_a_rule):
    with pytest.raises(KeyError, match="not a rule ID"):
        clause_of(not_a_rule)


def test_every_clause_cited_exists_in_the_original():
    points = {"1.1", "1.2", "1.3", "1.4", "1.5", "2.1", "2.1.1", "2.1.2", "2.1.3", "3.1", "3.2", "3.3", "3.4", "3.5"}
    for rule_id, clause in CLAUSES.items():
        for part in (clause or "").removeprefix("п. ").split(", "):
            if part and part != "разд. 4":
                first, _, last = part.partition("–")
                assert {first, last or first} <= points, f"{rule_id}: {part} is no clause of the regulation"


def markdown_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def broken_links(page: Path) -> list[str]:
    """The relative links of a markdown page that leave the repository or lead nowhere."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a web address, mailto:, or an anchor on the page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
        elif not path.exists():
            broken.append(f"{target} (no such file)")
    return broken


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_documentation_links_only_inside_the_repository(page):
    assert not broken_links(page), f"{page.relative_to(ROOT)} links to {broken_links(page)}"


def test_the_link_check_fails_on_a_link_outside_or_nowhere(tmp_path, monkeypatch):
    page = ROOT / "docs" / "rules.md"
    text = "[the contract](../../shared/CONTRACT.md), [gone](missing.md), [web](https://example.org), [ok](rules.md#terms)"
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: text if self == page else "")
    assert broken_links(page) == ["../../shared/CONTRACT.md (outside the repository)", "missing.md (no such file)"]
