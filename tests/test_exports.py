"""Exports finance can open (issue 18, `projections.exports`): the register and the month-end
run as XLSX (sheets "Invoices" and "Lines") and as CSV in two dialects, `csv` for machines and
`csv-excel-ru` for a Russian-locale Excel. Every issued invoice has its rows, zero totals
included, and the money sums to the register's total to the kopeck.

The story (price list of 2025-01-01: norm hour 3000.00, priority month 15000.00), figures by hand:
- ромашка (a Cyrillic client id, ticket ids in Cyrillic too), February: 60 min on Т-1 on 02-03
  → 60 billed (R-STP-3: 30·⌈60/30⌉) → 1 h × 3000.00 = 3000.00, issued on 2025-03-01.
- ромашка, March: 50 + 15 min on Т-1 on 03-03, one ticket-day (I-5) → 65 → 120 billed
  (R-STP-3: 60·⌈65/60⌉) → 2 h × 3000.00 = 6000.00; 45 min on the bug Т-2, neither confirmed nor
  rejected: a pending line of 0.00 (I-4); February's entry corrected from 60 to 90 min after
  February was issued → 120 billed → 6000.00 now − 3000.00 issued = an adjustment of 3000.00
  on March (I-9). March: 6000.00 + 0.00 + 3000.00 = 9000.00.
- globex, March: paid priority from 03-01, 31 of 31 days × 15000.00 / 31 = 15000.00 (I-7).
- idle, March: nothing to bill; its invoice is issued with total 0.00.
March's register: 9000.00 + 15000.00 + 0.00 = 24000.00; every period: 24000.00 + 3000.00 = 27000.00.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import openpyxl
import pytest

from commands.cli import main as cli
from projections.exports import LINE_COLUMNS, invoices_csv, invoices_export, invoices_xlsx
from projections.exports import register_export
from projections.invoice import invoice
from projections.month_end import invoices_for_period
from projections.register import register_document
from tests.builders import correct_time, issue, log, open_ticket, price_list, register, release, subscribe
from tests.support import applied

ROMASHKA = "ромашка"
MARCH_TOTALS = {ROMASHKA: Decimal("9000.00"), "globex": Decimal("15000.00"), "idle": Decimal("0.00")}
MARCH_TOTAL = Decimal("24000.00")  # 9000.00 + 15000.00 + 0.00
EVERY_PERIOD_TOTAL = Decimal("27000.00")  # March's 24000.00 + ромашка's February 3000.00
INVOICE_HEADERS = ("Client", "Period", "Status", "Issued at", "Computed as known at", "Lines", "Total")
LINE_HEADERS = ("Client", "Period", "Status", "Issued at", "Computed as known at", "Key", "Kind", "Description",
                "Quantity", "Unit price", "Amount", "Not charged", "Ticket", "Date", "Minutes worked",
                "Minutes billed", "Adjusts period", "Rules", "Events")
CSV_HEADER = ["client_id", "period", "status", "issued_at", "computed_as_known_at", "key", "kind", "description",
              "quantity", "unit_price", "amount", "not_charged", "ticket_id", "date", "minutes_worked",
              "minutes_billed", "adjusts_period", "rules", "events"]
MONEY_FORMAT = "#,##0.00"
BOM = b"\xef\xbb\xbf"
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def story(ledger, *, issue_march: bool = True):
    applied(
        ledger,
        price_list("2025-01-01", norm_hour="3000.00", priority_month="15000.00"),
        release("9.0", "2024-06-01"),
        register(ROMASHKA, name="ООО «Ромашка»"),
        register("globex"),
        register("idle"),
        open_ticket("Т-1", "environment", client_id=ROMASHKA, at="2025-02-03T09:00"),
        log("Т-1", "E-1", "2025-02-03T10:00", 60),
        issue("2025-02", "2025-03-01T09:00", client_id=ROMASHKA),
        correct_time("Т-1", "E-1", 90, "a longer call, learned in March"),
        log("Т-1", "E-2", "2025-03-03T10:00", 50),
        log("Т-1", "E-3", "2025-03-03T14:00", 15),
        open_ticket("Т-2", "bug", client_id=ROMASHKA, at="2025-03-04T09:00"),
        log("Т-2", "E-1", "2025-03-04T10:00", 45, activity="bug_fix"),
        subscribe("S-1", "2025-03-01T00:00", client_id="globex"),
    )
    if issue_march:
        applied(ledger, *(issue("2025-03", "2025-04-01T09:00", client_id=c) for c in MARCH_TOTALS))
    return ledger


@pytest.fixture
def march(ledger):
    """The story with March issued for every client."""
    return story(ledger)


def documents_of(ledger, period: str = "2025-03") -> list[dict]:
    """The `invoice` query's JSON documents, client by client: what an export must agree with."""
    known_at = ledger.last_recorded_at()
    return [invoice(ledger, client_id, period, known_at) for client_id in MARCH_TOTALS]


