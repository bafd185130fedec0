"""Project configuration: settings, ASGI entry point and URL map."""
