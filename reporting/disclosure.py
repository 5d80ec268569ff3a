"""Who may see the audit trail: the one rule every route, read model and export applies.

Audit metadata says who made a change and through which request: the caller's key
(`actor`), the request ids (`request_id`, and `correlation_id` and `causation_id`, which
are request ids too: the causation id *is* the request id, and the correlation id is the
caller's or the request id), and the idempotency key (which embeds the caller's key name).
It reaches auditors only. Everything else about a change is a fact of the register, for
every reader: what happened, when, and its `reason` (why a session was cancelled, why an
indicator was corrected or retracted), which the domain carries in the event itself.

Readers meet recorded changes in three shapes, and each goes through `disclosed`:
event metadata (the change feed), read-model rows (the relationship timeline's `actor`
column) and report tables (exports). Exports are shared files any reader may download
(`GET /exports/{id}/file`), so they are always produced for readers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from reporting.formats import ReportTable

AUDIT_FIELDS = frozenset(
    {"actor", "request_id", "correlation_id", "causation_id", "idempotency_key"}
)
"""Field names that are audit metadata, wherever they appear (metadata keys, row keys,
report columns)."""

EVENT_METADATA = frozenset({"command", "reason", *AUDIT_FIELDS})
"""Every metadata key the register writes; a new one must be classified here (a test
checks the stored events), so that nothing new reaches readers unexamined."""

AUDITOR = "auditor"


def sees_audit(roles: Collection[str]) -> bool:
    """Whether a caller with these roles may see audit metadata."""
    return AUDITOR in roles


def disclosed(fields: Mapping[str, Any], *, audit: bool) -> dict[str, Any]:
    """`fields` as its audience may see them: without AUDIT_FIELDS unless `audit`."""
    if audit:
        return dict(fields)
    return {k: v for k, v in fields.items() if k not in AUDIT_FIELDS}


def disclosed_table(table: ReportTable, *, audit: bool = False) -> ReportTable:
    """A report table without its audit columns unless `audit` (exports never are)."""
    keep = [i for i, c in enumerate(table.columns) if audit or c.name not in AUDIT_FIELDS]
    if len(keep) == len(table.columns):
        return table
    return ReportTable(
        title=table.title,
        columns=[table.columns[i] for i in keep],
        rows=[tuple(row[i] for i in keep) for row in table.rows],
    )
