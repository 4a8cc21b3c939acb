"""Documents for clients, in Russian and English: the invoice and its explanation, as HTML
(Jinja2 templates) or PDF (WeasyPrint, from the same HTML).

`render_invoice` and `render_explanation` are what `support-ledger invoice|explain --format
html|pdf --lang ru|en` call. The words come from gettext catalogs (`locale/`, managed with
Babel: `i18n.py`), a line's texts from its typed fields (`texts.py`), the figures from the
JSON documents (`content.py`), the period's picture from `timeline.py`.
"""

from __future__ import annotations

from datetime import datetime

from ledger.application import SupportLedger


def render_invoice(ledger: SupportLedger, client_id: str, period: str, known_at: datetime, *,
                   fmt: str, lang: str) -> bytes:
    """The invoice of `period` as known at K, as HTML (UTF-8) or PDF bytes."""
    from projections.documents.content import invoice_content

    return _render(invoice_content, ledger, client_id, period, known_at, fmt, lang)


def render_explanation(ledger: SupportLedger, client_id: str, period: str, known_at: datetime, *,
                       fmt: str, lang: str) -> bytes:
    """Why the invoice says what it says: every line's computation, facts and rules, the
    later adjustments of an issued period, and the period's picture."""
    from projections.documents.content import explanation_content

    return _render(explanation_content, ledger, client_id, period, known_at, fmt, lang)


def _render(content, ledger, client_id, period, known_at, fmt, lang) -> bytes:
    from ledger.errors import InvalidCommandError
    from projections.documents import render
    from projections.documents.i18n import LANGUAGES, Language

    if fmt not in ("html", "pdf"):
        raise InvalidCommandError(f"{fmt!r} is not a document format: choose html or pdf", field="--format")
    if lang not in LANGUAGES:
        raise InvalidCommandError(f"{lang!r} is not a document language: choose {' or '.join(LANGUAGES)}",
                                  field="--lang")
    markup = render.html(content(ledger, client_id, period, known_at, Language(lang)))
    return markup.encode("utf-8") if fmt == "html" else render.pdf(markup)
