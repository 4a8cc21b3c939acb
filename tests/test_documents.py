"""Documents for clients (issue 18 item 1): the invoice and its explanation, in Russian and
English, as HTML and PDF, on both stores. The figures are the JSON invoice's, formatted by
Babel (CLDR) for the language; the words come from the gettext catalog.

The scenario (client acme, hand-computed figures):
- February 2025: the free first month after the key handover of 2025-01-15 10:00 covers
  Feb 1–15 (R-PTP-6, I-7: 15 days); subscription S1 from Feb 15 10:00 is charged Feb 15–28,
  14 of 28 days: 15 000.00 × 14/28 = 7 500.00 (R-PTP-1, I-7). Issued 2025-03-01.
- After the issue a price list is published effective 2025-02-01 (priority 16 800.00): a
  correction of the past (I-6). February's fee is now 16 800.00 × 14/28 = 8 400.00, so the
  March draft carries two adjustments (I-9): −7 500.00 (the line as issued, at the old price
  list) and +8 400.00 (the line as it is now).
- March 2025 (S1 cancelled at 00:00 on March 1: no coverage), standard support at 3 000.00
  per norm hour (R-STP-2, R-STP-3 per ticket-day, I-5): T1 45 min → 1 hour = 3 000.00;
  T3 90 min → 2 hours = 6 000.00; T4 290 min → 5 hours = 15 000.00; the suspected bug T2,
  40 min, neither confirmed nor rejected: pending, 1 hour, 0.00 (I-4).
  Total: 3 000 + 6 000 + 15 000 + 0 − 7 500 + 8 400 = 24 900.00.
"""

from __future__ import annotations

import io
import re
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.numbers import format_currency

from commands.cli import main
from ledger.application import SupportLedger
from ledger.timeutil import in_moscow
from projections.documents import render_explanation, render_invoice
from projections.documents.i18n import LOCALE_DIR, Language
from projections.explain import explain
from projections.invoice import invoice
from tests.builders import (
    cancel,
    hand_over_key,
    issue,
    issue_license,
    log,
    open_ticket,
    price_list,
    register,
    release,
    subscribe,
)
from tests.integrity_support import DEMO_COMMANDS
from tests.support import applied

REPO = Path(__file__).resolve().parents[1]
LATER = datetime.fromisoformat("2030-01-01T00:00+03:00")  # K after everything the tests record
RUSSIAN_TERMS = ("Стандартная техподдержка (СТП)", "нормо-час", "Гарантийная техподдержка (ГТП)",
                 "Приоритетная техподдержка (ПТП)", "абонентская плата")


def plain(text: str) -> str:
    """Whitespace normalised: Babel's no-break spaces (U+00A0, U+202F) and line breaks
    count as one space."""
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ").replace("\u202f", " ")).strip()


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF")
    return plain(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages))


def html_text(content: bytes) -> str:
    """The HTML's text as a reader sees it (tags dropped, entities as characters)."""
    import html

    return plain(html.unescape(re.sub(r"<[^>]+>", " ", content.decode("utf-8"))))


def money(amount: str | Decimal, lang: str) -> str:
    return plain(format_currency(Decimal(amount), "RUB", locale=lang))


# --- the catalog ---------------------------------------------------------------------------


def test_the_template_catalog_is_up_to_date_with_the_templates_and_the_code():
    """Re-extracting with babel (the project's babel.cfg) gives exactly the .pot's messages."""
    method_map, options_map = parse_mapping_cfg(open(REPO / "projections" / "documents" / "babel.cfg"))
    extracted = {message for _file, _line, message, _comments, _context in
                 extract_from_dir(str(REPO), method_map, options_map, keywords=DEFAULT_KEYWORDS)}
    with open(LOCALE_DIR / "messages.pot", "rb") as pot:
        catalog = read_po(pot)
    assert {message.id for message in catalog if message.id} == extracted


