"""What Troupe adds to daphne: close reasons, and direct frames for document sockets.

Close reasons: daphne's ``websocket.close`` handling passes only the code to autobahn and
drops the ASGI ``reason``, and autobahn's ``sendClose`` refuses the standard codes 1007
and 1009 from applications. The patch writes the close frame directly with both, the
reason truncated to the 123 bytes a close frame allows.

Direct frames: see ``DirectSocket`` and ``realtime.framing.split_client_frames`` (the
client's update frames are split off the byte stream before autobahn's parser, which
keeps everything else). Under any other ASGI server the extension is absent and
consumers use plain ASGI messages. A direct socket bounds what Twisted holds unsent for
it (``max_send_bytes``): a peer that stopped reading is closed instead of growing the
process.

Request bodies: daphne reads a whole body (to a temporary file, then into its application
queue) before the application can refuse it; ``patch_daphne_request_limit`` answers 413
as soon as the declared or received length passes ``TROUPE_MAX_REQUEST_BODY_BYTES``.

Connection set-up: autobahn's ``_connectionMade`` pretty-prints every socket's 30-odd
options for a debug line, eagerly, whether or not debug logging is on: 12% of the event
loop's time in a storm of 2,000 connections (py-spy). ``patch_autobahn_debug_formatting``
makes that ``pformat`` lazy (formatted only if the line is ever written).

Twisted internals relied on (checked by ``check_twisted_internals`` at start-up): a TCP
transport's unsent bytes are ``dataBuffer[offset:]`` plus ``_tempDataLen`` bytes queued
in ``_tempDataBuffer``.
"""

import asyncio
import ctypes
import json
import logging
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pprint import pformat
from typing import Any

from twisted.internet.abstract import FileDescriptor
from twisted.internet.tcp import Server as TCPServer

from realtime import metrics
from realtime.framing import close_reason_utf8, split_client_frames
from realtime.limits import TokenBucket

logger = logging.getLogger(__name__)


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
            reason = close_reason_utf8(str(message.get("reason") or ""))
            self.sendCloseFrame(code=message.get("code") or 1000, reasonUtf8=reason)
            return
        original(self, message)

    WebSocketProtocol.handle_reply = handle_reply
    WebSocketProtocol._troupe_close_reason = True


# -- direct frames ---------------------------------------------------------------------------

DIRECT_EXTENSION = "troupe.direct_frames"
"""The ASGI scope extension under which daphne connections offer a ``DirectSocket``."""

FrameHandler = Callable[[bytes | None], None]


# Marks the message a gated socket's application receives instead of the first one over
# its rate (``DirectSocket.gate``).
FLOODED = "troupe_flooded"

# The close code of a connection closed for sending too fast (CloseCode.RATE_LIMITED;
# this module does not import the consumers' enum).
RATE_LIMITED_CODE = 4429

SLOW_READER_ABORT_SECONDS = 5.0
"""How long a peer over its send bound has to read what was begun and the close frame
before the abort. Once the frames not begun are dropped (``_drop_unstarted_frames``) what
waits is the frame in progress and the kernel's buffers, so a longer wait costs little
memory; at 1 s (autobahn's wait for the answer to any close frame) a reader that resumed
at once on a busy 2-core machine was reset before it had read the kernel's 4 MiB (1 run in
5 with the whole backlog queued, 1 in 6 with only what was begun)."""


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, where the C library has it (None elsewhere)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def _drop_backlog(transport: Any) -> None:  # a TCPServer (abortConnection is untyped)
    """Abort the connection (if still up), free what Twisted held for it, and give the
    freed pages back to the system.

    A backlog is megabytes of frames, many of them in glibc's heap rather than in maps
    of their own (its mmap threshold rises to 32 MiB once large blocks were freed), and
    glibc keeps freed heap pages: measured, RSS stayed 12 MB above where a round began
    after the backlog was freed. ``malloc_trim`` returns them (a few ms, only here).
    """
    transport.abortConnection()
    transport.dataBuffer = b""
    transport.offset = 0
    transport._tempDataBuffer = []
    transport._tempDataLen = 0
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _drop_unstarted_frames(transport: Any) -> None:  # a TCPServer (its buffers are untyped)
    """Drop the frames Twisted queued of which no byte was sent yet, at once.

    The connection is being closed with 4408, so what it misses it gets again by the sync
    of its next connection; the close frame then follows the last frame begun. Each entry of
    ``_tempDataBuffer`` is one whole ``write`` (a frame) except, when Twisted held nothing
    else, the first: ``DirectSocket.send`` queues there the tail of a frame the kernel took
    only part of, so that entry stays. Measured in a CI run, a reader resuming just after
    its refusal had to read 4 MiB of backlog on top of the kernel's buffers before the
    abort a second later (it did not, on a busy machine, and was reset mid-frame); now it
    reads only what was begun, and the backlog's memory is free a second sooner.
    """
    queued = transport._tempDataBuffer
    keep = queued[:1] if queued and len(transport.dataBuffer) == transport.offset else []
    transport._tempDataBuffer = keep
    transport._tempDataLen = sum(len(part) for part in keep)


