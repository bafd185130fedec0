"""Make daphne send the close code and reason an application gives.

daphne's ``websocket.close`` handling passes only the code to autobahn and drops the
ASGI ``reason``, and autobahn's ``sendClose`` refuses the standard codes 1007 and 1009
from applications. The patch writes the close frame directly with both, the reason
truncated to the 123 bytes a close frame allows.
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
        if message.get("type") == "websocket.close" and self.state == self.STATE_OPEN:
            reason = str(message.get("reason") or "").encode("utf-8")[:_MAX_REASON_BYTES]
            # Cutting may split a character; drop the partial one so the frame stays UTF-8.
            reason = reason.decode("utf-8", "ignore").encode("utf-8")
            self.sendCloseFrame(code=message.get("code") or 1000, reasonUtf8=reason or None)
            return
        original(self, message)

    WebSocketProtocol.handle_reply = handle_reply
    WebSocketProtocol._troupe_close_reason = True
