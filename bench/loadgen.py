"""y-websocket load generator: one writer, N reader docs, token latency.

    python bench/loadgen.py --url ws://127.0.0.1:8000/ws/yjs --room demo/bench-1
        --token TOKEN [--writer-url URL] [--readers 50] [--mode paced|saturated]
        [--updates N] [--rate 200] [--procs K] [--json out.json]

Load (figures.md): one writer appends an 8-character token per update to Text
"content"; N readers are pycrdt Docs over raw websockets.  A token is
"#" + run tag (1 letter) + 6-digit sequence number, e.g. "#k000042".  Latency =
time from just before the writer's send of update i until a reader's Text observer
sees token i inserted (after the update is integrated in the reader's doc).

  paced      N updates (default 1000) on a fixed schedule at --rate/s (default 200)
  saturated  N updates (default 2000) sent back to back (awaiting only websocket
             drain); deliveries/s = readers*updates / (first send -> last token seen)

Processes: --procs K (default 1) runs the readers in K worker processes (readers
dealt round-robin) while the main process runs only the writer; --procs 0 runs
writer and readers in one event loop.  Timestamps are CLOCK_MONOTONIC
(perf_counter_ns on Linux), which is system-wide, so send times taken by the writer
process and receive times taken in workers are directly comparable; workers ship
their per-reader receive-time arrays back over a pipe at the end.  --procs 0 is a
closed loop in saturated mode (the writer yields to the readers after each send).

Bounds to keep in mind: a pycrdt reader costs ~10-12 us CPU per delivery, and
applying an update costs more as the text grows (yrs: ~4 us more per 1000 tokens
already in the doc), so use a fresh room per run (--fresh-room, or distinct --room
names; the result records initial_doc_chars).  Saturated latencies are queueing
time, not hop latency.  The JSON records host_cpu_busy_pct, generator_cpu_s and,
with --server-pid, server CPU and other_cpu_s (CPU used by other processes on the
machine during the run): discard runs where other_cpu_s is not ~0.

Several comma-separated --url values spread readers round-robin over server
processes; --writer-url puts the writer on yet another one (cross-process fan-out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import re
import string
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pycrdt import Doc, Text
from websockets.exceptions import InvalidHandshake
from yclient import AuthDeniedError, YClient, update_frame

if TYPE_CHECKING:
    import psutil

# ------------------------------------------------------------------ clock
# Cross-process comparison needs a system-wide clock.  On Linux perf_counter and
# monotonic are both clock_gettime(CLOCK_MONOTONIC); fall back to monotonic_ns
# otherwise.
_pc = time.get_clock_info("perf_counter").implementation
now_ns = (
    time.perf_counter_ns if "CLOCK_MONOTONIC" in _pc and "RAW" not in _pc else time.monotonic_ns
)

TOKEN_LEN = 8
TEXT_NAME = "content"


def make_token(tag: str, seq: int) -> str:
    return f"#{tag}{seq:06d}"


# ------------------------------------------------------------------ readers
class ReaderGroup:
    """Reader connections living in one event loop (one process)."""

    def __init__(
        self,
        urls: list[str],
        room: str,
        token: str | None,
        n_updates: int,
        tag: str,
        compression: str | None,
        transport: str = "proto",
    ) -> None:
        self.transport = transport
        self.urls = urls
        self.room = room
        self.token = token
        self.n = n_updates
        self.tag = tag
        self.compression = compression
        self.recv: list[array[int]] = []
        self.clients: list[YClient] = []
        self._subs: list[object] = []
        self.active = False  # record tokens only once every reader is synced
        self.remaining = 0
        self.all_seen: asyncio.Event | None = None
        self.unexpected = 0  # inserts that were not one of our tokens

    def _make_observer(self, arr: array[int]) -> Callable[[Any], None]:
        n = self.n
        tag = self.tag
        pat = re.compile(r"#" + re.escape(tag) + r"(\d{6})")
        clock = now_ns
        group = self

        def on_text(ev: Any) -> None:
            if not group.active:
                return
            t = clock()
            for d in ev.delta:
                s = d.get("insert")
                if s is None:
                    continue
                seqs: Sequence[int]
                if type(s) is str and len(s) == TOKEN_LEN and s[0] == "#" and s[1] == tag:
                    seqs = (int(s[2:]),)
                elif type(s) is str:
                    seqs = [int(m) for m in pat.findall(s)]
                    if not seqs:
                        group.unexpected += 1
                        continue
                else:
                    group.unexpected += 1
                    continue
                for seq in seqs:
                    if seq < n and arr[seq] == 0:
                        arr[seq] = t
                        group.remaining -= 1
                        if group.remaining == 0 and group.all_seen is not None:
                            group.all_seen.set()

        return on_text

    async def connect_all(
        self, indices: list[int], concurrency: int = 64, limit_s: float = 60.0
    ) -> None:
        self.all_seen = asyncio.Event()
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            doc: Doc[Any] = Doc()
            text = doc.get(TEXT_NAME, type=Text)
            arr = array("q", bytes(8 * self.n))
            # Low-level pycrdt observer: same Rust event, without the Python wrapper
            # that eagerly converts target/delta/path (halves per-update cost).
            sub = text.integrated.observe(self._make_observer(arr))
            self._subs.append(sub)
            self.recv.append(arr)
            c = YClient(
                self.urls[i % len(self.urls)],
                self.room,
                self.token,
                doc,
                compression=self.compression,
                transport=self.transport,
            )
            self.clients.append(c)
            async with sem:
                await c.connect()
                await c.wait_synced(limit_s)

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in indices)), limit_s)
        self.remaining = self.n * len(self.clients)
        self.active = True

    async def wait_complete(self, deadline_ns: int) -> None:
        assert self.all_seen is not None
        left = (deadline_ns - now_ns()) / 1e9
        if self.remaining > 0 and left > 0:
            try:
                await asyncio.wait_for(self.all_seen.wait(), left)
            except TimeoutError:
                pass

    async def close_all(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)


def _worker_main(pipe: Connection, cfg: dict[str, Any], indices: list[int]) -> None:
    """Reader worker process: connect, report ready, wait for 'done', report times."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        g = ReaderGroup(
            cfg["urls"],
            cfg["room"],
            cfg["token"],
            cfg["updates"],
            cfg["tag"],
            cfg["compression"],
            cfg["client"],
        )
        try:
            await g.connect_all(indices, limit_s=cfg["connect_timeout"])
        except Exception as e:
            pipe.send(("error", repr(e)))
            return
        inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        loop.add_reader(pipe.fileno(), lambda: inbox.put_nowait(pipe.recv()))
        pipe.send(("ready", len(g.clients)))
        cpu0 = time.process_time()
        msg = await inbox.get()  # ("done", deadline_ns)
        await g.wait_complete(msg[1])
        cpu1 = time.process_time()
        frames = sum(c.frames_in for c in g.clients)
        pipe.send(
            (
                "result",
                [a.tobytes() for a in g.recv],
                {
                    "cpu_s": cpu1 - cpu0,
                    "frames_in": frames,
                    "unexpected": g.unexpected,
                    "pid": os.getpid(),
                },
            )
        )
        loop.remove_reader(pipe.fileno())
        await g.close_all()

    asyncio.run(run())


