"""What the invoice and explanation documents say, as template values, in one language.

The figures are the JSON documents' (`projections.invoice.invoice_of`, `projections.explain
.explain`): lines are read back from them, never recomputed; only their words change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup

from ledger.application import SupportLedger
from ledger.billing.bill import ClientKnowledge, Line, bill, earliest_unissued_after
from ledger.billing.load import client_for_period
from projections.documents.i18n import Language
from projections.documents.texts import LineText, Texts, event_words
from projections.documents.timeline import Marker, period_timeline
from projections.explain import event_documents, explain_of
from projections.invoice import invoice_of

ISSUE_COLOUR, LATE_COLOUR = "#b22222", "#7b3fa0"


@dataclass
class Adjustment:
    """A later correction of an issued period: the invoice that carries it, and the line."""

    holder: str  # the period of the invoice carrying the adjustment
    holder_status: str  # issued, draft
    holder_issued_at: str | None
    line: LineText


@dataclass
class Document:
    lang: Language
    kind: str  # invoice, explanation
    client_id: str
    client_name: str
    period: str
    status: str
    known_at: str
    issued_at: str | None
    computed_as_known_at: str | None
    lines: list[LineText]
    total: str
    problems: list[str]
    adjustments: list[Adjustment] = field(default_factory=list)
    timeline: Markup | None = None


def invoice_content(ledger: SupportLedger, client_id: str, period: str, known_at: datetime,
                    lang: Language) -> Document:
    knowledge = client_for_period(ledger, client_id, period, known_at)
    document = invoice_of(knowledge, period)
    texts = Texts(lang, knowledge, event_documents(knowledge))
    lines = [texts.line(Line.from_document(line), period) for line in document["lines"]]
    return _document("invoice", lang, knowledge, document, texts, lines)


def explanation_content(ledger: SupportLedger, client_id: str, period: str, known_at: datetime,
                        lang: Language) -> Document:
    knowledge = client_for_period(ledger, client_id, period, known_at)
    explained = explain_of(knowledge, period)
    events = {e["event_id"]: e for line in explained["lines"] for e in line["events"]}
    texts = Texts(lang, knowledge, events)
    lines = []
    for line in explained["lines"]:
        text = texts.line(Line.from_document({**line, "events": [e["event_id"] for e in line["events"]]}), period)
        text.events = [texts.event(e) for e in line["events"]]
        lines.append(text)
    content = _document("explanation", lang, knowledge, explained, texts, lines)
    late: list[dict[str, Any]] = []
    if explained["status"] == "issued":
        content.adjustments, late = _later_adjustments(ledger, knowledge, period, lang)
    markers = _markers(lang, knowledge, period, late)
    content.timeline = period_timeline(lang, knowledge, period, markers)
    return content


def _document(kind: str, lang: Language, knowledge: ClientKnowledge, document: dict[str, Any], texts: Texts,
              lines: list[LineText]) -> Document:
    return Document(
        lang=lang, kind=kind, client_id=document["client_id"], client_name=knowledge.client.name,
        period=document["period"], status=document["status"], known_at=lang.instant(document["known_at"]),
        issued_at=lang.instant(document["issued_at"]) if "issued_at" in document else None,
        computed_as_known_at=(lang.instant(document["computed_as_known_at"])
                              if "computed_as_known_at" in document else None),
        lines=lines, total=lang.money(document["total"]),
        problems=[texts.problem(problem) for problem in document["problems"]],
    )


def _later_adjustments(ledger: SupportLedger, knowledge: ClientKnowledge, period: str,
                       lang: Language) -> tuple[list[Adjustment], list[dict[str, Any]]]:
    """Every adjustment of the issued `period` (I-9): on the invoices issued since, then on
    the draft it would land on now; and the events that caused them."""
    adjustments: list[Adjustment] = []
    causes: list[dict[str, Any]] = []

    def add(texts: Texts, line: Line, holder: str, status: str, issued_at: str | None) -> None:
        events = [texts.events[e] for e in line.events if e in texts.events]
        text = texts.line(line, holder)
        text.events = [texts.event(e) for e in events]
        adjustments.append(Adjustment(holder=holder, holder_status=status, holder_issued_at=issued_at, line=text))
        causes.extend(events)

    texts = Texts(lang, knowledge, event_documents(knowledge))
    for holder, invoice in sorted(knowledge.invoices.items()):
        for document in invoice.lines:
            if document["kind"] == "adjustment" and document.get("adjusts_period") == period:
                add(texts, Line.from_document(document), holder, "issued", lang.instant(invoice.issued_at))
    draft = earliest_unissued_after(period, set(knowledge.invoices))
    later = client_for_period(ledger, knowledge.client.client_id, draft, knowledge.known_at)
    texts = Texts(lang, later, event_documents(later))
    for line in bill(later, draft).lines:
        if line.kind == "adjustment" and line.adjusts_period == period:
            add(texts, line, draft, "draft", None)
    return adjustments, causes


def _markers(lang: Language, knowledge: ClientKnowledge, period: str, late: list[dict[str, Any]]) -> list[Marker]:
    markers = []
    invoice = knowledge.invoices.get(period)
    if invoice is not None:
        markers.append(Marker(invoice.issued_at, lang.gettext("invoice issued"), ISSUE_COLOUR))
    seen = set()
    for event in late:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        recorded = datetime.fromisoformat(event["recorded_at"])
        valid = datetime.fromisoformat(event["valid_at"])
        label = lang.gettext("learned %(date)s: %(what)s", date=lang.short_date(recorded.date()),
                             what=event_words(lang, event["type"]))
        markers.append(Marker(valid, label, LATE_COLOUR))
    return markers
