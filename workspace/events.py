"""Domain events, sent to channel-layer groups only after the database commit.

Services call ``emit_on_commit``; delivery to connections is the realtime app's job.
Event ``type`` values use dots (``access.changed``) and are handled by methods with
underscores (``access_changed``), as Channels does.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        # The commit already happened; a lost event is repaired by the receivers'
        # periodic checks, so log it rather than fail the request.
        logger.exception("event delivery failed", extra={"group": group, "type": message["type"]})


def emit_on_commit(group: str, message: dict[str, Any]) -> None:
    """Send ``message`` to ``group`` once the current transaction commits."""
    transaction.on_commit(lambda: _send(group, message))
