"""The `securepix` command line: batch encryption, analysis and benchmarks.

Exit codes: 0 success, 2 bad input or usage, 3 wrong password or tampered file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmarks import cipher_bench
from cipher import cli as cipher_cli
from classification import cli as classification_cli


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"securepix: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="securepix", description="Encrypt, decrypt, analyse and classify images with SecurePix.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    cipher_cli.register(commands)
    cipher_bench.register(commands)
    classification_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("securepix: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
