"""``sbt ledger ...``: export the log, verify it offline, sign a checkpoint, audit the tables against it."""

from __future__ import annotations

import base64
import sys
import tempfile
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import httpx
import typer
from tqdm import tqdm

from app.ledger.cosignature import CosignatureVerifier
from app.ledger.merkle import ProofError, verify_consistency
from app.ledger.note import NoteError, NoteVerifier
from app.ledger.verify import ExportFormatError, VerificationReport, binary_chunks, ndjson_chunks, verify_export
from app.ledger.verify_evidence import EvidenceError, verify_evidence
from app.ledger.witness_policy import PolicyError, WitnessPolicy

ledger_cli = typer.Typer(help="Tamper-evident ledger: export, offline verification, checkpoints.", no_args_is_help=True)

API_PREFIX = "/api/v1/ledger"
TokenOption = Annotated[
    str | None, typer.Option(envvar="SBT_LEDGER_TOKEN", help="Bearer token with the ledger:read scope.")
]

WitnessOption = Annotated[
    list[str] | None,
    typer.Option(
        "--witness",
        help="A witness's cosignature key (vkey text, or a file holding it), from `sbt witness key`; repeatable.",
    ),
]
QuorumOption = Annotated[
    int | None, typer.Option(min=0, help="How many of the --witness keys must have cosigned (default: all of them).")
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy", help="A C2SP tlog-policy file (witness, group and quorum lines), instead of --witness/--quorum."
    ),
]


class Unusable(Exception):
    """Input the command cannot use (a bad key, an unreadable file, a failed download): one line, exit 2."""


class ExportFormat(StrEnum):
    ndjson = "ndjson"
    binary = "binary"


EXPORT_PATHS = {ExportFormat.ndjson: "/export", ExportFormat.binary: "/export.bin"}


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def download_export(
    base_url: str,
    output: Path,
    headers: dict[str, str],
    client: httpx.Client | None = None,
    export_format: ExportFormat = ExportFormat.ndjson,
) -> None:
    """Stream the service's export at ``base_url`` into ``output``; ``Unusable`` when it cannot be had."""
    http = client or httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0, read=None))
    try:
        with http.stream("GET", API_PREFIX + EXPORT_PATHS[export_format], headers=headers) as response:
            if response.status_code != httpx.codes.OK:
                response.read()
                text = " ".join(response.text[:300].split())
                raise Unusable(f"export failed: HTTP {response.status_code} {text}")
            with output.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
    except httpx.HTTPError as exc:
        raise Unusable(f"export failed: {exc}") from exc
    finally:
        if client is None:
            http.close()


def check_served_consistency(
    report: VerificationReport, saved: dict[str, str], headers: dict[str, str], client: httpx.Client
) -> list[str]:
    """Ask the live service for RFC 9162 consistency proofs from each saved checkpoint; verify them."""
    latest = report.latest_checkpoint
    accepted = {checked.source: checked.checkpoint for checked in report.checkpoints}
    problems: list[str] = []
    if latest is None:
        return problems
    for source in saved:
        old = accepted.get(source)
        if old is None:
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
    for number, rotated in enumerate(report.keys[1:], start=1):
        print(f"rotation {number}:  {rotated} (introduced and authorised in the log)")
    print(f"entries:     {report.entries}")
    print(f"root:        {base64.b64encode(report.root).decode()}")
    latest = report.latest_checkpoint
    signed = f"{len(report.checkpoints)} valid" + (f", latest covers {latest.checkpoint.tree_size}" if latest else "")
    print(f"checkpoints: {signed}")
    if report.witnessed_by is not None:
        print(f"witnesses:   latest checkpoint cosigned by {', '.join(report.witnessed_by) or 'none'}")
    first = report.first_bad
    if first is None and not extra_problems:
        print("OK: every leaf hash and root recomputed; checkpoints signed, matching and consistent.")
        return True
    if first is not None:
        print(f"TAMPERED — first bad {first}")
    for finding in report.findings:
        if finding is not first:
            print(f"  - {finding}")
    for problem in extra_problems:
        print(f"  - {problem}")
    return False


def _pinned_key(key: str | None) -> NoteVerifier | None:
    if not key:
        return None
    try:
        text = Path(key).read_text(encoding="utf-8").strip() if Path(key).is_file() else key
        return NoteVerifier.parse(text)
    except (OSError, UnicodeDecodeError, NoteError) as exc:
        raise Unusable(f"--key: {exc}") from exc


def _witness_policy(witnesses: list[str] | None, quorum: int | None, policy_file: Path | None) -> WitnessPolicy | None:
    """The witness policy the checkpoint must satisfy, or None when none is given."""
    try:
        if policy_file is not None:
            if witnesses or quorum is not None:
                raise Unusable("give either --policy or --witness/--quorum, not both")
            return WitnessPolicy.parse(policy_file.read_text(encoding="utf-8"))
        if not witnesses:
            if quorum:
                raise Unusable("--quorum needs --witness keys")
            return None
        keys = []
        for text in witnesses:
            path = Path(text)
            keys.append(CosignatureVerifier.parse(path.read_text(encoding="utf-8") if path.is_file() else text))
        return WitnessPolicy.threshold(keys, len(keys) if quorum is None else quorum)
    except (OSError, UnicodeDecodeError) as exc:
        raise Unusable(f"witness policy: {exc}") from exc
    except (NoteError, PolicyError) as exc:
        raise Unusable(f"witness policy: {exc}") from exc


