"""An example for every request body of the OpenAPI document, keyed by schema name.

Swagger UI pre-fills "Try it out" with them and generated clients' docs show them, so
each is a body the register accepts as it stands, and together they tell one story (the
2021 Kazakhstan-U.S. meeting of the demo data): path parameters of the same names get
the same ids, so "Try it out" sends a consistent request. tests/api/test_openapi_examples.py
decodes every example into its route's body type, so one that drifts fails there.
"""

from __future__ import annotations

from typing import Any

DIALOGUE_ID = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
SESSION_ID = "7a2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c8d"
OUTCOME_ID = "8b3c4d5e-6f7a-4b2c-8d3e-4f5a6b7c8d9e"
PROGRESS_ID = "9c4d5e6f-7a8b-4c3d-9e4f-5a6b7c8d9e0f"
VISIT_ID = "0d5e6f7a-8b9c-4d4e-8f5a-6b7c8d9e0f1a"
INDICATOR_ID = "1e6f7a8b-9c0d-4e5f-9a6b-7c8d9e0f1a2b"
MILESTONE_ID = "2f7a8b9c-0d1e-4f6a-8b7c-8d9e0f1a2b3c"
PAIR = "KZ-US"

PATH_PARAMETERS: dict[str, str] = {
    "dialogue_id": DIALOGUE_ID,
    "session_id": SESSION_ID,
    "outcome_id": OUTCOME_ID,
    "progress_id": PROGRESS_ID,
    "visit_id": VISIT_ID,
    "indicator_id": INDICATOR_ID,
    "milestone_id": MILESTONE_ID,
    "pair": PAIR,
}
"""Path parameters that name what the body examples name."""

DAY = {
    "start": "2021-09-27",
    "end": "2021-09-28",
    "precision": "day",
    "wording": "27 September 2021",
}
YEAR = {"start": "2022-01-01", "end": "2023-01-01", "precision": "year", "wording": "in 2022"}
PLACE = {"city": "Washington", "country": "US"}
HEAD_KZ = {
    "name": "Akan Rakhmetullin",
    "title": "Deputy Minister of Foreign Affairs",
    "organization": "Ministry of Foreign Affairs of Kazakhstan",
    "party": "KZ",
}
HEAD_US = {
    "name": "Donald Lu",
    "title": "Assistant Secretary of State for South and Central Asian Affairs",
    "organization": "U.S. Department of State",
    "party": "US",
}
SOURCE = {
    "title": "Joint Statement on the Kazakhstan-U.S. Enhanced Strategic Partnership Dialogue",
    "publisher": "U.S. Department of State",
    "published": "2021-09-28",
}
CHARTER = {
    "name": "Enhanced Strategic Partnership Dialogue",
    "acronym": "ESPD",
    "format": "bilateral",
    "parties": ["KZ", "US"],
    "cadence": "annual",
}
SESSION_PLAN = {"planned": DAY, "place": PLACE, "host": "US", "format": "in person"}
SESSION_RECORD = {
    "held_on": DAY,
    "place": PLACE,
    "heads": [HEAD_KZ, HEAD_US],
    "topics": ["trade and investment", "regional security"],
    "sources": [SOURCE],
}
TERMS = {
    "kind": "commitment",
    "text": "Hold the next meeting of the dialogue in Nur-Sultan",
    "responsible": ["KZ", "US"],
    "target": YEAR,
}
PROGRESS = {"note": "Dates for the next meeting proposed through embassies", "on": YEAR}
ASSESSMENT = {
    "party": "KZ",
    "score": 1,
    "rationale": "The meeting took place as committed",
    "assessor": "Entente research desk",
}
VISIT_PLAN = {
    "visitor": HEAD_US,
    "host": "KZ",
    "destination": {"city": "Nur-Sultan", "country": "KZ"},
    "window": YEAR,
    "purpose": "Preparations for the next dialogue meeting",
}
INDICATOR = {
    "name": "bilateral trade",
    "period": YEAR,
    "value": "3.1",
    "unit": "billion USD",
    "approximation": "about",
    "source": SOURCE,
}
MILESTONE = {
    "kind": "diplomatic relations",
    "on": {"start": "1991-12-26", "end": "1991-12-27", "precision": "day", "wording": ""},
    "description": "Diplomatic relations established",
}
REASON = "The source was misread; corrected against the joint statement"

DIALOGUE = {"dialogue_id": DIALOGUE_ID}
SESSION = {**DIALOGUE, "session_id": SESSION_ID}
OUTCOME = {**DIALOGUE, "outcome_id": OUTCOME_ID}
VISIT = {"visit_id": VISIT_ID}
PARTIES = {"parties": ["KZ", "US"]}
RECORD_PROGRESS = {**OUTCOME, "progress_id": PROGRESS_ID, "progress": PROGRESS}
RECORD_INDICATOR = {**PARTIES, "indicator_id": INDICATOR_ID, "indicator": INDICATOR}
RECORD_MILESTONE = {**PARTIES, "milestone_id": MILESTONE_ID, "milestone": MILESTONE}
REPORT = {"report": "commitments", "format": "csv", "parameters": {"party": "KZ"}}

