"""No single client exhausts a process through the transport, on real daphne.

Request bodies over ``TROUPE_MAX_REQUEST_BODY_BYTES`` are answered 413 before they are
read (declared length) or as soon as they pass it (chunked); a websocket reader that stops
reading is closed with 4408 once its unsent backlog would pass
``TROUPE_MAX_SEND_BUFFER_BYTES``, and dropped with the backlog freed.
"""

import asyncio
import json
import select
import socket
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from crdt.protocol import encode_sync_update
from realtime import metrics
from realtime.consumers.yjs import YjsProtocolConsumer
from tests.support.factories import ProjectRoom
from tests.support.servers import TroupeServer, scrape
from tests.support.waiting import eventually
from tests.support.yraw import RawYClient

pytestmark = [pytest.mark.live]

MIB = 1024 * 1024
# Broadcast bytes after which a reader with a 4 MiB bound must have been refused: the
# bound, plus what the kernel buffers on both sides can hold (send buffer up to 4 MiB
# here, tcp_wmem's maximum; the reader's receive buffer is 4 KiB), plus slack.
PAST_THE_BOUND_BYTES = 12 * MIB
HUGE = 400 * MIB
DEFAULT_BODY_LIMIT = 51 * MIB  # TROUPE_MAX_UPLOAD_BYTES (50 MiB) + 1 MiB
PNG = b"\x89PNG\r\n\x1a\n"


# -- HTTP: a client written on a raw socket, which sends only what the test says -------------


@dataclass
class Answer:
    """What a client that stops sending as soon as an answer arrives got back."""

    status: int
    body: bytes
    seconds: float  # from the end of the headers to the first byte of the answer
    sent: int  # body bytes (with chunk framing) the client got out before the answer
    closed: bool  # the server ended the connection (EOF or reset) after answering

    def json(self) -> object:
        return json.loads(self.body)


def post(
    port: int,
    *,
    declared: int | None = None,
    stream: int = 0,
    chunked: bool = False,
    path: str = "/api/blobs",
    timeout: float = 60.0,
) -> Answer:
    """POST with ``declared`` as Content-Length (or chunked), then stream ``stream`` body
    bytes of real data, stopping the moment the server answers; blocking (run in a thread).
    """
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {declared}")
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        started = time.monotonic()
        sock.setblocking(False)
        piece = PNG + bytes(range(256)) * 255  # 65,288 bytes of body per write
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
        pending, sent, ended = b"", 0, not chunked
        while True:
            left = started + timeout - time.monotonic()
            assert left > 0, f"no answer after {sent} body bytes"
            want_write = [sock] if sent < stream or pending or not ended else []
            readable, writable, _ = select.select([sock], want_write, [], left)
            if readable:
                break
            if writable:
                if not pending and sent >= stream:
                    pending, ended = b"0\r\n\r\n", True  # the last chunk
                pending = pending or frame
                try:
                    written = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    break  # the answer, if any, is read below
                pending, sent = pending[written:], sent + written
        seconds = time.monotonic() - started
        sock.setblocking(True)
        sock.settimeout(10)
        received, closed = b"", False
        try:
            while chunk := sock.recv(65536):
                received += chunk
            closed = True
        except ConnectionResetError:
            closed = True
        except TimeoutError:
            pass
    finally:
        sock.close()
    header, _, body = received.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1]) if header else 0
    return Answer(status=status, body=body, seconds=seconds, sent=sent, closed=closed)


class RssPeak:
    """The server process's resident memory: at start, and the highest seen while open."""

    def __init__(self, server: TroupeServer) -> None:
        self.process = psutil.Process(server.pid)
        self.start = self.peak = self.now()

    def now(self) -> int:
        return int(self.process.memory_info().rss)

    @asynccontextmanager
    async def sampling(self, every: float = 0.01) -> AsyncIterator["RssPeak"]:
        async def sample() -> None:
            while True:
                self.peak = max(self.peak, self.now())
                await asyncio.sleep(every)  # a sampling period, not a wait for a condition

        task = asyncio.get_running_loop().create_task(sample())
        try:
            yield self
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.peak = max(self.peak, self.now())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1e6


