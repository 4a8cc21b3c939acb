"""The store fixture itself: both stores record and read back the same facts."""

from ledger.application import SupportLedger
from tests.builders import register
from tests.support import apply, event_types


def test_register_client_records_client_and_priority_account(ledger):
    [outcome] = apply(ledger, register())
    assert outcome.status == "applied"
    assert event_types(ledger, "acme") == ["ClientRegistered", "PriorityAccountOpened"]


def test_a_ledger_opened_read_only_reads_the_same_facts(ledger, db_url):
    apply(ledger, register())
    with SupportLedger(db_url, read_only=True) as reader:
        assert event_types(reader, "acme") == ["ClientRegistered", "PriorityAccountOpened"]
        assert reader.head() == ledger.head()
