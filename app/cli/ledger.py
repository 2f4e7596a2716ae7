"""``sbt ledger ...``: export the log, verify it offline, sign a checkpoint."""

from __future__ import annotations

import base64
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import httpx
import typer
from tqdm import tqdm

from app.ledger.merkle import ProofError, verify_consistency
from app.ledger.note import NoteError, NoteVerifier, open_checkpoint
from app.ledger.verify import ExportFormatError, VerificationReport, verify_export, write_record
from app.ledger.verify_evidence import EvidenceError, verify_evidence

ledger_cli = typer.Typer(help="Tamper-evident ledger: export, offline verification, checkpoints.", no_args_is_help=True)

API_PREFIX = "/api/v1/ledger"
TokenOption = Annotated[
    str | None, typer.Option(envvar="SBT_LEDGER_TOKEN", help="Bearer token with the ledger:read scope.")
]


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def download_export(base_url: str, output: Path, headers: dict[str, str], client: httpx.Client | None = None) -> None:
    """Stream ``GET /api/v1/ledger/export`` of the service at ``base_url`` into ``output``."""
    http = client or httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0, read=None))
    try:
        with http.stream("GET", API_PREFIX + "/export", headers=headers) as response:
            if response.status_code != httpx.codes.OK:
                response.read()
                raise typer.BadParameter(f"export failed: HTTP {response.status_code} {response.text[:300]}")
            with output.open("w", encoding="utf-8") as handle:
                for chunk in response.iter_text():
                    handle.write(chunk)
    finally:
        if client is None:
            http.close()


def check_served_consistency(
    report: VerificationReport, saved: dict[str, str], headers: dict[str, str], client: httpx.Client
) -> list[str]:
    """Ask the live service for RFC 9162 consistency proofs from each saved checkpoint; verify them."""
    latest = report.latest_checkpoint
    verifier = NoteVerifier.parse(report.verifier_key)
    problems: list[str] = []
    if latest is None:
        return problems
    for source, note in saved.items():
        try:
            old = open_checkpoint(note, verifier)
        except NoteError:
            continue  # already reported by the offline check
        new = latest.checkpoint
        if not 0 < old.tree_size < new.tree_size:
            continue
        response = client.get(
            API_PREFIX + "/proofs/consistency",
            params={"first": old.tree_size, "second": new.tree_size},
            headers=headers,
        )
        try:
            response.raise_for_status()
            proof = [base64.b64decode(h) for h in response.json()["hashes"]]
            verify_consistency(old.tree_size, new.tree_size, proof, old.root_hash, new.root_hash)
        except (httpx.HTTPError, ProofError, KeyError, ValueError) as exc:
            problems.append(f"service gave no valid consistency proof from saved checkpoint {source}: {exc}")
    return problems


def print_report(report: VerificationReport, extra_problems: list[str]) -> bool:
    pin = "pinned" if report.key_pinned else "taken from the export — pin it with --key next time"
    print(f"log:         {report.origin}")
    print(f"key:         {report.verifier_key} ({pin})")
    print(f"entries:     {report.entries}")
    print(f"root:        {base64.b64encode(report.root).decode()}")
    latest = report.latest_checkpoint
    signed = f"{len(report.checkpoints)} valid" + (f", latest covers {latest.checkpoint.tree_size}" if latest else "")
    print(f"checkpoints: {signed}")
    first = report.first_bad
    if first is None and not extra_problems:
        print("OK: every leaf hash and root recomputed; checkpoints signed, matching and consistent.")
        return True
    if first is not None:
        print(f"TAMPERED — first bad {first}")
    for finding in report.findings:
        print(f"  - {finding}")
    for problem in extra_problems:
        print(f"  - {problem}")
    return False


KeyOption = Annotated[
    str | None,
    typer.Option(help="The log's verifier key (text, or a file holding it) obtained out of band."),
]


def pinned_key(key: str | None) -> NoteVerifier | None:
    """``--key``: the verifier key's text, or a file holding it; None when not given."""
    key_text = Path(key).read_text().strip() if key and Path(key).is_file() else key
    return NoteVerifier.parse(key_text) if key_text else None