_NO_REACTOR: Any = object()


# The versions whose internals this module patches and was tested against. pyproject.toml
# bounds them to these majors and requirements.lock pins them; ``check_versions`` says so
# in one log line at start-up when another version is installed.
TESTED_VERSIONS = {"daphne": "4.2", "autobahn": "26.11", "twisted": "26.10"}


def check_versions() -> list[str]:
    """Log one warning naming every patched package not at its tested version."""
    mismatched = []
    for name, tested in TESTED_VERSIONS.items():
        try:
            installed = package_version(name)
        except PackageNotFoundError:
            continue
        if installed != tested and not installed.startswith(f"{tested}."):
            mismatched.append(f"{name} {installed} (tested: {tested}.x)")
    if mismatched:
        logger.warning(
            "realtime/daphne_integration.py patches internals of untested versions: %s; the "
            "start-up checks passed, but run tests/realtime/test_direct_frames.py and "
            "test_exhaustion_transport.py before trusting them",
            ", ".join(mismatched),
        )
    return mismatched


class _LazyPformat:
    """``pformat(obj)`` computed only when formatted into a log line that is written."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __format__(self, spec: str) -> str:
        return format(pformat(self.obj), spec)

    def __str__(self) -> str:
        return pformat(self.obj)


def patch_autobahn_debug_formatting() -> None:
    """Replace the ``pformat`` autobahn's protocol module calls for debug lines with a lazy
    one (it only ever passes the result to ``log.debug`` as a format argument)."""
    import autobahn.websocket.protocol as protocol

    if getattr(protocol, "pformat", None) is not pformat:
        if getattr(protocol, "pformat", None) is _LazyPformat:
            return
        raise RuntimeError(
            "autobahn.websocket.protocol no longer imports pprint.pformat, which "
            "realtime/daphne_integration.py patches: pin autobahn or update the patch"
        )
    # The module only formats the result into debug lines, which the lazy object serves.
    protocol.pformat = _LazyPformat  # type: ignore[assignment,attr-defined]


def check_twisted_internals() -> None:
    """Fail at start-up, not on the first send, if Twisted's write buffer changed shape."""
    probe = FileDescriptor(reactor=_NO_REACTOR)  # sets its buffers; touches no reactor
    missing = [
        name
        for name in ("dataBuffer", "offset", "_tempDataBuffer", "_tempDataLen")
        if not hasattr(probe, name)
    ]
    if missing or not hasattr(TCPServer, "abortConnection"):
        raise RuntimeError(
            f"this Twisted lacks {missing or ['abortConnection']}, which DirectSocket reads "
            "to bound send buffers: pin Twisted or update realtime/daphne_integration.py"
        )