def _saved_checkpoints(paths: list[Path]) -> dict[str, str]:
    try:
        return {str(path): path.read_text(encoding="utf-8") for path in paths}
    except (OSError, UnicodeDecodeError) as exc:
        raise Unusable(f"--checkpoint: {exc}") from exc


def _unusable_exit(error: Unusable) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(2)


@ledger_cli.command("verify")
def verify(
    source: Annotated[str, typer.Argument(help="Export file (either format) or the service's base URL.")],
    key: Annotated[
        str | None,
        typer.Option(help="The log's verifier key (text, or a file holding it) obtained out of band."),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None, typer.Option(help="A checkpoint note you saved earlier (repeatable).")
    ] = None,
    save_checkpoint: Annotated[
        Path | None, typer.Option(help="Write the newest verified checkpoint here for your next run.")
    ] = None,
    token: TokenOption = None,
    witness: WitnessOption = None,
    quorum: QuorumOption = None,
    policy: PolicyOption = None,
) -> None:
    """Recompute every leaf and root of an export and check signatures and consistency; with a witness policy,
    also that the latest checkpoint carries its quorum of valid witness cosignatures.

    Exit 1 if the log was tampered with (or is not witnessed), 2 (one line on stderr) if the key, the policy, a
    file or the download is unusable.
    """
    try:
        witness_policy = _witness_policy(witness, quorum, policy)
        saved = _saved_checkpoints(checkpoint or [])
        report, extra = _verify(source, _pinned_key(key), saved, _headers(token), witness_policy)
    except Unusable as error:
        raise _unusable_exit(error) from None
    ok = print_report(report, extra)
    latest = report.latest_checkpoint
    if ok and save_checkpoint and latest:
        save_checkpoint.write_text(latest.note)
        print(f"saved checkpoint {latest.checkpoint.tree_size} to {save_checkpoint}")
    raise typer.Exit(0 if ok else 1)


def _verify(
    source: str,
    pinned: NoteVerifier | None,
    saved: dict[str, str],
    headers: dict[str, str],
    policy: WitnessPolicy | None,
) -> tuple[VerificationReport, list[str]]:
    is_url = source.startswith(("http://", "https://"))
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "ledger.sbtlog" if is_url else Path(source)
        if is_url:
            download_export(source, path, headers, export_format=ExportFormat.binary)
        with tqdm(unit=" entries", desc="verifying", disable=None, file=sys.stderr) as bar:
            try:
                report = verify_export(
                    path, verifier_key=pinned, saved_checkpoints=saved, progress=bar.update, policy=policy
                )
            except ExportFormatError as exc:
                raise Unusable(f"{source}: {exc}") from exc
            except OSError as exc:
                raise Unusable(f"{source}: {exc.strerror or exc}") from exc
    extra: list[str] = []
    if is_url and saved:
        with httpx.Client(base_url=source, timeout=30.0) as client:
            extra = check_served_consistency(report, saved, headers, client)
    return report, extra


@ledger_cli.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    url: Annotated[str | None, typer.Option(help="Service base URL; default: the local database.")] = None,
    export_format: Annotated[
        ExportFormat,
        typer.Option("--format", help="ndjson (sbt-ledger-export/1) or binary (sbt-ledger-binary/1, verifies fast)."),
    ] = ExportFormat.ndjson,
    token: TokenOption = None,
) -> None:
    """Write the whole log (every signed checkpoint, the entries, tree hashes) for offline verification."""
    if url:
        try:
            download_export(url, output, _headers(token), export_format=export_format)
        except Unusable as error:
            raise _unusable_exit(error) from None
    else:
        from app.core.config import get_settings
        from app.core.db import make_engine, make_sessionmaker
        from app.ledger.export import export_records

        settings = get_settings()
        engine = make_engine(settings.sqlalchemy_url)
        try:
            records = export_records(make_sessionmaker(engine), settings)
            with output.open("wb") as handle:
                if export_format is ExportFormat.binary:
                    handle.writelines(binary_chunks(records))
                else:
                    handle.writelines(ndjson_chunks(records))
        finally:
            engine.dispose()
    print(f"wrote {output}")


