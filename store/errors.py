"""What can go wrong when writing to or reading from the event store."""


class EventStoreError(Exception):
    """Base of every error the store raises on purpose."""


class WrongExpectedVersion(EventStoreError):
    """Another writer got there first: the caller's view of the stream is stale."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        super().__init__(f"stream {stream_id} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class IdempotencyKeyReused(EventStoreError):
    """The key was already spent on a different request; replaying would lie."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request")
        self.key = key


class InvalidCursor(EventStoreError):
    """A cursor that this store did not hand out."""


class DuplicateEventId(EventStoreError):
    """An event id that is already in the log: ids are global and never reused."""
