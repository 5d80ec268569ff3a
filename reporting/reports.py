"""Report definitions over the read models: commitments, activity, fulfilment, compliance,
frameworks, pledges.

Each is one parameterised query. "As of" a date means: outcomes adopted by that date,
judged against their target windows on that date, with their latest recorded status
(the status history itself is in the audit trail, `GET /dialogues/{id}?valid_at=`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

COMMITMENTS = """
SELECT o.dialogue_id, d.name AS dialogue, d.acronym, p.party,
       count(*) AS adopted,
       count(*) FILTER (WHERE NOT o.is_final) AS open,
       count(*) FILTER (WHERE NOT o.is_final AND o.target_from <= :as_of
                        AND o.target_to > :as_of) AS due,
       count(*) FILTER (WHERE NOT o.is_final AND o.target_to <= :as_of) AS overdue,
       count(*) FILTER (WHERE o.status = 'fulfilled') AS fulfilled,
       count(*) FILTER (WHERE o.status = 'partially fulfilled') AS partially_fulfilled
FROM reporting.outcomes o
JOIN reporting.dialogues d USING (dialogue_id)
CROSS JOIN LATERAL unnest(o.responsible) AS p(party)
WHERE o.adopted_from <= :as_of
  AND (CAST(:dialogue_id AS uuid) IS NULL OR o.dialogue_id = CAST(:dialogue_id AS uuid))
  AND (CAST(:party AS text) IS NULL OR p.party = :party)
GROUP BY o.dialogue_id, d.name, d.acronym, p.party
ORDER BY d.name, p.party"""

ACTIVITY = """
WITH held AS (
    SELECT extract(year FROM held_from)::int AS year, dialogue_id, count(*) AS n
    FROM reporting.sessions WHERE status = 'held' GROUP BY 1, 2),
adopted AS (
    SELECT extract(year FROM adopted_from)::int AS year, dialogue_id, count(*) AS n
    FROM reporting.outcomes GROUP BY 1, 2),
made AS (
    SELECT extract(year FROM coalesce(v.dates_from, v.window_from))::int AS year,
           o.dialogue_id, count(*) AS n
    FROM reporting.visits v LEFT JOIN reporting.outcomes o USING (outcome_id)
    WHERE v.status = 'completed' GROUP BY 1, 2),
keys AS (SELECT year, dialogue_id FROM held UNION SELECT year, dialogue_id FROM adopted
         UNION SELECT year, dialogue_id FROM made)
SELECT k.year, k.dialogue_id, d.name AS dialogue, d.acronym,
       coalesce(h.n, 0) AS sessions_held, coalesce(a.n, 0) AS outcomes_adopted,
       coalesce(m.n, 0) AS visits_made
FROM keys k
LEFT JOIN reporting.dialogues d ON d.dialogue_id = k.dialogue_id
LEFT JOIN held h ON h.year = k.year AND h.dialogue_id IS NOT DISTINCT FROM k.dialogue_id
LEFT JOIN adopted a ON a.year = k.year AND a.dialogue_id IS NOT DISTINCT FROM k.dialogue_id
LEFT JOIN made m ON m.year = k.year AND m.dialogue_id IS NOT DISTINCT FROM k.dialogue_id
WHERE (CAST(:year_from AS int) IS NULL OR k.year >= :year_from)
  AND (CAST(:year_to AS int) IS NULL OR k.year <= :year_to)
  AND (CAST(:dialogue_id AS uuid) IS NULL OR k.dialogue_id = CAST(:dialogue_id AS uuid))
ORDER BY k.year, d.name NULLS LAST"""

FULFILMENT = """
WITH per_party AS (
    SELECT o.dialogue_id, p.party, o.status, o.is_final,
           o.compliance -> p.party AS assessment
    FROM reporting.outcomes o CROSS JOIN LATERAL unnest(o.responsible) AS p(party))
SELECT x.dialogue_id, d.name AS dialogue, d.acronym, x.party,
       count(*) AS adopted,
       count(*) FILTER (WHERE x.status = 'fulfilled') AS fulfilled,
       count(*) FILTER (WHERE x.status = 'partially fulfilled') AS partially_fulfilled,
       count(*) FILTER (WHERE x.is_final) AS closed,
       round(count(*) FILTER (WHERE x.status = 'fulfilled')::numeric / count(*), 4)
           AS fulfilment_rate,
       count(x.assessment) AS assessments,
       round(avg((x.assessment ->> 'score')::numeric), 4) AS mean_compliance_score
FROM per_party x JOIN reporting.dialogues d USING (dialogue_id)
WHERE (CAST(:dialogue_id AS uuid) IS NULL OR x.dialogue_id = CAST(:dialogue_id AS uuid))
  AND (CAST(:party AS text) IS NULL OR x.party = :party)
GROUP BY x.dialogue_id, d.name, d.acronym, x.party
ORDER BY d.name, x.party"""

FRAMEWORKS = """
WITH named AS (
    SELECT f.framework, o.*
    FROM reporting.outcomes o CROSS JOIN LATERAL unnest(o.frameworks) AS f(framework)
    WHERE (CAST(:dialogue_id AS uuid) IS NULL OR o.dialogue_id = CAST(:dialogue_id AS uuid))
      AND (CAST(:party AS text) IS NULL OR CAST(:party AS text) = ANY(o.responsible)))
