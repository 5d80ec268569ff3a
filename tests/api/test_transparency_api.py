"""The transparency routes for auditors, and Must-show 4: a relationship's audit bundle
verifies offline with nothing but `cryptography`, and any flipped byte names its event."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import venv
from pathlib import Path
from typing import Any

import pytest_asyncio
from litestar.testing import AsyncTestClient

from domain import commands as c
from entente_verify.bundle import verify_bundle
from entente_verify.merkle import verify_consistency, verify_inclusion
from entente_verify.note import Checkpoint, open_checkpoint
from tests.api.command_scenario import Driver, ids
from tests.api.conftest import TEST_LOG_KEY, auth
from tests.unit import builders as b

ROOT = Path(__file__).resolve().parents[2]
VERIFIER_VENV = ROOT / ".data" / "verifier-venv"
VERIFIER = TEST_LOG_KEY.verifier


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def signed(demo_client: AsyncTestClient[Any], tokens: dict[str, str]) -> Checkpoint:
    """A checkpoint over the whole demo, signed by the in-process worker."""
    feed = await demo_client.get("/events", params={"limit": 1000}, headers=auth(tokens["auditor"]))
    last = feed.json()["events"][-1]["position"]
    for _ in range(600):
        found = await demo_client.get(
            "/transparency/checkpoint", params={"position": last}, headers=auth(tokens["auditor"])
        )
        if found.status_code == 200:
            return open_checkpoint(found.json()["note"], VERIFIER)
        await asyncio.sleep(0.1)
    raise AssertionError("no checkpoint covered the demo")


async def test_the_routes_prove_against_signed_checkpoints(demo_client, tokens, signed):
    headers = auth(tokens["auditor"])
    key = (await demo_client.get("/transparency/key", headers=headers)).json()
    assert key["key"] == VERIFIER.text() and key["origin"] == VERIFIER.name
    latest = (await demo_client.get("/transparency/checkpoint", headers=headers)).json()
    checkpoint = open_checkpoint(latest["note"], VERIFIER)
    assert checkpoint.size == latest["tree_size"] >= signed.size
    proof = (
        await demo_client.get(
            "/transparency/inclusion",
            params={"position": 1, "tree_size": checkpoint.size},
            headers=headers,
        )
    ).json()
    assert verify_inclusion(
        proof["leaf_index"],
        checkpoint.size,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["proof"]],
        checkpoint.root,
    )
    step = (
        await demo_client.get(
            "/transparency/consistency",
            params={"first": 1, "second": checkpoint.size},
            headers=headers,
        )
    ).json()
    first_leaf = bytes.fromhex(proof["leaf_hash"]) if proof["leaf_index"] == 0 else None
    assert first_leaf is not None  # the first event is leaf 0: the tree of 1 is its hash
    path = [bytes.fromhex(h) for h in step["proof"]]
    assert verify_consistency(1, checkpoint.size, first_leaf, checkpoint.root, path)
    verified = (await demo_client.get("/verify", headers=headers)).json()
    assert verified["broken"] == [] and verified["tree"]["problems"] == []
    assert verified["tree"]["checkpoint_root_matches"] is True
    # Proofs against a tree the log does not have yet, or of nothing, are 404s.
    too_big = await demo_client.get(
        "/transparency/inclusion",
        params={"position": 1, "tree_size": 10**12},
        headers=headers,
    )
    assert too_big.status_code == 404, too_big.text
    both = await demo_client.get(
        "/transparency/inclusion",
        params={"position": 1, "event_id": "8f14e45f-ceea-467f-a0e6-0d1e2b0c3a4b"},
        headers=headers,
    )
    assert both.status_code == 400


def _flip(content: bytes, number: int, offset: int) -> bytes:
    """The bundle with one bit of byte `offset` of line `number` (1-based) flipped."""
    lines = content.split(b"\n")
    changed = bytearray(lines[number - 1])
    changed[offset] ^= 0x01
    return b"\n".join([*lines[: number - 1], bytes(changed), *lines[number:]])


def _every_byte(content: bytes) -> list[tuple[int, bytes]]:
    """(event line, bundle) for every byte of every event line flipped."""
    lines = content.rstrip(b"\n").split(b"\n")
    return [
        (number, _flip(content, number, offset))
        for number in range(2, len(lines) + 1)
        for offset in range(len(lines[number - 1]))
    ]


def _every_field(content: bytes) -> list[tuple[int, bytes]]:
    """(event line, bundle) for the first byte of each field's name and value flipped."""
    lines = content.rstrip(b"\n").split(b"\n")
    found = []
    for number in range(2, len(lines) + 1):
        line = lines[number - 1]
        for key in json.loads(line):
            at = line.index(f'"{key}":'.encode())
            found.append((number, _flip(content, number, at + 1)))
            found.append((number, _flip(content, number, at + len(key) + 3)))
    return found


