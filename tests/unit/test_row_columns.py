"""Rows built as tuples name every column of their table, each once.

The dialogues and timeline projections build each row as a tuple in the order of a
column list of their own (no dict per row); a column missing from the list would be
left to its server default without anyone noticing, so each list is checked against the
table's declaration.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Table

from projections import dialogues, timeline
from projections.tables import dialogues as dialogues_table
from projections.tables import outcome_progress, outcomes, sessions
from projections.tables import timeline as timeline_table


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        (dialogues_table, dialogues.DIALOGUE_COLUMNS),
        (sessions, dialogues.SESSION_COLUMNS),
        (outcomes, dialogues.OUTCOME_COLUMNS),
        (outcome_progress, dialogues.PROGRESS_COLUMNS),
        (timeline_table, timeline.COLUMNS),
    ],
)
def test_a_row_names_every_column_once(table: Table, columns: tuple[str, ...]):
    assert len(columns) == len(set(columns))
    assert set(columns) == {c.name for c in table.columns}