SELECT n.framework,
       count(*) AS outcomes,
       count(*) FILTER (WHERE NOT n.is_final) AS open,
       count(*) FILTER (WHERE n.status = 'fulfilled') AS fulfilled,
       count(DISTINCT n.dialogue_id) AS dialogues,
       ARRAY(SELECT DISTINCT p FROM named m CROSS JOIN LATERAL unnest(m.responsible) AS p
             WHERE m.framework = n.framework ORDER BY p) AS parties,
       min(n.adopted_from) AS first_adopted,
       max(n.adopted_from) AS last_adopted
FROM named n
GROUP BY n.framework
ORDER BY n.framework"""


PLEDGES = """
SELECT coalesce(p.by, '') AS party, p.currency, p.programme,
       coalesce(f.framework, '') AS framework,
       extract(year FROM o.adopted_from)::int AS year,
       count(*) AS pledges, count(DISTINCT o.outcome_id) AS outcomes,
       sum(p.amount) AS total
FROM reporting.outcomes o
CROSS JOIN LATERAL jsonb_to_recordset(o.pledges)
    AS p(amount numeric, currency text, programme text, by text)
LEFT JOIN LATERAL unnest(o.frameworks) AS f(framework) ON true
WHERE o.status <> 'retracted'
  AND (CAST(:dialogue_id AS uuid) IS NULL OR o.dialogue_id = CAST(:dialogue_id AS uuid))
  AND (CAST(:party AS text) IS NULL OR p.by = :party)
  AND (CAST(:currency AS text) IS NULL OR p.currency = :currency)
GROUP BY 1, 2, 3, 4, 5
ORDER BY year, party, currency, programme, framework"""


COMMITMENT_ROWS = """
SELECT o.outcome_id, o.dialogue_id, d.name AS dialogue, o.session_id,
       o.adopted_from AS adopted_on, o.kind, o.text, o.responsible,
       m.amount, m.currency, o.target_from, o.target_to, o.status, o.is_final,
       o.compliance AS latest_assessments
FROM reporting.outcomes o
JOIN reporting.dialogues d USING (dialogue_id)
CROSS JOIN LATERAL (
    SELECT CASE WHEN count(DISTINCT p.currency) = 1 THEN round(sum(p.amount), 2) END
               AS amount,
           CASE WHEN count(DISTINCT p.currency) = 1 THEN min(p.currency)
                WHEN count(*) > 1 THEN 'several' END AS currency
    FROM jsonb_to_recordset(o.pledges) AS p(amount numeric, currency text)) m
WHERE o.status <> 'retracted'
  AND (CAST(:dialogue_id AS uuid) IS NULL OR o.dialogue_id = CAST(:dialogue_id AS uuid))
  AND (CAST(:party AS text) IS NULL OR CAST(:party AS text) = ANY(o.responsible))
ORDER BY o.adopted_from, d.name, o.outcome_id"""


async def _rows(connection: AsyncConnection, query: str, **params: Any) -> list[dict[str, Any]]:
    """Run a report over whichever schema the connection maps `reporting` to (snapshots)."""
    options = (
        connection.sync_connection.get_execution_options() if connection.sync_connection else {}
    )
    translate = options.get("schema_translate_map") or {}
    schema = translate.get("reporting", "reporting")
    sql = text(query.replace("reporting.", f"{schema}."))
    return [dict(r._mapping) for r in (await connection.execute(sql, params)).all()]


async def commitments_status(
    connection: AsyncConnection,
    as_of: dt.date,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
) -> list[dict[str, Any]]:
    """Open, due, overdue and fulfilled commitments per dialogue and responsible party."""
    return await _rows(connection, COMMITMENTS, as_of=as_of, dialogue_id=dialogue_id, party=party)


async def activity_per_year(
    connection: AsyncConnection,
    *,
    year_from: int | None = None,
    year_to: int | None = None,
    dialogue_id: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    """Sessions held, outcomes adopted and visits made, per year and dialogue."""
    return await _rows(
        connection, ACTIVITY, year_from=year_from, year_to=year_to, dialogue_id=dialogue_id
    )


async def fulfilment_and_compliance(
    connection: AsyncConnection,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
) -> list[dict[str, Any]]:
    """Fulfilment rate and mean compliance score (-1 to +1) per dialogue and party."""
    return await _rows(connection, FULFILMENT, dialogue_id=dialogue_id, party=party)


async def frameworks_referred_to(
    connection: AsyncConnection,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
) -> list[dict[str, Any]]:
    """The frameworks (C5+1, TIFA …) outcomes refer to, with what was adopted under each.

    A framework is known by the exact name its outcomes give it; `party` keeps outcomes
    that party is responsible for.
    """
    return await _rows(connection, FRAMEWORKS, dialogue_id=dialogue_id, party=party)


async def pledges_totals(
    connection: AsyncConnection,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """Money pledged in outcomes, totalled by pledging party, currency, programme,
    framework and year of adoption; never summed across currencies.

    An outcome under two frameworks counts under each (as in the frameworks report); a
    pledge by no party (the dialogue as a whole) has party "".
    """
    return await _rows(connection, PLEDGES, dialogue_id=dialogue_id, party=party, currency=currency)


async def commitment_rows(
    connection: AsyncConnection,
    *,
    dialogue_id: uuid.UUID | None = None,
    party: str | None = None,
) -> list[dict[str, Any]]:
    """One row per outcome on record: where and when adopted, its text, who is responsible,
    the money pledged (to 2 decimals, one currency; "several" when they differ), its target
    window, its current status and the latest assessment per party."""
    return await _rows(connection, COMMITMENT_ROWS, dialogue_id=dialogue_id, party=party)