class DirectSocket:
    """One daphne websocket's frames, in and out, without the ASGI queue and send path.

    A consumer that ``claim``s it receives every later frame synchronously, in order, in
    the callback given to ``listen`` (frames arriving before that are held, up to a
    limit); ``send`` writes a pre-built frame straight to the socket. A live document
    encodes a frame once and writes the same bytes to every reader, which is most of the
    cost of fan-out through ASGI (a message dict, autobahn's framing and Twisted's
    buffering per reader). Connect, disconnect and close still travel through ASGI.

    What Twisted holds unsent for the socket is bounded by ``max_send_bytes``: a frame
    that would take it past the bound is refused (``send`` returns False, the caller
    closes with 4408), the queued frames not yet begun are dropped at once, and the
    connection is aborted ``SLOW_READER_ABORT_SECONDS`` later with what is left.
    """

    __slots__ = (
        "_gate",
        "_handler",
        "_max_pending_bytes",
        "_max_pending_frames",
        "_max_send_bytes",
        "_pending",
        "_pending_bytes",
        "_protocol",
        "claimed",
        "flooded",
        "overflowed",
        "send_overflowed",
    )

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._handler: FrameHandler | None = None
        self._pending: list[bytes | None] = []
        self._pending_bytes = 0
        self._max_pending_frames = 0
        self._max_pending_bytes = 0
        self._max_send_bytes = sys.maxsize
        self.claimed = False
        self.overflowed = False
        self._gate: TokenBucket | None = None
        self.flooded = False
        self.send_overflowed = False

    def claim(
        self, *, max_pending_frames: int, max_pending_bytes: int, max_send_bytes: int = 0
    ) -> None:
        """Route this connection's frames here from now on (call before accepting).

        ``max_send_bytes`` bounds the unsent backlog (0: unbounded).
        """
        self._max_pending_frames = max_pending_frames
        self._max_pending_bytes = max_pending_bytes
        self._max_send_bytes = max_send_bytes or sys.maxsize
        self.claimed = True
        metrics.DIRECT_SOCKETS.inc()

    def gate(self, *, burst: float, rate: float) -> None:
        """Rate-limit the messages of a socket that is not claimed (JSON sockets) where
        autobahn hands them over, before they are queued for the application.

        The first message over the limit is replaced by ``{"type": "websocket.receive",
        FLOODED: True}`` for the consumer to close with 4429, reading stops, and the
        rest is dropped: a consumer's own limit acts only on what autobahn already
        parsed and queued, which for 5,000 small frames in flight stalled the process
        ~60 ms (a bystander's ping p99 45-75 ms instead of 1-4 ms).
        """
        self._gate = TokenBucket(burst, rate)

    def admits(self) -> bool:
        """Whether a message of a gated socket goes on to the application."""
        gate = self._gate
        if gate is None or (not self.flooded and gate.take()):
            return True
        return False

    def listen(self, handler: FrameHandler) -> None:
        """Hand the held frames, then every new one, to ``handler`` (None = a text frame)."""
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        for frame in pending:
            handler(frame)
        self._handler = handler

    def release(self) -> None:
        """Stop delivering (the consumer is gone); later frames are dropped."""
        self._handler = None
        self._pending = []
        self.claimed = True
        self._max_pending_frames = 0

    def receive(self, payload: bytes, is_binary: bool) -> None:
        """A frame from the client (called by daphne's protocol)."""
        frame = payload if is_binary else None
        handler = self._handler
        if handler is not None:
            handler(frame)
            return
        self._pending_bytes += len(payload)
        if (
            len(self._pending) >= self._max_pending_frames
            or self._pending_bytes > self._max_pending_bytes
        ):
            self.overflowed = True
            return
        self._pending.append(frame)

    def send(self, wire: bytes) -> bool:
        """Write a frame built by ``binary_frame`` (dropped once the socket is closing).

        With nothing queued in Twisted, the bytes go to the socket at once; whatever the
        kernel does not take, and everything while Twisted still holds data, is queued in
        Twisted so the order of frames is kept. False: the frame was refused because the
        backlog would pass ``max_send_bytes`` (the peer is not reading); the caller closes
        the connection, whose close frame then follows the last whole frame queued.
        """
        protocol = self._protocol
        if protocol.state != protocol.STATE_OPEN:
            return True
        transport = protocol.transport
        if transport is None:
            return True
        if type(transport) is TCPServer and transport.connected and not transport.disconnecting:
            if not transport._tempDataBuffer and not transport.dataBuffer:
                # The common case, and no bound to check: Twisted holds nothing.
                try:
                    sent = transport.socket.send(wire)
                except OSError:
                    sent = 0  # Twisted's own write reports the error as a lost connection
                if sent == len(wire):
                    return True
                wire = wire[sent:]
            elif (
                len(transport.dataBuffer) - transport.offset + transport._tempDataLen + len(wire)
                > self._max_send_bytes
            ):
                self._refuse_backlog(transport)
                return False
        transport.write(wire)
        return True

    def _refuse_backlog(self, transport: TCPServer) -> None:
        if self.send_overflowed:
            return
        self.send_overflowed = True
        _drop_unstarted_frames(transport)
        # The close frame the caller sends next starts autobahn's close handshake timer,
        # which aborts the connection; this timer is the bound if that one is off. Either
        # way what is left of the backlog is freed there: measured, it was otherwise held
        # until the connection's objects were collected.
        self._protocol.closeHandshakeTimeout = SLOW_READER_ABORT_SECONDS
        transport.reactor.callLater(SLOW_READER_ABORT_SECONDS, _drop_backlog, transport)

    def close(self, code: int, reason: str) -> None:
        """Send the close frame with its code and reason; the rest of the close is ASGI's."""
        protocol = self._protocol
        if protocol.state == protocol.STATE_OPEN:
            protocol.sendCloseFrame(code=code, reasonUtf8=close_reason_utf8(reason))


