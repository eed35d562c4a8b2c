"""Database triggers that keep the audit log append-only (SQLite and
PostgreSQL).  An event may be updated once, by the sequencer, while it has no
sequence number yet; after that, and for the Merkle nodes, checkpoints and
cosignatures always, UPDATE and DELETE are refused.  The migrations install
them; tests that play the attacker drop them."""

from __future__ import annotations

from typing import Any

TABLE = "audit_auditevent"
LOG_TABLES = ("audit_merklenode", "audit_checkpoint", "audit_cosignature")
MESSAGE = "audit events are append-only"

_SQLITE_INSTALL = [
    f"CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON {TABLE} "
    f"WHEN OLD.sequence IS NOT NULL BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
] + [
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_change BEFORE {verb} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END".replace("_no_change", f"_no_{verb.lower()}")
    for table in LOG_TABLES
    for verb in ("UPDATE", "DELETE")
]
_SQLITE_REMOVE = ["DROP TRIGGER IF EXISTS audit_event_no_update", "DROP TRIGGER IF EXISTS audit_event_no_delete"] + [
    f"DROP TRIGGER IF EXISTS {table}_no_{verb}" for table in LOG_TABLES for verb in ("update", "delete")
]
_POSTGRES_INSTALL = [
    "CREATE OR REPLACE FUNCTION audit_event_refuse() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN IF TG_OP = 'UPDATE' AND OLD.sequence IS NULL THEN RETURN NEW; END IF; "
    f"RAISE EXCEPTION '{MESSAGE}'; END $$",
    f"CREATE OR REPLACE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_refuse()",
    "CREATE OR REPLACE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$",
] + [
    f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()"
    for table in LOG_TABLES
]
_POSTGRES_REMOVE = [f"DROP TRIGGER IF EXISTS audit_event_append_only ON {TABLE}"] + [
    f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in LOG_TABLES
]


def _statements(vendor: str, install: bool, log_tables: bool) -> list[str]:
    if vendor == "sqlite":
        statements = _SQLITE_INSTALL if install else _SQLITE_REMOVE
    elif vendor == "postgresql":
        statements = _POSTGRES_INSTALL if install else _POSTGRES_REMOVE
    else:
        raise NotImplementedError(f"append-only triggers are written for SQLite and PostgreSQL, not {vendor}")
    return [s for s in statements if log_tables or not any(table in s for table in LOG_TABLES)]


def install(connection: Any, *, log_tables: bool = True) -> None:
    """`log_tables`: also the Merkle nodes, checkpoints and cosignatures (whose
    tables an early migration does not have yet)."""
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor, True, log_tables):
            cursor.execute(statement)


def remove(connection: Any, *, log_tables: bool = True) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor, False, log_tables):
            cursor.execute(statement)
