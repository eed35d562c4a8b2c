"""Create, once, a demo operator and a demo auditor with random passwords,
and print them, so that a new user of `make run` can log in at once."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from accounts.roles import ensure_groups
from core.permissions import AUDITOR, OPERATOR

DEMO_USERS = {"demo-operator": OPERATOR, "demo-auditor": AUDITOR}


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_groups()
        users = get_user_model()
        for username, role in DEMO_USERS.items():
            if users.objects.filter(username=username).exists():
                self.stdout.write(f"{username} ({role}) exists; its password was printed when it was made")
                continue
            password = secrets.token_urlsafe(12)
            user = users.objects.create_user(username, password=password)
            user.groups.add(Group.objects.get(name=role))
            self.stdout.write(self.style.SUCCESS(f"created {username} ({role}) with password {password}"))
