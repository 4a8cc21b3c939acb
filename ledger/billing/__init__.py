"""The bill: what a client owes for a period, as the ledger knew it at record time K.

- `bill.py` — the one pure function (`bill`): from what was known of a client at K
  (`ClientKnowledge`) and a period, typed lines and typed problems; no I/O, no clock. Every
  rule of I-4 … I-9 that shapes a line is decided there or in the pure rules it calls.
- `load.py` — the one loader: reads from the store exactly what `bill` needs, for one
  client or a chunk of clients. `invoice`, `explain`, `diff`, month-end and `IssueInvoice`
  all go through it.

Lines become JSON (the CONTRACT.md invoice document) only at the edge: `Line.document()`.
"""
