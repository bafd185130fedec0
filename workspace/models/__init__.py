"""Workspace models, one module per domain; every model and enum is importable from here.

Django finds the models through this package (app label ``workspace``), so a model
added to a module must also be re-exported below.
"""

from workspace.models.documents import (
    ClientBinding,
    Document,
    DocumentKind,
    DocumentState,
    DocumentUpdate,
)
from workspace.models.live_sessions import LiveSession, SessionParticipant
from workspace.models.notifications import Notification, Preference, ProjectMute
from workspace.models.productions import (
    Call,
    CallResponse,
    CallResponseChange,
    Interest,
    ProjectFollow,
    ProjectStage,
    ProjectStatus,
    ResponseStatus,
)
from workspace.models.projects import WRITER_ROLES, Membership, Project, Role, Visibility
from workspace.models.proposals import (
    Proposal,
    ProposalAcceptance,
    ProposalComment,
    ProposalEdit,
    ProposalLine,
    ProposalNotice,
    ProposalPool,
    ProposalState,
)
from workspace.models.records import (
    AuthorRole,
    Blob,
    Citation,
    Record,
    RecordAuthor,
    RecordKind,
    Snapshot,
    Work,
)
from workspace.models.tokens import ApiToken

__all__ = [
    "WRITER_ROLES",
    "ApiToken",
    "AuthorRole",
    "Blob",
    "Call",
    "CallResponse",
    "CallResponseChange",
    "Citation",
    "ClientBinding",
    "Document",
    "DocumentKind",
    "DocumentState",
    "DocumentUpdate",
    "Interest",
    "LiveSession",
    "Membership",
    "Notification",
    "Preference",
    "Project",
    "ProjectFollow",
    "ProjectMute",
    "ProjectStage",
    "ProjectStatus",
    "Proposal",
    "ProposalAcceptance",
    "ProposalComment",
    "ProposalEdit",
    "ProposalLine",
    "ProposalNotice",
    "ProposalPool",
    "ProposalState",
    "Record",
    "RecordAuthor",
    "RecordKind",
    "ResponseStatus",
    "Role",
    "SessionParticipant",
    "Snapshot",
    "Visibility",
    "Work",
]
