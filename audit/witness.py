"""A witness of the audit log: it polls the log's signed checkpoint, checks that
each is consistent with the last one it accepted, cosigns it (C2SP
tlog-cosignature) and posts the cosignature back; it alerts on a rollback, a
truncation, a fork (two roots for one size, or a history that no longer
extends the one it saw) or a wipe.  It keeps its own state in a folder of its
own, never in the server's database, and speaks only to the public endpoints
(and, for consistency proofs and alerts, with an auditor's token).  No Django."""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import tlog

from . import http

log = logging.getLogger("securepix.witness")

STATE_FILE = "state.json"
SEEN_FILE = "seen.jsonl"  # every checkpoint accepted: size and root, to tell a restored old copy


@dataclass(frozen=True)
class Alert:
    kind: str  # rollback, truncation, fork, wipe, bad_signature, bad_proof
    message: str
    size: int


@dataclass
class Witness:
    server: str
    log_key: str  # the log's verifier key
    signer: tlog.Ed25519Signer  # this witness's cosigning key (cosignature/v1)
    state_dir: Path
    token: str = ""

    def _state(self) -> tuple[int, bytes] | None:
        path = self.state_dir / STATE_FILE
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        return int(state["size"]), base64.b64decode(state["root"])

    def _seen(self, size: int, root: bytes) -> bool:
        path = self.state_dir / SEEN_FILE
        if not path.exists():
            return False
        wanted = {"size": size, "root": base64.b64encode(root).decode()}
        return any(json.loads(line) == wanted for line in path.read_text().splitlines() if line)

    def _accept(self, size: int, root: bytes) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        entry = {"size": size, "root": base64.b64encode(root).decode()}
        temporary = self.state_dir / (STATE_FILE + ".part")
        temporary.write_text(json.dumps(entry))
        temporary.replace(self.state_dir / STATE_FILE)
        if not self._seen(size, root):
            with (self.state_dir / SEEN_FILE).open("a") as seen:
                seen.write(json.dumps(entry) + "\n")

    def _seen_size(self, size: int) -> bool:
        path = self.state_dir / SEEN_FILE
        return path.exists() and any(json.loads(line)["size"] == size for line in path.read_text().splitlines() if line)

    def poll(self) -> Alert | tlog.Checkpoint:
        """One round: the checkpoint accepted and cosigned, or what is wrong."""
        note = http.get_text(self.server, "/api/v1/audit/checkpoint")
        verifier = tlog.parse_verifier_key(self.log_key)
        try:
            body = tlog.verify_note(note, [verifier]).text
            checkpoint = tlog.parse_checkpoint(body)
        except (tlog.NoteError, tlog.CheckpointError) as exc:
            return Alert("bad_signature", f"the checkpoint is not signed by {verifier.name}: {exc}", 0)
        if checkpoint.origin != verifier.name:
            return Alert("bad_signature", f"the checkpoint is of {checkpoint.origin!r}, not {verifier.name!r}", 0)
        previous = self._state()
        if previous is not None:
            alert = self._compare(previous, checkpoint)
            if alert is not None:
                return alert
        self._accept(checkpoint.size, checkpoint.root_hash)
        cosignature = tlog.cosign_checkpoint(body, self.signer, int(time.time()))
        http.post_text(self.server, "/api/v1/audit/cosignatures", note + cosignature.line)
        return checkpoint

    def _compare(self, previous: tuple[int, bytes], checkpoint: tlog.Checkpoint) -> Alert | None:
        old_size, old_root = previous
        size, root = checkpoint.size, checkpoint.root_hash
        if size == 0 and old_size > 0:
            return Alert("wipe", f"the log is empty, after {old_size} events", size)
        if size < old_size:
            if self._seen(size, root):
                return Alert("rollback", f"the log went back to an older state: {size} events, after {old_size}", size)
            if self._seen_size(size):
                return Alert("fork", f"another root for {size} events than the one this witness saw", size)
            return Alert("truncation", f"the log has {size} events, after {old_size}: the newest were cut", size)
        if size == old_size:
            if root != old_root:
                return Alert("fork", f"two different roots for {size} events", size)
            return None
        if old_size == 0:
            return None
        query = urllib.parse.urlencode({"from": old_size, "to": size})
        try:
            answer = http.get_json(self.server, f"/api/v1/audit/proof/consistency?{query}", self.token)
            proof = [base64.b64decode(p, validate=True) for p in answer["proof"]]
            tlog.verify_consistency(old_size, size, old_root, root, proof)
        except (tlog.ProofError, ValueError, KeyError, TypeError, http.ServerUnreachable) as exc:
            # a log that grew but cannot prove it extends what was seen: as good as a fork
            why = getattr(exc, "message", str(exc))
            message = f"the log of {size} events does not extend the {old_size} this witness saw: {why}"
            return Alert("fork", message, size)
        return None

    def report(self, alert: Alert) -> None:
        """The alert as a log line and, where the server still listens, an audit event."""
        log.error("ALERT %s: %s", alert.kind, alert.message)
        if self.token:
            try:
                payload = {"kind": alert.kind, "message": alert.message, "size": alert.size}
                http.post_json(self.server, "/api/v1/audit/alerts", payload, self.token)
            except http.ServerUnreachable as exc:
                log.error("the alert could not be recorded on the server: %s", exc.message)
