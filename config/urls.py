"""URL map of the HTTP side; websocket routes live in ``realtime.routing``."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from realtime.views import metrics_view
from workspace.api import api as records_api
from workspace.api.scripts import document_content, document_export, document_update, project_member
from workspace.auth import ThrottledAuthenticationForm
from workspace.health import healthz
from workspace.pages import site
from workspace.pages.home import home
from workspace.pages.proposal import proposal_page
from workspace.pages.records import record_page
from workspace.pages.room import project_room

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", home, name="home"),
    path("projects/", site.projects_page, name="projects"),
    path("projects/new", site.project_new, name="project-new"),
    path("calls/", site.calls_page, name="calls"),
    path("calls/interests", site.calls_interests, name="calls-interests"),
    path("inbox/", site.inbox_page, name="inbox"),
    path("inbox/read-all", site.inbox_read_all, name="inbox-read-all"),
    path("inbox/<int:notification_id>/read", site.inbox_read, name="inbox-read"),
    path("p/<slug:project>/", project_room, name="project-room"),
    path("p/<slug:project>/d/<slug:document>", project_room, name="project-document"),
    path("p/<slug:project>/proposals/<int:proposal_id>", proposal_page, name="proposal-page"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "api/projects/<slug:project>/documents/<slug:document>/content",
        document_content,
        name="document-content",
    ),
    path(
        "api/projects/<slug:project>/documents/<slug:document>/export",
        document_export,
        name="document-export",
    ),
    path("records/<str:rid>", record_page, name="record-page"),
    path(
        "api/projects/<slug:project>/documents/<slug:document>/update",
        document_update,
        name="document-update",
    ),
    path(
        "api/projects/<slug:project>/members/<str:username>",
        project_member,
        name="project-member",
    ),
    path("api/", records_api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]