def workbook(content: bytes, *, data_only: bool = False) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(content), data_only=data_only)


def table(sheet) -> tuple[tuple, list[tuple], tuple]:
    """A sheet's header, its rows, and its Total row (the last)."""
    rows = list(sheet.iter_rows(values_only=True))
    return rows[0], rows[1:-1], rows[-1]


def kopecks(value) -> Decimal:
    """A numeric cell's value as the Decimal it was written from (XlsxWriter writes the
    Decimal's digits; openpyxl reads them back as an int or a float)."""
    assert isinstance(value, (int, float)) and not isinstance(value, bool), value
    return Decimal(repr(value)).quantize(Decimal("0.01"))


def column(name: str, columns=LINE_COLUMNS) -> int:
    return [c.name for c in columns].index(name)


# --- XLSX ---------------------------------------------------------------------------------------


def test_the_registers_xlsx_has_a_row_per_issued_invoice_and_totals_that_sum_to_the_register_i_9(march):
    known_at = march.last_recorded_at()
    content = register_export(march, known_at, period="2025-03", fmt="xlsx")
    book = workbook(content)
    assert book.sheetnames == ["Invoices", "Lines"]
    sheet = book["Invoices"]
    header, rows, total_row = table(sheet)
    assert header == INVOICE_HEADERS
    # One row per issued invoice, in the register's order, idle's zero total included.
    assert [(r[0], r[1], r[2], r[5]) for r in rows] == [(ROMASHKA, "2025-03", "issued", 3),
                                                         ("globex", "2025-03", "issued", 1),
                                                         ("idle", "2025-03", "issued", 0)]
    totals = {r[0]: kopecks(r[6]) for r in rows}
    assert totals == MARCH_TOTALS
    assert sum(totals.values()) == MARCH_TOTAL == Decimal(register_document(march, known_at, period="2025-03")["total"])
    # Instants are real dates: Moscow wall-clock time, without an offset.
    assert all(r[3] == datetime(2025, 4, 1, 9, 0) for r in rows)
    assert all(isinstance(r[4], datetime) for r in rows)
    for cell in sheet["G"][1:4]:
        assert cell.data_type == "n" and cell.number_format == MONEY_FORMAT
    # The Total row: a SUM formula over the totals, whose cached value is the sum.
    assert total_row[0] == "Total" and total_row[6] == "=SUM(G2:G4)"
    assert sheet["G5"].number_format == MONEY_FORMAT
    assert kopecks(table(workbook(content, data_only=True)["Invoices"])[2][6]) == MARCH_TOTAL
    # Frozen header, autofilter over the rows, widths set.
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:G4"
    widths = {letter: (dimension.min, dimension.max, round(dimension.width))  # XlsxWriter adds its padding
              for letter, dimension in sheet.column_dimensions.items()}
    assert widths["A"] == (1, 1, 17) and widths["D"] == (4, 5, 20)  # the instants share one width