def test_every_message_has_a_russian_translation_and_plural_forms():
    with open(LOCALE_DIR / "messages.pot", "rb") as pot:
        template = {message.id for message in read_po(pot) if message.id}
    with open(LOCALE_DIR / "ru" / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalog = read_po(po, locale="ru")
    assert catalog.num_plurals == 3
    translated = {message.id for message in catalog if message.id}
    assert translated == template
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert len(strings) == (3 if message.pluralizable else 1) and all(strings), message.id
    assert not list(LOCALE_DIR.rglob("*.mo")), "compiled catalogs are generated in memory, not kept"


@pytest.mark.parametrize(("count", "hours", "minutes", "days"), [
    (1, "1 час", "1 минута", "1 день"), (2, "2 часа", "2 минуты", "2 дня"), (5, "5 часов", "5 минут", "5 дней"),
    (11, "11 часов", "11 минут", "11 дней"), (21, "21 час", "21 минута", "21 день"),
    (22, "22 часа", "22 минуты", "22 дня"), (Decimal("0.5"), "0,5 часа", "0,5 минуты", "0,5 дня"),
])
def test_russian_plural_forms_come_from_the_catalog(count, hours, minutes, days):
    ru = Language("ru")
    assert ru.ngettext("%(num)s hour", "%(num)s hours", count) == hours
    assert ru.ngettext("%(num)s minute", "%(num)s minutes", count) == minutes
    assert ru.ngettext("%(num)s day", "%(num)s days", count) == days


def test_money_dates_and_clauses_as_cldr_and_the_regulation_write_them():
    ru, en = Language("ru"), Language("en")
    assert plain(ru.money(Decimal("9000.00"))) == "9 000,00 ₽"
    assert en.money(Decimal("9000.00")) == format_currency(Decimal("9000.00"), "RUB", locale="en")
    assert plain(ru.date("2025-03-05")) == "5 марта 2025 г."
    assert en.date("2025-03-05") == "March 5, 2025"
    assert ru.rule("R-STP-3") == "R-STP-3 (п. 2.1.2)"
    assert en.rule("R-STP-3") == "R-STP-3 (cl. 2.1.2)"
    assert ru.rule("I-9") == "I-9"  # the regulation is silent: an interpretation of the project's own


# --- the scenario ------------------------------------------------------------------------------

SCENARIO = [
    release(), price_list(),
    register(), issue_license(), hand_over_key("L1", "2025-01-15T10:00"),
    subscribe("S1", "2025-02-15T10:00"), cancel("S1", "2025-03-01T00:00"),
    issue("2025-02", "2025-03-01T12:00"),
    price_list("2025-02-01", norm_hour="3000.00", priority_month="16800.00"),  # a correction, after the issue
    open_ticket("T1", "environment", at="2025-03-03T10:00", subject="Антивирус блокирует порт"),
    log("T1", "T1/1", "2025-03-03T12:00", 45),
    open_ticket("T2", "bug", at="2025-03-04T10:00", subject="Ошибка при проведении счёта"),
    log("T2", "T2/1", "2025-03-04T12:00", 40, activity="bug_fix"),
    open_ticket("T3", "environment", at="2025-03-05T10:00"),
    log("T3", "T3/1", "2025-03-05T11:00", 90),
    open_ticket("T4", "data_recovery", at="2025-03-06T10:00"),
    log("T4", "T4/1", "2025-03-06T10:00", 290),
]


@pytest.fixture
def scenario(ledger: SupportLedger) -> SupportLedger:
    applied(ledger, *SCENARIO)
    return ledger


def test_the_scenario_figures_are_the_hand_computed_ones(scenario):
    february = invoice(scenario, "acme", "2025-02", LATER)
    assert february["status"] == "issued" and february["total"] == "7500.00"  # 15 000 × 14/28 (I-7)
    assert {line["kind"]: line["amount"] for line in february["lines"]} == {"priority_free": "0.00",
                                                                             "priority_fee": "7500.00"}
    march = invoice(scenario, "acme", "2025-03", LATER)
    assert march["status"] == "draft" and march["total"] == "24900.00"
    assert sorted(line["amount"] for line in march["lines"] if line["kind"] == "adjustment") == ["-7500.00",
                                                                                                "8400.00"]
    assert [line.get("pending") for line in march["lines"] if line.get("ticket_id") == "T2"] == [True]


def rendered(ledger, render, period, fmt, lang) -> str:
    content = render(ledger, "acme", period, LATER, fmt=fmt, lang=lang)
    return pdf_text(content) if fmt == "pdf" else html_text(content)


@pytest.mark.parametrize("period", ["2025-02", "2025-03"])
def test_every_document_in_every_format_and_language_has_the_json_figures(scenario, period):
    document = invoice(scenario, "acme", period, LATER)
    for render in (render_invoice, render_explanation):
        for fmt in ("html", "pdf"):
            for lang in ("ru", "en"):
                text = rendered(scenario, render, period, fmt, lang)
                where = (render.__name__, period, fmt, lang)
                for line in document["lines"]:
                    assert money(line["amount"], lang) in text, (where, line["amount"])
                    assert money(line["unit_price"], lang) in text, (where, line["unit_price"])
                assert money(document["total"], lang) in text, where
                assert "R-PTP-1 (п. 2.1.3, разд. 4)" in text if lang == "ru" else "R-PTP-1 (cl. 2.1.3, sec. 4)" in text
                if lang == "ru":
                    for term in RUSSIAN_TERMS:
                        assert term in text, (where, term)
                    assert "Счёт" in text or "счёта" in text
                else:
                    assert "Standard support" in text or "Priority support" in text


def test_the_russian_invoice_says_each_line_in_the_regulations_terms(scenario):
    march = rendered(scenario, render_invoice, "2025-03", "html", "ru")
    assert "Стандартная техподдержка (СТП), обращение T1 «Антивирус блокирует порт», 3 марта 2025 г." in march
    assert "1 час 3 000,00 ₽ за нормо-час 3 000,00 ₽" in march  # quantity, unit price, amount
    assert "2 часа 3 000,00 ₽ за нормо-час 6 000,00 ₽" in march
    assert "5 часов 3 000,00 ₽ за нормо-час 15 000,00 ₽" in march
    assert "R-STP-3 (п. 2.1.2)" in march and "I-5 (п. 2.1.2)" in march
    # the suspected bug: shown, marked, not charged (I-4)
    assert "обращение T2 «Ошибка при проведении счёта», 4 марта 2025 г. — ожидает решения по ошибке" in march
    assert "ожидает: не оплачивается до решения по ошибке" in march
    assert "Корректировка выставленного счёта за февраль 2025 г.: Абонентская плата за приоритетную " \
           "техподдержку (ПТП), февраль 2025 г.: 14 дней из 28" in march
    assert "Статус черновик" in march and "Итого 24 900,00 ₽" in march
    february = rendered(scenario, render_invoice, "2025-02", "html", "ru")
    assert "Статус выставлен" in february and "Дата выставления 1 марта 2025 г., 12:00 МСК" in february
    assert "первый месяц после передачи лицензионного ключа L1" in february and "15 дней" in february
    assert "15 000,00 ₽ в месяц" in february


def test_an_adjustment_for_work_learned_after_the_issue_is_described_from_its_fields(ledger):
    """Client beta, no priority coverage: January's 30 min on B1 → half an hour, 1 500.00
    (R-STP-3); issued; then 60 min on B2 in January are logged → 1 hour, 3 000.00, a line
    the issued invoice never had: +3 000.00 on the February draft (I-9)."""
    applied(ledger, release(), price_list(), register("beta", "2025-01-10T09:00"),
            open_ticket("B1", "environment", client_id="beta", at="2025-01-20T10:00", subject="Сбой сети"),
            log("B1", "B1/1", "2025-01-20T11:00", 30),
            issue("2025-01", "2025-02-01T10:00", client_id="beta"),
            open_ticket("B2", "environment", client_id="beta", at="2025-01-21T10:00", subject="Не печатает"),
            log("B2", "B2/1", "2025-01-21T11:00", 60))
    january = html_text(render_invoice(ledger, "beta", "2025-01", LATER, fmt="html", lang="ru"))
    assert "0,5 часа 3 000,00 ₽ за нормо-час 1 500,00 ₽" in january
    assert invoice(ledger, "beta", "2025-02", LATER)["total"] == "3000.00"
    february = html_text(render_explanation(ledger, "beta", "2025-02", LATER, fmt="html", lang="ru"))
    assert ("Корректировка выставленного счёта за январь 2025 г.: Стандартная техподдержка (СТП), "
            "обращение B2 «Не печатает», 21 января 2025 г.") in february
    assert ("причитается сейчас 3 000,00 ₽ − выставлено 0,00 ₽ − скорректировано ранее 0,00 ₽ = "
            "3 000,00 ₽ (I-9)") in february
    explained = html_text(render_explanation(ledger, "beta", "2025-01", LATER, fmt="html", lang="ru"))
    assert "В черновике счёта за февраль 2025 г." in explained and "обращение B2 «Не печатает»" in explained


def test_the_english_invoice_keeps_the_ledgers_wording(scenario):
    march = invoice(scenario, "acme", "2025-03", LATER)
    text = rendered(scenario, render_invoice, "2025-03", "html", "en")
    for line in march["lines"]:
        assert plain(line["description"]) in text
    assert "1 hour" in text and "2 hours" in text and "5 hours" in text
    assert "R-STP-3 (cl. 2.1.2)" in text


def test_the_russian_explanation_has_computations_facts_clauses_adjustments_and_the_picture(scenario):
    html = render_explanation(scenario, "acme", "2025-02", LATER, fmt="html", lang="ru").decode("utf-8")
    assert html.count("<svg") == 1 and "</svg>" in html
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert "ПТП, платная" in svg and "ПТП, бесплатный первый месяц" in svg  # coverage by source
    assert "счёт выставлен" in svg and "узнано" in svg  # the issue, and the fact learned later
    text = html_text(html.encode("utf-8"))
    assert ("абонентская плата 15 000,00 ₽ в месяц (прайс-лист, действующий с 1 января 2025 г., I-6) × "
            "14/28 оплачиваемых дней месяца (I-7) = 7 500,00 ₽") in text
    assert "передан лицензионный ключ" in text and "оформлена подписка на ПТП" in text  # facts in words
    assert "Кто внёс" in text and "tester" in text
    # what was issued, and the adjustments on the March draft, with the fact that caused them
    assert "Счёт выставлен 1 марта 2025 г., 12:00 МСК на сумму 7 500,00 ₽" in text
    assert "В черновике счёта за март 2025 г." in text
    assert "-7 500,00 ₽" in text and "8 400,00 ₽" in text
    assert ("причитается сейчас 0,00 ₽ − выставлено 7 500,00 ₽ − скорректировано ранее 0,00 ₽ = "
            "-7 500,00 ₽ (I-9)") in text
    assert "с 1 февраля 2025 г.: 3 000,00 ₽ за нормо-час, абонентская плата за ПТП 16 800,00 ₽ в месяц" in text
    pdf = rendered(scenario, render_explanation, "2025-02", "pdf", "ru")
    for words in ("ПТП, платная", "счёт выставлен", "Как рассчитана каждая строка", "R-PTP-6 (п. 2.1.3)",
                  "-7 500,00 ₽", "8 400,00 ₽", "передан лицензионный ключ"):
        assert words in pdf, words


def test_the_explanation_cites_every_event_of_the_json_explanation(scenario):
    explained = explain(scenario, "acme", "2025-03", LATER)
    html = render_explanation(scenario, "acme", "2025-03", LATER, fmt="html", lang="en").decode("utf-8")
    for line in explained["lines"]:
        for event in line["events"]:
            assert f"[{event['event_id']}]" in html
    assert "time logged" in html and "ticket T4" in html  # the ticket's row in the picture


# --- the command line ------------------------------------------------------------------------


def test_the_cli_writes_a_russian_pdf_to_out(scenario, db_url, tmp_path, capsys):
    out = tmp_path / "f.pdf"
    code = main(["invoice", "acme", "--period", "2025-03", "--known-at", "2030-01-01T00:00", "--format", "pdf",
                 "--lang", "ru", "--out", str(out), "--db", db_url])
    assert code == 0
    assert "24 900,00 ₽" in pdf_text(out.read_bytes())
    code = main(["explain", "acme", "--period", "2025-03", "--known-at", "2030-01-01T00:00", "--format", "html",
                 "--db", db_url])
    assert code == 0 and "<svg" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "named"), [
    (["--format", "pdf"], "--out"),
    (["--lang", "ru"], "--lang"),
])
def test_the_cli_refuses_a_pdf_without_out_and_a_language_without_a_format(scenario, db_url, capsys, argv, named):
    code = main(["invoice", "acme", "--period", "2025-03", *argv, "--db", db_url])
    err = capsys.readouterr().err
    assert code in (1, 2)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and named in err