@ledger_cli.command("verify")
def verify(
    source: Annotated[str, typer.Argument(help="Export file (NDJSON) or the service's base URL.")],
    key: KeyOption = None,
    checkpoint: Annotated[
        list[Path] | None, typer.Option(help="A checkpoint note you saved earlier (repeatable).")
    ] = None,
    save_checkpoint: Annotated[
        Path | None, typer.Option(help="Write the newest verified checkpoint here for your next run.")
    ] = None,
    token: TokenOption = None,
) -> None:
    """Recompute every leaf and root of an export and check signatures and consistency; exit 1 if tampered."""
    pinned = pinned_key(key)
    saved = {str(path): path.read_text() for path in checkpoint or []}
    headers = _headers(token)
    is_url = source.startswith(("http://", "https://"))
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "ledger.ndjson" if is_url else Path(source)
        if is_url:
            download_export(source, path, headers)
        with tqdm(unit=" entries", desc="verifying", disable=None, file=sys.stderr) as bar:
            try:
                report = verify_export(path, verifier_key=pinned, saved_checkpoints=saved, progress=bar.update)
            except (ExportFormatError, OSError) as exc:
                raise typer.BadParameter(str(exc)) from exc
    extra: list[str] = []
    if is_url and saved:
        with httpx.Client(base_url=source, timeout=30.0) as client:
            extra = check_served_consistency(report, saved, headers, client)
    ok = print_report(report, extra)
    latest = report.latest_checkpoint
    if ok and save_checkpoint and latest:
        save_checkpoint.write_text(latest.note)
        print(f"saved checkpoint {latest.checkpoint.tree_size} to {save_checkpoint}")
    raise typer.Exit(0 if ok else 1)


@ledger_cli.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="NDJSON file to write.")],
    url: Annotated[str | None, typer.Option(help="Service base URL; default: the local database.")] = None,
    token: TokenOption = None,
) -> None:
    """Write the whole log (entries, checkpoints, tree hashes) for offline verification."""
    if url:
        download_export(url, output, _headers(token))
    else:
        from app.core.config import get_settings
        from app.core.db import make_engine, make_sessionmaker
        from app.ledger.export import export_records

        settings = get_settings()
        engine = make_engine(settings.sqlalchemy_url)
        try:
            with output.open("w", encoding="utf-8") as handle:
                for record in export_records(make_sessionmaker(engine), settings):
                    write_record(handle, record)
        finally:
            engine.dispose()
    print(f"wrote {output}")


@ledger_cli.command("verify-evidence")
def verify_case_evidence(
    file: Annotated[Path, typer.Argument(help="A bundle saved from GET /api/v1/ledger/cases/{case_id}/evidence.")],
    key: KeyOption = None,
) -> None:
    """Check a case's evidence bundle offline: signatures, each entry's inclusion, the unbroken case history."""
    try:
        pinned = pinned_key(key)
        report = verify_evidence(file.read_bytes(), pinned)
    except (EvidenceError, NoteError, OSError) as exc:
        # One line, whatever failed: a bad key, an unreadable file or a bundle that proves nothing.
        typer.echo("FAILED: " + " ".join(str(exc).split()), err=True)
        raise typer.Exit(1) from None
    pin = "pinned" if report.key_pinned else "taken from the bundle — pin it with --key next time"
    print(f"case:        {report.case_id}")
    print(f"log:         {report.origin}")
    print(f"key:         {report.verifier_key} ({pin})")
    print(f"checkpoint:  tree size {report.tree_size}, signature verified")
    print(
        f"entries:     {len(report.seqs)} (entry {report.seqs[0]} to {report.seqs[-1]}), each in the checkpointed tree"
    )
    if report.unlinked:
        print(f"note:        the first {report.unlinked} predate per-case links; the signed case head counts them")
    print("OK: every entry names the one before it; the log's signed case head names the last.")


@ledger_cli.command("checkpoint")
def checkpoint_now() -> None:
    """Sign a checkpoint covering every entry now (for a cron job when writes are rare)."""
    from app.core.config import get_settings
    from app.core.db import make_engine, make_sessionmaker, transaction
    from app.ledger.service import current_checkpoint

    settings = get_settings()
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            signed = current_checkpoint(session, settings, fresh=True)
        print(signed.note, end="")
    finally:
        engine.dispose()