async def test_declared_oversize_body_is_refused_before_it_is_read(
    server_factory: Callable[..., TroupeServer],
) -> None:
    """The default limit: 400 MiB announced, nothing sent, 413 at once."""
    server = server_factory()
    answer = await asyncio.to_thread(post, server.port, declared=HUGE)
    assert answer.status == 413, answer
    assert answer.json() == {"error": f"request body over the {DEFAULT_BODY_LIMIT}-byte limit"}
    assert answer.sent == 0
    assert answer.seconds < 2.0, answer.seconds
    assert answer.closed
    print(f"\n413 for a declared 400 MiB body after {answer.seconds * 1000:.1f} ms")


async def test_three_huge_bodies_at_once_leave_memory_flat(
    server_factory: Callable[..., TroupeServer],
) -> None:
    """Three anonymous 400 MiB POSTs (headers only, a declared body streamed, a chunked
    body streamed) once took daphne to 1,349 MB; now each is cut off and RSS stays flat."""
    server = server_factory()
    rss = RssPeak(server)
    async with rss.sampling():
        answers = await asyncio.gather(
            asyncio.to_thread(post, server.port, declared=HUGE),
            asyncio.to_thread(post, server.port, declared=HUGE, stream=HUGE),
            asyncio.to_thread(post, server.port, chunked=True, stream=HUGE),
        )
    header_only, declared, chunked = answers
    print(
        f"\nRSS {rss.start / 1e6:.0f} MB at start, peak {rss.peak / 1e6:.0f} MB "
        f"(+{rss.growth_mb:.1f} MB); 413 after {[round(a.seconds, 3) for a in answers]} s, "
        f"body bytes sent {[a.sent for a in answers]}"
    )
    for answer in answers:
        assert answer.status == 413, answer
        assert answer.closed
    assert header_only.sent == 0
    assert declared.sent < 32 * MIB, "refused on the headers, not after the body"
    assert DEFAULT_BODY_LIMIT < chunked.sent < DEFAULT_BODY_LIMIT + 32 * MIB
    assert rss.growth_mb < 60, f"RSS grew {rss.growth_mb:.1f} MB"


