"""Writes of projects, members, users and their API tokens; events follow the commit."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from workspace import events
from workspace.events import emit_on_commit
from workspace.groups import project_access_group
from workspace.models import (
    ApiToken,
    Membership,
    Preference,
    Project,
    Role,
    Visibility,
)
from workspace.notifications.services import membership_changed
from workspace.projects.tokens import token_generate, token_hash


def token_issue(*, user: User) -> str:
    """Create an API token for the user and return it; only its hash is kept."""
    raw = token_generate()
    ApiToken.objects.create(user=user, key_hash=token_hash(raw), prefix=raw[:8])
    return raw


def project_create(
    *,
    slug: str,
    title: str,
    created_by: User,
    visibility: Visibility = Visibility.PRIVATE,
) -> Project:
    """Start a project; its creator becomes its first lead."""
    with transaction.atomic():
        project = Project.objects.create(
            slug=slug, title=title, created_by=created_by, visibility=visibility
        )
        Membership.objects.create(project=project, user=created_by, role=Role.LEAD)
    return project


def membership_set(
    *, project: Project, user: User, role: Role, actor: User | None = None
) -> Membership:
    """Give the user a role in the project; open connections follow within a second."""

    with transaction.atomic():
        membership, created = Membership.objects.update_or_create(
            project=project, user=user, defaults={"role": role}
        )
        if created:
            membership_changed(
                project=project,
                user_id=user.pk,
                added=True,
                actor_id=actor.pk if actor else project.created_by_id,
            )
        emit_on_commit(
            project_access_group(project.pk),
            events.access_changed(project_id=project.pk, user_id=user.pk),
        )
    return membership


def membership_remove(*, project: Project, user: User, actor: User | None = None) -> None:
    """Remove the user from the project; their open connections are closed."""

    with transaction.atomic():
        removed, _ = Membership.objects.filter(project=project, user=user).delete()
        if removed:
            membership_changed(
                project=project,
                user_id=user.pk,
                added=False,
                actor_id=actor.pk if actor else None,
            )
        emit_on_commit(
            project_access_group(project.pk),
            events.access_changed(project_id=project.pk, user_id=user.pk),
        )


def demo_user(*, username: str, password: str, email: str) -> User:
    """Create or refresh a demo account with a known password (used by ``seed_demo``)."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username, defaults={"email": email})
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    return user


def user_invisible_set(*, user_id: int, invisible: bool) -> None:
    """Keep the user's choice to be present without being listed."""
    Preference.objects.update_or_create(user_id=user_id, defaults={"invisible": invisible})
