"""Exports finance can open: issued invoices as an XLSX workbook or as a CSV table (issue 18).

Every export is written from invoice documents in the CONTRACT.md form — the month-end run's
(`projections.month_end.invoices_for_period`) or the register's (`register_export`: each
issued invoice of `register --json`, with its lines as issued). The columns are fixed once,
below (`INVOICE_COLUMNS`, `LINE_COLUMNS`); each output only spells the values its own way.

**XLSX** (XlsxWriter), two sheets, each with a frozen header row, an autofilter over its rows,
column widths, and under the rows a "Total" row whose cell is a `SUM` formula (its cached
value is the exact sum, so a reader that does not recalculate sees it too):

- "Invoices": one row per issued invoice, zero totals included — Client, Period, Status,
  Issued at, Computed as known at, Lines (how many), Total; the Total row sums Total.
- "Lines": one row per invoice line — the invoice's Client, Period, Status, Issued at and
  Computed as known at, then Key, Kind, Description, Quantity, Unit price, Amount, Not charged
  (`pending`: a bug's verdict is awaited, I-4; `needs_decision`: R-PTP-3), Ticket, Date,
  Minutes worked, Minutes billed, Adjusts period (I-9), Rules, Events; the Total row sums
  Amount. An invoice with no lines has its row in "Invoices" only.

Money is a numeric cell with the format `#,##0.00`. XlsxWriter takes numbers as floats, so a
Decimal becomes a float only at the cell boundary (`_number`); XlsxWriter writes a float as
its 16 significant digits, which for any amount under 10^14 roubles are exactly the
Decimal's own digits: the file holds the kopecks exactly. Instants and dates are real Excel
dates: Excel has no time zones, so an instant is written as Moscow wall-clock time without
an offset (CONTRACT.md "Times": the ledger's local time), formatted `dd.mm.yyyy hh:mm:ss`; a
date is `dd.mm.yyyy`.

**CSV** is one table: one row per line, plus one row for each invoice with no lines (Key,
Kind, Description and the line's other fields empty, amount 0.00), so that every issued
invoice has rows and the amount column sums to the invoices' total. Its header is the
column names of `LINE_COLUMNS` (`client_id`, `period`, …), the same in both dialects:

- `csv`, for machines: RFC 4180 (CRLF line ends, `,` separators, quotes only where needed),
  UTF-8 without a byte-order mark, `.` decimals without grouping, instants in ISO 8601 to the
  second with their offset (Moscow, `+03:00`; fractions of a second are cut off — the
  register's JSON keeps them), dates `YYYY-MM-DD`, lists (rules, events) space-separated.
- `csv-excel-ru`, opened as is by a Russian-locale Excel: UTF-8 with a byte-order mark (else
  Excel reads Cyrillic as cp1251), `;` separators (the locale's list separator), `,` decimals
  without grouping, instants `dd.mm.yyyy hh:mm` in Moscow time, dates `dd.mm.yyyy`, CRLF line
  ends. A text that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
  `'`, so that Excel shows it rather than running it as a formula (client and ticket ids are
  a client's own text). Excel may read the period `2025-03` as a date (that month's first day).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ledger.aggregates import Invoice
from ledger.billing.bill import money
from ledger.timeutil import in_moscow
from projections.register import register_document

if TYPE_CHECKING:
    from ledger.application import SupportLedger

ExportFormat = Literal["xlsx", "csv", "csv-excel-ru"]
ColumnKind = Literal["text", "list", "money", "quantity", "count", "instant", "date"]
ZERO = Decimal("0.00")
CHUNK = 500  # issued invoices whose lines are read together


@dataclass(frozen=True)
class Column:
    name: str  # the CSV header, and the field of the row it shows
    title: str  # the XLSX header
    kind: ColumnKind
    width: int  # in the XLSX, in characters


_INVOICE_HEADER = (
    Column("client_id", "Client", "text", 16),
    Column("period", "Period", "text", 9),
    Column("status", "Status", "text", 8),
    Column("issued_at", "Issued at", "instant", 19),
    Column("computed_as_known_at", "Computed as known at", "instant", 19),
)
INVOICE_COLUMNS = (*_INVOICE_HEADER, Column("lines", "Lines", "count", 7), Column("total", "Total", "money", 14))
LINE_COLUMNS = (
    *_INVOICE_HEADER,
    Column("key", "Key", "text", 30),
    Column("kind", "Kind", "text", 14),
    Column("description", "Description", "text", 60),
    Column("quantity", "Quantity", "quantity", 9),
    Column("unit_price", "Unit price", "money", 12),
    Column("amount", "Amount", "money", 14),
    Column("not_charged", "Not charged", "text", 14),
    Column("ticket_id", "Ticket", "text", 12),
    Column("date", "Date", "date", 11),
    Column("minutes_worked", "Minutes worked", "count", 9),
    Column("minutes_billed", "Minutes billed", "count", 9),
    Column("adjusts_period", "Adjusts period", "text", 9),
    Column("rules", "Rules", "list", 30),
    Column("events", "Events", "list", 40),
)
INVOICE_TOTAL, LINE_TOTAL = "total", "amount"  # the column each sheet's Total row sums


# --- the rows: typed values from the documents ------------------------------------------------


def invoice_row(document: dict[str, Any]) -> dict[str, Any]:
    """An invoice's own fields, typed: instants as datetimes, money as Decimal."""
    return {"client_id": document["client_id"], "period": document["period"], "status": document["status"],
            "issued_at": _instant(document.get("issued_at")),
            "computed_as_known_at": _instant(document.get("computed_as_known_at")),
            "lines": len(document["lines"]), "total": Decimal(document["total"])}