async def test_small_limit_cuts_chunked_bodies_and_lets_smaller_ones_through(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom, tmp_path: Path
) -> None:
    limit = MIB
    server = server_factory(
        env={"TROUPE_MAX_REQUEST_BODY_BYTES": str(limit), "TROUPE_MEDIA_ROOT": str(tmp_path)}
    )
    # Past the limit, chunked: cut off once the received bytes pass it.
    cut = await asyncio.to_thread(post, server.port, chunked=True, stream=HUGE)
    assert cut.status == 413 and cut.closed, cut
    assert cut.json() == {"error": f"request body over the {limit}-byte limit"}
    assert limit < cut.sent < limit + 32 * MIB, cut.sent
    # One byte over, declared: refused on the headers.
    over = await asyncio.to_thread(post, server.port, declared=limit + 1)
    assert over.status == 413 and over.sent == 0, over
    # Under the limit, chunked: read whole and answered by the API (the body is no form).
    under = await asyncio.to_thread(post, server.port, chunked=True, stream=limit // 2)
    assert under.status == 422 and b"Field required" in under.body, under
    # Under the limit, an upload: stored.
    image = PNG + bytes(900 * 1024)
    token = project_room.members["editor"].token
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        stored = await http.post(
            "/api/blobs",
            files={"file": ("still.png", image, "image/png")},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert stored.status_code == 201, stored.text
        assert stored.json()["size"] == len(image)
        assert (await http.get("/healthz")).status_code == 200


# -- websockets: a reader that stops reading -------------------------------------------------


class StalledReader:
    """A document socket on a raw TCP socket with a tiny receive buffer, which completes
    the handshake and then reads nothing until ``drain``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def open(cls, server: TroupeServer, path: str) -> "StalledReader":
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills after a few KiB
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        await loop.sock_sendall(
            sock,
            (
                f"GET /ws/yjs/{path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode(),
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: no frame is read
            byte = await loop.sock_recv(sock, 1)
            assert byte, f"closed during the handshake: {head!r}"
            head += byte
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock)

    async def drain(self, timeout: float) -> tuple[bytes, bool]:
        """Read everything until the server ends the connection: (bytes, reset)."""
        loop = asyncio.get_running_loop()
        received = bytearray()

        async def read() -> bool:
            try:
                while chunk := await loop.sock_recv(self.sock, 1 << 20):
                    received.extend(chunk)
            except ConnectionResetError:
                return True
            return False

        reset = await asyncio.wait_for(read(), timeout)
        return bytes(received), reset

    def close(self) -> None:
        self.sock.close()


def server_frames(data: bytes) -> tuple[list[tuple[int, bytes]], bool]:
    """(opcode, payload) of each whole unmasked frame in ``data``, and whether it ended on
    a frame boundary (the server writes frames whole, so only a cut stream does not)."""
    frames, pos = [], 0
    while pos + 2 <= len(data):
        opcode, size, head = data[pos] & 0x0F, data[pos + 1] & 0x7F, pos + 2
        if size == 126:
            size, head = int.from_bytes(data[head : head + 2], "big"), head + 2
        elif size == 127:
            size, head = int.from_bytes(data[head : head + 8], "big"), head + 8
        if head + size > len(data):
            break
        frames.append((opcode, data[head : head + size]))
        pos = head + size
    return frames, pos == len(data)


async def seen_by(writer: RawYClient, reader: RawYClient, mark: str) -> float:
    """Seconds until ``reader`` has a small insert the writer makes now (every insert and
    deletion comes from the writer, so the same length means everything up to this one
    arrived; "at least as long" was also true of a reader holding a 1 MB insert but not
    yet its deletion, which let a slow bystander fall megabytes behind)."""
    started = time.perf_counter()
    await writer.insert(len(writer.text), mark)
    target = len(writer.text)
    await eventually(
        lambda: len(reader.text) == target,
        10,
        lambda: f"bystander at {len(reader.text)} of {target} characters",
        interval=0.001,
    )
    return time.perf_counter() - started


async def metric_is(server: TroupeServer, series: str, want: float) -> bool:
    return (await scrape(server)).get(series, 0.0) == want


async def metric_at_least(server: TroupeServer, series: str, least: float) -> bool:
    return (await scrape(server)).get(series, 0.0) >= least


async def write_and_erase(writer: RawYClient, size: int) -> None:
    """Insert ``size`` characters and delete them again: every reader gets the whole
    insert, while the document (and so the server's memory for it) stays small."""
    start = len(writer.text)
    await writer.insert(start, "x" * size)
    before = writer.doc.get_state()
    del writer.text[start : start + size]
    await writer.send(encode_sync_update(writer.doc.get_update(before)))


CLOSED_4408 = 'troupe_closes_total{code="4408"}'
OPEN = "troupe_open_connections"


@dataclass
class Round:
    """One round of the stalled-reader scenario, as measured."""

    peak: int  # server RSS, highest while it ran
    settled: int  # server RSS once both stalled readers were dropped and freed
    settle_seconds: float  # from both being detached to RSS back near where it started
    latencies: list[float]  # the bystander's, for small inserts amid the large ones


async def stalled_round(
    server: TroupeServer,
    room: str,
    token: str,
    writer: RawYClient,
    bystander: RawYClient,
    *,
    returns_within: int,
) -> Round:
    """Two readers stop reading while 40 MB is broadcast: one never reads again (its
    backlog must be dropped by the abort), one resumes as soon as it is closed (it must
    find every frame whole, then the close frame). Then RSS must come back to within
    ``returns_within`` bytes of where the round started."""
    closed_before = (await scrape(server)).get(CLOSED_4408, 0.0)
    stalled = await StalledReader.open(server, f"{room}?token={token}")
    resumes = await StalledReader.open(server, f"{room}?token={token}")
    await eventually(lambda: metric_is(server, OPEN, 4), 10, "all four sockets joined")

    past_the_bound = asyncio.Event()

    async def resume_once_closed() -> tuple[bytes, bool]:
        # At once: the server drops a closed socket 5 s after its close frame
        # (SLOW_READER_ABORT_SECONDS). Waiting for the 4408 on /metrics lost seconds to
        # scrapes of a server busy broadcasting; instead the reader resumes once the
        # writer has seen the echo of an update that took it past the bound (the same
        # fan-out wrote both), so the close frame is already queued behind its backlog.
        await past_the_bound.wait()
        # The tiny receive buffer only made it stall quickly; a reader that resumes has a
        # normal one, or it could not take megabytes within the second it has.
        resumes.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
        return await resumes.drain(timeout=10)

    resumed = asyncio.get_running_loop().create_task(resume_once_closed())
    rss = RssPeak(server)
    latencies: list[float] = []
    try:
        async with rss.sampling():
            await broadcast_past_the_stalled(writer, bystander, past_the_bound, latencies)
            await eventually(
                lambda: metric_is(server, CLOSED_4408, closed_before + 2),
                10,
                lambda: (
                    f"4408 closes: {closed_before} before the round, bystander open: "
                    f"{bystander.is_open}, writer open: {writer.is_open}"
                ),
            )
            data, reset = await resumed
            frames, whole = server_frames(data)
            assert whole, f"{len(data)} bytes, reset {reset}, {len(frames)} whole frames"
            reason = f"not reading: over {4 * MIB} bytes unsent"
            close = (0x8, (4408).to_bytes(2, "big") + reason.encode())
            assert frames[-1] == close, frames[-1][:2]
            assert sum(1 for opcode, _ in frames if opcode == 0x2) >= 2, "updates came first"
            # The one that never reads is dropped (EOF or reset) and detached from its room.
            await stalled.drain(timeout=10)
            await eventually(lambda: metric_is(server, OPEN, 2), 10, "stalled readers detached")
    finally:
        resumed.cancel()
        stalled.close()
        resumes.close()
    # What was left of the backlog is freed once the socket is aborted (above).
    dropped = time.perf_counter()
    await eventually(
        lambda: rss.now() < rss.start + returns_within,
        5,
        lambda: f"RSS {rss.now() / 1e6:.1f} MB, {rss.start / 1e6:.1f} MB before the round",
    )
    return Round(
        peak=rss.peak,
        settled=rss.now(),
        settle_seconds=time.perf_counter() - dropped,
        latencies=latencies,
    )


async def broadcast_past_the_stalled(
    writer: RawYClient,
    bystander: RawYClient,
    past_the_bound: asyncio.Event,
    latencies: list[float],
) -> None:
    """Write and erase 40 x 1 MB, setting ``past_the_bound`` once the stalled readers
    must have been refused. Every second round waits until the bystander has seen a
    marker: it reads all along, so its backlog stays near 2 MB, well under the 4 MiB
    bound (waiting every fourth round let a slow bystander lag ~4 MB behind and be
    closed with 4408 itself on a loaded machine)."""
    for i in range(40):
        await write_and_erase(writer, 1_000_000)
        if (i + 1) * 1_000_000 > PAST_THE_BOUND_BYTES:
            past_the_bound.set()
        if i % 2 == 1:
            latencies.append(await seen_by(writer, bystander, f"[{i}]"))


async def test_stalled_reader_is_closed_4408_and_its_backlog_freed(
    server_factory: Callable[..., TroupeServer], project_room: ProjectRoom
) -> None:
    limit = 4 * MIB
    server = server_factory(
        env={
            "TROUPE_MAX_SEND_BUFFER_BYTES": str(limit),
            "TROUPE_LOG_JSON": "1",
            # Document size and growth limits (other bounds) must not stop the writer.
            "TROUPE_MAX_DOCUMENT_BYTES": str(1024 * MIB),
            "TROUPE_DOCUMENT_GROWTH_BYTES_PER_MINUTE": str(1024 * MIB),
            # Committing 40 MB of log rows alone took RSS from 107 to ~310 MB (persistence,
            # not sockets); without the log, RSS shows what is held for the sockets.
            "TROUPE_PERSISTENCE": "0",
        }
    )
    room = project_room.room(project_room.script)
    members = project_room.members
    async with (
        await RawYClient.open(server.ws_url, room, token=members["lead"].token) as writer,
        await RawYClient.open(server.ws_url, room, token=members["editor"].token) as bystander,
    ):
        await writer.sync()
        await bystander.sync()
        before = [await seen_by(writer, bystander, f"<{i}>") for i in range(10)]
        start = psutil.Process(server.pid).memory_info().rss
        # The first round on a fresh process: its frames are large allocations, which the
        # allocator maps separately, so what is freed leaves RSS at once. Once such blocks
        # have been freed, glibc serves the next ones from its heap and keeps freed heap
        # pages (7 rounds plateaued at +21 MB, not +8 MiB a round), so the second round
        # checks the bound and the close, and that RSS did not keep its backlogs.
        token = members["viewer"].token
        rounds = [
            await stalled_round(server, room, token, writer, bystander, returns_within=4 * MIB),
            await stalled_round(server, room, token, writer, bystander, returns_within=32 * MIB),
        ]
        after = [await seen_by(writer, bystander, f"({i})") for i in range(10)]
        assert bystander.is_open and writer.is_open
    during = [latency for r in rounds for latency in r.latencies]
    print(
        f"\nRSS at start {start / 1e6:.1f} MB; per round peak / back to "
        + ", ".join(
            f"{r.peak / 1e6:.1f} / {r.settled / 1e6:.1f} MB in {r.settle_seconds:.2f} s"
            for r in rounds
        )
        + f"\nbystander latency for a small insert: median before "
        f"{statistics.median(before) * 1000:.1f} ms, during "
        f"{statistics.median(during) * 1000:.1f} ms (max {max(during) * 1000:.0f} ms), "
        f"after {statistics.median(after) * 1000:.1f} ms"
    )
    for r in rounds:
        assert r.peak < start + limit + 40 * MIB, f"peak {r.peak / 1e6:.0f} MB"

    assert max(during) < 2.0, during
    logged = [
        json.loads(line) for line in server.log_path.read_text().splitlines() if "4408" in line
    ]
    assert any(entry.get("code") == 4408 and entry["level"] == "INFO" for entry in logged), logged


async def test_asgi_outbox_is_bounded_the_same_way() -> None:
    """Under other ASGI servers frames wait in the consumer's outbox while the server's
    send is blocked: the same bound closes the connection with 4408 after them."""
    handed: list[dict[str, object]] = []
    unblocked = asyncio.Event()

    async def blocked_send(message: dict[str, object]) -> None:
        handed.append(message)
        await unblocked.wait()

    consumer = YjsProtocolConsumer()
    consumer.max_send_bytes = 10
    consumer._outbox = deque()
    consumer.base_send = blocked_send
    closes = metrics.CLOSES.labels("4408")._value.get()
    consumer.deliver(b"first!", b"")
    await eventually(lambda: len(handed) == 1, 5, "the server was handed the first frame")
    consumer.deliver(b"second", b"")  # 12 bytes unsent: over the bound
    consumer.deliver(b"third", b"")  # closed: dropped
    assert consumer.closed
    assert metrics.CLOSES.labels("4408")._value.get() == closes + 1
    unblocked.set()
    await eventually(lambda: consumer._drainer is None, 5, "the outbox drained")
    assert handed == [
        {"type": "websocket.send", "bytes": b"first!"},
        {"type": "websocket.close", "code": 4408, "reason": "not reading: over 10 bytes unsent"},
    ]
