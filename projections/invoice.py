"""A client's invoice document for a period, as known at record time K: the CONTRACT.md JSON
form of the bill (`ledger.billing`).

An issued invoice is read back exactly as issued (I-9); any other period is the draft that
`ledger.billing.bill` computes from what `ledger.billing.load` read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.application import SupportLedger
from ledger.billing.bill import Bill, ClientKnowledge, Line, bill, decision_problems, money
from ledger.billing.load import client_for_period
from ledger.timeutil import in_moscow, parse_period


def invoice(ledger: SupportLedger, client_id: str, period: str, known_at: datetime) -> dict[str, Any]:
    """One client's invoice document, reading only what the period needs."""
    return invoice_of(client_for_period(ledger, client_id, period, known_at), period)


def invoice_of(knowledge: ClientKnowledge, period: str, drafted: Bill | None = None) -> dict[str, Any]:
    """The CONTRACT.md invoice document for one period as known at `knowledge.known_at`
    (`drafted`: the period's bill, where the caller has computed it already)."""
    parse_period(period)
    header = {"client_id": knowledge.client.client_id, "period": period,
              "known_at": in_moscow(knowledge.known_at).isoformat()}
    issued = knowledge.invoices.get(period)
    if issued is not None:
        problems = decision_problems(map(Line.from_document, issued.lines), period)
        return {**header, "status": "issued", "issued_at": in_moscow(issued.issued_at).isoformat(),
                "computed_as_known_at": in_moscow(issued.known_at).isoformat(),
                "lines": issued.lines, "total": money(issued.total),
                "problems": [problem.document() for problem in problems]}
    return {**header, "status": "draft", **(drafted or bill(knowledge, period)).document()}
