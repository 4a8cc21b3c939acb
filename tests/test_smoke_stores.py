"""The store fixture itself: both stores record and read back the same facts."""

from tests.support import apply, event_types


def test_register_client_records_client_and_priority_account(ledger):
    [outcome] = apply(ledger, {"command": "RegisterClient", "client_id": "acme", "name": "Acme"})
    assert outcome.status == "applied"
    assert event_types(ledger, "acme") == ["ClientRegistered", "PriorityAccountOpened"]
