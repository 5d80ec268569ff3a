"""The facts the register records, each one shape shared by its command, event and correction.

A correction replaces a whole fact, so the original event, the correction and the state all
speak of the same structure and nothing is edited in place.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

import msgspec

from domain.errors import InvalidScore, InvalidValue
from domain.values import (
    CurrencyCode,
    Link,
    OutcomeRef,
    PartialDate,
    PartyCode,
    Person,
    Place,
    Source,
    Statement,
    check_figure,
    check_parties,
    currency_code,
    party_code,
)

DialogueFormat = Literal["bilateral", "multilateral"]
Cadence = Literal["annual", "semiannual", "biennial", "quarterly", "ad hoc"]
SessionLevel = Literal["expert", "working", "senior officials", "ministerial", "leaders"]
"""How senior a session's heads are; "leaders" is a leaders' meeting or summit."""
SessionFormat = Literal["in person", "virtual", "hybrid"]
OutcomeKind = Literal["agreement", "commitment", "decision", "joint statement", "commendation"]
OutcomeStatus = Literal[
    "adopted",
    "in progress",
    "fulfilled",
    "partially fulfilled",
    "lapsed",
    "superseded",
    "withdrawn",
]
FINAL_OUTCOME_STATUSES: frozenset[str] = frozenset(
    {"fulfilled", "partially fulfilled", "lapsed", "superseded", "withdrawn"}
)


def is_final(status: str) -> bool:
    """A final status is left only by correction; everything else is still open.

    The read models store this decision (`outcomes.is_final`) so listings and reports
    filter on it and never restate the list of final statuses.
    """
    return status in FINAL_OUTCOME_STATUSES


Score = Literal[-1, 0, 1]
Approximation = Literal["exact", "about", "nearly", "more than", "less than"]
IndicatorKind = Literal["measured", "target", "rank"]
MilestoneKind = Literal[
    "recognition", "diplomatic relations", "anniversary", "agreement", "pledge", "other"
]


class Charter(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a dialogue is: its name, its parties and how often it meets."""

    name: str
    acronym: str | None = None
    format: DialogueFormat
    parties: tuple[PartyCode, ...]
    cadence: Cadence | None = None
    cadence_wording: str = ""
    """The cadence as the sources say it ("about yearly at ministerial level"), beside the
    enum, which cannot hold such nuance."""
    launched_on: PartialDate | None = None
    launched_in: Place | None = None
    """Where the dialogue was launched (v2 of DialogueLaunched/DialogueCorrected)."""
    launched_by: OutcomeRef | None = None

    def __post_init__(self) -> None:
        check_parties(self.parties)


class SessionPlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A session as planned; ``agreed_on`` is when the plan was agreed or announced.

    A plan is a fact in the world from that day (valid time); without it the plan holds
    from the dialogue's launch (see docs/DOMAIN-MODEL.md "Valid time").
    """

    planned: PartialDate
    agreed_on: PartialDate | None = None
    place: Place | None = None
    host: PartyCode | None = None
    format: SessionFormat = "in person"
    level: SessionLevel | None = None

    def __post_init__(self) -> None:
        if self.host is not None:
            party_code(self.host)


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What happened at a held session, as the sources report it."""

    held_on: PartialDate
    place: Place
    heads: tuple[Person, ...]
    members: tuple[Person, ...] = ()
    topics: tuple[str, ...] = ()
    statements: tuple[Statement, ...] = ()
    summary: str = ""
    sources: tuple[Source, ...] = ()
    level: SessionLevel | None = None
    """The level the session was held at; when none, the plan's level is taken."""


class Pledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Money an outcome commits: a decimal amount in an ISO 4217 currency, to a programme
    or facility, by a party of the dialogue (or by the dialogue as a whole when none)."""

    amount: Decimal
    currency: CurrencyCode
    programme: str = ""
    by: PartyCode | None = None

    def __post_init__(self) -> None:
        currency_code(self.currency)
        check_figure(self.amount)
        if self.amount <= 0:
            raise InvalidValue(f"A pledge is a positive amount, {self.amount} given")
        if self.by is not None:
            party_code(self.by)


class OutcomeTerms(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: OutcomeKind
    text: str
    responsible: tuple[PartyCode, ...]
    target: PartialDate | None = None
    leads_to: tuple[Link, ...] = ()
    frameworks: tuple[str, ...] = ()
    framework_dialogues: tuple[uuid.UUID, ...] = ()
    """Frameworks that are dialogues of the register, by id (beside or instead of a name in
    ``frameworks``); the id is not checked against the register (another stream)."""
    pledges: tuple[Pledge, ...] = ()
    scored: tuple[PartyCode, ...] = ()
    """Parties whose compliance is scored; none means the responsible parties. The G7/G20
    Research Group method scores every member on every commitment: list them all here."""

    def __post_init__(self) -> None:
        check_parties(self.responsible)
        check_parties(self.scored)


class Progress(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    note: str
    on: PartialDate | None = None
    evidence: tuple[Source, ...] = ()


class Assessment(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A compliance score for one party, on the G7/G20 Research Group scale."""

    party: PartyCode
    score: Score
    rationale: str
    assessor: str
    on: PartialDate | None = None

    def __post_init__(self) -> None:
        party_code(self.party)
        if self.score not in (-1, 0, 1) or isinstance(self.score, bool):
            raise InvalidScore(self.score)


class VisitPlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A visit as planned; ``agreed_on`` (announced) starts the plan's valid time."""

    visitor: Person
    host: PartyCode
    destination: Place
    window: PartialDate
    agreed_on: PartialDate | None = None
    purpose: str = ""
    outcome: OutcomeRef | None = None
    dialogue_id: uuid.UUID | None = None
    """The dialogue the visit belongs to, if any (v3 of the visit plan events)."""
    session_id: uuid.UUID | None = None
    """The session of that dialogue the visit was made for, if any; needs ``dialogue_id``."""

    def __post_init__(self) -> None:
        party_code(self.host)
        if self.session_id is not None and self.dialogue_id is None:
            raise InvalidValue("A visit's session_id needs the dialogue_id it belongs to")
        if self.outcome and self.dialogue_id and self.outcome.dialogue_id != self.dialogue_id:
            raise InvalidValue(
                f"The visit's outcome is of dialogue {self.outcome.dialogue_id},"
                f" not of {self.dialogue_id}"
            )


class Indicator(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A figure for a relationship and period; 'nearly 600' keeps its 'nearly'."""

    name: str
    period: PartialDate
    value: Decimal
    unit: str
    approximation: Approximation = "exact"
    kind: IndicatorKind = "measured"
    subject: PartyCode | None = None
    note: str = ""
    source: Source | None = None

    def __post_init__(self) -> None:
        check_figure(self.value)
        if self.subject is not None:
            party_code(self.subject)


class Milestone(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: MilestoneKind
    on: PartialDate
    description: str
    source: Source | None = None