def test_the_registers_xlsx_lines_sum_to_each_invoices_total_with_pending_and_adjustment_lines_i_4_i_9(march):
    content = register_export(march, march.last_recorded_at(), period="2025-03", fmt="xlsx")
    sheet = workbook(content)["Lines"]
    header, rows, total_row = table(sheet)
    assert header == LINE_HEADERS
    amount = column("amount")
    by_client: dict[str, Decimal] = {}
    for row in rows:
        by_client[row[0]] = by_client.get(row[0], Decimal("0.00")) + kopecks(row[amount])
    # idle has no line: its invoice is in "Invoices" only; every other total is its lines' sum.
    assert by_client == {ROMASHKA: Decimal("9000.00"), "globex": Decimal("15000.00")}
    assert total_row[amount] == f"=SUM(K2:K{len(rows) + 1})"
    assert kopecks(table(workbook(content, data_only=True)["Lines"])[2][amount]) == MARCH_TOTAL
    # The rows are the JSON documents' lines, field for field.
    expected = [(d["client_id"], line) for d in documents_of(march) for line in d["lines"]]
    assert len(rows) == len(expected) == 4  # ромашка's three, globex's fee
    for row, (client_id, line) in zip(rows, expected, strict=True):
        values = dict(zip([c.name for c in LINE_COLUMNS], row, strict=True))
        assert values["client_id"] == client_id and values["key"] == line["key"]
        assert kopecks(values["amount"]) == Decimal(line["amount"])
        assert kopecks(values["unit_price"]) == Decimal(line["unit_price"])
        assert Decimal(repr(values["quantity"])) == Decimal(line["quantity"])
        assert values["rules"] == " ".join(line["rules"]) and values["events"] == " ".join(line["events"])
        assert values["minutes_billed"] == line.get("minutes_billed")
    pending = next(dict(zip(header, r)) for r in rows if r[column("not_charged")] == "pending")
    assert pending["Ticket"] == "Т-2" and pending["Amount"] == 0 and pending["Minutes billed"] == 60  # I-4
    assert pending["Date"] == datetime(2025, 3, 4)  # a date is a real date too
    adjustment = next(dict(zip(header, r)) for r in rows if r[column("kind")] == "adjustment")
    assert adjustment["Adjusts period"] == "2025-02" and kopecks(adjustment["Amount"]) == Decimal("3000.00")  # I-9
    for cell in sheet["J"][1:-1] + sheet["K"][1:-1]:
        assert cell.data_type == "n" and cell.number_format == MONEY_FORMAT
    assert sheet["N2"].number_format == "dd.mm.yyyy" and sheet["D2"].number_format == "dd.mm.yyyy hh:mm:ss"


def test_the_whole_register_sums_every_period_and_an_empty_one_has_headers_and_a_zero_total_i_9(march):
    known_at = march.last_recorded_at()
    invoices = table(workbook(register_export(march, known_at, fmt="xlsx"))["Invoices"])[1]
    assert [(r[0], r[1]) for r in invoices][0] == (ROMASHKA, "2025-02")
    assert sum(kopecks(r[6]) for r in invoices) == EVERY_PERIOD_TOTAL == Decimal(register_document(march, known_at)["total"])
    # As known before anything was issued (the story's first second), the register is empty.
    empty = workbook(register_export(march, datetime(2024, 1, 1, 0, 0), fmt="xlsx"), data_only=True)
    for name, headers in (("Invoices", INVOICE_HEADERS), ("Lines", LINE_HEADERS)):
        rows = list(empty[name].iter_rows(values_only=True))
        assert rows[0] == headers and rows[1][0] == "Total" and len(rows) == 2
    assert invoices_csv([]) == (",".join(CSV_HEADER) + "\r\n").encode()


# --- CSV ----------------------------------------------------------------------------------------


def test_the_machine_csv_is_rfc_4180_and_holds_exactly_the_json_documents(march):
    content = register_export(march, march.last_recorded_at(), period="2025-03", fmt="csv")
    assert not content.startswith(BOM)
    assert content.count(b"\r\n") == 6 and b"\n" not in content.replace(b"\r\n", b"")  # header + 5 rows, CRLF
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    assert rows[0] == CSV_HEADER
    records = [dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]]
    expected = []
    for document in documents_of(march):
        computed = datetime.fromisoformat(document["computed_as_known_at"]).replace(microsecond=0).isoformat()
        invoice_fields = {"client_id": document["client_id"], "period": "2025-03", "status": "issued",
                          "issued_at": "2025-04-01T09:00:00+03:00", "computed_as_known_at": computed}
        for line in document["lines"]:
            expected.append({**invoice_fields, "key": line["key"], "kind": line["kind"],
                             "description": line["description"], "quantity": line["quantity"],
                             "unit_price": line["unit_price"], "amount": line["amount"],
                             "not_charged": "pending" if line.get("pending") else "",
                             "ticket_id": line.get("ticket_id", ""), "date": line.get("date", ""),
                             "minutes_worked": str(line.get("minutes_worked", "")),
                             "minutes_billed": str(line.get("minutes_billed", "")),
                             "adjusts_period": line.get("adjusts_period", ""),
                             "rules": " ".join(line["rules"]), "events": " ".join(line["events"])})
        if not document["lines"]:  # the row of an invoice with no lines
            expected.append({**dict.fromkeys(CSV_HEADER, ""), **invoice_fields, "amount": "0.00"})
    assert records == expected
    assert sum(Decimal(r["amount"]) for r in records) == MARCH_TOTAL
    assert {r["client_id"] for r in records} == set(MARCH_TOTALS)  # idle's zero total has its row