@ledger_cli.command("verify-evidence")
def verify_case_evidence(
    file: Annotated[Path, typer.Argument(help="A bundle saved from GET /api/v1/ledger/cases/{case_id}/evidence.")],
    key: Annotated[
        str | None,
        typer.Option(help="The log's verifier key (text, or a file holding it) obtained out of band."),
    ] = None,
    witness: WitnessOption = None,
    quorum: QuorumOption = None,
    policy: PolicyOption = None,
) -> None:
    """Check a case's evidence bundle offline: signatures, each entry's inclusion, the unbroken case history; with
    a witness policy, the checkpoint's quorum of witness cosignatures.

    Exit 1 (one line) if the bundle does not prove it, 2 (one line) if the key, the policy or the file is unusable.
    """
    try:
        pinned = _pinned_key(key)
        witness_policy = _witness_policy(witness, quorum, policy)
        data = file.read_bytes()
    except Unusable as error:
        raise _unusable_exit(error) from None
    except OSError as exc:
        raise _unusable_exit(Unusable(f"{file}: {exc.strerror or exc}")) from None
    try:
        report = verify_evidence(data, pinned, witness_policy)
    except EvidenceError as exc:
        typer.echo("FAILED: " + " ".join(str(exc).split()), err=True)
        raise typer.Exit(1) from None
    pin = "pinned" if report.key_pinned else "taken from the bundle — pin it with --key next time"
    print(f"case:        {report.case_id}")
    print(f"log:         {report.origin}")
    print(f"key:         {report.verifier_key} ({pin})")
    print(f"checkpoint:  tree size {report.tree_size}, signature verified")
    if report.witnessed_by is not None:
        print(f"witnesses:   cosigned by {', '.join(report.witnessed_by) or 'none'}, as the policy needs")
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


def _print_differences(lines: list[str], rows: int, scope: str) -> None:
    for line in lines:
        print(line)
    if lines:
        print(f"DIFFERENT: {len(lines)} difference(s) between the tables and the ledger ({scope}, {rows} rows)")
    else:
        print(f"OK: {rows} rows match the state the ledger implies ({scope})")


def audit_live_service(
    http: httpx.Client,
    token: str | None,
    pinned: NoteVerifier | None,
    case: uuid.UUID | None,
    from_seq: int | None,
    to_seq: int | None,
) -> bool:
    """The state audit of a live service (``app.cli.remote_state_audit``), printed as the local one prints;
    True when it found no difference. ``Unusable`` when the service cannot be read."""
    from app.cli import remote_state_audit as remote

    headers = _headers(token) | {"X-Purpose": "state audit against the ledger"}
    try:
        leaves = remote.proven_leaves(
            pinned,
            lambda path: download_export(str(http.base_url), path, headers, http, ExportFormat.binary),
        )
        outcome = remote.audit_served(http, headers, leaves, case=case, first_seq=from_seq, last_seq=to_seq)
    except remote.LedgerNotProven as failed:
        print_report(failed.report, [])
        return False
    except remote.ServiceUnusable as exc:
        raise Unusable(f"state audit failed: {exc}") from exc
    _print_differences(
        [difference.line() for difference in outcome.differences], outcome.rows, _scope(case, from_seq, to_seq)
    )
    return not outcome.differences


def _scope(case: uuid.UUID | None, from_seq: int | None, to_seq: int | None) -> str:
    if case is not None:
        return f"case {case}"
    if from_seq is not None or to_seq is not None:
        return f"entries {from_seq or 0}..{'' if to_seq is None else to_seq}"
    return "everything"


@ledger_cli.command("audit-state")
def audit_state(
    case: Annotated[uuid.UUID | None, typer.Option("--case", help="Audit only this case's rows.")] = None,
    from_seq: Annotated[
        int | None, typer.Option(min=0, help="Audit the rows the entries from this position on touched.")
    ] = None,
    to_seq: Annotated[int | None, typer.Option(min=0, help="... up to this position (inclusive).")] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="A live service: audit what it serves (cases, agency records, transitions) against its verified "
            "ledger export, with an auditor token."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="SBT_AUDITOR_TOKEN", help="An auditor's bearer token (with --url): audit, ledger, cases."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="With --url: the log's verifier key (text, or a file holding it) obtained out of band."),
    ] = None,
) -> None:
    """Replay the ledger into the state it implies and compare it with the tables; exit 1 on any difference.

    One line per difference: table, row id, column, the ledger's value and entry, the table's value; a row the
    ledger made and the table lacks (missing), or one no entry made (extra)."""
    if url:
        try:
            with httpx.Client(base_url=url, timeout=httpx.Timeout(30.0, read=None)) as http:
                ok = audit_live_service(http, token, _pinned_key(key), case, from_seq, to_seq)
        except Unusable as error:
            raise _unusable_exit(error) from None
        raise typer.Exit(0 if ok else 1)
    from app.audit import state
    from app.core.config import get_settings
    from app.core.db import make_engine, make_sessionmaker

    engine = make_engine(get_settings().sqlalchemy_url)
    try:
        with make_sessionmaker(engine, read_only=True)() as session:
            state.use_snapshot(session)
            if case is not None:
                outcome = state.audit_cases(session, [case])
            elif from_seq is not None or to_seq is not None:
                cases, clients = state.cases_in_range(session, from_seq or 0, to_seq)
                outcome = state.audit_cases(session, cases)
                if clients:
                    outcome = state.combined(outcome, state.audit_clients(session))
            else:
                outcome = state.audit_everything(session)
    finally:
        engine.dispose()
    lines = [difference.line() for difference in outcome.differences]
    _print_differences(lines, outcome.rows, _scope(case, from_seq, to_seq))
    raise typer.Exit(1 if outcome.differences else 0)
