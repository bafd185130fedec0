"""Django app configuration for the realtime transport."""

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """The realtime app; patches daphne once, at start-up (see ``daphne_integration``)."""

    name = "realtime"

    def ready(self) -> None:
        from django.conf import settings

        from realtime.daphne_integration import (
            install_graceful_shutdown,
            patch_autobahn_debug_formatting,
            patch_daphne_close_reason,
            patch_daphne_direct_frames,
            patch_daphne_request_limit,
        )

        patch_daphne_close_reason()
        patch_autobahn_debug_formatting()
        patch_daphne_direct_frames()
        patch_daphne_request_limit(int(settings.TROUPE["MAX_REQUEST_BODY_BYTES"]))
        install_graceful_shutdown()
