"""The aggregates: each guards its own invariants and records facts as events."""

from ledger.aggregates.catalog import Catalog
from ledger.aggregates.client import Client
from ledger.aggregates.invoice import Invoice
from ledger.aggregates.receipt import CommandReceipt
from ledger.aggregates.subscription import Subscription
from ledger.aggregates.ticket import Ticket

__all__ = ["Catalog", "Client", "CommandReceipt", "Invoice", "Subscription", "Ticket"]