# ------------------------------------------------------------------ writer
class Writer:
    def __init__(
        self,
        url: str,
        room: str,
        token: str | None,
        tag: str,
        compression: str | None,
        transport: str = "proto",
    ) -> None:
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.tag = tag
        self._last: list[bytes] = []
        self._sub = self.doc.observe(lambda ev: self._last.append(ev.update))
        # The writer ignores the server's echo of its own updates once synced.
        self.client = YClient(
            url,
            room,
            token,
            self.doc,
            apply_remote=False,
            compression=compression,
            transport=transport,
        )
        self.pos = 0
        self.initial_len = 0

    async def connect(self, limit_s: float) -> None:
        await self.client.connect()
        await self.client.wait_synced(limit_s)
        self.pos = len(self.text)
        self.initial_len = self.pos
        self._last.clear()

    def next_frame(self, seq: int) -> bytes:
        """Append token `seq` to the writer's doc and return the encoded update frame."""
        self.text.insert(self.pos, make_token(self.tag, seq))
        self.pos += TOKEN_LEN
        upd = self._last.pop()
        self._last.clear()
        return update_frame(upd)


async def run_writer(w: Writer, mode: str, n: int, rate: float, yield_each: bool) -> array[int]:
    send = array("q", bytes(8 * n))
    send_frame = w.client.send_frame
    if mode == "paced":
        period = int(1e9 / rate)
        frame = w.next_frame(0)
        t0 = now_ns()
        for i in range(n):
            delay = t0 + i * period - now_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            send[i] = now_ns()
            await send_frame(frame)
            if i + 1 < n:
                frame = w.next_frame(i + 1)  # prepared off the clock
    else:
        for i in range(n):
            frame = w.next_frame(i)
            send[i] = now_ns()
            await send_frame(frame)
            if yield_each:
                await asyncio.sleep(0)  # let in-process readers run
    return send