def line_rows(document: dict[str, Any], *, every_invoice: bool = False) -> Iterator[dict[str, Any]]:
    """One row per line of the invoice, typed, with the invoice's own fields; with
    `every_invoice`, an invoice with no lines gives one row of amount 0.00 (the CSV's rule)."""
    header = invoice_row(document)
    for line in document["lines"]:
        yield {**header, "key": line["key"], "kind": line["kind"], "description": line["description"],
               "quantity": Decimal(line["quantity"]), "unit_price": Decimal(line["unit_price"]),
               "amount": Decimal(line["amount"]), "not_charged": _not_charged(line),
               "ticket_id": line.get("ticket_id"),
               "date": None if line.get("date") is None else date.fromisoformat(line["date"]),
               "minutes_worked": line.get("minutes_worked"), "minutes_billed": line.get("minutes_billed"),
               "adjusts_period": line.get("adjusts_period"), "rules": line["rules"], "events": line["events"]}
    if every_invoice and not document["lines"]:
        yield {**header, "amount": ZERO}


def _not_charged(line: dict[str, Any]) -> str | None:
    """Why a line shown on the invoice is not charged: a bug's verdict is awaited (I-4), or a
    person must decide (R-PTP-3)."""
    return "pending" if line.get("pending") else "needs_decision" if line.get("needs_decision") else None


def _instant(text: str | None) -> datetime | None:
    return None if text is None else in_moscow(datetime.fromisoformat(text))


# --- CSV ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvDialect:
    """How one CSV dialect spells the table (the module's docstring says why)."""

    delimiter: str
    encoding: str  # "utf-8-sig" writes the byte-order mark
    decimal_point: str
    instant: Callable[[datetime], str]
    date: Callable[[date], str]
    guards_formulas: bool  # a text Excel would run as a formula gets a leading apostrophe


CSV_DIALECTS: dict[str, CsvDialect] = {
    "csv": CsvDialect(",", "utf-8", ".", lambda at: at.replace(microsecond=0).isoformat(), date.isoformat, False),
    "csv-excel-ru": CsvDialect(";", "utf-8-sig", ",", lambda at: at.strftime("%d.%m.%Y %H:%M"),
                               lambda day: day.strftime("%d.%m.%Y"), True),
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def invoices_csv(documents: Iterable[dict[str, Any]], dialect: str = "csv") -> bytes:
    """The CSV table of the invoices (one row per line, one per invoice with no lines), in
    `dialect`: "csv" (RFC 4180, for machines) or "csv-excel-ru" (for a Russian-locale Excel)."""
    spelling = CSV_DIALECTS[dialect]
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=spelling.delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([column.name for column in LINE_COLUMNS])
    for document in documents:
        for row in line_rows(document, every_invoice=True):
            writer.writerow([_csv_value(row.get(column.name), column.kind, spelling) for column in LINE_COLUMNS])
    return text.getvalue().encode(spelling.encoding)


def _csv_value(value: Any, kind: ColumnKind, spelling: CsvDialect) -> str:
    if value is None:
        return ""
    if kind == "money":
        return money(value).replace(".", spelling.decimal_point)
    if kind == "quantity":
        return f"{value:f}".replace(".", spelling.decimal_point)
    if kind == "count":
        return str(value)
    if kind == "instant":
        return spelling.instant(in_moscow(value))
    if kind == "date":
        return spelling.date(value)
    text = " ".join(value) if kind == "list" else value
    if spelling.guards_formulas and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


# --- XLSX ---------------------------------------------------------------------------------------

CELL_FORMATS = {
    "money": {"num_format": "#,##0.00"},
    "instant": {"num_format": "dd.mm.yyyy hh:mm:ss"},
    "date": {"num_format": "dd.mm.yyyy"},
    "header": {"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"},
    "total label": {"bold": True, "top": 1},
    "total": {"bold": True, "top": 1, "num_format": "#,##0.00"},
}


def invoices_xlsx(documents: Iterable[dict[str, Any]]) -> bytes:
    """The XLSX workbook of the invoices: the sheets "Invoices" and "Lines"."""
    import xlsxwriter  # imported when an export is written (issue 17: the CLI starts without it)

    documents = list(documents)
    buffer = io.BytesIO()
    with xlsxwriter.Workbook(buffer, {"in_memory": True}) as book:
        formats = {name: book.add_format(properties) for name, properties in CELL_FORMATS.items()}
        _sheet(book.add_worksheet("Invoices"), INVOICE_COLUMNS, map(invoice_row, documents), INVOICE_TOTAL, formats)
        _sheet(book.add_worksheet("Lines"), LINE_COLUMNS,
               (row for document in documents for row in line_rows(document)), LINE_TOTAL, formats)
    return buffer.getvalue()


def _sheet(sheet: Any, columns: tuple[Column, ...], rows: Iterable[dict[str, Any]], summed: str,
           formats: dict[str, Any]) -> None:
    """Header, rows, then the Total row: a SUM of the `summed` column, its value cached."""
    from xlsxwriter.utility import xl_rowcol_to_cell

    for number, column in enumerate(columns):
        sheet.write_string(0, number, column.title, formats["header"])
        sheet.set_column(number, number, column.width)
    last, total = 0, ZERO
    for last, row in enumerate(rows, start=1):
        for number, column in enumerate(columns):
            _write_cell(sheet, last, number, row.get(column.name), column.kind, formats)
        total += row[summed]
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, last, len(columns) - 1)
    where = next(number for number, column in enumerate(columns) if column.name == summed)
    sheet.write_string(last + 1, 0, "Total", formats["total label"])
    if last:
        cells = f"{xl_rowcol_to_cell(1, where)}:{xl_rowcol_to_cell(last, where)}"
        sheet.write_formula(last + 1, where, f"=SUM({cells})", formats["total"], _number(total))
    else:
        sheet.write_number(last + 1, where, 0, formats["total"])


