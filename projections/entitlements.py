"""What a client is entitled to at valid time T, as known at record time K (CONTRACT.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.application import SupportLedger
from ledger.rules.coverage import new_versions_included, sources_at
from ledger.rules.tiers import services
from ledger.rules.warranty import covered_versions
from ledger.timeutil import in_moscow
from projections.knowledge import ClientKnowledge, client_known_at


def entitlements(ledger: SupportLedger, client_id: str, at: datetime, known_at: datetime) -> dict[str, Any]:
    return entitlements_of(client_known_at(ledger, client_id, known_at), at)


def entitlements_of(knowledge: ClientKnowledge, at: datetime) -> dict[str, Any]:
    client, coverage = knowledge.client, knowledge.coverage()
    sources = sources_at(coverage, at)  # I-7
    reasons = client.mandatory_priority_reasons(at)  # R-PTP-2, R-PTP-3
    releases = knowledge.catalog.release_list()
    return {
        "client_id": client.client_id,
        "at": in_moscow(at).isoformat(),
        "known_at": in_moscow(knowledge.known_at).isoformat(),
        "priority": {
            "active": bool(sources),
            "sources": sources,
            "mandatory": bool(reasons),
            "mandatory_reasons": reasons,
            "engineer": client.engineer_at(at) if sources else None,  # R-PTP-5
        },
        "new_versions_included": new_versions_included(coverage, client.first_key_handover_at, at),
        "warranty_versions": {
            product: covered_versions(releases, product, at)  # R-WTY-5, I-2
            for product in _products_of(knowledge)
        },
        "services": services(priority=bool(sources)),  # section 4
    }


def _products_of(knowledge: ClientKnowledge) -> list[str]:
    """The client's licensed and ticketed products; every catalog product if it has none."""
    own = {licence.product for licence in knowledge.client.licenses.values()}
    own |= {ticket.facts["product"] for ticket in knowledge.tickets.values()}
    return sorted(own) or knowledge.catalog.products()
