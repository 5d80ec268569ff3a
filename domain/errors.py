"""Refusals of the domain: every rule broken by a command or a value has its own type.

The API maps the families onto HTTP: ``InvalidValue`` → 422, ``NotFound`` → 404,
``AlreadyExists`` → 409, ``InvariantViolated`` → 422.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal, so callers can catch the domain's word as one thing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidValue(DomainError, ValueError):
    """A value that can never be valid; also a ValueError so msgspec reports it on decode."""


class UnknownParty(InvalidValue):
    def __init__(self, code: str) -> None:
        super().__init__(f"Unknown party {code!r}: expected an ISO 3166-1 alpha-2 country code")
        self.code = code


class UnknownCurrency(InvalidValue):
    def __init__(self, code: str) -> None:
        super().__init__(f"Unknown currency {code!r}: expected an ISO 4217 code such as USD")
        self.code = code


class InvalidPartialDate(InvalidValue):
    def __init__(self, text: str, why: str = "not a date this register understands") -> None:
        super().__init__(f"Invalid partial date {text!r}: {why}")
        self.text = text


class MissingReason(InvalidValue):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} needs a non-empty reason")


class InvalidScore(InvalidValue):
    def __init__(self, score: object) -> None:
        super().__init__(f"A compliance score is -1, 0 or +1 on the G7/G20 scale, not {score}")


class UnknownEventType(DomainError):
    def __init__(self, event_type: str, schema_version: int) -> None:
        super().__init__(f"Unknown event type {event_type!r} (schema version {schema_version})")
        self.event_type = event_type


class NotFound(DomainError):
    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"No {kind} {ident} in the register")
        self.kind = kind
        self.ident = ident


class AlreadyExists(DomainError):
    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind.capitalize()} {ident} is already recorded with other details")
        self.kind = kind
        self.ident = ident


class IdInUse(AlreadyExists):
    """An id that another dialogue or pair already uses: ids are unique in the register."""

    def __init__(self, kind: str, ident: object, owner: str) -> None:
        DomainError.__init__(
            self,
            f"{kind.capitalize()} id {ident} is already used by {owner}: "
            f"choose a new id for a new {kind}",
        )
        self.kind = kind
        self.ident = ident
        self.owner = owner


class InvariantViolated(DomainError):
    """A command that would make the record say something impossible."""


class PartyCountRefused(InvariantViolated):
    """A bilateral dialogue has exactly two parties, a multilateral one three or more."""

    def __init__(self, count: int, dialogue_format: str) -> None:
        need = "exactly two" if dialogue_format == "bilateral" else "at least three"
        super().__init__(
            f"A {dialogue_format} dialogue needs {need} distinct parties, {count} given"
        )


class TooFewParties(PartyCountRefused):
    pass


class TooManyParties(PartyCountRefused):
    """Only a bilateral dialogue can have too many: a third party makes it multilateral."""


class DuplicateParties(InvariantViolated):
    """A party named twice would let a "bilateral" dialogue have one real party."""

    def __init__(self, duplicates: list[str]) -> None:
        super().__init__(
            f"A dialogue's parties are distinct; named more than once: {', '.join(duplicates)}"
        )


class NotScored(InvariantViolated):
    """Compliance is scored only for the parties an outcome names as scored."""

    def __init__(self, code: str, scored: tuple[str, ...], listed: bool) -> None:
        which = "its scored parties" if listed else "its responsible parties (no scored parties"
        which += "" if listed else " listed: add them to terms.scored to score others)"
        super().__init__(
            f"Compliance is assessed only for an outcome's scored parties; {code} is not among "
            f"{which}: {', '.join(scored)}"
        )


class PartyNotInDialogue(InvariantViolated):
    def __init__(self, code: str, role: str) -> None:
        super().__init__(f"The {role} must come from the dialogue's parties, {code} is not one")
        self.code = code


class SessionNotHeld(InvariantViolated):
    def __init__(self, session_id: object, status: str) -> None:
        super().__init__(
            f"Outcomes are adopted only at a held session; session {session_id} is {status}"
        )


class InvalidTransition(InvariantViolated):
    def __init__(self, action: str, kind: str, ident: object, current: str, hint: str = "") -> None:
        super().__init__(f"Cannot {action} {kind} {ident}: it is {current}{hint}")
        self.current = current


class DatesOutOfOrder(InvariantViolated):
    def __init__(self, later: str, earlier: str) -> None:
        super().__init__(f"Dates out of order: {later} cannot be before {earlier}")


class NothingChanges(InvariantViolated):
    def __init__(self, what: str) -> None:
        super().__init__(f"Nothing changes: the {what} is already recorded so")