def test_the_excel_ru_csv_has_a_bom_semicolons_decimal_commas_and_round_trips_cyrillic(march):
    content = register_export(march, march.last_recorded_at(), period="2025-03", fmt="csv-excel-ru")
    assert content.startswith(BOM) and b"\r\n" in content
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == CSV_HEADER
    records = [dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]]
    machine = [dict(zip(CSV_HEADER, row, strict=True)) for row in csv.reader(io.StringIO(
        register_export(march, march.last_recorded_at(), period="2025-03", fmt="csv").decode(), newline=""))][1:]
    assert len(records) == len(machine) == 5
    first = records[0]
    assert first["client_id"] == ROMASHKA and first["ticket_id"] == "Т-1"  # Cyrillic intact
    assert first["description"] == "Standard support, ticket Т-1 (Subject of Т-1) on 2025-03-03"
    assert (first["quantity"], first["unit_price"], first["amount"]) == ("2,00", "3000,00", "6000,00")
    assert first["issued_at"] == "01.04.2025 09:00" and first["date"] == "03.03.2025"
    for ru, plain in zip(records, machine, strict=True):
        for name in ("quantity", "unit_price", "amount"):  # the same figures, with a decimal comma
            assert "." not in ru[name] and ru[name].replace(",", ".") == plain[name]
        for name in ("client_id", "period", "key", "kind", "description", "rules", "events", "adjusts_period"):
            assert ru[name] == plain[name]
    assert sum(Decimal(r["amount"].replace(",", ".")) for r in records) == MARCH_TOTAL


def test_the_register_and_the_month_end_run_export_the_same_documents_the_same_way(march):
    known_at = march.last_recorded_at()
    month_end_documents = invoices_for_period(march, "2025-03", known_at)
    for fmt in ("csv", "csv-excel-ru"):
        assert register_export(march, known_at, period="2025-03", fmt=fmt) == invoices_export(month_end_documents, fmt)
    for name in ("Invoices", "Lines"):
        assert (list(workbook(register_export(march, known_at, period="2025-03", fmt="xlsx"))[name].values)
                == list(workbook(invoices_xlsx(month_end_documents))[name].values))


def test_a_text_excel_would_run_as_a_formula_is_shown_not_run():
    """Client and ticket ids are a client's own text: in the Excel dialect a leading = + - @
    gets an apostrophe; the machine CSV keeps the text as it is; the XLSX stores it as text."""
    document = {"client_id": "=HYPERLINK(\"http://x\")", "period": "2025-03", "status": "issued",
                "issued_at": "2025-04-01T09:00:00+03:00", "computed_as_known_at": "2025-04-01T09:00:00+03:00",
                "lines": [{"key": "k", "kind": "adjustment", "description": "-1+2", "quantity": "1",
                           "unit_price": "-10.50", "amount": "-10.50", "rules": ["I-9"], "events": ["e#1"]}],
                "total": "-10.50"}
    ru = next(csv.DictReader(io.StringIO(invoices_csv([document], "csv-excel-ru").decode("utf-8-sig")), delimiter=";"))
    assert ru["client_id"] == "'=HYPERLINK(\"http://x\")" and ru["description"] == "'-1+2"
    assert ru["amount"] == "-10,50"  # a negative amount is a number, not a text
    plain = next(csv.DictReader(io.StringIO(invoices_csv([document], "csv").decode())))
    assert plain["client_id"] == document["client_id"] and plain["description"] == "-1+2"
    cell = workbook(invoices_xlsx([document]))["Invoices"]["A2"]
    assert cell.data_type == "s" and cell.value == document["client_id"]


# --- the CLI: support-ledger register --format … --out … -----------------------------------------


