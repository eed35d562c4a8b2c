"""tlog.note: signed notes against golang.org/x/mod/sumdb/note and the C2SP examples, and cosignatures."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from tlog import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    Ed25519Signer,
    Ed25519Verifier,
    NoteError,
    NoteSignature,
    cosign_checkpoint,
    cosignature_message,
    format_checkpoint,
    generate_key,
    key_id,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    verify_cosignature,
    verify_note,
)

# golang.org/x/mod sumdb/note/note_test.go (commit fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db): fixed keys, a text,
# and the signatures the Go implementation makes of it.
PETER_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VERIFIER_KEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
# sumdb/note/example_test.go makes EnochRoot's key with GenerateKey reading zeros: its seed is 32 zero bytes.
ENOCH_SIGNER_KEY = "PRIVATE+KEY+EnochRoot+af0cfe78+" + base64.b64encode(b"\x01" + bytes(32)).decode()
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIGNATURE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIGNATURE = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# The verifier key example of c2sp.org/signed-note (C2SP/C2SP signed-note.md).
C2SP_VERIFIER_KEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# The cosigned checkpoint of c2sp.org/tlog-cosignature (C2SP/C2SP tlog-cosignature.md): a log signature and a
# witness cosignature made at 1679315147, the time in that spec's example of a cosigned message.
COSIGNED_EXAMPLE = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 "
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
COSIGNED_MESSAGE_EXAMPLE = (
    "cosignature/v1\ntime 1679315147\n"
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

# transparency-dev/formats note/note_cosigv1_test.go (commit 0b850f1a7b4a5b70deeacac6535e4b8023809d21):
# a cosignature/v1 verifier key in use, and an Ed25519 one whose base64 contains a "+".
REMORA_COSIGNATURE_KEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
TEST_ED25519_KEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
SIGSTORE_ECDSA_KEY_MATERIAL = (
    "AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogSMdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc="
)

CHECKPOINT = format_checkpoint(Checkpoint("securepix.example/audit", 5, bytes.fromhex("4e3bbb1f" * 8)))


@dataclass(frozen=True)
class CollidingKey:
    name: str
    key_id: int

    def verify(self, message: bytes, signature: bytes) -> bool:
        return True


def witness(name: str, seed_byte: int) -> Ed25519Signer:
    return Ed25519Signer(name, COSIGNATURE_V1, bytes([seed_byte]) * 32)


def test_signing_matches_sumdb_note() -> None:
    signer = parse_signer_key(PETER_SIGNER_KEY)
    assert (signer.name, signer.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert signer.verifier.verifier_key == PETER_VERIFIER_KEY
    assert sign_note(TEXT, [signer]) == TEXT + "\n" + PETER_SIGNATURE


def test_adding_a_signature_matches_sumdb_note() -> None:
    enoch = parse_signer_key(ENOCH_SIGNER_KEY)
    assert enoch.verifier.verifier_key == ENOCH_VERIFIER_KEY
    existing = parse_note(TEXT + "\n" + PETER_SIGNATURE).signatures
    assert sign_note(TEXT, [enoch], existing) == TEXT + "\n" + PETER_SIGNATURE + ENOCH_SIGNATURE


def test_signing_again_replaces_the_signers_old_signature() -> None:
    peter = parse_signer_key(PETER_SIGNER_KEY)
    stale = NoteSignature("PeterNeumann", 0xC74F20A3, b"stale signature bytes")
    assert sign_note(TEXT, [peter], [stale]) == TEXT + "\n" + PETER_SIGNATURE


def test_note_verifies_against_sumdb_keys() -> None:
    peter, enoch = parse_verifier_key(PETER_VERIFIER_KEY), parse_verifier_key(ENOCH_VERIFIER_KEY)
    message = TEXT + "\n" + PETER_SIGNATURE + ENOCH_SIGNATURE
    peter_line, enoch_line = parse_note(message).signatures

    only_peter = verify_note(message, [peter])
    assert only_peter.text == TEXT
    assert only_peter.verified == (peter_line,)
    assert only_peter.unverified == (enoch_line,)
    both = verify_note(message.encode(), [peter, enoch])
    assert both.verified == (peter_line, enoch_line)
    assert both.unverified == ()
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(message, [])


def test_c2sp_example_note_verifies() -> None:
    verified = verify_note(C2SP_NOTE, [parse_verifier_key(C2SP_VERIFIER_KEY)])
    assert verified.text == "This is an example message.\n"


def test_cosigned_checkpoint_example_parses() -> None:
    note = parse_note(COSIGNED_EXAMPLE)
    log_signature, witness_signature = note.signatures
    assert log_signature.name == "example.com/behind-the-sofa"
    assert len(log_signature.signature) == 64
    assert witness_signature.name == "witness.example.com/w1"
    assert len(witness_signature.signature) == 8 + 64
    assert int.from_bytes(witness_signature.signature[:8], "big") == 1679315147
    assert cosignature_message(note.text, 1679315147) == COSIGNED_MESSAGE_EXAMPLE.encode()


def test_a_wrong_signature_by_a_known_key_rejects_the_note() -> None:
    # sumdb/note TestOpen: "ABCD" spliced into Peter's signature.
    message = TEXT + "\n" + PETER_SIGNATURE[:60] + "ABCD" + PETER_SIGNATURE[60:]
    with pytest.raises(NoteError, match="invalid signature by known key PeterNeumann\\+c74f20a3"):
        verify_note(message, [parse_verifier_key(PETER_VERIFIER_KEY)])


def test_an_altered_text_rejects_the_note() -> None:
    message = TEXT.replace("problem,", "problem;") + "\n" + PETER_SIGNATURE
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(message, [parse_verifier_key(PETER_VERIFIER_KEY)])


def test_a_wrong_signature_by_an_unknown_key_is_ignored() -> None:
    # sumdb/note TestOpen: repeated signatures are counted once, and a damaged one by an unknown key is ignored.
    damaged_enoch = ENOCH_SIGNATURE[:60] + "ABCD" + ENOCH_SIGNATURE[60:]
    message = TEXT + "\n" + PETER_SIGNATURE + PETER_SIGNATURE + ENOCH_SIGNATURE + ENOCH_SIGNATURE + damaged_enoch
    verified = verify_note(message, [parse_verifier_key(PETER_VERIFIER_KEY)])
    assert [signature.name for signature in verified.verified] == ["PeterNeumann"]
    assert [signature.line for signature in verified.unverified] == [ENOCH_SIGNATURE, damaged_enoch]


def test_a_key_of_the_same_name_but_another_id_is_not_the_signers() -> None:
    _, other_peter = generate_key("PeterNeumann")
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(TEXT + "\n" + PETER_SIGNATURE, [parse_verifier_key(other_peter)])


def test_rotated_keys_verify_notes_signed_by_either() -> None:
    old_signer, new_signer = (parse_signer_key(generate_key("log.example")[0]) for _ in range(2))
    old_verifier, new_verifier = old_signer.verifier, new_signer.verifier
    assert old_verifier.key_id != new_verifier.key_id
    text = "log.example\n1\n" + base64.b64encode(bytes(32)).decode() + "\n"

    for signers in ([old_signer], [new_signer], [old_signer, new_signer]):
        verified = verify_note(sign_note(text, signers), [old_verifier, new_verifier])
        assert {signature.key_id for signature in verified.verified} == {signer.key_id for signer in signers}
    # Once the old key is retired, notes it alone signed are no longer trusted.
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(sign_note(text, [old_signer]), [new_verifier])


def test_two_different_known_keys_with_one_name_and_id_are_refused() -> None:
    peter = parse_verifier_key(PETER_VERIFIER_KEY)
    # Key IDs are short: an attacker can make a key whose ID collides with Peter's.
    impostor = CollidingKey("PeterNeumann", peter.key_id)
    with pytest.raises(NoteError, match="two different known keys"):
        verify_note(TEXT + "\n" + PETER_SIGNATURE, [peter, impostor])
    assert verify_note(TEXT + "\n" + PETER_SIGNATURE, [peter, peter]).verified


@pytest.mark.parametrize(
    "message",
    [
        # sumdb/note TestOpen's malformed messages
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIGNATURE[:-1],
        "\x01" + TEXT + "\n" + PETER_SIGNATURE,
        TEXT + "\n" + PETER_SIGNATURE.replace("PeterNeumann", "Bad Name")[:-1],
        TEXT + "\n" + PETER_SIGNATURE + "Unexpected line.\n",
        # and more
        TEXT + "\n" + PETER_SIGNATURE * 101,
        TEXT + "\n" + PETER_SIGNATURE.replace("— ", "-- "),
        TEXT + "\n" + PETER_SIGNATURE.replace("PeterNeumann", "Peter+Neumann"),
        TEXT + "\n" + PETER_SIGNATURE.replace("AM=", "AM"),
        TEXT + "\n— PeterNeumann x08go/Y=\n",
        TEXT + "\r\n" + PETER_SIGNATURE,
    ],
)
def test_malformed_notes_are_rejected(message: str) -> None:
    with pytest.raises(NoteError):
        verify_note(message, [parse_verifier_key(PETER_VERIFIER_KEY)])


def test_a_note_that_is_not_utf8_is_rejected() -> None:
    with pytest.raises(NoteError, match="not valid UTF-8"):
        parse_note(b"\xff" + (TEXT + "\n" + PETER_SIGNATURE).encode())


def manglings(key: str) -> list[str]:
    """Every proper substring of key, and key with each character in turn moved to the next code point."""
    substrings = [key[i:j] for i in range(len(key)) for j in range(i + 1, len(key) + 1) if (i, j) != (0, len(key))]
    return substrings + [key[:i] + chr(ord(c) + 1) + key[i + 1 :] for i, c in enumerate(key)]


def test_sumdb_verifier_key_manglings_are_rejected() -> None:
    # sumdb/note TestNewVerifier: every proper substring, and every one-character change, fails.
    mangled = [
        *manglings(PETER_VERIFIER_KEY),
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # key too long, ID adjusted
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown type, ID adjusted
    ]
    for key in mangled:
        with pytest.raises(NoteError):
            parse_verifier_key(key)


def test_sumdb_signer_key_manglings_are_rejected() -> None:
    # sumdb/note TestNewSigner
    for bad in manglings(PETER_SIGNER_KEY):
        with pytest.raises(NoteError):
            parse_signer_key(bad)


def test_transparency_dev_verifier_keys() -> None:
    remora = parse_verifier_key(REMORA_COSIGNATURE_KEY)
    assert (remora.name, remora.signature_type, remora.key_id) == ("remora.n621.de", COSIGNATURE_V1, 0xDA77ADE7)
    test = parse_verifier_key(TEST_ED25519_KEY)
    assert (test.signature_type, test.key_id) == (ED25519, 0x7997405C)
    for bad in [
        "bananas.sigstore.dev+12344556",
        "rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!",
        "rekor.sigstore.dev+12345678+AwEB",
        "rekor.sigstore.dev+NOT_A_NUMBER+" + SIGSTORE_ECDSA_KEY_MATERIAL,
        "rekor.sigstore.dev+00000000+" + SIGSTORE_ECDSA_KEY_MATERIAL,
    ]:
        with pytest.raises(NoteError):
            parse_verifier_key(bad)


def test_key_id_hashes_name_newline_type_and_public_key() -> None:
    public_key = parse_verifier_key(C2SP_VERIFIER_KEY).public_key
    assert key_id("example.com/foo", ED25519, public_key) == 0x530D903A
    assert key_id("example.com/foo", COSIGNATURE_V1, public_key) != 0x530D903A


@pytest.mark.parametrize("signature_type", [ED25519, COSIGNATURE_V1])
def test_generated_keys_round_trip(signature_type: int) -> None:
    signer_key, verifier_key = generate_key("audit.securepix.example/log", signature_type)
    signer, verifier = parse_signer_key(signer_key), parse_verifier_key(verifier_key)
    assert signer.verifier == verifier
    assert verifier.verifier_key == verifier_key
    assert signer_key.startswith("PRIVATE+KEY+audit.securepix.example/log+")
    assert signer_key.split("+", 4)[4] not in repr(signer)  # the private seed stays out of logs
    assert verify_note(sign_note(CHECKPOINT, [signer]), [verifier]).verified


def test_invalid_key_names_are_refused() -> None:
    for name in ["", "two words", "plus+sign", "tab\tname", "no\u00a0break"]:
        with pytest.raises(NoteError, match="key name"):
            Ed25519Verifier(name, ED25519, bytes(32))


def test_cosignature_verifies_and_carries_its_time() -> None:
    log = Ed25519Signer("securepix.example/audit", ED25519, bytes([7]) * 32)
    w1 = witness("witness.example/w1", 1)
    cosignature = cosign_checkpoint(CHECKPOINT, w1, 1_700_000_000)
    assert len(cosignature.signature) == 8 + 64
    assert int.from_bytes(cosignature.signature[:8], "big") == 1_700_000_000
    assert verify_cosignature(CHECKPOINT, cosignature, w1.verifier) == 1_700_000_000

    message = sign_note(CHECKPOINT, [log], [cosignature])
    verified = verify_note(message, [log.verifier, w1.verifier])
    assert {signature.name for signature in verified.verified} == {"securepix.example/audit", "witness.example/w1"}
    # A client that trusts only the log sees the cosignature as an unknown signature, and ignores it.
    assert verify_note(message, [log.verifier]).unverified == (cosignature,)


def test_cosigner_signing_a_note_uses_its_clock() -> None:
    clocked = Ed25519Signer("witness.example/w2", COSIGNATURE_V1, bytes([2]) * 32, clock=lambda: 1_234_567_890.9)
    (signature,) = parse_note(sign_note(CHECKPOINT, [clocked])).signatures
    assert verify_cosignature(CHECKPOINT, signature, clocked.verifier) == 1_234_567_890


def test_cosignature_over_another_checkpoint_or_time_is_rejected() -> None:
    w1 = witness("witness.example/w1", 1)
    cosignature = cosign_checkpoint(CHECKPOINT, w1, 1_700_000_000)
    other_checkpoint = CHECKPOINT.replace("\n5\n", "\n6\n")
    with pytest.raises(NoteError, match="invalid cosignature"):
        verify_cosignature(other_checkpoint, cosignature, w1.verifier)
    retimed = (1_700_000_001).to_bytes(8, "big") + cosignature.signature[8:]
    later = NoteSignature(cosignature.name, cosignature.key_id, retimed)
    with pytest.raises(NoteError, match="invalid cosignature"):
        verify_cosignature(CHECKPOINT, later, w1.verifier)
    with pytest.raises(NoteError, match="invalid signature by known key"):
        verify_note(sign_note(CHECKPOINT, [], [later]), [w1.verifier])


def test_cosignature_by_another_witness_is_rejected() -> None:
    w1, w2 = witness("witness.example/w1", 1), witness("witness.example/w2", 2)
    cosignature = cosign_checkpoint(CHECKPOINT, w1, 1_700_000_000)
    with pytest.raises(NoteError, match=r"not witness\.example/w2"):
        verify_cosignature(CHECKPOINT, cosignature, w2.verifier)
    impostor = NoteSignature(w2.name, w2.key_id, cosignature.signature)
    with pytest.raises(NoteError, match="invalid cosignature"):
        verify_cosignature(CHECKPOINT, impostor, w2.verifier)


def test_cosignature_and_plain_signature_keys_do_not_stand_in_for_each_other() -> None:
    seed = bytes([3]) * 32
    cosigner, plain = Ed25519Signer("w.example", COSIGNATURE_V1, seed), Ed25519Signer("w.example", ED25519, seed)
    assert cosigner.key_id != plain.key_id  # one Ed25519 key, two key IDs: the type is in the hash
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(sign_note(CHECKPOINT, [cosigner]), [plain.verifier])
    with pytest.raises(NoteError, match="not a cosignature/v1 key"):
        cosign_checkpoint(CHECKPOINT, plain, 1)


def test_only_checkpoints_are_cosigned_with_valid_times() -> None:
    w1 = witness("witness.example/w1", 1)
    with pytest.raises(NoteError, match="only a checkpoint can be cosigned"):
        cosign_checkpoint("just some text\n", w1, 1)
    with pytest.raises(NoteError, match=r"outside 0\.\.2\*\*63-1"):
        cosign_checkpoint(CHECKPOINT, w1, 2**63)
    with pytest.raises(NoteError, match="outside"):
        cosign_checkpoint(CHECKPOINT, w1, -1)


def test_signing_refuses_texts_no_verifier_would_accept() -> None:
    peter = parse_signer_key(PETER_SIGNER_KEY)
    with pytest.raises(NoteError, match="does not end with a newline"):
        sign_note("abc", [peter])
    with pytest.raises(NoteError, match="control character"):
        sign_note("a\tb\n", [peter])
    with pytest.raises(NoteError, match="at least one signature"):
        sign_note(TEXT, [])
