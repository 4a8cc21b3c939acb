"""The documents' languages: gettext catalogs managed with Babel, and CLDR formats.

English is the source language: every msgid is English and `en` needs no catalog. A
language's catalog is `locale/<lang>/LC_MESSAGES/messages.po`, read and compiled in memory
the first time it is asked for (no compiled .mo file is kept in the repository). Money,
numbers and dates are formatted by Babel from CLDR for the language: `9 000,00 ₽`,
`5 марта 2025 г.`; plural forms come from the catalog's Plural-Forms header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.dates import format_date, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

from ledger.rules.clauses import clause_of
from ledger.timeutil import in_moscow

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "ru")
CURRENCY = "RUB"  # CONTRACT.md: money is Russian roubles


@cache
def translations(lang: str) -> NullTranslations:
    """The catalog of `lang`, compiled in memory once per process (English: the msgids)."""
    if lang == "en":
        return NullTranslations()
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


@dataclass(frozen=True)
class Language:
    """One document language: its translations and its CLDR formats. The method names
    `gettext` and `ngettext` are the keywords pybabel extracts from this package."""

    lang: str

    @property
    def translations(self) -> NullTranslations:
        return translations(self.lang)

    def gettext(self, message: str, **values: object) -> str:
        text = self.translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, count: int | Decimal, **values: object) -> str:
        """A plural form chosen by the catalog for `count` (`%(num)s` is the count as the
        language writes numbers). A fraction takes the form of 2 in both languages
        ("0.5 hours", "0,5 часа")."""
        whole = int(count) if count == int(count) else 2
        return self.translations.ngettext(singular, plural, whole) % {"num": self.number(count), **values}

    # --- CLDR formats ---------------------------------------------------------------------

    def money(self, amount: Decimal | str) -> str:
        return format_currency(Decimal(amount), CURRENCY, locale=self.lang)

    def number(self, value: int | Decimal | str) -> str:
        value = Decimal(value)
        return format_decimal(value.normalize() if value == value.to_integral() else value, locale=self.lang)

    def date(self, day: date | str) -> str:
        """`5 марта 2025 г.`, `March 5, 2025`."""
        return format_date(date.fromisoformat(day) if isinstance(day, str) else day, format="long", locale=self.lang)

    def short_date(self, day: date) -> str:
        """`5 мар.`, `Mar 5`: axis labels."""
        return format_skeleton("MMMd", day, locale=self.lang)

    def month(self, period: str) -> str:
        """`март 2025 г.`, `March 2025`."""
        return format_skeleton("yMMMM", date.fromisoformat(f"{period}-01"), locale=self.lang)

    def instant(self, at: datetime | str) -> str:
        """An instant on the Moscow clock: `5 марта 2025 г., 10:05 МСК`."""
        moment = in_moscow(datetime.fromisoformat(at) if isinstance(at, str) else at)
        return self.gettext("%(date)s, %(time)s Moscow time", date=self.date(moment.date()),
                            time=format_time(moment, "HH:mm", locale=self.lang))

    def rule(self, rule_id: str) -> str:
        """A rule ID with the clause of the Russian original it comes from: `R-STP-3 (п. 2.1.2)`."""
        clause = clause_of(rule_id)
        if clause is None:
            return rule_id
        if self.lang == "en":  # the clause numbers are the original's; only the abbreviations are English
            clause = clause.replace("п. ", "cl. ").replace("разд. ", "sec. ")
        return f"{rule_id} ({clause})"

    def rules(self, rule_ids: tuple[str, ...] | list[str]) -> list[str]:
        return [self.rule(rule_id) for rule_id in rule_ids]