def test_register_format_xlsx_writes_the_file_through_the_cli(march, tmp_path, capsys):
    out = tmp_path / "march.xlsx"
    status = cli(["register", "--period", "2025-03", "--format", "xlsx", "--out", str(out), "--db", march.url,
                  "--known-at", march.last_recorded_at().isoformat()])
    assert status == 0, capsys.readouterr().err
    invoices = table(workbook(out.read_bytes())["Invoices"])[1]
    assert sum(kopecks(r[6]) for r in invoices) == MARCH_TOTAL
    for fmt, start in (("csv", b"client_id,"), ("csv-excel-ru", BOM + b"client_id;")):
        path = tmp_path / f"march.{fmt}"
        assert cli(["register", "--format", fmt, "--out", str(path), "--db", march.url]) == 0
        assert path.read_bytes().startswith(start)


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("argv, named", [
    (["--format", "xlsx"], "--out"),
    (["--out", "{tmp}/f.xlsx"], "--format"),
    (["--format", "csv", "--out", "{tmp}/no-such-folder/f.csv"], "--out"),
    (["--format", "csv", "--out", "{tmp}"], "--out"),
    (["--format", "csv", "--json", "--out", "{tmp}/f.csv"], "--format"),
    (["--format", "csv", "--client", "nobody", "--out", "{tmp}/f.csv"], "nobody"),
])
def test_register_export_mistakes_end_in_one_line_naming_the_option(march, tmp_path, capsys, argv, named):
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    assert cli(["register", *argv, "--db", march.url]) == 1
    assert named in one_error_line(capsys)
    assert not (tmp_path / "f.csv").exists() and not (tmp_path / "f.xlsx").exists()


# --- the month-end run: --xlsx beside --csv -------------------------------------------------------


def month_end_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scripts_month_end_exports", SCRIPTS / "month_end.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_month_end_writes_the_xlsx_and_the_csv_from_the_same_documents_zero_totals_included(ledger, tmp_path,
                                                                                              capsys):
    story(ledger, issue_march=False)
    csv_path, xlsx_path = tmp_path / "march.csv", tmp_path / "march.xlsx"
    status = month_end_script().main(["--period", "2025-03", "--at", "2025-04-01T09:00", "--csv", str(csv_path),
                                      "--xlsx", str(xlsx_path), "--db", ledger.url])
    assert status == 0
    assert f"total 24000.00; 4 lines in {csv_path} and {xlsx_path}" in capsys.readouterr().out
    register = register_document(ledger, ledger.last_recorded_at(), period="2025-03")
    book = workbook(xlsx_path.read_bytes())
    invoices = table(book["Invoices"])[1]
    assert {r[0]: kopecks(r[6]) for r in invoices} == MARCH_TOTALS  # idle's 0.00 included
    assert sum(kopecks(r[6]) for r in invoices) == MARCH_TOTAL == Decimal(register["total"])
    lines = table(book["Lines"])[1]
    records = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"), newline="")))
    amount, key = column("amount"), column("key")
    assert ([(r[0], r[key], kopecks(r[amount])) for r in lines]
            == [(r["client_id"], r["key"], Decimal(r["amount"])) for r in records if r["key"]])
    (idle,) = [r for r in records if not r["key"]]  # the one invoice with no lines has one row
    assert (idle["client_id"], idle["status"], idle["issued_at"], idle["amount"]) == (
        "idle", "issued", "2025-04-01T09:00:00+03:00", "0.00")
    assert all(idle[name] == "" for name in CSV_HEADER[CSV_HEADER.index("key"):] if name != "amount")


def test_month_end_writes_the_excel_ru_dialect_when_asked(ledger, tmp_path, capsys):
    story(ledger, issue_march=False)
    path = tmp_path / "march.csv"
    assert month_end_script().main(["--period", "2025-03", "--at", "2025-04-01T09:00", "--csv", str(path),
                                    "--csv-dialect", "csv-excel-ru", "--db", ledger.url]) == 0
    content = path.read_bytes()
    assert content.startswith(BOM + b"client_id;period;")
    records = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert sum(Decimal(r["amount"].replace(",", ".")) for r in records) == MARCH_TOTAL


@pytest.mark.parametrize("xlsx", ["{tmp}/no-such-folder/march.xlsx", "{tmp}", "{tmp}/march.csv"])
def test_month_end_checks_its_xlsx_path_before_issuing_anything(ledger, tmp_path, capsys, xlsx):
    story(ledger, issue_march=False)
    status = month_end_script().main(["--period", "2025-03", "--at", "2025-04-01T09:00",
                                      "--csv", str(tmp_path / "march.csv"), "--xlsx", xlsx.replace("{tmp}", str(tmp_path)),
                                      "--db", ledger.url])
    assert status == 1
    assert "--xlsx" in one_error_line(capsys)
    assert register_document(ledger, ledger.last_recorded_at(), period="2025-03")["count"] == 0
    assert not (tmp_path / "march.csv").exists()
