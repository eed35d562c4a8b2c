"""The test vectors of docs/AUDIT.md (tests/vectors/audit_log.json): leaf
bytes, leaf and tree hashes, a signed checkpoint, a witness cosignature and
proofs, recomputed by SecurePix's own code."""

from __future__ import annotations

import json
from pathlib import Path

import tlog
from audit.chain import canonical
from audit.offline import LEAF_FIELDS, leaf_bytes, read_checkpoint

VECTORS = json.loads((Path(__file__).parent / "vectors" / "audit_log.json").read_text())


def test_leaf_bytes_and_hashes() -> None:
    for event, expected_bytes, expected_hash in zip(
        VECTORS["events"], VECTORS["leaf_bytes"], VECTORS["leaf_hashes"], strict=True
    ):
        assert set(event) == set(LEAF_FIELDS)
        assert canonical(event).decode() == expected_bytes == leaf_bytes(event).decode()
        assert tlog.leaf_hash(expected_bytes.encode()).hex() == expected_hash


def test_tree_roots_and_proofs() -> None:
    hashes = [bytes.fromhex(h) for h in VECTORS["leaf_hashes"]]
    root2, root3 = bytes.fromhex(VECTORS["root_2"]), bytes.fromhex(VECTORS["root_3"])
    assert tlog.merkle_root(hashes[:2]) == root2 and tlog.merkle_root(hashes) == root3
    inclusion = [bytes.fromhex(p) for p in VECTORS["inclusion_proof_index_2_size_3"]]
    tlog.verify_inclusion(2, 3, hashes[2], inclusion, root3)
    consistency = [bytes.fromhex(p) for p in VECTORS["consistency_proof_2_3"]]
    tlog.verify_consistency(2, 3, root2, root3, consistency)


def test_the_signed_checkpoint_and_its_cosignature() -> None:
    signer = tlog.Ed25519Signer("securepix.example/audit", tlog.ED25519, bytes.fromhex(VECTORS["log_signer_seed"]))
    assert signer.verifier.verifier_key == VECTORS["log_verifier_key"]
    assert tlog.sign_note(VECTORS["checkpoint_body"], [signer]) == VECTORS["signed_note"]  # Ed25519 is deterministic
    witness = tlog.Ed25519Signer(
        "witness.example/w1", tlog.COSIGNATURE_V1, bytes.fromhex(VECTORS["witness_signer_seed"])
    )
    assert witness.verifier.verifier_key == VECTORS["witness_verifier_key"]
    line = tlog.cosign_checkpoint(VECTORS["checkpoint_body"], witness, VECTORS["cosignature_timestamp"]).line
    assert line == VECTORS["cosignature_line"]
    signed = read_checkpoint(
        VECTORS["signed_note"] + VECTORS["cosignature_line"],
        VECTORS["log_verifier_key"],
        [VECTORS["witness_verifier_key"]],
        required_witnesses=1,
    )
    assert signed.checkpoint.size == 3 and signed.checkpoint.root_hash.hex() == VECTORS["root_3"]
    assert signed.witnesses == ("witness.example/w1",)
