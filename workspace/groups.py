"""Channel-layer group names, built here and nowhere else.

Every process holding a document in memory joins its document group with one
process-wide channel, so cross-process traffic is one message per process, not per
connection. Access changes go to the project's access group.
"""


def document_group(document_id: int) -> str:
    """Processes holding this document in memory."""
    return f"troupe.doc.{document_id}"


def project_access_group(project_id: int) -> str:
    """Processes with open connections to any document of this project."""
    return f"troupe.access.{project_id}"


def project_presence_group(project_id: int) -> str:
    """Processes with project-room connections: presence and room events."""
    return f"troupe.project.{project_id}"


def user_group(user_id: int) -> str:
    """Every notification socket (tab) of one user, on any process."""
    return f"troupe.user.{user_id}"