BODIES: dict[str, dict[str, Any]] = {
    # dialogues
    "LaunchDialogue": {**DIALOGUE, "charter": CHARTER},
    "CorrectDialogue": {**DIALOGUE, "charter": CHARTER, "reason": REASON},
    "RenameDialogue": {**DIALOGUE, "name": "Strategic Partnership Dialogue", "effective": YEAR},
    "AppointLead": {**DIALOGUE, "lead": HEAD_KZ},
    "CorrectLead": {**DIALOGUE, "lead": HEAD_KZ, "reason": REASON},
    "SuspendDialogue": {**DIALOGUE, "reason": "Suspended by agreement of the parties"},
    "ResumeDialogue": {**DIALOGUE, "effective": YEAR},
    "ConcludeDialogue": {**DIALOGUE, "reason": "Superseded by a new framework"},
    "RetractDialogue": {**DIALOGUE, "reason": "Recorded in error: no such dialogue"},
    # sessions
    "ScheduleSession": {**SESSION, "plan": SESSION_PLAN},
    "RescheduleSession": {**SESSION, "plan": SESSION_PLAN, "reason": "Moved at the host's request"},
    "CorrectSessionPlan": {**SESSION, "plan": SESSION_PLAN, "reason": REASON},
    "PostponeSession": {**SESSION, "reason": "Postponed at the host's request"},
    "CancelSession": {**SESSION, "reason": "Cancelled by agreement of the parties"},
    "HoldSession": {**SESSION, "record": SESSION_RECORD},
    "CorrectSessionRecord": {**SESSION, "record": SESSION_RECORD, "reason": REASON},
    "RetractSession": {**SESSION, "reason": "Recorded in error: the meeting was another's"},
    # outcomes
    "AdoptOutcome": {**OUTCOME, "session_id": SESSION_ID, "terms": TERMS},
    "CorrectOutcome": {**OUTCOME, "terms": TERMS, "reason": REASON},
    "RetractOutcome": {**OUTCOME, "reason": "Recorded in error: not adopted at this session"},
    "RecordProgress": RECORD_PROGRESS,
    "CorrectProgress": {**RECORD_PROGRESS, "reason": REASON},
    "RetractProgress": {**OUTCOME, "progress_id": PROGRESS_ID, "reason": "Not progress"},
    "ChangeOutcomeStatus": {**OUTCOME, "status": "in progress", "effective": YEAR},
    "CorrectOutcomeStatus": {**OUTCOME, "status": "adopted", "reason": REASON},
    "AssessCompliance": {**OUTCOME, "assessment": ASSESSMENT},
    "CorrectCompliance": {**OUTCOME, "assessment": ASSESSMENT, "reason": REASON},
    # visits
    "PlanVisit": {**VISIT, "plan": VISIT_PLAN},
    "LogVisit": {**VISIT, "plan": VISIT_PLAN, "dates": DAY},
    "ConfirmVisitDates": {**VISIT, "dates": DAY},
    "CompleteVisit": {**VISIT, "note": "Met the Foreign Minister"},
    "PostponeVisit": {**VISIT, "reason": "Postponed at the host's request", "window": YEAR},
    "CancelVisit": {**VISIT, "reason": "Cancelled by the visitor"},
    "CorrectVisit": {**VISIT, "plan": VISIT_PLAN, "reason": REASON},
    "RetractVisit": {**VISIT, "reason": "Recorded in error: no such visit"},
    # relationships
    "RecordIndicator": RECORD_INDICATOR,
    "CorrectIndicator": {**RECORD_INDICATOR, "reason": REASON},
    "RetractIndicator": {**PARTIES, "indicator_id": INDICATOR_ID, "reason": "Duplicate figure"},
    "RecordMilestone": RECORD_MILESTONE,
    "CorrectMilestone": {**RECORD_MILESTONE, "reason": REASON},
    "RetractMilestone": {**PARTIES, "milestone_id": MILESTONE_ID, "reason": "Duplicate"},
    # operating the service
    "ExportRequest": {**REPORT, "mode": "sync"},
    "ScheduleSpec": {
        **REPORT,
        "name": "weekly-commitments",
        "cron": "0 6 * * 1",
        "timezone": "Asia/Almaty",
        "destination": "commitments",
        "retention": 10,
    },
    "NewKey": {"name": "reporting-robot", "roles": ["reader"]},
    "NewCalendarToken": {"name": "desk calendar", "party": "KZ"},
    "NewSubscription": {
        "target_url": "https://receiver.example/webhooks/entente",
        "filters": {"stream_kind": "dialogue", "parties": ["KZ"]},
        "start": "now",
    },
    "SubscriptionChange": {"state": "active"},
    "Replay": {"position": "beginning"},
}
"""Request-body examples by component name: every body schema has one."""