def _receive_direct(protocol: Any, direct: DirectSocket, payload: bytes, is_binary: bool) -> None:
    # What daphne's onMessage does before queueing for ASGI, then the direct hand-over.
    if protocol.muted:
        return
    protocol.last_ping = time.time()
    try:
        direct.receive(payload, is_binary)
    except Exception:
        logger.exception("websocket frame handler failed")
        direct.close(1011, "internal error")


def patch_daphne_direct_frames() -> None:
    """Offer a ``DirectSocket`` in every daphne websocket scope (once; no-op elsewhere).

    Claimed sockets also skip autobahn's frame parser for the frames every update comes
    in (``split_client_frames``) whenever autobahn holds no partial frame or message.
    """
    try:
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return
    if getattr(WebSocketProtocol, "_troupe_direct_frames", False):
        return
    check_versions()
    check_twisted_internals()
    for owner, names in (
        (Server, ("create_application",)),
        (WebSocketProtocol, ("onMessage", "_dataReceived", "sendCloseFrame", "STATE_OPEN")),
    ):
        missing = [name for name in names if not hasattr(owner, name)]
        if missing:
            raise RuntimeError(
                f"{owner.__module__}.{owner.__name__} lacks {missing}, which "
                "realtime/daphne_integration.py patches: pin daphne/autobahn or update it"
            )
    original_create = Server.create_application
    original_on_message = WebSocketProtocol.onMessage
    original_data_received = WebSocketProtocol._dataReceived

    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        if isinstance(protocol, WebSocketProtocol):
            direct = DirectSocket(protocol)
            protocol._troupe_direct = direct
            # daphne's size flags, fixed for the connection: the largest frame split here.
            limits = (protocol.maxFramePayloadSize, protocol.maxMessagePayloadSize)
            protocol._troupe_max_payload = min(filter(None, limits), default=0)
            scope = {
                **scope,
                "extensions": {**scope.get("extensions", {}), DIRECT_EXTENSION: direct},
            }
        return original_create(self, protocol, scope)

    def on_message(self: Any, payload: bytes, is_binary: bool) -> None:
        direct = getattr(self, "_troupe_direct", None)
        if direct is None or not direct.claimed:
            if direct is None or direct.admits():
                original_on_message(self, payload, is_binary)
            elif not direct.flooded:
                direct.flooded = True
                self.transport.pauseProducing()
                self.application_queue.put_nowait({"type": "websocket.receive", FLOODED: True})
            return
        _receive_direct(self, direct, payload, is_binary)

    def data_received(self: Any, data: bytes) -> None:
        if self.localCloseCode == RATE_LIMITED_CODE and self.closedByMe:
            # Closed for flooding: what it keeps sending is not parsed. autobahn would
            # parse every frame already in flight (5,000 small frames stalled the process
            # ~60 ms, a bystander's ping p99 45-75 ms); reading stops here, and autobahn's
            # close timeout drops the connection a second after its close frame.
            self.transport.pauseProducing()
            return
        direct = getattr(self, "_troupe_direct", None)
        if (
            direct is None
            or not direct.claimed
            or self.state != self.STATE_OPEN
            or self.data
            or self.current_frame is not None
            or self.inside_message
            or self._perMessageCompress is not None
        ):
            original_data_received(self, data)
            return
        payloads, taken = split_client_frames(data, self._troupe_max_payload)
        if payloads:
            # Once per read, not per frame: a read carries many frames under load.
            metrics.DIRECT_FRAMES.inc(len(payloads))
        for payload in payloads:
            _receive_direct(self, direct, payload, True)
        if taken < len(data):
            original_data_received(self, data[taken:])

    Server.create_application = create_application
    WebSocketProtocol.onMessage = on_message
    WebSocketProtocol._dataReceived = data_received
    WebSocketProtocol._troupe_direct_frames = True


