"""A caller's X-Request-ID is kept only when it is safe to log as it is."""

from __future__ import annotations

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from api.request_context import request_ids


@get("/echo", sync_to_thread=False)
def echo() -> str:
    return "ok"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-42.a:b", True),
        ("ent_0a0a0a0a0a0a_s3cr3tvalue", False),  # shaped like a key: never logged as is
        ("token=abc", False),
        ("x" * 129, False),
    ],
)
def test_a_request_id_is_kept_only_when_sane_and_secret_free(sent, kept):
    with TestClient(Litestar([echo], middleware=[request_ids])) as client:
        answered = client.get("/echo", headers={"X-Request-ID": sent}).headers["x-request-id"]
    assert (answered == sent) is kept
    assert answered
