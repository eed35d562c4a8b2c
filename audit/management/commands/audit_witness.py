"""`manage.py audit_witness`: witness a SecurePix audit log (audit/witness.py).

Exit codes: 0 every checkpoint was consistent and cosigned, 2 an alert
(rollback, truncation, fork, wipe, a bad signature or proof), 1 the server
could not be reached."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import tlog
from audit import http
from audit.offline import key_argument
from audit.witness import Alert, Witness

ALERT_EXIT = 2


class Command(BaseCommand):
    help = "Witness a SecurePix audit log: check each checkpoint against the last, cosign it, alert on tampering."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--server", required=True, help="the SecurePix server, e.g. https://securepix.example.org")
        parser.add_argument("--log-key", required=True, help="the log's verifier key (or a file holding it)")
        parser.add_argument("--witness-key", required=True, help="this witness's signer key (or a file holding it)")
        parser.add_argument("--state", required=True, type=Path, help="this witness's own state folder")
        parser.add_argument("--token-file", type=Path, help="an auditor's API token: consistency proofs, alerts")
        parser.add_argument("--interval", type=float, default=60.0, help="seconds between polls")
        parser.add_argument("--once", action="store_true", help="poll once and exit")
        parser.add_argument("--polls", type=int, default=0, help="stop after this many polls (0: never)")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(name)s %(message)s", level=logging.INFO)
        try:
            signer = tlog.parse_signer_key(key_argument(options["witness_key"]))
        except tlog.NoteError as exc:
            raise CommandError(f"--witness-key: {exc}") from exc
        witness = Witness(
            server=options["server"],
            log_key=key_argument(options["log_key"]),
            signer=signer,
            state_dir=options["state"],
            token=http.read_token(options["token_file"]) if options["token_file"] else "",
        )
        polls = 1 if options["once"] else options["polls"]
        done = 0
        while True:
            try:
                outcome = witness.poll()
            except http.ServerUnreachable as exc:
                self.stderr.write(f"audit_witness: {exc.message}")
                sys.exit(1)
            if isinstance(outcome, Alert):
                witness.report(outcome)
                self.stderr.write(f"ALERT {outcome.kind}: {outcome.message}")
                sys.exit(ALERT_EXIT)
            self.stdout.write(f"checkpoint of {outcome.size} events consistent and cosigned")
            done += 1
            if polls and done >= polls:
                return
            time.sleep(options["interval"])
