"""Seed a project into, and load a document from, a database, in a process of its own.

Fault tests check what *storage* holds, not what a server still has in memory: the
document is rebuilt from its state row and log by a fresh Python process, through the same
code path a server takes when it loads a room (``workspace.documents.selectors.document_loaded``,
which streams the log into ``crdt.documents.load_document``). Nothing is cached between
the servers and the check, so a missing log entry shows as missing text.

Run as ``python -m tests.support.storage_probe seed|load ...`` with ``DATABASE_URL`` set;
it prints one JSON object. :func:`seed_project` and :func:`load_script` are the Python
side that runs it.
"""

import argparse
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from tests.support.servers import ROOT

PROBE_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class SeededProject:
    """A project with a script, a second script nobody opens, and the writers' API tokens."""

    document_id: int
    room: str
    # A document no process has loaded: connecting to it must load it from storage.
    cold_room: str
    tokens: dict[str, str]


@dataclass(frozen=True)
class StoredScript:
    """A script as storage holds it, with how it is held."""

    text: str
    log_entries: int
    has_state_row: bool


def _subprocess(database_url: str, argv: list[str], what: str) -> str:
    """Run ``argv`` with this interpreter in a fresh process against ``database_url``;
    its standard output (a failure raises with both outputs)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "TROUPE_DB_CONN_MAX_AGE_SECONDS": "0",
    }
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=PROBE_TIMEOUT_SECONDS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _run(database_url: str, *argv: str) -> dict[str, Any]:
    """Run this module in a fresh interpreter against ``database_url``; its JSON answer."""
    out = _subprocess(
        database_url, ["-m", "tests.support.storage_probe", *argv], f"storage_probe {argv[0]}"
    )
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return answer


def migrate(database_url: str) -> None:
    """``manage.py migrate`` against ``database_url`` (a fresh cluster has no schema)."""
    _subprocess(database_url, ["manage.py", "migrate", "--noinput"], "migrate")


def seed_project(database_url: str, writers: tuple[str, ...] = ("alice", "bob")) -> SeededProject:
    """A fresh project (first writer its lead, the others editors) with a script."""
    answer = _run(database_url, "seed", *writers)
    return SeededProject(
        int(answer["document_id"]),
        str(answer["room"]),
        str(answer["cold_room"]),
        dict(answer["tokens"]),
    )


def load_script(database_url: str, document_id: int) -> StoredScript:
    """The script rebuilt from storage by a process that never served it."""
    answer = _run(database_url, "load", str(document_id))
    return StoredScript(str(answer["text"]), int(answer["log_entries"]), bool(answer["state"]))


# ---- the subprocess side ----------------------------------------------------------------


def _seed(writers: list[str]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from workspace.documents.services import document_create
    from workspace.models import DocumentKind, Role, Visibility
    from workspace.projects.services import membership_set, project_create, token_issue

    suffix = uuid.uuid4().hex[:8]
    users = [
        get_user_model().objects.create_user(
            username=f"{name}-{suffix}", password="correct-horse-battery"
        )
        for name in writers
    ]
    project = project_create(
        slug=f"faults-{suffix}",
        title="Fault test",
        created_by=users[0],
        visibility=Visibility.PRIVATE,
    )
    for user in users[1:]:
        membership_set(project=project, user=user, role=Role.EDITOR)
    document = document_create(
        project=project, slug="script", title="Script", kind=DocumentKind.SCRIPT
    )
    cold = document_create(project=project, slug="notes", title="Notes", kind=DocumentKind.SCRIPT)
    return {
        "document_id": document.pk,
        "room": f"{project.slug}/{document.slug}",
        "cold_room": f"{project.slug}/{cold.slug}",
        "tokens": {name: token_issue(user=user) for name, user in zip(writers, users, strict=True)},
    }


def _load(document_id: int) -> dict[str, Any]:
    from crdt.documents import script_text
    from workspace.documents.selectors import document_loaded
    from workspace.models import DocumentState

    loaded = document_loaded(document_id=document_id, kind="script")
    return {
        "text": script_text(loaded.doc),
        "log_entries": loaded.log_entries_replayed,
        "state": DocumentState.objects.filter(document_id=document_id).exists(),
    }


def main() -> None:
    import django

    parser = argparse.ArgumentParser(prog="storage_probe")
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed", help="create a project with a script and writers")
    seed.add_argument("writers", nargs="+")
    load = commands.add_parser("load", help="print a script as storage holds it")
    load.add_argument("document_id", type=int)
    args = parser.parse_args()
    django.setup()
    answer = _seed(args.writers) if args.command == "seed" else _load(args.document_id)
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
