"""Who may see a project, read or write its documents, and lead it: the whole policy.

A project is *public* or *private* (``Visibility``); a member has one role (``Role``:
lead, editor, viewer). Every check of one user against one project or document asks this
module. The query forms of the same rules (which records, calls, projects or notifications
a user may list) stay beside their queries: ``records_readable_filter``,
``productions.services.calls_browse``, ``projects_listing`` and
``founder_metrics.visible_projects``.

============================================  =========  ============  ======  ======  ====
May they ...                                  anonymous  signed in,    viewer  editor  lead
                                                         not a member
============================================  =========  ============  ======  ======  ====
see a public project (its API, calls,         yes        yes           yes     yes     yes
sessions, metrics, records, proposals)
see a private project                         no         no            yes     yes     yes
read a public project's documents and room    no         yes           yes     yes     yes
(live data: HTTP document API, websockets,
the room page)
read a private project's documents and room   no         no            yes     yes     yes
write a document, snapshot or restore it      no         no            no      yes     yes
contribute a record to a public project       no         yes           yes     yes     yes
contribute a record to a private project      no         no            no      yes     yes
lead: settings, status, members, new calls,   no         no            no      no      yes
a response's status, proposals (and drafts)
be notified about something in a project      --         if public     yes     yes     yes
============================================  =========  ============  ======  ======  ====

A project that cannot be seen answers as if it did not exist (404). Documents and rooms
need a signed-in user even when public, so live data never reaches an anonymous socket;
the rest of a public project is open to the web. Records without a project are public,
and whoever created a record may always read it.
"""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q

from workspace.models import WRITER_ROLES, Document, Membership, Project, Role, Visibility


def project_role(*, user: User | AnonymousUser, project_id: int) -> Role | None:
    """The user's role in the project, or None when they are not a member."""
    if not user.is_authenticated:
        return None
    role = (
        Membership.objects.filter(project_id=project_id, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role is not None else None


def can_see_project(*, user: User | AnonymousUser, project: Project) -> bool:
    """Public projects are seen by everyone, signed in or not; private ones by members."""
    if project.visibility == Visibility.PUBLIC:
        return True
    return project_role(user=user, project_id=project.pk) is not None


def user_can_see_project(*, user_id: int, project_id: int) -> bool:
    """The same rule for a user by id, with the visibility read now (not from a loaded row)."""
    return Project.objects.filter(
        Q(visibility=Visibility.PUBLIC) | Q(memberships__user_id=user_id), pk=project_id
    ).exists()


def can_read_live(*, user: User | AnonymousUser, role: Role | None, visibility: str | None) -> bool:
    """Documents and rooms: members read; anyone signed in reads a public project."""
    if role is not None:
        return True
    return user.is_authenticated and visibility == Visibility.PUBLIC


def can_write(role: Role | None) -> bool:
    """Leads and editors write documents."""
    return role in WRITER_ROLES


def document_access(*, user: User | AnonymousUser, document: Document) -> tuple[bool, bool]:
    """Whether the user may read and write the document, as ``(can_read, can_write)``.

    Members read; leads and editors write; anyone signed in reads a public project.
    """
    role = project_role(user=user, project_id=document.project_id)
    if role is not None:
        return True, can_write(role)
    if not user.is_authenticated:
        return False, False
    # Read now, not from ``document.project``: a long-lived connection re-checks its
    # access with the document it loaded when it connected.
    visibility = (
        Project.objects.filter(pk=document.project_id).values_list("visibility", flat=True).first()
    )
    return can_read_live(user=user, role=None, visibility=visibility), False


def is_lead(*, user: User | AnonymousUser, project_id: int) -> bool:
    """Whether ``user`` leads the project."""
    return project_role(user=user, project_id=project_id) == Role.LEAD


def can_contribute(*, user: User | AnonymousUser, project: Project | None) -> bool:
    """Signed-in users contribute to public projects; to private ones, leads and editors."""
    if not user.is_authenticated:
        return False
    if project is None or project.visibility == Visibility.PUBLIC:
        return True
    return can_write(project_role(user=user, project_id=project.pk))