def _names_only(content: bytes, flips: list[tuple[int, bytes]]) -> None:
    for line, flipped in flips:
        result = verify_bundle(flipped, VERIFIER)
        assert [e.line for e in result.failed_events()] == [line], (line, result.lines())


async def _bundle(client: AsyncTestClient[Any], pair: str, auditor: str) -> bytes:
    response = await client.get(f"/relationships/{pair}/bundle", headers=auth(auditor))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return response.content


def _verifier_python() -> Path:
    """A virtual environment with nothing but `cryptography` (cached under .data/)."""
    python = VERIFIER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import cryptography"]
    if not python.exists() or subprocess.run(probe, check=False).returncode != 0:
        venv.create(VERIFIER_VENV, clear=True, with_pip=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-c",
                str(ROOT / "constraints.txt"),
                "cryptography",
            ],
            check=True,
        )
    return python


def _offline(python: Path, work: Path, bundle: bytes) -> subprocess.CompletedProcess[str]:
    """`python -m entente_verify` in the bare environment, from a copy of that module alone."""
    copy = work / "verifier"
    if not copy.exists():
        shutil.copytree(ROOT / "entente_verify", copy / "entente_verify")
    (work / "bundle.ndjson").write_bytes(bundle)
    return subprocess.run(
        [
            str(python),
            "-s",
            "-m",
            "entente_verify",
            "--key",
            VERIFIER.text(),
            str(work / "bundle.ndjson"),
        ],
        cwd=copy,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=False,
    )


async def test_must_show_4_a_bilateral_bundle_verifies_offline_and_names_any_flipped_byte(
    demo_client, tokens, signed, tmp_path
):
    for _ in range(600):  # the bundle finds the pair's dialogues and visits in the read models
        content = await _bundle(demo_client, "KZ-US", tokens["auditor"])
        report = verify_bundle(content, VERIFIER)
        streams = {e.stream_id or "" for e in report.events}
        if len(streams) > 2:
            break
        await asyncio.sleep(0.1)
    assert report.ok, report.lines()
    assert "relationship-KZ-US" in streams
    assert any(s.startswith("dialogue-") for s in streams)
    assert any(s.startswith("visit-") for s in streams)
    _names_only(content, _every_field(content))

    python = _verifier_python()
    good = _offline(python, tmp_path, content)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.splitlines()[-1].startswith(f"VERIFIED: {len(report.events)} events")
    victim = report.events[len(report.events) // 2]
    line = content.split(b"\n")[victim.line - 1]
    letter = next(
        i for i in range(line.index(b'"data":') + 7, len(line)) if line[i : i + 1].isalpha()
    )
    bad = _offline(python, tmp_path, _flip(content, victim.line, letter))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    failed = [line for line in bad.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and str(victim.event_id) in failed[0], bad.stdout
    assert "does not match its hash" in failed[0]


async def test_every_byte_of_a_small_relationship_bundle_is_bound(demo_client, tokens):
    """Every single byte of every event, on a relationship of three events."""
    i = ids("transparency-bundle")
    pair = ("DE", "FR")
    driver = Driver(demo_client, tokens["writer"])
    for command in (
        c.RecordIndicator(parties=pair, indicator_id=i["i1"], indicator=b.indicator(2)),
        c.CorrectIndicator(
            parties=pair, indicator_id=i["i1"], indicator=b.indicator(3), reason="revised"
        ),
        c.RetractIndicator(parties=pair, indicator_id=i["i1"], reason="unsourced"),
    ):
        assert (await driver.send(command)).is_success
    for _ in range(600):
        response = await demo_client.get(
            "/relationships/DE-FR/bundle", headers=auth(tokens["auditor"])
        )
        if response.status_code == 200 and len(response.content.splitlines()) == 4:
            break
        await asyncio.sleep(0.1)
    content = response.content
    assert verify_bundle(content, VERIFIER).ok
    _names_only(content, _every_byte(content))
