"""The picture of a period, as inline SVG: a time axis over the period's days, a band per
source of priority coverage (paid, free first month, pilot: I-7), a row per ticket with its
time entries, and vertical markers for the issue of the invoice and the facts learned later.

Instants after the period (the issue, a late fact valid after it) are drawn in a strip to
the right of the axis, in order, each with its date, so the month keeps its scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from ledger.billing.bill import ClientKnowledge
from ledger.rules.coverage import CoverageInterval
from ledger.timeutil import in_moscow, moscow_date, period_bounds, start_of_day
from projections.documents.i18n import Language
from projections.documents.texts import N_

LABELS, AXIS, AFTER, GAP = 190, 500, 110, 14  # widths: row labels, the period, the strip after it
ROW, TOP = 24, 34
SOURCES = {"paid": (N_("priority support, paid"), "#4a78c2"),
           "first_month": (N_("priority support, free first month"), "#5aa469"),
           "pilot": (N_("priority support, pilot project"), "#d79b3a")}
FONT = 'font-family="DejaVu Sans, sans-serif"'


@dataclass(frozen=True)
class Marker:
    at: datetime
    label: str
    colour: str


def period_timeline(lang: Language, knowledge: ClientKnowledge, period: str, markers: list[Marker]) -> Markup:
    first, following = period_bounds(period)
    start, end = start_of_day(first), start_of_day(following)
    coverage = knowledge.coverage()
    tickets = _tickets_with_work(knowledge, start, end)
    rows = len(SOURCES) + max(len(tickets), 1)
    height = TOP + rows * ROW + 46
    width = LABELS + AXIS + GAP + AFTER
    scale = AXIS / (end - start).total_seconds()

    def x(at: datetime) -> float:
        return LABELS + (in_moscow(at) - start).total_seconds() * scale

    title = lang.gettext("The period at a glance")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(lang.month(period))}>',
           f'<title>{escape(title)}</title>']
    out += _axis(lang, first, following, x, height)
    y = TOP
    for source, (words, colour) in SOURCES.items():
        out.append(_label(lang.gettext(words), y))
        for interval in (i for i in coverage if i.source == source and i.overlaps(start, end)):
            out.append(_band(interval, start, end, x, y, colour))
        y += ROW
    if not tickets:
        out.append(_label(lang.gettext("no work logged"), y))
    for ticket_id, entries in tickets:
        out.append(_label(lang.gettext("ticket %(ticket)s", ticket=ticket_id), y))
        out.append(f'<line x1="{LABELS}" y1="{y + ROW / 2:.1f}" x2="{LABELS + AXIS}" y2="{y + ROW / 2:.1f}" '
                   'stroke="#dddddd" stroke-width="1"/>')
        for entry_id, started_at, minutes in entries:
            left = x(started_at)
            span = max(minutes * 60 * scale, 3)
            out.append(f'<rect x="{left:.1f}" y="{y + 5}" width="{span:.1f}" height="{ROW - 10}" fill="#333333">'
                       f'<title>{escape(entry_id)}: {escape(lang.instant(started_at))}</title></rect>')
        y += ROW
    out += _markers(lang, markers, start, end, x, height)
    out.append("</svg>")
    return Markup("".join(out))


def _tickets_with_work(knowledge: ClientKnowledge, start: datetime, end: datetime):
    rows = []
    for ticket_id, ticket in sorted(knowledge.tickets.items()):
        entries = [(entry_id, entry.started_at, entry.minutes) for entry_id, entry in sorted(ticket.entries.items())
                   if not entry.voided and start <= in_moscow(entry.started_at) < end]
        if entries:
            rows.append((ticket_id, entries))
    return rows


def _axis(lang: Language, first: date, following: date, x, height: int) -> list[str]:
    bottom = height - 40
    parts = [f'<line x1="{LABELS}" y1="{bottom}" x2="{LABELS + AXIS}" y2="{bottom}" stroke="#000000"/>']
    day = first
    while day <= following:
        left = x(start_of_day(day))
        labelled = day.day in (1, 8, 15, 22, 29) and day < following
        parts.append(f'<line x1="{left:.1f}" y1="{TOP - 4}" x2="{left:.1f}" y2="{bottom + (5 if labelled else 2)}" '
                     f'stroke="{"#bbbbbb" if labelled else "#eeeeee"}" stroke-width="1"/>')
        if labelled:
            parts.append(f'<text x="{left:.1f}" y="{bottom + 16}" font-size="9" {FONT} text-anchor="middle">'
                         f'{escape(lang.short_date(day))}</text>')
        day += timedelta(days=1)
    after = lang.gettext("after the period")  # (gettext calls stay outside f-strings: pybabel reads them there)
    parts.append(f'<text x="{LABELS + AXIS + GAP + AFTER / 2:.1f}" y="{bottom + 16}" font-size="9" {FONT} '
                 f'text-anchor="middle">{escape(after)}</text>')
    parts.append(f'<line x1="{LABELS + AXIS + GAP}" y1="{bottom}" x2="{LABELS + AXIS + GAP + AFTER}" '
                 f'y2="{bottom}" stroke="#000000" stroke-dasharray="3,3"/>')
    return parts


def _label(text: str, y: float) -> str:
    return (f'<text x="{LABELS - 6}" y="{y + ROW / 2 + 3:.1f}" font-size="9" {FONT} text-anchor="end">'
            f'{escape(text)}</text>')


def _band(interval: CoverageInterval, start: datetime, end: datetime, x, y: float, colour: str) -> str:
    left = x(max(in_moscow(interval.starts_at), start))
    right = x(end if interval.ends_at is None else min(in_moscow(interval.ends_at), end))
    return (f'<rect x="{left:.1f}" y="{y + 4}" width="{max(right - left, 1):.1f}" height="{ROW - 8}" '
            f'fill="{colour}" fill-opacity="0.8"><title>{escape(interval.ref)}</title></rect>')


def _markers(lang: Language, markers: list[Marker], start: datetime, end: datetime, x, height: int) -> list[str]:
    """Markers inside the period at their instant; those after it spread over the strip."""
    bottom = height - 40
    inside = [m for m in markers if start <= in_moscow(m.at) < end]
    after = sorted((m for m in markers if in_moscow(m.at) >= end), key=lambda m: m.at)
    placed = [(x(m.at), m) for m in inside]
    step = AFTER / (len(after) + 1)
    placed += [(LABELS + AXIS + GAP + step * (n + 1), m) for n, m in enumerate(after)]
    parts = []
    for n, (left, marker) in enumerate(placed):
        parts.append(f'<line x1="{left:.1f}" y1="{TOP - 10}" x2="{left:.1f}" y2="{bottom}" stroke="{marker.colour}" '
                     f'stroke-width="1.5" stroke-dasharray="4,2"/>')
        parts.append(f'<text x="{left:.1f}" y="{TOP - 14 - 9 * (n % 2)}" font-size="8" {FONT} text-anchor="middle" '
                     f'fill="{marker.colour}">{escape(marker.label)}</text>')
        parts.append(f'<text x="{left:.1f}" y="{bottom + 28}" font-size="8" {FONT} text-anchor="middle" '
                     f'fill="{marker.colour}">{escape(lang.short_date(moscow_date(marker.at)))}</text>')
    return parts
