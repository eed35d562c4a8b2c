"""`python -m tlog keygen NAME [--witness]`: a new Ed25519 key pair as signed-note
key strings, the signer key on the first line (keep it secret), the verifier
key (publish it) on the second."""

from __future__ import annotations

import argparse

from tlog.note import COSIGNATURE_V1, ED25519, generate_key


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tlog")
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="make a signing key for a log (or, with --witness, a witness)")
    keygen.add_argument("name", help="the key's name, e.g. the log's origin line or the witness's name")
    keygen.add_argument("--witness", action="store_true", help="a cosigning key (cosignature/v1)")
    args = parser.parse_args()
    signer, verifier = generate_key(args.name, COSIGNATURE_V1 if args.witness else ED25519)
    print(signer)
    print(verifier)


if __name__ == "__main__":
    main()
