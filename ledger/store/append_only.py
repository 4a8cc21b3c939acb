"""The database itself refuses edits of the record: triggers, and PostgreSQL roles.

Every table the ledger's answers rest on — the events, the commits (record times), the
stream marks and the hash chain — gets triggers, created with the tables, that refuse
UPDATE and DELETE (and TRUNCATE on PostgreSQL) with an error naming the table. The
register of issued invoices and its tracking position are derived from the events and can
be rebuilt, so they stay writable.

Triggers stop mistakes and anyone who works through the ledger's own database user; the
owner of the tables can drop them. On PostgreSQL the ledger is therefore meant to run as a
*writer* role that owns nothing (`roles_sql`): it can SELECT and INSERT, and cannot drop or
disable a trigger. What even the owner cannot hide is checked by the hash chain
(`ledger.store.chain`, `support-ledger verify`).
"""

from __future__ import annotations

from collections.abc import Sequence

TRIGGER_ROWS = "ledger_append_only"  # BEFORE UPDATE OR DELETE, for each row
TRIGGER_TRUNCATE = "ledger_no_truncate"  # PostgreSQL: BEFORE TRUNCATE
REFUSE_FUNCTION = "ledger_refuse_change"
DEFAULT_WRITER, DEFAULT_AUDITOR = "support_ledger_writer", "support_ledger_auditor"


def refusal(table: str, operation: str) -> str:
    return f"{table} is append-only: {operation} refused (support-ledger keeps an unchangeable record)"


def sqlite_triggers(tables: Sequence[str]) -> list[str]:
    """SQLite: BEFORE UPDATE and BEFORE DELETE triggers on each table. (A DELETE without
    WHERE still fires them: SQLite does not truncate a table that has triggers.)"""
    statements = []
    for table in tables:
        for operation in ("UPDATE", "DELETE"):
            message = refusal(table, operation).replace("'", "''")
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
    return statements


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def postgres_triggers(schema: str, tables: Sequence[str]) -> list[str]:
    """PostgreSQL: one function raising the refusal, and on each table a row trigger for
    UPDATE and DELETE and a statement trigger for TRUNCATE, created where missing.
    `schema` and `tables` are quoted identifiers."""
    function = f"{schema}.{REFUSE_FUNCTION}"
    statements = [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $ledger$ "
        "BEGIN RAISE EXCEPTION '% is append-only: % refused (support-ledger keeps an unchangeable record)', "
        "TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege'; END $ledger$"
    ]
    for table in tables:
        qualified = f"{schema}.{table}"
        for name, timing in ((TRIGGER_ROWS, "BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW"),
                             (TRIGGER_TRUNCATE, "BEFORE TRUNCATE ON {t} FOR EACH STATEMENT")):
            create = f"CREATE TRIGGER {name} {timing.format(t=qualified)} EXECUTE FUNCTION {function}()"
            statements.append(
                "DO $ledger$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = "
                f"{_literal(qualified)}::regclass AND tgname = {_literal(name)}) THEN {create}; END IF; END $ledger$")
    return statements


def postgres_protected_query() -> str:
    """How many of the ledger's triggers exist on the given tables of a schema (parameters:
    schema name, array of table names): all of them means nothing needs creating."""
    return ("SELECT count(*) AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace s ON s.oid = c.relnamespace "
            f"WHERE s.nspname = %s AND c.relname = ANY(%s) AND t.tgname IN ('{TRIGGER_ROWS}', '{TRIGGER_TRUNCATE}')")


def roles_sql(schema: str, protected: Sequence[str], derived: Sequence[str], sequence: str, events: str,
              writer: str = DEFAULT_WRITER, auditor: str = DEFAULT_AUDITOR) -> str:
    """SQL (to run as the tables' owner) creating a writer role that can read and append to
    the record and maintain the derived tables, and an auditor role that can only read.
    Identifiers are quoted. Neither role owns a table, so neither can drop a trigger.

    The writer also gets UPDATE on the events table: the library serialises writers with
    `LOCK TABLE … IN EXCLUSIVE MODE`, which PostgreSQL allows only to a role holding
    UPDATE, DELETE or TRUNCATE on the table. The append-only trigger refuses every UPDATE."""
    names = {"schema": schema, "writer": writer, "auditor": auditor}
    lines = [
        "-- support-ledger roles: run as the owner of the ledger's tables.",
        *(f"DO $ledger$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(_unquoted(role))}) "
          f"THEN CREATE ROLE {role} LOGIN; END IF; END $ledger$;" for role in (writer, auditor)),
        "GRANT USAGE ON SCHEMA {schema} TO {writer}, {auditor};".format(**names),
        *(f"GRANT SELECT, INSERT ON {schema}.{table} TO {writer};" for table in protected),
        f"GRANT UPDATE ON {schema}.{events} TO {writer};  -- for the library's LOCK TABLE; the trigger refuses updates",
        f"GRANT USAGE ON SEQUENCE {schema}.{sequence} TO {writer};",
        *(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.{table} TO {writer};" for table in derived),
        *(f"GRANT SELECT ON {schema}.{table} TO {auditor};" for table in (*protected, *derived)),
    ]
    return "\n".join(lines) + "\n"


def _unquoted(identifier: str) -> str:
    return identifier[1:-1].replace('""', '"') if identifier.startswith('"') else identifier
