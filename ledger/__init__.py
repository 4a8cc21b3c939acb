"""The write side of support-ledger: events, aggregates, the regulation's rules, the application."""
