"""Recompute the audit chain: exit 0 when intact, 1 when broken (naming the
first bad event: altered, deleted, inserted, reordered or renumbered; or a
deleted chain head)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.services import check_chain


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        result = check_chain()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
        elif result.problem is None:
            self.stdout.write(self.style.SUCCESS(f"audit chain intact: {result.events} events"))
        else:
            where = f" (event {result.problem.sequence})" if result.problem.sequence is not None else ""
            self.stderr.write(f"audit chain BROKEN{where}: {result.problem.kind}: {result.problem.message}")
        if result.problem is not None:
            raise SystemExit(1)
