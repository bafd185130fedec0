"""The health check: database and channel layer, answered as JSON for load balancers."""

import asyncio
import logging
import uuid
import weakref

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


HEALTH_ROUNDTRIP_TIMEOUT_SECONDS = 5.0
# One health channel per event loop, reused: on the pub/sub layer a channel is a Redis
# subscription that only a cancelled receive ends, so a new one per check would leak.
_health_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = (
    weakref.WeakKeyDictionary()
)
_health_channels: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, str]" = (
    weakref.WeakKeyDictionary()
)


def _check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def roundtrip() -> None:
        loop = asyncio.get_running_loop()
        async with _health_locks.setdefault(loop, asyncio.Lock()):
            channel = _health_channels.get(loop)
            if channel is None:
                channel = _health_channels[loop] = await layer.new_channel("healthz.")
            nonce = uuid.uuid4().hex
            await layer.send(channel, {"type": "healthz.ping", "nonce": nonce})
            try:
                async with asyncio.timeout(HEALTH_ROUNDTRIP_TIMEOUT_SECONDS):
                    # A ping of an earlier check that timed out may still arrive.
                    while (await layer.receive(channel)).get("nonce") != nonce:
                        pass
            except TimeoutError:
                # The cancelled receive ended the subscription.
                _health_channels.pop(loop, None)
                raise

    async_to_sync(roundtrip)()
    return "ok"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 with each dependency's state, or 503 naming the ones that failed."""
    checks = {"database": _check_database, "channel_layer": _check_channel_layer}
    states: dict[str, str] = {}
    failed = False
    for name, check in checks.items():
        try:
            states[name] = check()
        except Exception as exc:
            logger.warning("health check failed", extra={"dependency": name, "error": str(exc)})
            states[name] = f"error: {type(exc).__name__}: {exc}"
            failed = True
    return JsonResponse(
        {"status": "error" if failed else "ok", **states}, status=503 if failed else 200
    )
