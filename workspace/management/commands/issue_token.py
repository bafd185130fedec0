"""``manage.py issue_token USERNAME [--create]``: print a new API token, and only it."""

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from workspace.projects.services import token_issue


class Command(BaseCommand):
    help = "Print a new API token for USERNAME (creating the user with --create)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create", action="store_true", help="create the user if missing")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        username: str = options["username"]
        user = user_model.objects.filter(username=username).first()
        if user is None:
            if not options["create"]:
                raise CommandError(f"no user named {username!r} (add --create to create one)")
            user = user_model.objects.create_user(username=username)
        self.stdout.write(token_issue(user=user))
