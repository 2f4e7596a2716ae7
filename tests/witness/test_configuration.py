"""``SBT_WITNESSES`` and ``SBT_WITNESS_QUORUM``: what starts, and the one line naming the variable for what does not."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import ConfigurationError, Settings
from app.ledger.cosignature import Cosigner
from app.ledger.witnessing import Witnesses


def test_witnesses_are_url_and_key_pairs_and_the_default_quorum_is_a_majority() -> None:
    keys = [Cosigner.generate(f"w{i}.example").verifier().text() for i in range(5)]
    settings = Settings(_env_file=None, witnesses=",".join(f"http://w{i}:8090/ {key}" for i, key in enumerate(keys)))
    witnesses = Witnesses.of(settings)
    assert [m.url for m in witnesses.members] == [f"http://w{i}:8090" for i in range(5)]
    assert witnesses.policy.describe() == "3 of 5 (w0.example, w1.example, w2.example, w3.example, w4.example)"
    assert not Witnesses.of(Settings(_env_file=None, witness_quorum=3)).enabled  # no witnesses: the quorum is moot


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"witnesses": "w1:8090 key"}, "SBT_WITNESSES: each witness is `<http(s) URL> <vkey>`"),
        ({"witnesses": "http://w1:8090"}, "SBT_WITNESSES: each witness is `<http(s) URL> <vkey>`"),
        ({"witnesses": "http://w1:8090 key", "witness_quorum": 2}, "SBT_WITNESS_QUORUM (2) exceeds the 1"),
    ],
)
def test_a_malformed_witness_setting_names_its_variable(variables: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, **variables)  # type: ignore[arg-type]
    assert message in str(ConfigurationError.from_validation(raised.value))


def test_a_witness_key_that_cannot_be_read_is_one_configuration_line() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Witnesses.of(Settings(_env_file=None, witnesses="http://w1:8090 w1.example+00000000+AAAA"))
    assert str(raised.value).count("\n") == 0
    assert str(raised.value).startswith("configuration error: SBT_WITNESSES: ")
