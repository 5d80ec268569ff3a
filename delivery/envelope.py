"""The wire format: CloudEvents 1.0 structured JSON, signed per Standard Webhooks.

Each event becomes one CloudEvent: `id` is the event id (a receiver deduplicates on it),
`source` the register, `type` the event type, `subject` the stream, `time` when it was
recorded, plus the extensions `position` (the cursor after this event, the same token
GET /events hands out: resume or replay from it) and `validfrom`/`validto` (valid time,
when the fact has one). Audit metadata (who made the change, request ids) is never sent:
reporting/disclosure.py keeps it for auditors, and a target is not one.

A webhook posts a batch (`application/cloudevents-batch+json`, a JSON array). Its
`webhook-id` is derived from the events it carries, so a retry of the same batch keeps
its id and a receiver that deduplicates on it stays correct.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from typing import Any

import msgspec
from standardwebhooks.webhooks import Webhook

from store.records import RecordedEvent

SOURCE_ENV = "ENTENTE_CLOUDEVENTS_SOURCE"
DEFAULT_SOURCE = "urn:entente:register"
BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"
EVENT_MEDIA_TYPE = "application/cloudevents+json"

_encode = msgspec.json.Encoder().encode


def source() -> str:
    """The CloudEvents `source` of this register (ENTENTE_CLOUDEVENTS_SOURCE)."""
    return os.environ.get(SOURCE_ENV, DEFAULT_SOURCE)


def cloud_event(event: RecordedEvent, origin: str) -> dict[str, Any]:
    """One recorded event as a structured-mode CloudEvent."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(event.event_id),
        "source": origin,
        "type": event.type,
        "subject": event.stream_id,
        "time": event.recorded_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "position": event.cursor.encode(),
        "streamversion": event.version,
        "data": event.data,
    }
    if event.valid_from is not None:
        envelope["validfrom"] = event.valid_from.isoformat()
    if event.valid_to is not None:
        envelope["validto"] = event.valid_to.isoformat()
    return envelope


def batch_body(events: Sequence[RecordedEvent], origin: str) -> bytes:
    """The JSON array of CloudEvents a webhook carries."""
    return _encode([cloud_event(e, origin) for e in events])


def webhook_id(subscription_id: str, events: Sequence[RecordedEvent]) -> str:
    """Stable for the same batch of the same subscription, different for any other."""
    digest = hashlib.sha256(subscription_id.encode())
    for event in events:
        digest.update(event.event_id.bytes)
    return "msg_" + digest.hexdigest()[:32]


def signed_headers(
    secret: str, message_id: str, body: bytes, now: dt.datetime | None = None
) -> dict[str, str]:
    """The Standard Webhooks headers for `body` (the standardwebhooks package signs)."""
    moment = now or dt.datetime.now(dt.UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body.decode()),
        "content-type": BATCH_MEDIA_TYPE,
    }