# --- the demo (issue 18's done-when) ------------------------------------------------------------


def test_the_demos_boreal_march_documents_in_russian(ledger):
    applied(ledger, *DEMO_COMMANDS)
    now = in_moscow(datetime.now().astimezone())
    document = invoice(ledger, "boreal", "2025-03", now)
    assert document["total"] == "9000.00"  # 65 min → 2 hours + 35 min → 1 hour, × 3 000.00 (R-STP-3)
    pdf = pdf_text(render_invoice(ledger, "boreal", "2025-03", now, fmt="pdf", lang="ru"))
    html = html_text(render_invoice(ledger, "boreal", "2025-03", now, fmt="html", lang="ru"))
    for text in (pdf, html):
        assert "9 000,00 ₽" in text
        for term in ("Счёт за техническую поддержку", "Стандартная техподдержка (СТП)", "нормо-час",
                     "Гарантийная техподдержка (ГТП)", "Приоритетная техподдержка (ПТП)", "абонентская плата",
                     "2 часа", "1 час", "R-STP-3 (п. 2.1.2)", "5 марта 2025 г."):
            assert term in text, term
    started = time.perf_counter()
    explanation = render_explanation(ledger, "boreal", "2025-03", now, fmt="pdf", lang="ru")
    assert time.perf_counter() - started < 5  # generous: the figures are measured in the README
    text = pdf_text(explanation)
    for words in ("Как рассчитана каждая строка",  # the lines, with their computation
                  "отработано 65 минут → к оплате 2 часа",
                  "учтено время работы", "Пётр Волков", "создано обращение",  # their facts
                  "Когда учтено в реестре", "R-STP-3 (п. 2.1.2)", "I-6 (п. 2.1.2, разд. 4)",  # clauses
                  "обращение T-2001", "счёт выставлен", "после периода"):  # the picture's labels
        assert words in text, words
    html = render_explanation(ledger, "boreal", "2025-03", now, fmt="html", lang="ru").decode("utf-8")
    assert "<svg" in html and "9\u00a0000,00\u00a0₽" in html  # Babel's no-break spaces, as CLDR writes them


def test_the_computation_shows_the_amount_rounded_as_the_line_is(ledger):
    """R-STP-2, I-7: 25 min of integration work → 30 min billed (R-STP-3) × 1500.01 per norm
    hour = 750.005, rounded half up to 750.01 — the line's amount, and what its computation
    says in both languages (not 750.00, as rounding half to even would give)."""
    applied(ledger, release("9.0", "2024-06-01"), price_list("2025-01-01", norm_hour="1500.01"), register(),
            open_ticket("T1", "question"), log("T1", "E1", "2025-03-03T12:00", 25, "integration"))
    [line] = invoice(ledger, "acme", "2025-03", LATER)["lines"]
    assert line["amount"] == "750.01"
    for lang, amount in (("ru", "750,01 ₽"), ("en", "750.01")):
        text = html_text(render_explanation(ledger, "acme", "2025-03", LATER, fmt="html", lang=lang))
        assert f"= {amount}" in text, lang
        assert "750,00" not in text and "750.00" not in text