# ------------------------------------------------------------------ stats
def percentile(sorted_vals: list[int], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None if empty)."""
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v / 1e6, 3)


def compute_stats(send: array[int], recvs: list[array[int]], readers: int) -> dict[str, Any]:
    n = len(send)
    lats: list[int] = []
    lost = 0
    last_seen = 0
    for arr in recvs:
        for i in range(n):
            r = arr[i]
            if r == 0:
                lost += 1
            else:
                lats.append(r - send[i])
                last_seen = max(last_seen, r)
    lats.sort()
    delivered = len(lats)
    span = (last_seen - send[0]) / 1e9 if delivered else None
    ms = 1e6
    # Per update: latency of the first reader to see it (network + server hop) and
    # the first-to-last spread across readers (fan-out: server sends + client side).
    first: list[int] = []
    spread: list[int] = []
    for i in range(n):
        seen = [arr[i] for arr in recvs if arr[i]]
        if seen:
            lo = min(seen)
            first.append(lo - send[i])
            spread.append(max(seen) - lo)
    first.sort()
    spread.sort()
    return {
        "deliveries_expected": n * readers,
        "delivered": delivered,
        "lost": lost,
        "latency_ms": {
            "p50": _ms(percentile(lats, 50)),
            "p90": _ms(percentile(lats, 90)),
            "p99": _ms(percentile(lats, 99)),
            "max": round(lats[-1] / ms, 3) if lats else None,
            "mean": round(sum(lats) / delivered / ms, 3) if lats else None,
            "min": round(lats[0] / ms, 3) if lats else None,
        },
        "first_reader_latency_ms": {
            "p50": _ms(percentile(first, 50)),
            "p99": _ms(percentile(first, 99)),
        },
        "reader_spread_ms": {
            "p50": _ms(percentile(spread, 50)),
            "p99": _ms(percentile(spread, 99)),
        },
        "first_send_to_last_seen_s": round(span, 4) if span is not None else None,
        "deliveries_per_s": round(delivered / span, 1) if span else None,
        "send_duration_s": round((send[-1] - send[0]) / 1e9, 4),
        "send_rate_per_s": round((n - 1) / ((send[-1] - send[0]) / 1e9), 1)
        if n > 1 and send[-1] > send[0]
        else None,
    }


# ------------------------------------------------------------------ orchestration
def _server_cpu(pids: list[int]) -> list[psutil.Process] | None:
    try:
        import psutil
    except ImportError:
        return None
    procs = []
    for p in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(p))
    return procs


def _host_cpu() -> tuple[float, float] | None:
    """Machine-wide CPU seconds so far: (total, idle incl. iowait), or None without psutil."""
    try:
        import psutil
    except ImportError:
        return None
    t = psutil.cpu_times()
    return float(sum(t)), float(t.idle + getattr(t, "iowait", 0.0))


def _host_busy(t0: tuple[float, float] | None, t1: tuple[float, float] | None) -> float | None:
    if t0 is None or t1 is None:
        return None
    tot = t1[0] - t0[0]
    idle = t1[1] - t0[1]
    return round(100 * (tot - idle) / tot, 1) if tot > 0 else None


def _cpu_total(procs: list[psutil.Process] | None) -> float:
    tot = 0.0
    for p in procs or []:
        with contextlib.suppress(Exception):
            c = p.cpu_times()
            tot += c.user + c.system
    return tot


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    urls = [u.strip() for u in args.url.split(",") if u.strip()]
    writer_url = args.writer_url or urls[0]
    n = args.updates or (1000 if args.mode == "paced" else 2000)
    tag = random.choice(string.ascii_letters)
    room = args.room + (
        "-" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
        if args.fresh_room
        else ""
    )
    compression = "deflate" if args.deflate else None
    cfg = {
        "urls": urls,
        "room": room,
        "token": args.token,
        "updates": n,
        "tag": tag,
        "compression": compression,
        "connect_timeout": args.connect_timeout,
        "client": args.client,
    }
    loop = asyncio.get_running_loop()

    workers = []
    group = None
    t_conn = time.perf_counter()
    if args.procs > 0:
        ctx = mp.get_context("spawn")
        for k in range(args.procs):
            idx = list(range(k, args.readers, args.procs))
            if not idx:
                continue
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker_main, args=(child, cfg, idx), daemon=True)
            p.start()
            workers.append((p, parent))
    else:
        group = ReaderGroup(urls, room, args.token, n, tag, compression, args.client)

    writer = Writer(
        writer_url, room, args.writer_token or args.token, tag, compression, args.client
    )
    await writer.connect(args.connect_timeout)

    if group is not None:
        await group.connect_all(list(range(args.readers)), limit_s=args.connect_timeout)
    else:
        for _p, pipe in workers:
            msg = await loop.run_in_executor(None, pipe.recv)
            if msg[0] != "ready":
                raise SystemExit(f"reader worker failed: {msg[1]}")
    connect_s = time.perf_counter() - t_conn
    if args.settle > 0:
        await asyncio.sleep(args.settle)

    server_procs = _server_cpu(args.server_pid) if args.server_pid else None
    scpu0 = _cpu_total(server_procs)
    host0 = _host_cpu()
    wcpu0 = time.process_time()
    send = await run_writer(writer, args.mode, n, args.rate, yield_each=group is not None)
    deadline = now_ns() + int(args.timeout * 1e9)

    extra = []
    if group is not None:
        await group.wait_complete(deadline)
        recvs = group.recv
        extra.append(
            {
                "cpu_s": None,
                "frames_in": sum(c.frames_in for c in group.clients),
                "unexpected": group.unexpected,
                "pid": os.getpid(),
            }
        )
    else:
        recvs = []
        for _p, pipe in workers:
            pipe.send(("done", deadline))
        for _p, pipe in workers:
            msg = await loop.run_in_executor(None, pipe.recv)
            if msg[0] != "result":
                raise SystemExit(f"reader worker failed: {msg[1]}")
            for b in msg[1]:
                a = array("q")
                a.frombytes(b)
                recvs.append(a)
            extra.append(msg[2])
    wcpu1 = time.process_time()
    scpu1 = _cpu_total(server_procs)
    host1 = _host_cpu()

    stats = compute_stats(send, recvs, len(recvs))
    run_wall = stats["first_send_to_last_seen_s"]
    res = {
        "mode": args.mode,
        "urls": urls,
        "writer_url": writer_url,
        "room": room,
        "readers": len(recvs),
        "procs": args.procs,
        "updates": n,
        "rate": args.rate if args.mode == "paced" else None,
        "connect_s": round(connect_s, 3),
        **stats,
        "writer_cpu_s": round(wcpu1 - wcpu0, 3),
        "workers": extra,
        "clock": _pc,
        "initial_doc_chars": writer.initial_len,
        "host_cpus": os.cpu_count(),
        # whole-machine CPU use from first send to the end of collection: near 100%
        # means the box (server + generator + anything else) was saturated.
        "host_cpu_busy_pct": _host_busy(host0, host1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    if server_procs:
        res["server_cpu_s"] = round(scpu1 - scpu0, 3)
        if run_wall:
            res["server_cpu_pct_of_run"] = round(100 * (scpu1 - scpu0) / run_wall, 1)
    if host0 is not None and host1 is not None:
        # CPU used on the machine by neither the server (--server-pid) nor this
        # generator during the run: other tenants.  Large values = discard the run.
        busy = (host1[0] - host0[0]) - (host1[1] - host0[1])
        gen = (wcpu1 - wcpu0) + sum(w["cpu_s"] or 0 for w in extra)
        res["generator_cpu_s"] = round(gen, 3)
        res["other_cpu_s"] = round(busy - gen - (scpu1 - scpu0), 3) if server_procs else None

    if group is not None:
        await group.close_all()
    await writer.client.close()
    for p, _ in workers:
        p.join(10)
    return res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--url", required=True, help="reader base URL(s), comma-separated = round-robin"
    )
    ap.add_argument("--room", required=True)
    ap.add_argument("--token", default=None, help="sent as ?token=")
    ap.add_argument("--writer-url", default=None, help="writer base URL (default: first --url)")
    ap.add_argument("--writer-token", default=None, help="token for the writer (default: --token)")
    ap.add_argument("--readers", type=int, default=50)
    ap.add_argument("--mode", choices=("paced", "saturated"), default="paced")
    ap.add_argument("--updates", type=int, default=0, help="default 1000 paced / 2000 saturated")
    ap.add_argument("--rate", type=float, default=200.0, help="paced updates per second")
    ap.add_argument(
        "--procs",
        type=int,
        default=1,
        help="reader worker processes (0 = readers in the writer's event loop)",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds after last send before counting lost",
    )
    ap.add_argument("--connect-timeout", type=float, default=60.0)
    ap.add_argument(
        "--settle",
        type=float,
        default=0.2,
        help="pause between 'all synced' and first send",
    )
    ap.add_argument("--fresh-room", action="store_true", help="append a random suffix to --room")
    ap.add_argument(
        "--deflate", action="store_true", help="offer permessage-deflate (default: off)"
    )
    ap.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        help="server pid(s) whose CPU time is reported over the run (repeatable)",
    )
    ap.add_argument(
        "--client",
        choices=("proto", "asyncio"),
        default="proto",
        help="proto: websockets sans-I/O protocol on an asyncio.Protocol (fast, default); "
        "asyncio: websockets.asyncio.client",
    )
    ap.add_argument("--json", default=None, help="write the result JSON here")
    args = ap.parse_args(argv)
    if args.readers < 1:
        ap.error("--readers must be >= 1")

    try:
        res = asyncio.run(amain(args))
    except (OSError, TimeoutError, AuthDeniedError, InvalidHandshake) as e:
        print(f"loadgen: connection failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    lat = res["latency_ms"]
    line = (
        f"{res['mode']} readers={res['readers']} updates={res['updates']} procs={res['procs']}: "
        f"p50={lat['p50']}ms p99={lat['p99']}ms max={lat['max']}ms "
        f"deliveries/s={res['deliveries_per_s']} "
        f"delivered={res['delivered']}/{res['deliveries_expected']} "
        f"lost={res['lost']} send_rate={res['send_rate_per_s']}/s"
    )
    res["client"] = args.client
    if "server_cpu_pct_of_run" in res:
        line += f" server_cpu={res['server_cpu_pct_of_run']}%"
    line += f" host_busy={res['host_cpu_busy_pct']}%"
    if res.get("other_cpu_s") is not None:
        line += f" other_cpu={res['other_cpu_s']}s"
    print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0 if res["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
