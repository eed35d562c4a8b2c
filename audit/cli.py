"""`securepix audit verify` (an export against signed checkpoints, offline: no
database, no secret) and `securepix audit receipt` (a proof that an operation
was recorded, fetched from the server and checked)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from core.errors import EXIT_OK, ErrorCode, SecurePixError, UsageError

from . import http, offline
from .offline import key_argument


class AuditCheckFailed(SecurePixError):
    """The log does not verify: exit code 3, like an altered file."""

    error_code = ErrorCode.AUTHENTICATION_FAILED


def register(commands: Any) -> None:
    audit = commands.add_parser("audit", help="check the audit log: offline, or an operation's receipt")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)

    verify = audit_commands.add_parser(
        "verify", help="check a JSON Lines export against signed checkpoints and the log's public key (offline)"
    )
    verify.add_argument("export", type=Path, metavar="EXPORT.jsonl", help="a full export (format=jsonl, no filter)")
    verify.add_argument(
        "--checkpoint", type=Path, action="append", required=True, metavar="FILE", help="a signed checkpoint (repeat)"
    )
    verify.add_argument(
        "--key",
        action="append",
        required=True,
        metavar="PUBKEY",
        help="the log's verifier key, or a file holding it (repeat for the keys of earlier rotations)",
    )
    verify.add_argument("--witness-key", action="append", default=[], metavar="KEY", help="a witness's verifier key")
    verify.add_argument("--witnesses", type=int, default=0, help="cosignatures each checkpoint needs (default 0)")
    verify.set_defaults(handler=run_verify)

    receipt = audit_commands.add_parser(
        "receipt", help="fetch and check the proof that an operation (its X-SecurePix-Audit-Leaf) was recorded"
    )
    receipt.add_argument("--server", help="e.g. https://securepix.example.org")
    receipt.add_argument("--leaf", type=int, help="the X-SecurePix-Audit-Leaf of the operation")
    receipt.add_argument("--token-file", type=Path, help="your API token (else $SECUREPIX_TOKEN)")
    receipt.add_argument("--key", required=True, metavar="PUBKEY", help="the log's verifier key, or a file holding it")
    receipt.add_argument("-o", "--output", type=Path, help="save the receipt (JSON) here")
    receipt.add_argument("--check", type=Path, metavar="RECEIPT", help="only check a saved receipt, offline")
    receipt.set_defaults(handler=run_receipt)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def run_verify(args: argparse.Namespace) -> int:
    key = [key_argument(k) for k in args.key]
    witness_keys = [key_argument(k) for k in args.witness_key]
    try:
        checkpoints = [
            offline.read_checkpoint(_read(path), key, witness_keys, args.witnesses) for path in args.checkpoint
        ]
        with args.export.open(encoding="utf-8") as export:
            report = offline.verify_export(export, checkpoints)
    except OSError as exc:
        raise UsageError(f"cannot read {args.export}: {exc}") from exc
    except offline.VerificationFailed as exc:
        raise AuditCheckFailed(f"audit log BROKEN: {exc}") from exc
    sizes = ", ".join(str(size) for size in report.checkpoints)
    print(f"audit log intact: events 1-{report.signed} match the signed checkpoints of {sizes} events")
    if report.events > report.signed:
        print(
            f"events {report.signed + 1}-{report.events} are newer than every checkpoint given: not verified "
            "(fetch a newer checkpoint to cover them)"
        )
    return EXIT_OK


def run_receipt(args: argparse.Namespace) -> int:
    key = key_argument(args.key)
    if args.check is not None:
        try:
            receipt = json.loads(_read(args.check))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{args.check} is not a receipt: {exc}") from exc
    elif args.server is None or args.leaf is None:
        raise UsageError("give --server and --leaf to fetch a receipt, or --check RECEIPT to check a saved one")
    else:
        token = http.read_token(args.token_file)
        note = http.get_text(args.server, "/api/v1/audit/checkpoint")
        size = offline.read_checkpoint(note, key).checkpoint.size
        query = urllib.parse.urlencode({"index": args.leaf, "size": size})
        proof = http.get_json(args.server, f"/api/v1/audit/proof/inclusion?{query}", token)
        receipt = {"index": args.leaf, "size": size, "leaf": proof.get("leaf"), "proof": proof["proof"]}
        receipt["checkpoint"] = note
    try:
        index, size = offline.verify_receipt(receipt, key)
    except offline.VerificationFailed as exc:
        raise AuditCheckFailed(f"receipt BROKEN: {exc}") from exc
    if args.output is not None:
        args.output.write_text(json.dumps(receipt, indent=2) + "\n")
    event = json.loads(base64.b64decode(receipt["leaf"], validate=True))
    print(
        f"event {event['sequence']} ({event['action']}, {event['outcome']}, {event['created']}) is leaf {index} "
        f"of the signed log of {size} events",
        file=sys.stdout,
    )
    return EXIT_OK
