"""Django admin for every workspace model."""

from django.contrib import admin

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
