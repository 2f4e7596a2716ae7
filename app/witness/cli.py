"""``sbt witness ...`` (or ``python -m app.witness ...``): run a witness for SBT's ledger (C2SP tlog-witness),
print its key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.ledger.cosignature import Cosigner
from app.ledger.note import NoteError, NoteVerifier
from app.ledger.signing import load_signer

witness_cli = typer.Typer(help="A witness that cosigns the ledger's checkpoints (C2SP tlog-witness).")

KeyFileOption = Annotated[
    Path,
    typer.Option(
        envvar="SBT_WITNESS_KEY_FILE", help="The witness's Ed25519 key (note private key); created if missing."
    ),
]
NameOption = Annotated[
    str,
    typer.Option(
        envvar="SBT_WITNESS_NAME",
        help="The witness's key name, a schema-less URL (e.g. witness.bkn.go.id/sbt); must match an existing key.",
    ),
]


def _cosigner(key_file: Path, name: str) -> Cosigner:
    try:
        return Cosigner.of(load_signer(key_file, name))
    except (OSError, NoteError) as exc:
        typer.echo(f"error: witness key {key_file}: {exc}", err=True)
        raise typer.Exit(2) from None


def _log_key(text: str) -> NoteVerifier:
    try:
        path = Path(text)
        return NoteVerifier.parse(path.read_text(encoding="utf-8") if path.is_file() else text)
    except (OSError, UnicodeDecodeError, NoteError) as exc:
        typer.echo(f"error: --log-key: {exc}", err=True)
        raise typer.Exit(2) from None


@witness_cli.command("key")
def key(key_file: KeyFileOption, name: NameOption) -> None:
    """Print the witness's cosignature verifier key (vkey, type 0x04) for the log's SBT_WITNESSES and policies."""
    typer.echo(_cosigner(key_file, name).verifier().text())


@witness_cli.command("serve")
def serve(
    key_file: KeyFileOption,
    name: NameOption,
    log_key: Annotated[
        list[str],
        typer.Option(
            envvar="SBT_WITNESS_LOG_KEY",
            help="The log's verifier key (text or a file; GET /api/v1/ledger/verifier-key), obtained out of band. "
            "Repeatable: one per log, or per key of a log during a key rotation.",
        ),
    ],
    state: Annotated[
        Path, typer.Option(envvar="SBT_WITNESS_STATE", help="SQLite file of the witness's cosigned checkpoints.")
    ],
    host: str = "127.0.0.1",
    port: int = 8090,
) -> None:
    """Serve POST /add-checkpoint and GET /<sha256(origin)>/checkpoint; never forgets a cosigned checkpoint."""
    import uvicorn

    from app.witness.server import create_witness_app
    from app.witness.service import Witness
    from app.witness.state import WitnessState

    cosigner = _cosigner(key_file, name)
    logs = [_log_key(text) for text in log_key]
    witness = Witness(cosigner, logs, WitnessState(state))
    typer.echo(f"witness {cosigner.verifier().text()} for {', '.join(log.name for log in logs)}", err=True)
    uvicorn.run(create_witness_app(witness), host=host, port=port, log_level="info", server_header=False)