# -- request bodies ---------------------------------------------------------------------------


def _refuse_body(request: Any, limit: int, seen: int) -> None:
    """Answer 413 with the API's error shape and close; the rest of the body is not read."""
    request._troupe_refused = True
    body = json.dumps({"error": f"request body over the {limit}-byte limit"}).encode()
    head = (
        "HTTP/1.1 413 Content Too Large\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    channel = request.channel
    # Written raw: the request is still being parsed, so Twisted's response API (whose
    # finish would hand the channel the next request) does not fit. Losing the
    # connection stops reading at once and closes once the 413 is flushed.
    channel.transport.write(head + body)
    channel.loseConnection()
    # ``seen``: the declared length, or the bytes received when the body is chunked.
    logger.info("request body refused (413)", extra={"limit": limit, "bytes": seen})


def patch_daphne_request_limit(limit: int) -> None:
    """Refuse request bodies over ``limit`` bytes with 413 before reading them (once).

    Without it daphne reads any body before the application sees the request: to a
    temporary file, then all of it into the application queue (three anonymous 400 MiB
    POSTs took a process to 1,349 MB). A declared Content-Length over the limit is
    answered as soon as the headers are parsed; a chunked body is cut off once the bytes
    received pass it. Either way the connection closes and what was read is dropped.
    """
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:
        return
    if getattr(WebRequest, "_troupe_body_limit", None) is not None:
        return
    original_got_length = WebRequest.gotLength
    original_content_chunk = WebRequest.handleContentChunk
    original_request_received = WebRequest.requestReceived

    def got_length(self: Any, length: int | None) -> None:
        # Twisted calls this once the headers are parsed, before any of the body.
        if length is not None and length > limit:
            # A client waiting on "Expect: 100-continue" must not be told to go on.
            self.requestHeaders.removeHeader(b"Expect")
            _refuse_body(self, limit, length)
            return
        original_got_length(self, length)

    def handle_content_chunk(self: Any, data: bytes) -> None:
        if self._troupe_refused:
            return  # what Twisted already read past the refusal
        self._troupe_body_bytes += len(data)
        if self._troupe_body_bytes > limit:
            _refuse_body(self, limit, self._troupe_body_bytes)
            return
        original_content_chunk(self, data)

    def request_received(self: Any, command: bytes, path: bytes, version: bytes) -> None:
        # A refused body may still end within the bytes already read: never run it.
        if not self._troupe_refused:
            original_request_received(self, command, path, version)

    WebRequest._troupe_refused = False
    WebRequest._troupe_body_bytes = 0
    WebRequest.gotLength = got_length
    WebRequest.handleContentChunk = handle_content_chunk
    WebRequest.requestReceived = request_received
    WebRequest._troupe_body_limit = limit


SHUTDOWN_TIMEOUT_SECONDS = 10.0


def install_graceful_shutdown() -> None:
    """Under daphne: before the reactor stops (SIGTERM, SIGINT), close this process's
    document sockets with 1001 and commit every accepted update still queued.

    Registered before daphne's own trigger, which cancels the applications; the reactor
    waits for both (at most ``SHUTDOWN_TIMEOUT_SECONDS`` for this one).
    """
    # Only where daphne already installed its reactor: importing the reactor elsewhere
    # (tests, management commands) would install Twisted's default one.
    if "daphne.server" not in sys.modules or "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer
    from twisted.internet import reactor as installed

    reactor: Any = installed  # the asyncio reactor daphne installed (untyped attributes)

    def before_shutdown() -> Any:
        from realtime.hub import shutdown_hubs

        loop = reactor._asyncioEventloop
        stopping = asyncio.wait_for(shutdown_hubs(), SHUTDOWN_TIMEOUT_SECONDS)
        return defer.Deferred.fromFuture(asyncio.ensure_future(stopping, loop=loop))

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
