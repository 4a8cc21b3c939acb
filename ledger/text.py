"""What a name, an id or a text the ledger keeps may hold (issue 16): characters that can be
stored by both stores and shown as they are on every output."""

from __future__ import annotations

import unicodedata

# Characters no name or text of the ledger holds: controls (an escape sequence reaches an
# auditor's terminal; NUL cannot be stored by PostgreSQL), line and paragraph separators
# (they split a line of a command file in some readers), format characters that reorder
# what is shown (bidirectional overrides), lone surrogates, private-use and unassigned code
# points. A text (a reason, a description) may hold line breaks and tabs.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NOT_PRINTABLE = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(value: str, *, multiline: bool = False) -> str:
    """`value` if every character of it can be stored and shown as it is, else ValueError
    naming the first that cannot."""
    if value.isprintable():  # no character of Python's "Other" or "Separator" but space: the usual case
        return value
    for character in value:
        if multiline and character in "\n\t":
            continue
        if unicodedata.category(character) in _NOT_PRINTABLE or character in _BIDI_CONTROLS:
            raise ValueError(f"contains U+{ord(character):04X} ({unicodedata.name(character, 'a control character')}),"
                             " which a name or text of the ledger cannot hold")
    return value
