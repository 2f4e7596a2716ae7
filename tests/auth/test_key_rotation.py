"""``sbt keys rotate --oauth``: the new key is in the JWKS before it signs, the old one verifies its tokens until they
have expired, and every replica sharing the key directory follows the ring without a restart (decision 0035)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.api.dependencies.auth import auth_runtime
from app.auth import keys
from app.auth.jws import unverified_parts
from app.auth.runtime import build_runtime
from app.cli import cli
from app.core.config import Settings
from tests.auth_helpers import AuthHeaders

READ_ROUTE = "/api/v1/reference/agencies"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def kid_of(token: str) -> str:
    header, _ = unverified_parts(token)
    return str(header["kid"])


def published(ring: keys.KeyRing) -> list[str]:
    return [key["kid"] for key in ring.jwks()["keys"]]


def test_a_new_key_is_published_before_it_signs_and_the_old_one_until_its_tokens_have_expired(tmp_path: Path) -> None:
    clock = Clock(1_800_000_000)
    ring = keys.KeyRing(tmp_path, now=clock)
    old = ring.signing_key().kid
    assert published(ring) == [old]

    rotation = keys.rotate(tmp_path, prepublish_seconds=600, retire_after_seconds=630, now=clock)
    new = rotation.new_kid
    assert published(ring) == [old, new], "published at once, beside the key that still signs"
    assert ring.signing_key().kid == old
    assert rotation.retiring[0][0] == old

    clock.now += 600
    assert ring.signing_key().kid == new
    assert published(ring) == [old, new], "the old key's last tokens are still valid"

    clock.now += 629
    assert published(ring) == [old, new]
    clock.now += 1
    assert published(ring) == [new], "dropped once every token it signed has expired"

    again = keys.rotate(tmp_path, prepublish_seconds=0, retire_after_seconds=630, now=clock)
    assert again.dropped == [keys.KEY_FILE_NAME], "the retired key's file is removed by the next rotation"
    assert not (tmp_path / keys.KEY_FILE_NAME).exists()
    assert ring.signing_key().kid == again.new_kid


def test_another_replica_reads_the_rotated_ring_without_a_restart(tmp_path: Path) -> None:
    replica_a, replica_b = keys.KeyRing(tmp_path), keys.KeyRing(tmp_path)
    old = replica_b.signing_key().kid
    rotation = keys.rotate(tmp_path, prepublish_seconds=0, retire_after_seconds=60)
    assert replica_a.signing_key().kid == rotation.new_kid
    assert replica_b.signing_key().kid == rotation.new_kid
    assert set(published(replica_b)) == {old, rotation.new_kid}
    # A separate process reading the same key directory sees the same ring.
    script = "import json, sys; from pathlib import Path; from app.auth.keys import KeyRing; "
    script += "print(json.dumps(KeyRing(Path(sys.argv[1])).jwks()))"
    output = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, check=True, text=True
    )
    assert {key["kid"] for key in json.loads(output.stdout)["keys"]} == {old, rotation.new_kid}


def test_a_ring_file_naming_a_path_outside_the_key_directory_is_refused(tmp_path: Path) -> None:
    keys.KeyRing(tmp_path).signing_key()
    (tmp_path / keys.RING_FILE_NAME).write_text(json.dumps({"keys": [{"file": "../elsewhere.pem"}]}))
    with pytest.raises(ValueError, match="not a key file name in the key directory"):
        keys.KeyRing(tmp_path).jwks()


@pytest.fixture
def immediate(settings: Settings) -> Settings:
    settings.auth_key_prepublish_seconds = 0
    return settings


def test_tokens_of_both_keys_are_accepted_during_the_overlap_on_every_replica(
    immediate: Settings, app: FastAPI, client: TestClient, auth_headers: AuthHeaders
) -> None:
    # Another replica on the same database and key directory, its JWKS cache filled before the rotation.
    replica = build_runtime(immediate, app.state.sessionmaker, app.state.shared_state)
    before = auth_headers("BKN")
    old_token = before["Authorization"].removeprefix("Bearer ")
    assert replica.verifier.verify(old_token).client_id == "test-bkn"

    rotation = keys.rotate(immediate.keys_path, prepublish_seconds=0, retire_after_seconds=630)
    after = auth_headers("BKN")
    new_token = after["Authorization"].removeprefix("Bearer ")
    assert kid_of(old_token) != rotation.new_kid
    assert kid_of(new_token) == rotation.new_kid, "new tokens are signed by the new key"

    assert client.get(READ_ROUTE, headers=before).status_code == 200, "an old token is accepted until it expires"
    assert client.get(READ_ROUTE, headers=after).status_code == 200
    assert replica.verifier.verify(new_token).client_id == "test-bkn", "the other replica follows the ring"

    jwks = client.get("/.well-known/jwks.json")
    assert {key["kid"] for key in jwks.json()["keys"]} == {kid_of(old_token), rotation.new_kid}
    assert jwks.headers["cache-control"] == "public, max-age=0", "cached no longer than the pre-publication"
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["jwks_uri"] == immediate.auth_issuer.rstrip("/") + "/.well-known/jwks.json"


def test_during_the_pre_publication_tokens_are_still_signed_by_the_old_key(
    app: FastAPI, client: TestClient, auth_headers: AuthHeaders, settings: Settings
) -> None:
    old = auth_runtime(app).issuer.key.kid  # type: ignore[union-attr]
    rotation = keys.rotate(settings.keys_path, prepublish_seconds=3600, retire_after_seconds=630)
    assert kid_of(auth_headers("BKN")["Authorization"].removeprefix("Bearer ")) == old
    assert rotation.new_kid in {key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]}
    assert client.get("/.well-known/jwks.json").headers["cache-control"] == "public, max-age=300"


@pytest.mark.real_commits  # the CLI opens its own engine
def test_the_command_rotates_the_issuer_key(cli_env: Settings, client: TestClient, auth_headers: AuthHeaders) -> None:
    old = auth_headers("BKN")
    result = CliRunner().invoke(cli, ["keys", "rotate", "--oauth"])
    assert result.exit_code == 0, result.output
    new_kid = result.stdout.split()[1].rstrip(":")
    assert "published now, signs from" in result.stdout
    assert "published until" in result.stdout
    assert new_kid in {key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]}
    assert client.get(READ_ROUTE, headers=old).status_code == 200
    assert CliRunner().invoke(cli, ["keys", "rotate"]).exit_code == 2
    assert CliRunner().invoke(cli, ["keys", "rotate", "--oauth", "--ledger"]).exit_code == 2
