"""Open K idle y-websocket connections and report the server's RSS per connection.

    python bench/idle_conns.py --url ws://127.0.0.1:8000/ws/yjs --room demo/idle
        [--token TOKEN] [--conns 5000] [--rooms 1] [--pid SERVER_PID ...]
        [--hold SECONDS] [--settle 2] [--concurrency 200] [--json out.json]

Each connection completes the sync handshake (our step1, the server's step2) and then
stays idle (pings from the server are answered; the client sends none).  RSS of the
--pid process(es) (children included with --children) is sampled before connecting
and again --settle seconds after the last connection synced; the delta divided by
the number of connections is printed as KB/connection.  Then the script holds the
connections for --hold seconds (default: until SIGINT/SIGTERM), so a driver can take
its own measurements, and closes them.  --rooms M spreads the connections
round-robin over rooms ROOM-0..ROOM-(M-1) (default: all in ROOM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psutil
from yclient import YClient


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def rss_of(pids: list[int], children: bool) -> int | None:
    if not pids:
        return None
    total = 0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs = [p] + (p.children(recursive=True) if children else [])
            for q in procs:
                with contextlib.suppress(psutil.Error):
                    total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


def write_json(path: str, res: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(res, f, indent=2)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    nofile = raise_nofile()
    if nofile[0] < args.conns + 100:
        print(f"warning: RLIMIT_NOFILE soft={nofile[0]} < conns+100", file=sys.stderr)
    me = psutil.Process()
    rss0 = rss_of(args.pid, args.children)
    my0 = me.memory_info().rss

    clients: list[YClient] = []
    errors: dict[str, int] = {}
    sem = asyncio.Semaphore(args.concurrency)

    async def one(i: int) -> None:
        room = args.room if args.rooms <= 1 else f"{args.room}-{i % args.rooms}"
        c = YClient(args.url, room, args.token, ping_interval=None)
        async with sem:
            try:
                await c.connect()
                await c.wait_synced(args.connect_timeout)
                clients.append(c)
            except Exception as e:
                key = type(e).__name__ + ": " + str(e)[:80]
                errors[key] = errors.get(key, 0) + 1
                with contextlib.suppress(Exception):
                    await c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(args.conns)))
    connect_s = time.perf_counter() - t0
    await asyncio.sleep(args.settle)
    rss1 = rss_of(args.pid, args.children)
    my1 = me.memory_info().rss
    n = len(clients)
    still_open = sum(1 for c in clients if not c.closed.is_set())
    res = {
        "url": args.url,
        "room": args.room,
        "rooms": args.rooms,
        "requested": args.conns,
        "synced": n,
        "open_after_settle": still_open,
        "errors": errors,
        "connect_s": round(connect_s, 2),
        "nofile": nofile,
        "client_rss_mb": round(my1 / 2**20, 1),
        "client_kb_per_conn": round((my1 - my0) / 1024 / max(n, 1), 1),
    }
    if rss0 is not None and rss1 is not None:
        res.update(
            {
                "server_pids": args.pid,
                "server_rss_before_mb": round(rss0 / 2**20, 1),
                "server_rss_after_mb": round(rss1 / 2**20, 1),
                "server_kb_per_conn": round((rss1 - rss0) / 1024 / max(n, 1), 2),
            }
        )
    line = f"idle conns: {n}/{args.conns} synced ({still_open} open) in {connect_s:.1f}s"
    if "server_kb_per_conn" in res:
        line += (
            f"; server RSS {res['server_rss_before_mb']} -> {res['server_rss_after_mb']} MB"
            f" = {res['server_kb_per_conn']} KB/conn"
        )
    if errors:
        line += f"; errors {errors}"
    print(line, flush=True)
    if args.json:
        write_json(args.json, res)

    if args.hold is None:
        print("holding connections; SIGINT/SIGTERM to close", flush=True)
        await stop.wait()
    elif args.hold > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.hold)
    sem2 = asyncio.Semaphore(500)

    async def close(c: YClient) -> None:
        async with sem2:
            with contextlib.suppress(Exception):
                await c.close()

    await asyncio.gather(*(close(c) for c in clients))
    return res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", required=True)
    ap.add_argument("--room", default="bench/idle")
    ap.add_argument("--token", default=None)
    ap.add_argument("--conns", type=int, default=5000)
    ap.add_argument("--rooms", type=int, default=1, help="spread over ROOM-0..ROOM-(M-1)")
    ap.add_argument("--pid", type=int, action="append", default=[], help="server pid (repeatable)")
    ap.add_argument(
        "--children",
        action="store_true",
        help="include the pids' child processes in RSS",
    )
    ap.add_argument(
        "--hold",
        type=float,
        default=None,
        help="seconds to hold (default: until signal; 0 = close)",
    )
    ap.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds between last sync and RSS sample",
    )
    ap.add_argument("--concurrency", type=int, default=200, help="concurrent handshakes")
    ap.add_argument("--connect-timeout", type=float, default=60.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    res = asyncio.run(amain(args))
    return 0 if res["synced"] == args.conns else 1


if __name__ == "__main__":
    sys.exit(main())
