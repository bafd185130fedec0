"""What every Troupe websocket consumer shares: the no-layer alias, the storage-outage
reason, and the rate-limited JSON socket the project and notification consumers build on.
"""

import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from realtime import metrics
from realtime.admission import Admission, AdmissionFull
from realtime.closecodes import CloseCode
from realtime.daphne_integration import DIRECT_EXTENSION, FLOODED, DirectSocket
from realtime.hub import get_hub
from realtime.limits import TokenBucket

logger = logging.getLogger(__name__)

# An alias that names no layer: live documents and project rooms use the hub's
# process-wide channel, so a consumer needs no channel of its own (and no per-connection
# channel-layer traffic).
NO_CHANNEL_LAYER = "troupe-consumers-have-no-channel"
# The reason sent with 1011 when the database cannot be reached at connect.
STORAGE_UNAVAILABLE = "storage is unavailable; retry later"


async def dispatch_without_hop(consumer: Any, message: dict[str, Any]) -> None:
    """Call the consumer's handler of ``message`` as Channels' ``dispatch`` does, without
    its hop to the shared database thread before every message. Handlers that read the
    database go through ``database_sync_to_async`` or ``on_connect_thread``, which recycle
    the connection of the thread they run on. The hop was two turns of that thread per
    connection, queued behind everyone's work in a storm; and while it waited on the
    database (an access query on a slow or locked database) it held the accept back
    until daphne dropped the socket, and with it the 1013."""
    handler = getattr(consumer, get_handler_name(message), None)
    if handler is None:
        raise ValueError(f"No handler for message type {message['type']}")
    await handler(message)


def admission() -> Admission:
    """The process's admission queue (the hub's), shared by every kind of socket."""
    return get_hub().admission


class LimitedJsonConsumer(AsyncJsonWebsocketConsumer):
    """A JSON socket whose client messages pass a token bucket before anything else.

    Until ``admitted`` (set once the connection is authorised and joined), and after it
    is closed, client messages are dropped unread: a refused socket's messages cost a
    flag test. Channels' own dispatch hops to a thread to recycle database connections
    before every message; client messages skip that hop (handlers that use the database
    go through ``database_sync_to_async``, which recycles them itself), so a message
    over the limit costs no thread, no parsing and no query before the 4429.
    """

    admitted = False

    async def connect(self) -> None:
        # Accepted at once, then admitted in turn like document sockets (a browser opens
        # one of each per tab, and a reconnect storm brings all of them back at once).
        await self.accept()
        try:
            async with admission().slot():
                await self.admit()
        except AdmissionFull as exc:
            await self.refuse(CloseCode.TRY_AGAIN_LATER, str(exc))
        except DatabaseError:
            await self.refuse(CloseCode.INTERNAL_ERROR, STORAGE_UNAVAILABLE)

    async def admit(self) -> None:
        """Called in an admission slot once accepted: authenticate, authorise, join, greet
        and set ``admitted``; refuse (``refuse``) otherwise."""
        raise NotImplementedError

    async def refuse(self, code: CloseCode, reason: str) -> None:
        """Say why (a JSON ``error``), then close with the code."""
        metrics.CLOSES.labels(str(int(code))).inc()
        await self.send_json({"type": "error", "code": int(code), "error": reason})
        await self.close(code=int(code), reason=reason)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        knobs = settings.TROUPE
        burst = float(knobs["PROJECT_RATE_BURST_MESSAGES"])
        rate = float(knobs["PROJECT_RATE_MESSAGES_PER_SECOND"])
        direct: DirectSocket | None = self.scope.get("extensions", {}).get(DIRECT_EXTENSION)
        if direct is not None:
            # Under daphne the limit acts where frames are parsed (see DirectSocket.gate).
            direct.gate(burst=burst, rate=rate)
            self.bucket: TokenBucket | None = None
        else:
            self.bucket = TokenBucket(burst, rate)
        await super().websocket_connect(message)

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] != "websocket.receive":
            await dispatch_without_hop(self, message)
        elif not self.admitted:
            return
        elif FLOODED in message or (self.bucket is not None and not self.bucket.take()):
            await self.close_limited(CloseCode.RATE_LIMITED, "too many messages; slow down")
        else:
            await self.websocket_receive(message)

    async def close_limited(self, code: CloseCode, reason: str) -> None:
        """Say why, leave, close; messages still queued are dropped unread."""
        self.admitted = False
        metrics.CLOSES.labels(str(int(code))).inc()
        logger.info("closing websocket", extra={"code": int(code), "reason": reason})
        await self.send_json({"type": "error", "code": int(code), "error": reason})
        await self.disconnect(int(code))
        await self.close(code=int(code), reason=reason)
