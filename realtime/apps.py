"""Django app configuration for the realtime transport."""

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """The realtime app; patches daphne once, at start-up (see ``daphne_compat``)."""

    name = "realtime"

    def ready(self) -> None:
        from realtime.daphne_compat import (
            install_graceful_shutdown,
            patch_daphne_close_reason,
            patch_daphne_direct_frames,
        )

        patch_daphne_close_reason()
        patch_daphne_direct_frames()
        install_graceful_shutdown()
