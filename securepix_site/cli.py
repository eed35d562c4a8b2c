"""The `securepix` command line: batch encryption, analysis, classification and benchmarks.

Exit codes come from core.errors.ErrorCode: 0 success, 1 the platform failed,
2 bad input or usage, 3 wrong password or altered file.  This runner is the
one place that turns an error into a message and an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import django
from django.conf import settings

from audit import cli as audit_cli
from benchmarks import cipher_bench
from cipher import cli as cipher_cli
from classification import cli as classification_cli
from core.errors import ErrorCode, SecurePixError

INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(ErrorCode.USAGE.exit_code, f"securepix: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="securepix", description="Encrypt, decrypt, analyse and classify images with SecurePix.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parser.set_defaults(uses_apps=True)
    cipher_cli.register(commands)
    cipher_bench.register(commands)
    classification_cli.register(commands)
    audit_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The commands read their defaults and the password policy from the settings (never the database).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securepix_site.settings")
    args = build_parser().parse_args(argv)
    if args.uses_apps:
        django.setup()  # the audit and classification commands use the models; the cipher ones only settings
    else:
        # Django's translations need the app registry (half a second to load); the
        # cipher commands do without it and speak English, the platform's only language.
        settings.USE_I18N = False
    try:
        return int(args.handler(args))
    except SecurePixError as exc:
        print(f"securepix: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("securepix: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