def _write_cell(sheet: Any, row: int, column: int, value: Any, kind: ColumnKind, formats: dict[str, Any]) -> None:
    if value is None:
        return
    if kind == "money":
        sheet.write_number(row, column, _number(value), formats["money"])
    elif kind in ("quantity", "count"):
        sheet.write_number(row, column, _number(value) if isinstance(value, Decimal) else value)
    elif kind == "instant":  # Excel has no time zones: Moscow wall-clock time
        sheet.write_datetime(row, column, in_moscow(value).replace(tzinfo=None), formats["instant"])
    elif kind == "date":
        sheet.write_datetime(row, column, datetime.combine(value, time.min), formats["date"])
    else:  # write_string: a text is never taken for a formula or a link
        sheet.write_string(row, column, " ".join(value) if kind == "list" else value)


def _number(amount: Decimal) -> float:
    """The cell boundary: XlsxWriter takes a float, and writes its 16 significant digits —
    the Decimal's own for any amount under 10^14 (see the module's docstring)."""
    return float(amount)


# --- what the CLI and the month-end run call ------------------------------------------------------


def invoices_export(documents: Iterable[dict[str, Any]], fmt: ExportFormat) -> bytes:
    """The invoices in the export format `fmt`: "xlsx", "csv" or "csv-excel-ru"."""
    if fmt == "xlsx":
        return invoices_xlsx(documents)
    if fmt not in CSV_DIALECTS:
        raise ValueError(f"unknown export format {fmt!r}: xlsx, csv or csv-excel-ru")
    return invoices_csv(documents, fmt)


def register_export(ledger: SupportLedger, known_at: datetime, *, period: str | None = None,
                    client_id: str | None = None, fmt: ExportFormat) -> bytes:
    """The register as known at K (of one period or client, if given) as an export: the
    same invoices, in the same order, as `register --json`, each with its lines as issued."""
    register = register_document(ledger, known_at, period=period, client_id=client_id)
    return invoices_export(issued_documents(ledger, register["invoices"]), fmt)


def issued_documents(ledger: SupportLedger, invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The register's invoices (`RegisterRow.document()`) with their lines, as issued. An
    issued invoice's stream is its one `InvoiceIssued` event (I-9: it never changes), so
    reading it now reads it as it was at any K the register lists it at."""
    documents: list[dict[str, Any]] = []
    for start in range(0, len(invoices), CHUNK):
        chunk = invoices[start : start + CHUNK]
        streams = [Invoice.stream_for(Invoice.key(row["client_id"], row["period"])) for row in chunk]
        issued = ledger.load_streams(streams)
        documents += [{**row, "status": "issued", "lines": issued[stream].lines}  # type: ignore[attr-defined]
                      for row, stream in zip(chunk, streams, strict=True)]
    return documents
