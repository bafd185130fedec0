"""Django admin for every workspace model."""

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from workspace.models import (
    ApiToken,
    ClientBinding,
    Document,
    DocumentState,
    DocumentUpdate,
    Membership,
    Project,
)


class MembershipInline(admin.TabularInline[Membership, Project]):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = ("slug", "title", "visibility", "created_at")
    search_fields = ("slug", "title")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ("project", "user", "role")
    list_filter = ("role",)


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin[Document]):
    list_display = ("project", "slug", "kind", "title")
    list_filter = ("kind",)


@admin.register(DocumentState)
class DocumentStateAdmin(admin.ModelAdmin[DocumentState]):
    list_display = ("document", "through_update_id", "updated_at")
    readonly_fields = ("document", "state", "through_update_id", "updated_at")


@admin.register(DocumentUpdate)
class DocumentUpdateAdmin(admin.ModelAdmin[DocumentUpdate]):
    list_display = ("id", "document", "user", "created_at")
    readonly_fields = ("document", "update", "user", "created_at")


@admin.register(ClientBinding)
class ClientBindingAdmin(admin.ModelAdmin[ClientBinding]):
    list_display = ("document", "client_id", "user", "created_at")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("prefix", "user", "created_at", "last_used_at")
    readonly_fields = ("key_hash", "prefix", "created_at", "last_used_at")


# -- records and productions (read-only where the model is immutable) ------------------

from workspace.models import (  # noqa: E402
    Blob,
    Call,
    Citation,
    ProjectFollow,
    ProjectStage,
    Record,
    RecordAuthor,
    Snapshot,
    Work,
)


class _ReadOnlyAdmin[T: models.Model](admin.ModelAdmin[T]):
    """Immutable rows: shown, never added or changed through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RecordAuthorInline(admin.TabularInline[RecordAuthor, Record]):
    model = RecordAuthor
    extra = 0
    can_delete = False
    readonly_fields = ("user", "roles", "position")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Record)
class RecordAdmin(_ReadOnlyAdmin[Record]):
    list_display = ("rid", "kind", "title", "version", "created_by", "created_at")
    list_filter = ("kind",)
    search_fields = ("rid", "title")
    inlines = [RecordAuthorInline]


@admin.register(Work)
class WorkAdmin(_ReadOnlyAdmin[Work]):
    list_display = ("wid", "kind", "project", "created_at")


@admin.register(RecordAuthor)
class RecordAuthorAdmin(_ReadOnlyAdmin[RecordAuthor]):
    list_display = ("record", "user", "roles", "position")


@admin.register(Citation)
class CitationAdmin(_ReadOnlyAdmin[Citation]):
    list_display = ("record", "resource")


@admin.register(Snapshot)
class SnapshotAdmin(_ReadOnlyAdmin[Snapshot]):
    list_display = ("record", "document", "through_update_id", "contains_previous")
    exclude = ("state", "state_vector")


@admin.register(Blob)
class BlobAdmin(_ReadOnlyAdmin[Blob]):
    list_display = ("sha256", "media_type", "size", "uploaded_by", "created_at")


@admin.register(ProjectStage)
class ProjectStageAdmin(admin.ModelAdmin[ProjectStage]):
    list_display = ("project", "status", "template", "opened_at", "finished_at")
    list_filter = ("status",)


@admin.register(ProjectFollow)
class ProjectFollowAdmin(admin.ModelAdmin[ProjectFollow]):
    list_display = ("project", "user", "created_at")


@admin.register(Call)
class CallAdmin(admin.ModelAdmin[Call]):
    list_display = ("project", "title", "interest", "is_open", "deadline")
    list_filter = ("interest", "is_open")


# --------------------------------------------------------------------------------------
# Payment-split proposals. Lines and money change through the service (logged and
# notified), so the admin shows them read-only; the log, comments and acceptances too.
# --------------------------------------------------------------------------------------

from workspace.models import (  # noqa: E402
    Proposal,
    ProposalAcceptance,
    ProposalComment,
    ProposalEdit,
    ProposalLine,
    ProposalNotice,
    ProposalPool,
)


class ProposalLineInline(admin.TabularInline[ProposalLine, Proposal]):
    model = ProposalLine
    extra = 0
    can_delete = False
    fields = ("key", "contributor", "held_name", "role", "pool", "share_bp", "amount_minor")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Proposal)
class ProposalAdmin(_ReadOnlyAdmin[Proposal]):
    list_display = ("pk", "project", "title", "state", "currency", "closes_at", "finalised_at")
    list_filter = ("state",)
    search_fields = ("title", "project__slug")
    inlines = [ProposalLineInline]


@admin.register(ProposalPool)
class ProposalPoolAdmin(_ReadOnlyAdmin[ProposalPool]):
    list_display = ("proposal", "name", "amount_minor", "share_of_profit_bp")


@admin.register(ProposalLine)
class ProposalLineAdmin(_ReadOnlyAdmin[ProposalLine]):
    list_display = ("proposal", "key", "contributor", "held_name", "role", "share_bp")
    search_fields = ("key", "held_name")


@admin.register(ProposalEdit)
class ProposalEditAdmin(_ReadOnlyAdmin[ProposalEdit]):
    list_display = ("proposal", "action", "line_key", "actor", "at")
    list_filter = ("action",)


@admin.register(ProposalComment)
class ProposalCommentAdmin(_ReadOnlyAdmin[ProposalComment]):
    list_display = ("proposal", "line_key", "author", "by_lead", "parent", "created_at")
    list_filter = ("by_lead",)


@admin.register(ProposalAcceptance)
class ProposalAcceptanceAdmin(_ReadOnlyAdmin[ProposalAcceptance]):
    list_display = ("proposal", "user", "proposal_hash", "accepted_at")


@admin.register(ProposalNotice)
class ProposalNoticeAdmin(_ReadOnlyAdmin[ProposalNotice]):
    list_display = ("proposal", "user", "event", "created_at")
    list_filter = ("event",)
