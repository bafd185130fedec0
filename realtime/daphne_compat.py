"""Make daphne send the close reason an application gives.

daphne's ``websocket.close`` handling passes only the code to autobahn and drops the
ASGI ``reason``; clients then cannot tell a protocol violation from a rate limit. The
patch forwards the reason (truncated to the 123 bytes a close frame allows).
"""

from typing import Any

_MAX_REASON_BYTES = 123


def patch_daphne_close_reason() -> None:
    """Install the patch once; harmless when daphne is not the server."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return
    if getattr(WebSocketProtocol, "_troupe_close_reason", False):
        return
    original = WebSocketProtocol.handle_reply

    def handle_reply(self: Any, message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.close" and message.get("reason"):
            if self.state == self.STATE_CONNECTING:
                self.serverReject()
                return
            reason = str(message["reason"]).encode("utf-8")[:_MAX_REASON_BYTES]
            self.sendClose(
                code=message.get("code") or 1000,
                reason=reason.decode("utf-8", "ignore"),
            )
            return
        original(self, message)

    WebSocketProtocol.handle_reply = handle_reply
    WebSocketProtocol._troupe_close_reason = True
