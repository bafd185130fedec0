"""Troupe benchmark suite: `make bench` (= .venv/bin/python bench/run.py).

Needs PostgreSQL on 127.0.0.1:5432 (trust, user postgres) and Redis on 127.0.0.1:6379.
Creates (drops first) the database ``troupe_bench``, seeds a user, a project, documents
and an API token, starts production-like daphne processes (DEBUG=0, the Procfile's
flags, default Troupe settings) and runs the scenarios below, each repeated (--runs,
default 3) on a fresh document per run.  Prints a table (figure, target, measured,
pass/fail) and writes bench/results/latest.json and bench/results/latest.md.

  paced        1 process, 50 readers, 1,000 updates at 200/s: p50/p99 latency, and where
               it goes: the server's own fan-out time (troupe_fanout_latency_seconds of
               /metrics over the run), the first reader's latency and the first-to-last
               reader spread
  saturated    1 process, 50 readers, 2,000 updates back to back: deliveries/s, and the
               persistence lag histogram delta of /metrics over the run
  multi        1, 2 and 4 processes over Redis, readers spread round-robin, writer on the
               first: paced and saturated, p50/p99 latency and deliveries/s
  cross        2 processes, writer on one and readers on the other: paced p99
  persistence  paced (and saturated) with TROUPE_PERSISTENCE=0 vs the normal server
  reference    paced and saturated on Troupe and on y-websocket's own Node server
               (bench/reference, npm ci on first use), runs interleaved: the same
               generator's figures for the reference the targets are set against
  idle         server RSS per idle connection over 5,000 connections (10 rooms)
  rooms        server RSS per idle room holding a 10 kB document (500 rooms)
  load         connect-to-synced for a document whose log holds 100,000 one-character
               updates: cold (uncompacted log), after an unload (compacted), in memory
  persistlag   persist queue depth sampled from /metrics during a saturated run
  many         500 cold rooms x 3 stock Yjs clients (bench/generator, Node) connected and
               synced one after another, then 350 updates/s in all for 20 s: connect time,
               delivery p50/p99, event-loop lag (/metrics) under the load; Troupe and
               y-websocket's Node server interleaved run by run, then Troupe on 2
               processes over Redis
  storm        2,000 and 5,000 stock Yjs clients created at once against 500 cold rooms:
               time until all are synced (60 s limit), closes by code, resets; Troupe and
               the Node server interleaved, then Troupe on 2 processes over Redis

Machine noise: before every run the script waits (up to --quiet-wait s) until other
processes use less than --quiet-cores of CPU, and it discards and repeats (up to
--retries times) a run during which foreign processes (not the servers, the load
generator, PostgreSQL or Redis) used more than --max-foreign-cpu CPU-seconds.

Options: --runs N, --only a,b, --skip a,b, --quick (1 run, smaller memory scenarios),
--profile DIR (py-spy record the server of the paced and throughput scenarios into DIR; needs
py-spy on PATH, in BENCH_PYSPY or /tmp/benchvenv/bin).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

from yclient import YClient  # noqa: E402

PY = sys.executable
# The source tree whose server is measured (--src; default: this checkout).
SRC = ROOT
DAPHNE = str(Path(sys.executable).with_name("daphne"))
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"

DB_NAME = os.environ.get("BENCH_DB_NAME", "troupe_bench")
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_URL = os.environ.get("BENCH_PG_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
REDIS_BASE = os.environ.get("BENCH_REDIS_BASE", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "11"))
REDIS_URL = f"{REDIS_BASE}/{REDIS_DB}"
PROJECT = "bench"
MAX_BYTES = str(8 * 1024 * 1024 + 1024 * 1024)  # Procfile: Troupe's 8 MiB + 1 MiB slack
# The Procfile's listen backlog (Twisted's default is 50: in a storm the kernel dropped the
# SYNs beyond it and clients retried after 1, 3, 7, 15, 31 s).
LISTEN_BACKLOG = 4096
SECRET_KEY = "bench-" + secrets.token_urlsafe(40)

Json = dict[str, Any]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ============================================================================ environment
def server_env(redis_url: str = "", extra: dict[str, str] | None = None) -> dict[str, str]:
    """Production-like settings (DEBUG off) with Troupe's defaults."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TROUPE_") and k not in ("DEBUG", "DATABASE_URL", "REDIS_URL")
    }
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TROUPE_SSL_REDIRECT": "0",
            "TROUPE_LOG_LEVEL": "WARNING",
            "DATABASE_URL": PG_URL,
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(SRC),
        }
    )
    env.update(extra or {})
    return env


def django_setup() -> None:
    """Configure Django in this process against the bench database (seeding only)."""
    for k, v in server_env().items():
        if k.startswith(("DEBUG", "SECRET", "ALLOWED", "TROUPE", "DATABASE", "REDIS", "DJANGO")):
            os.environ[k] = v
    os.environ["TROUPE_DB_CONN_MAX_AGE_SECONDS"] = "0"
    sys.path.insert(0, str(SRC))
    import django

    django.setup()


def create_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run(
        [PY, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=SRC,
        env=server_env(),
        check=True,
    )


def flush_redis() -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    try:
        r.flushdb()
    finally:
        r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def nonce(k: int = 6) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=k))


# ============================================================================ seeding
class Seed:
    """The bench user, project and token; documents are created on demand."""

    def __init__(self) -> None:
        from django.contrib.auth.models import User

        from workspace.projects.services import project_create, token_issue

        user = User.objects.create_user(username="bench", password=secrets.token_urlsafe(16))
        self.user = user
        # The creator is the project's lead: may read and write every document.
        self.project = project_create(slug=PROJECT, title="Benchmark", created_by=user)
        self.token = token_issue(user=user)

    def document(self, slug: str) -> str:
        """Create an empty script document; return its room path."""
        from workspace.documents.services import document_create
        from workspace.models import DocumentKind

        document_create(project=self.project, slug=slug, title=slug, kind=DocumentKind.SCRIPT)
        return f"{PROJECT}/{slug}"

    def documents_with_state(self, slugs: Sequence[str], state: bytes) -> list[str]:
        """Create documents whose compacted state row holds ``state``."""
        from workspace.models import Document, DocumentKind, DocumentState

        docs = Document.objects.bulk_create(
            [
                Document(project=self.project, slug=s, title=s, kind=DocumentKind.SCRIPT)
                for s in slugs
            ]
        )
        DocumentState.objects.bulk_create(
            [DocumentState(document=d, state=state, through_update_id=0) for d in docs]
        )
        return [f"{PROJECT}/{s}" for s in slugs]

    def document_with_log(self, slug: str, updates: Sequence[bytes], client_id: int) -> str:
        """Create a document whose (uncompacted) log holds ``updates``."""
        from django.utils import timezone

        from workspace.models import ClientBinding, Document, DocumentKind, DocumentUpdate

        doc = Document.objects.create(
            project=self.project, slug=slug, title=slug, kind=DocumentKind.SCRIPT
        )
        now = timezone.now()
        batch = 10_000
        for i in range(0, len(updates), batch):
            DocumentUpdate.objects.bulk_create(
                [
                    DocumentUpdate(document=doc, update=u, user=self.user, created_at=now)
                    for u in updates[i : i + batch]
                ]
            )
        ClientBinding.objects.create(document=doc, client_id=client_id, user=self.user)
        return f"{PROJECT}/{slug}"

    def log_state(self, room: str) -> tuple[int, int]:
        """(last log id, compacted-through id) of a document."""
        from django.db.models import Max

        from workspace.models import DocumentState, DocumentUpdate

        slug = room.split("/", 1)[1]
        last = DocumentUpdate.objects.filter(
            document__project=self.project, document__slug=slug
        ).aggregate(m=Max("id"))["m"]
        through = (
            DocumentState.objects.filter(document__project=self.project, document__slug=slug)
            .values_list("through_update_id", flat=True)
            .first()
        )
        return int(last or 0), int(through or 0)


def typed_updates(n: int) -> tuple[list[bytes], int]:
    """n updates of a pycrdt doc typing one character each (appending), and its client ID."""
    from pycrdt import Doc, Text, TransactionEvent

    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    out: list[bytes] = []

    def grab(ev: TransactionEvent) -> None:
        out.append(ev.update)

    sub = doc.observe(grab)
    alphabet = "abcdefghij klmnopqrstuvwxyz\n"
    for i in range(n):
        text.insert(i, alphabet[i % len(alphabet)])
    doc.unobserve(sub)
    return out, int(doc.client_id)


def edited_state(chars: int, *, scattered: bool = False, seed: int = 7) -> bytes:
    """The encoded state of a ``chars``-character script written in an editor.

    Default ("typed"): one character per update at a cursor that jumps to a random place
    before 5 % of the words and deletes 1-3 characters before 5 % of them, like a writer
    revising; consecutive keystrokes merge into a few thousand CRDT items.
    ``scattered`` (worst case): every word inserted at a random position and a tenth
    followed by a 4-character deletion elsewhere, so nearly every word is its own item.
    """
    from pycrdt import Doc, Text

    rnd = random.Random(seed)
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    length = 0
    cursor = 0
    while length < chars:
        word = "".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(2, 9))) + " "
        if scattered:
            text.insert(rnd.randint(0, length), word)
            length += len(word)
            if rnd.random() < 0.1 and length > 20:
                start = rnd.randint(0, length - 5)
                del text[start : start + 4]
                length -= 4
            continue
        r = rnd.random()
        if r < 0.05 and length:
            cursor = rnd.randint(0, length)
        elif r < 0.10 and cursor > 3:
            k = rnd.randint(1, 3)
            del text[cursor - k : cursor]
            cursor -= k
            length -= k
        for ch in word:
            text.insert(cursor, ch)
            cursor += 1
            length += 1
    return bytes(doc.get_update())


# ============================================================================ servers
@dataclass
class Server:
    """One daphne process serving Troupe, started with the Procfile's flags."""

    name: str
    redis_url: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/yjs"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def launch(self) -> tuple[list[str], Path, dict[str, str]]:
        """The command line, working directory and environment of the process."""
        argv = [
            DAPHNE,
            "-e",
            f"tcp:port={self.port}:interface=127.0.0.1:backlog={LISTEN_BACKLOG}",
            "--websocket-max-message-size",
            MAX_BYTES,
            "--websocket-max-frame-size",
            MAX_BYTES,
            "--ping-interval",
            "20",
            "--ping-timeout",
            "30",
            "config.asgi:application",
        ]
        return argv, Path(SRC), server_env(self.redis_url, self.extra_env)

    def ready(self) -> bool:
        """Whether the started process serves (here: /healthz answers 200)."""
        with contextlib.suppress(OSError):
            # S310: the URL is always http://127.0.0.1:<port>, built here.
            with urllib.request.urlopen(f"{self.http_url}/healthz", timeout=1) as r:  # noqa: S310
                return bool(r.status == 200)
        return False

    def start(self) -> Server:
        argv, cwd, env = self.launch()
        LOGS.mkdir(parents=True, exist_ok=True)
        log_path = LOGS / f"{Path(argv[0]).name}-{self.name}-{self.port}.log"
        with log_path.open("ab") as out:
            self.process = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {log_path}")
            if self.ready():
                return self
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not become ready; see {log_path}")

    def stop(self) -> None:
        p = self.process
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def cpu_s(self) -> float:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(self.pid).cpu_times()
            return float(t.user + t.system)
        return 0.0

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.http_url}/metrics", timeout=10) as r:  # noqa: S310
            return parse_metrics(r.read().decode())


REFERENCE = BENCH / "reference"
REFERENCE_SERVER = REFERENCE / "node_modules" / "y-websocket" / "bin" / "server.js"


@dataclass
class ReferenceServer(Server):
    """y-websocket's own server on Node (the reference of ``shared/figures.md``), so that
    Troupe and the reference are measured by the same generator on the same machine."""

    def launch(self) -> tuple[list[str], Path, dict[str, str]]:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("the reference server needs Node.js (node on PATH)")
        if not REFERENCE_SERVER.exists():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"],
                cwd=REFERENCE,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port)}
        return [node, str(REFERENCE_SERVER)], REFERENCE, env

    def ready(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False


@contextlib.contextmanager
def servers(specs: Sequence[Server]) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for s in specs:
            started.append(s.start())
        yield started
    finally:
        for s in started:
            s.stop()


_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format -> {'name{labels}': value}."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _METRIC_LINE.match(line)
        if m:
            with contextlib.suppress(ValueError):
                out[m.group(1)] = float(m.group(2))
    return out


def histogram_delta(
    before: dict[str, float], after: dict[str, float], name: str
) -> list[tuple[float, float]]:
    """Per-bucket (upper bound, cumulative count) of a histogram over an interval."""
    pat = re.compile(re.escape(name) + r'_bucket\{le="([^"]+)"\}')
    rows: list[tuple[float, float]] = []
    for key, value in after.items():
        m = pat.fullmatch(key)
        if m:
            le = math.inf if m.group(1) == "+Inf" else float(m.group(1))
            rows.append((le, value - before.get(key, 0.0)))
    rows.sort()
    return rows


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Linear interpolation inside the bucket holding quantile q (Prometheus style)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, prev = 0.0, 0.0
    for le, cum in buckets:
        if cum >= rank:
            if math.isinf(le):
                return lower  # above the largest finite bound: report that bound
            if cum == prev:
                return le
            return lower + (le - lower) * (rank - prev) / (cum - prev)
        lower, prev = le, cum
    return None


# ============================================================================ noise
INFRA_NAMES = ("postgres", "redis-server", "redis")


def infra_cpu_s() -> float:
    total = 0.0
    for p in psutil.process_iter(["name", "cpu_times"]):
        name = p.info.get("name") or ""
        t = p.info.get("cpu_times")
        if t is not None and name.startswith(INFRA_NAMES):
            total += t.user + t.system
    return total


def host_busy_s() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class NoiseMeter:
    """CPU used by processes that are neither ours nor PostgreSQL/Redis over a window."""

    ours: Sequence[Server]
    t0: float = 0.0
    busy0: float = 0.0
    srv0: float = 0.0
    infra0: float = 0.0
    self0: float = 0.0
    kids0: float = 0.0

    def start(self) -> NoiseMeter:
        self.t0 = time.monotonic()
        self.busy0 = host_busy_s()
        self.srv0 = sum(s.cpu_s() for s in self.ours)
        self.infra0 = infra_cpu_s()
        self.self0 = self_cpu_s()
        self.kids0 = children_cpu_s()
        return self

    def stop(self) -> Json:
        busy = host_busy_s() - self.busy0
        srv = sum(s.cpu_s() for s in self.ours) - self.srv0
        infra = infra_cpu_s() - self.infra0
        mine = self_cpu_s() - self.self0
        kids = children_cpu_s() - self.kids0
        return {
            "window_s": round(time.monotonic() - self.t0, 2),
            "host_busy_cpu_s": round(busy, 3),
            "server_cpu_s": round(srv, 3),
            "infra_cpu_s": round(infra, 3),
            "generator_cpu_s": round(kids + mine, 3),
            "foreign_cpu_s": round(busy - srv - infra - mine - kids, 3),
        }


def wait_quiet(ours: Sequence[Server], cores: float, limit_s: float) -> float:
    """Wait until foreign CPU use drops below ``cores``; return the last reading."""
    deadline = time.monotonic() + limit_s
    warned = False
    while True:
        m = NoiseMeter(ours).start()
        time.sleep(1.0)
        used = m.stop()["foreign_cpu_s"] / 1.0
        if used < cores or time.monotonic() > deadline:
            if used >= cores:
                log(f"  machine still busy ({used:.2f} cores foreign); running anyway")
            return float(used)
        if not warned:
            log(f"  waiting for a quiet machine ({used:.2f} cores used by others)")
            warned = True


# ============================================================================ running
@dataclass
class Ctx:
    args: argparse.Namespace
    seed: Seed
    results: Json = field(default_factory=dict)
    per_conn_kb: float | None = None
    pyspy: str | None = None


def run_loadgen(
    ctx: Ctx,
    ours: Sequence[Server],
    *,
    urls: Sequence[str],
    room: str,
    mode: str,
    writer_url: str | None = None,
    readers: int = 50,
    during: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> Json:
    """One loadgen run; the JSON it wrote plus this script's own noise accounting."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tf:
        out = tf.name
    cmd = [
        PY,
        str(BENCH / "loadgen.py"),
        "--url",
        ",".join(urls),
        "--room",
        room,
        "--token",
        ctx.seed.token,
        "--mode",
        mode,
        "--readers",
        str(readers),
        # A delivery later than this after the last send counts as lost.
        "--timeout",
        "30",
        "--json",
        out,
    ]
    if writer_url:
        cmd += ["--writer-url", writer_url]
    for s in ours:
        cmd += ["--server-pid", str(s.pid)]
    troupe = [s for s in ours if not isinstance(s, ReferenceServer)]
    fanout_before = [s.metrics() for s in troupe]
    meter = NoiseMeter(ours).start()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if during is not None:
            during(proc)
        stdout, _ = proc.communicate(timeout=300)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    noise = meter.stop()
    text = stdout.decode(errors="replace").strip()
    try:
        with open(out) as f:
            res: Json = json.load(f)
    except (OSError, ValueError):
        res = {"error": text[-2000:] or f"loadgen exit {proc.returncode}"}
    finally:
        with contextlib.suppress(OSError):
            os.unlink(out)
    res["exit_code"] = proc.returncode
    res["noise"] = noise
    if troupe:
        res["server_fanout_ms"] = fanout_quantiles(fanout_before, [s.metrics() for s in troupe])
    res["summary"] = text.splitlines()[-1] if text else ""
    return res


FANOUT_HISTOGRAM = "troupe_fanout_latency_seconds"


def server_load_step(before: dict[str, float], after: dict[str, float]) -> Json:
    """The server's own load step over an interval holding one room load (ms), and the
    log entries it replayed, from ``troupe_room_load_seconds`` and its companion."""

    def delta(series: str) -> float:
        return after.get(series, 0.0) - before.get(series, 0.0)

    if delta("troupe_room_load_seconds_count") != 1:
        return {"ms": None, "log_entries": None}
    return {
        "ms": round(1000 * delta("troupe_room_load_seconds_sum"), 1),
        "log_entries": int(delta("troupe_room_load_log_entries_sum")),
    }


def fanout_quantiles(
    before: Sequence[dict[str, float]], after: Sequence[dict[str, float]]
) -> dict[str, float | None]:
    """p50/p99 (ms) of the servers' own fan-out time over a run, all processes pooled:
    from an update reaching its room to the frame written to every local reader."""
    pooled: dict[float, float] = {}
    for b, a in zip(before, after, strict=True):
        for le, count in histogram_delta(b, a, FANOUT_HISTOGRAM):
            pooled[le] = pooled.get(le, 0.0) + count
    buckets = sorted(pooled.items())
    out: dict[str, float | None] = {}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        v = histogram_quantile(buckets, q)
        out[name] = None if v is None else round(1000 * v, 3)
    return out


def repeated(
    ctx: Ctx,
    label: str,
    ours: Sequence[Server],
    one: Callable[[int], Json],
    runs: int | None = None,
    quiet: bool = True,
) -> list[Json]:
    """Run ``one(i)`` ``runs`` times, each after a quiet check; repeat noisy runs.

    quiet=False (memory figures): no waiting for a quiet machine.
    """
    args = ctx.args
    n = runs if runs is not None else args.runs
    kept: list[Json] = []
    discarded = 0
    i = 0
    while len(kept) < n:
        if quiet:
            wait_quiet(ours, args.quiet_cores, args.quiet_wait)
        res = one(i)
        i += 1
        foreign = float(res.get("noise", {}).get("foreign_cpu_s", 0.0))
        ok = "error" not in res and res.get("exit_code", 0) == 0
        log(f"  {label} run {i}: {res.get('summary', '')} foreign_cpu={foreign:.2f}s")
        if foreign > args.max_foreign_cpu:
            if discarded < args.retries * n:
                discarded += 1
                res["discarded"] = "foreign CPU"
                log(f"  {label} run {i} discarded (machine busy)")
                ctx.results.setdefault("discarded_runs", []).append({"scenario": label, **res})
                continue
            res["noisy"] = True
            noisy = ctx.results.setdefault("noisy_runs_kept", {})
            noisy[label] = noisy.get(label, 0) + 1
            log(f"  {label} run {i} kept although the machine was busy (retries used up)")
        if not ok:
            log(f"  {label} run {i} FAILED: {res.get('error', res.get('summary'))}")
        kept.append(res)
    return kept


def med(vals: Sequence[float | None]) -> float | None:
    xs = [float(v) for v in vals if v is not None]
    return round(statistics.median(xs), 3) if xs else None


def lat(res: Json, key: str) -> float | None:
    v = res.get("latency_ms", {}).get(key)
    return None if v is None else float(v)


def dps(res: Json) -> float | None:
    v = res.get("deliveries_per_s")
    return None if v is None or res.get("lost", 0) else float(v)


def summarise_loadgen(runs: list[Json]) -> Json:
    return {
        "p50_ms": med([lat(r, "p50") for r in runs]),
        "p99_ms": med([lat(r, "p99") for r in runs]),
        "deliveries_per_s": med([dps(r) for r in runs]),
        "p50_all": [lat(r, "p50") for r in runs],
        "p99_all": [lat(r, "p99") for r in runs],
        "deliveries_per_s_all": [r.get("deliveries_per_s") for r in runs],
        "lost_all": [r.get("lost") for r in runs],
        "server_cpu_pct_all": [r.get("server_cpu_pct_of_run") for r in runs],
        "first_reader_p50_ms": med([r.get("first_reader_latency_ms", {}).get("p50") for r in runs]),
        "reader_spread_p50_ms": med([r.get("reader_spread_ms", {}).get("p50") for r in runs]),
        "server_fanout_p50_ms": med([r.get("server_fanout_ms", {}).get("p50") for r in runs]),
        "server_fanout_p99_ms": med([r.get("server_fanout_ms", {}).get("p99") for r in runs]),
        "runs": runs,
    }


class Profiler:
    """py-spy record of a server while a block runs (--profile)."""

    def __init__(self, ctx: Ctx, server: Server, name: str) -> None:
        self.ctx = ctx
        self.server = server
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        if self.ctx.args.profile and self.ctx.pyspy:
            out = Path(self.ctx.args.profile) / f"{self.name}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            self.proc = subprocess.Popen(
                [
                    self.ctx.pyspy,
                    "record",
                    "--pid",
                    str(self.server.pid),
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--nonblocking",
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------- scenarios
def sc_paced_and_persistence(ctx: Ctx) -> None:
    """1: paced on the normal server; 5: the same with persistence off (interleaved)."""
    want_off = ctx.args.enabled("persistence")
    on = Server("paced")
    specs = [on] + (
        [Server("nopersist", extra_env={"TROUPE_PERSISTENCE": "0"})] if want_off else []
    )
    with servers(specs) as started:
        on_runs: list[Json] = []
        off_runs: list[Json] = []

        def paced_on(i: int) -> Json:
            room = ctx.seed.document(f"paced-{i}-{nonce()}")
            return run_loadgen(ctx, [on], urls=[on.ws_url], room=room, mode="paced")

        def paced_off(i: int) -> Json:
            off = started[1]
            room = ctx.seed.document(f"paced-off-{i}-{nonce()}")
            return run_loadgen(ctx, [off], urls=[off.ws_url], room=room, mode="paced")

        for _ in range(ctx.args.runs):
            with Profiler(ctx, on, "paced-1proc"):
                on_runs += repeated(ctx, "paced", [on], paced_on, runs=1)
            if want_off:
                off_runs += repeated(ctx, "paced no-persist", [started[1]], paced_off, runs=1)
        ctx.results["paced_1proc"] = summarise_loadgen(on_runs)
        if want_off:
            ctx.results["paced_1proc_no_persistence"] = summarise_loadgen(off_runs)
            sat_off: list[Json] = []

            def sat_nopersist(i: int) -> Json:
                off = started[1]
                room = ctx.seed.document(f"sat-off-{i}-{nonce()}")
                return run_loadgen(ctx, [off], urls=[off.ws_url], room=room, mode="saturated")

            sat_off = repeated(ctx, "saturated no-persist", [started[1]], sat_nopersist)
            ctx.results["saturated_1proc_no_persistence"] = summarise_loadgen(sat_off)


def sc_reference(ctx: Ctx) -> None:
    """10: the y-websocket reference server under the same generator, paced and
    saturated, each run right after a Troupe run of the same load (machine speed drifts
    by tens of percent over minutes; interleaving keeps the comparison fair)."""
    ours = Server("paced-vs-reference")
    ref = ReferenceServer("reference")
    with servers([ours, ref]):
        results: dict[str, list[Json]] = {}
        for mode in ("paced", "saturated"):
            for i in range(ctx.args.runs):
                for srv, who in ((ours, "troupe"), (ref, "reference")):

                    def one(
                        _: int, srv: Server = srv, who: str = who, mode: str = mode, i: int = i
                    ) -> Json:
                        room = ctx.seed.document(f"{who}-{mode}-{i}-{nonce()}")
                        return run_loadgen(ctx, [srv], urls=[srv.ws_url], room=room, mode=mode)

                    results.setdefault(f"{who}_{mode}", []).extend(
                        repeated(ctx, f"{mode} {who}", [srv], one, runs=1)
                    )
        ctx.results["reference"] = {
            key: summarise_loadgen(runs) for key, runs in results.items()
        } | {"server": "y-websocket 1.5.4 bin/server.js on " + node_version()}


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "no node"
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return f"Node {out.stdout.strip()}"


def sc_saturated(ctx: Ctx) -> None:
    """2: saturated, 1 process; 9: persistence lag histogram delta per run."""
    srv = Server("saturated")
    with servers([srv]):
        lags: list[Json] = []

        def one(i: int) -> Json:
            room = ctx.seed.document(f"sat-{i}-{nonce()}")
            before = srv.metrics()
            res = run_loadgen(ctx, [srv], urls=[srv.ws_url], room=room, mode="saturated")
            time.sleep(0.5)  # let the last group commit land
            after = srv.metrics()
            buckets = histogram_delta(before, after, "troupe_persist_lag_seconds")
            count = after.get("troupe_persist_lag_seconds_count", 0.0) - before.get(
                "troupe_persist_lag_seconds_count", 0.0
            )
            total = after.get("troupe_persist_lag_seconds_sum", 0.0) - before.get(
                "troupe_persist_lag_seconds_sum", 0.0
            )
            p50 = histogram_quantile(buckets, 0.50)
            p99 = histogram_quantile(buckets, 0.99)
            res["persist_lag"] = {
                "count": count,
                "mean_ms": round(1000 * total / count, 2) if count else None,
                "p50_ms_est": None if p50 is None else round(1000 * p50, 2),
                "p99_ms_est": None if p99 is None else round(1000 * p99, 2),
                "buckets": [*buckets[:-1], ("+Inf", buckets[-1][1])] if buckets else [],
            }
            lags.append(res["persist_lag"])
            return res

        with Profiler(ctx, srv, "saturated-1proc"):
            runs = repeated(ctx, "saturated", [srv], one)
        ctx.results["saturated_1proc"] = summarise_loadgen(runs)
        lag = [r["persist_lag"] for r in runs if "persist_lag" in r]
        ctx.results["persist_lag_saturated"] = {
            "p99_ms_est": med([x["p99_ms_est"] for x in lag]),
            "p99_ms_est_all": [x["p99_ms_est"] for x in lag],
            "p50_ms_est": med([x["p50_ms_est"] for x in lag]),
            "mean_ms": med([x["mean_ms"] for x in lag]),
        }

        if ctx.args.enabled("persistlag"):
            depth: list[float] = []

            def poll(proc: subprocess.Popen[bytes]) -> None:
                while proc.poll() is None:
                    with contextlib.suppress(OSError, urllib.error.URLError):
                        m = srv.metrics()
                        depth.append(m.get("troupe_persist_queue_depth", 0.0))
                    time.sleep(0.02)

            def sampled(i: int) -> Json:
                room = ctx.seed.document(f"satq-{i}-{nonce()}")
                depth.clear()
                res = run_loadgen(
                    ctx, [srv], urls=[srv.ws_url], room=room, mode="saturated", during=poll
                )
                res["queue_depth_max"] = max(depth) if depth else None
                res["queue_depth_samples"] = len(depth)
                return res

            q = repeated(ctx, "saturated + /metrics polling", [srv], sampled, runs=1)
            after = srv.metrics()
            ctx.results["persist_queue_depth"] = {
                "max_sampled_during_saturated": q[0].get("queue_depth_max"),
                "samples": q[0].get("queue_depth_samples"),
                "after_run": after.get("troupe_persist_queue_depth"),
                "note": "sampled /metrics every ~20 ms during one extra saturated run",
            }


def sc_multi(ctx: Ctx) -> None:
    """3: 1, 2 and 4 processes over Redis, paced and saturated, readers spread round-robin
    over the processes and the writer on the first (with 1 process: the production setup
    with REDIS_URL, unlike the in-memory layer of the 1-process scenarios)."""
    for k in (1, 2, 4):
        flush_redis()
        specs = [Server(f"multi{k}-{j}", redis_url=REDIS_URL) for j in range(k)]
        with servers(specs) as started:
            time.sleep(1.0)
            for mode in ("paced", "saturated"):

                def one(
                    i: int, started: list[Server] = started, k: int = k, mode: str = mode
                ) -> Json:
                    room = ctx.seed.document(f"multi{k}-{mode}-{i}-{nonce()}")
                    return run_loadgen(
                        ctx, started, urls=[s.ws_url for s in started], room=room, mode=mode
                    )

                with Profiler(ctx, started[0], f"{mode}-{k}proc-writer-side"):
                    runs = repeated(ctx, f"{mode} {k} procs", started, one)
                ctx.results[f"{mode}_{k}proc_redis"] = summarise_loadgen(runs)


def sc_cross(ctx: Ctx) -> None:
    """4: paced, writer on process A, all readers on process B (over Redis)."""
    flush_redis()
    specs = [Server("cross-a", redis_url=REDIS_URL), Server("cross-b", redis_url=REDIS_URL)]
    with servers(specs) as (a, b):
        time.sleep(1.0)

        def one(i: int) -> Json:
            room = ctx.seed.document(f"cross-{i}-{nonce()}")
            return run_loadgen(
                ctx, [a, b], urls=[b.ws_url], writer_url=a.ws_url, room=room, mode="paced"
            )

        runs = repeated(ctx, "cross-process paced", [a, b], one)
        ctx.results["paced_cross_process"] = summarise_loadgen(runs)


def run_idle_conns(
    ctx: Ctx, srv: Server, room: str, conns: int, rooms: int, settle: float = 3.0
) -> Json:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tf:
        out = tf.name
    cmd = [
        PY,
        str(BENCH / "idle_conns.py"),
        "--url",
        srv.ws_url,
        "--room",
        room,
        "--token",
        ctx.seed.token,
        "--conns",
        str(conns),
        "--rooms",
        str(rooms),
        "--pid",
        str(srv.pid),
        "--hold",
        "0",
        # Handshakes in flight at once: the generator's pace (it measures memory, not
        # connecting; the server's listen backlog is LISTEN_BACKLOG).
        "--concurrency",
        "50",
        "--settle",
        str(settle),
        "--json",
        out,
    ]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    try:
        with open(out) as f:
            res: Json = json.load(f)
    except (OSError, ValueError):
        res = {"error": (p.stdout + p.stderr)[-2000:]}
    finally:
        with contextlib.suppress(OSError):
            os.unlink(out)
    res["exit_code"] = p.returncode
    res["summary"] = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return res


def sc_idle(ctx: Ctx) -> None:
    """6: RSS delta per idle connection (5,000 connections over 10 rooms)."""
    conns = 1000 if ctx.args.quick else 5000
    rooms = 10

    def one(i: int) -> Json:
        base = f"idle{i}{nonce()}"
        for j in range(rooms):
            ctx.seed.document(f"{base}-{j}")
        srv = Server(f"idle-{i}", extra_env={"TROUPE_IDLE_UNLOAD_SECONDS": "3600"})
        with servers([srv]):
            # Warm up: load the rooms, open DB connections, touch every code path once.
            warm = run_idle_conns(ctx, srv, f"{PROJECT}/{base}", 2 * rooms, rooms, settle=0.5)
            time.sleep(1.0)
            res = run_idle_conns(ctx, srv, f"{PROJECT}/{base}", conns, rooms)
            res["warmup"] = warm.get("summary")
        return res

    runs = repeated(ctx, f"idle {conns} conns", [], one, quiet=False)
    vals = [r.get("server_kb_per_conn") for r in runs if r.get("synced", 0) >= 0.95 * conns]
    ctx.per_conn_kb = med(vals)
    ctx.results["idle_connections"] = {
        "conns": conns,
        "kb_per_conn": ctx.per_conn_kb,
        "kb_per_conn_all": [r.get("server_kb_per_conn") for r in runs],
        "synced_all": [r.get("synced") for r in runs],
        "connect_s_all": [r.get("connect_s") for r in runs],
        "runs": runs,
    }


async def open_rooms(url: str, rooms: Sequence[str], token: str, concurrency: int = 4) -> int:
    """Load each room by connecting, syncing and closing again; returns how many synced.

    Few connections are open at any time, so the server's RSS afterwards holds the idle
    rooms but hardly any connection memory.
    """
    from pycrdt import Doc

    sem = asyncio.Semaphore(concurrency)
    ok = 0

    async def one(room: str) -> None:
        nonlocal ok
        async with sem:
            c = YClient(url, room, token, Doc())
            try:
                await c.connect()
                await c.wait_synced(60)
                ok += 1
            finally:
                await c.close()

    await asyncio.gather(*(one(r) for r in rooms))
    return ok


def sc_rooms(ctx: Ctx) -> None:
    """7: RSS per idle room holding a 10 kB document, no connections (rooms not unloaded).

    Each run: fresh server (unload delay 1 h so the rooms stay), 5 warm-up rooms, RSS;
    then every room is opened once (connect, sync, close; 4 at a time), RSS again.
    One extra run loads a worst-case ("scattered") 10 kB document for comparison.
    """
    n_rooms = 100 if ctx.args.quick else 500
    typed = edited_state(10_000)
    scattered = edited_state(10_000, scattered=True)

    def rooms_run(i: int, state: bytes, label: str) -> Json:
        base = f"rooms{label[0]}{i}{nonce()}"
        rooms = ctx.seed.documents_with_state([f"{base}-{j}" for j in range(n_rooms)], state)
        warm = ctx.seed.documents_with_state([f"{base}w-{j}" for j in range(5)], state)
        srv = Server(f"rooms-{i}", extra_env={"TROUPE_IDLE_UNLOAD_SECONDS": "3600"})
        with servers([srv]):
            asyncio.run(open_rooms(srv.ws_url, warm, ctx.seed.token))
            time.sleep(1.0)
            rss0 = srv.rss()
            t0 = time.perf_counter()
            synced = asyncio.run(open_rooms(srv.ws_url, rooms, ctx.seed.token))
            open_s = time.perf_counter() - t0
            time.sleep(2.0)
            rss1 = srv.rss()
            in_memory = srv.metrics().get("troupe_rooms_in_memory")
        kb = round((rss1 - rss0) / 1024 / n_rooms, 1)
        return {
            "document": label,
            "state_bytes": len(state),
            "rooms": n_rooms,
            "synced": synced,
            "open_s": round(open_s, 2),
            "rss_before_mb": round(rss0 / 2**20, 1),
            "rss_after_mb": round(rss1 / 2**20, 1),
            "rooms_in_memory": in_memory,
            "kb_per_room": kb,
            "exit_code": 0 if synced == n_rooms else 1,
            "summary": f"{synced}/{n_rooms} {label} rooms ({len(state)} B state) opened in "
            f"{open_s:.1f}s; RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MB = {kb} KB/room "
            f"({in_memory} rooms in memory)",
        }

    runs = repeated(
        ctx, f"rooms {n_rooms} x 10 kB", [], lambda i: rooms_run(i, typed, "typed"), quiet=False
    )
    worst = repeated(
        ctx,
        "rooms worst case",
        [],
        lambda i: rooms_run(i, scattered, "scattered"),
        runs=1,
        quiet=False,
    )
    ctx.results["idle_rooms"] = {
        "rooms": n_rooms,
        "doc_chars": 10_000,
        "doc_state_bytes": len(typed),
        "kb_per_room": med([r.get("kb_per_room") for r in runs]),
        "kb_per_room_all": [r.get("kb_per_room") for r in runs],
        "worst_case_state_bytes": len(scattered),
        "worst_case_kb_per_room": worst[0].get("kb_per_room") if worst else None,
        "runs": runs + worst,
    }


async def time_to_synced(url: str, room: str, token: str) -> float:
    from pycrdt import Doc

    t0 = time.perf_counter()
    c = YClient(url, room, token, Doc())
    await c.connect()
    await c.wait_synced(600)
    dt = time.perf_counter() - t0
    await c.close()
    return dt


async def time_to_synced_while_held(url: str, room: str, token: str) -> float:
    """Connect-to-synced of a second client while a first one keeps the room loaded."""
    from pycrdt import Doc

    holder = YClient(url, room, token, Doc())
    await holder.connect()
    await holder.wait_synced(600)
    try:
        return await time_to_synced(url, room, token)
    finally:
        await holder.close()


def sc_load(ctx: Ctx) -> None:
    """8: connect-to-synced for a document whose log holds 100,000 one-char updates."""
    n = 10_000 if ctx.args.quick else 100_000
    t0 = time.perf_counter()
    updates, client_id = typed_updates(n)
    log(
        f"  generated {n} updates ({sum(map(len, updates)) / n:.0f} B each) in "
        f"{time.perf_counter() - t0:.1f}s"
    )
    # The unload delay is shortened (default 30 s) only so that the compaction on unload
    # happens within the bench; it does not change what a load costs.
    srv = Server("load", extra_env={"TROUPE_IDLE_UNLOAD_SECONDS": "1"})
    with servers([srv]):
        # "Cold" is the document, not the process: the process's first connection (its
        # database connection, lazily built code paths) is paid before the first run.
        warm_up = time_to_synced(srv.ws_url, ctx.seed.document(f"warm-{nonce()}"), ctx.seed.token)
        log(f"  warm-up connection to an empty document: {1000 * asyncio.run(warm_up):.0f} ms")

        def one(i: int) -> Json:
            t = time.perf_counter()
            room = ctx.seed.document_with_log(f"log{i}-{nonce()}", updates, client_id)
            seed_s = time.perf_counter() - t
            last, through0 = ctx.seed.log_state(room)
            # The cold load is Yrs CPU on one core: the probe right before it tells a slow
            # stretch of the machine from a slow load.
            probe = speed_probe(updates[:SPEED_PROBE_UPDATES])
            meter = NoiseMeter([srv]).start()
            loads_before = srv.metrics()
            cold = asyncio.run(time_to_synced(srv.ws_url, room, ctx.seed.token))
            noise = meter.stop()
            server_load = server_load_step(loads_before, srv.metrics())
            # Unload = idle delay + final compaction of the whole log; the server may not
            # answer /metrics while it compacts (the merge holds the GIL).
            t_closed = time.monotonic()
            deadline = t_closed + 900
            unloaded = False
            stalls = 0
            while time.monotonic() < deadline and not unloaded:
                time.sleep(0.25)
                try:
                    unloaded = srv.metrics().get("troupe_rooms_in_memory") == 0
                except OSError:
                    stalls += 1
            unload_s = time.monotonic() - t_closed
            if not unloaded:
                raise TimeoutError("the room did not unload within 15 minutes")
            _, through1 = ctx.seed.log_state(room)
            compacted = asyncio.run(time_to_synced(srv.ws_url, room, ctx.seed.token))
            hot = asyncio.run(time_to_synced_while_held(srv.ws_url, room, ctx.seed.token))
            time.sleep(2.0)
            return {
                "updates": n,
                "seed_s": round(seed_s, 2),
                "cold_ms": round(1000 * cold, 1),
                "server_load_ms": server_load["ms"],
                "server_load_log_entries": server_load["log_entries"],
                "speed_probe_ms": probe,
                "compacted_ms": round(1000 * compacted, 1),
                "in_memory_ms": round(1000 * hot, 1),
                "unload_s": round(unload_s, 1),
                "metrics_timeouts_while_unloading": stalls,
                "compacted_through_before": through0,
                "compacted_through_after_unload": through1,
                "last_update_id": last,
                "noise": noise,
                "summary": f"cold={1000 * cold:.0f}ms (server's load step "
                f"{server_load['ms']}ms, {server_load['log_entries']} log entries; speed probe "
                f"{probe}ms) "
                f"after-unload={1000 * compacted:.0f}ms "
                f"in-memory={1000 * hot:.1f}ms; unload+compaction took {unload_s:.1f}s "
                f"(log compacted: {through1 >= last})",
            }

        runs = repeated(ctx, f"load {n} updates", [srv], one)
    ctx.results["load_100k"] = {
        "updates": n,
        "cold_ms": med([r["cold_ms"] for r in runs]),
        "compacted_ms": med([r["compacted_ms"] for r in runs]),
        "in_memory_ms": med([r["in_memory_ms"] for r in runs]),
        "cold_ms_all": [r["cold_ms"] for r in runs],
        "server_load_ms_all": [r["server_load_ms"] for r in runs],
        "speed_probe_ms_all": [r["speed_probe_ms"] for r in runs],
        "compacted_ms_all": [r["compacted_ms"] for r in runs],
        "in_memory_ms_all": [r["in_memory_ms"] for r in runs],
        "unload_s": med([r["unload_s"] for r in runs]),
        "unload_s_all": [r["unload_s"] for r in runs],
        "runs": runs,
    }


# ================================================= many rooms and connection storms (#25)
GENERATOR = BENCH / "generator"
GENERATOR_JS = GENERATOR / "clients.mjs"
LOOP_LAG = "troupe_event_loop_lag_seconds"
# What a cold room holds on Troupe: a script of 1,000 typed characters (y-websocket's Node
# server keeps nothing, so its rooms start empty: the comparison favours it).
ROOM_CHARS = 1_000


def npm_ci(package: Path) -> None:
    """Install a bench Node package from its lockfile on first use."""
    if not (package / "node_modules" / ".package-lock.json").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=package,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def loop_lag_ms(before: Sequence[dict[str, float]], after: Sequence[dict[str, float]]) -> Json:
    """p50/p99 and the largest bucket bound reached of the servers' event-loop lag over an
    interval, all processes pooled (ms)."""
    pooled: dict[float, float] = {}
    for b, a in zip(before, after, strict=True):
        for le, count in histogram_delta(b, a, LOOP_LAG):
            pooled[le] = pooled.get(le, 0.0) + count
    buckets = sorted(pooled.items())
    out: Json = {"samples": int(buckets[-1][1]) if buckets else 0}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        v = histogram_quantile(buckets, q)
        out[name] = None if v is None else round(1000 * v, 3)
    # The smallest bound holding every sample: the worst stall lies below it.
    worst = next((le for le, cum in buckets if buckets and cum >= buckets[-1][1]), None)
    out["max_below"] = None if worst is None or math.isinf(worst) else round(1000 * worst, 1)
    return out


def run_clients(
    ctx: Ctx,
    ours: Sequence[Server],
    *,
    rooms: Sequence[str],
    per_room: int,
    mode: str,
    seconds: float = 20,
    rate: float = 350,
    timeout: float = 60,
) -> Json:
    """One run of bench/generator/clients.mjs against ``ours`` (rooms' clients dealt
    round-robin over the servers); its JSON plus noise, loop lag and admission figures."""
    npm_ci(GENERATOR)
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("the client generator needs Node.js (node on PATH)")
    with tempfile.TemporaryDirectory() as tmp:
        rooms_file = Path(tmp) / "rooms.json"
        rooms_file.write_text(json.dumps(list(rooms)))
        out = Path(tmp) / "out.json"
        cmd = [
            node,
            str(GENERATOR_JS),
            "--url",
            ",".join(s.ws_url for s in ours),
            "--rooms",
            str(rooms_file),
            "--per-room",
            str(per_room),
            "--mode",
            mode,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--timeout",
            str(timeout),
            "--json",
            str(out),
        ]
        troupe = [s for s in ours if not isinstance(s, ReferenceServer)]
        if troupe:
            cmd += ["--token", ctx.seed.token]
        before = [s.metrics() for s in troupe]
        cpu0 = sum(s.cpu_s() for s in ours)
        meter = NoiseMeter(ours).start()
        # Marks the generator prints on stdout: /metrics is read at each, so the loop lag
        # of the update load is known apart from that of the connecting.
        marks: dict[str, list[dict[str, float]]] = {}
        said: list[str] = []
        with subprocess.Popen(
            cmd, cwd=GENERATOR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("LOAD ") and troupe:
                    marks[line.strip()] = [s.metrics() for s in troupe]
                else:
                    said = [*said[-50:], line]
            proc.wait(timeout=timeout + seconds + 600)
        noise = meter.stop()
        try:
            res: Json = json.loads(out.read_text())
        except (OSError, ValueError):
            res = {"error": "".join(said)[-2000:] or f"exit {proc.returncode}"}
    res["exit_code"] = proc.returncode
    res["noise"] = noise
    res["server_cpu_s"] = round(sum(s.cpu_s() for s in ours) - cpu0, 2)
    if troupe:
        after = [s.metrics() for s in troupe]
        res["loop_lag_ms"] = loop_lag_ms(before, after)
        if "LOAD START" in marks and "LOAD END" in marks:
            res["load_loop_lag_ms"] = loop_lag_ms(marks["LOAD START"], marks["LOAD END"])
        res["admissions_refused"] = sum(
            a.get("troupe_admissions_refused_total", 0.0)
            - b.get("troupe_admissions_refused_total", 0.0)
            for b, a in zip(before, after, strict=True)
        )
    return res


def many_summary(res: Json) -> str:
    lat_ms = res.get("latency_ms", {})
    lag = res.get("loop_lag_ms", {})
    load_lag = res.get("load_loop_lag_ms", {})
    return (
        f"connect+sync {res.get('connect_s')} s ({res.get('connect_failed')} failed); "
        f"p50 {lat_ms.get('p50')} p99 {lat_ms.get('p99')} max {lat_ms.get('max')} ms, "
        f"lost {res.get('lost')}; loop lag p99 {load_lag.get('p99')} ms under the load "
        f"(< {load_lag.get('max_below')} ms at worst), {lag.get('p99')} ms in all; "
        f"server CPU {res.get('server_cpu_s')} s"
    )


def storm_summary(res: Json) -> str:
    synced = res.get("synced_s", {})
    return (
        f"{res.get('synced')}/{res.get('clients')} synced; p50 {synced.get('p50')} s, "
        f"last {synced.get('max')} s; resets {res.get('resets')}; closes {res.get('closes')}; "
        f"errors {res.get('errors')}; refused {res.get('admissions_refused')}"
    )


def cold_rooms(ctx: Ctx, label: str, n: int, state: bytes) -> list[str]:
    base = f"{label}{nonce()}"
    return ctx.seed.documents_with_state([f"{base}-{j}" for j in range(n)], state)


def sc_many(ctx: Ctx) -> None:
    """Many small rooms: 500 cold rooms x 3 clients connected and synced one after
    another, then 350 updates/s in all for 20 s; Troupe (1 process, then 2 over Redis)
    and y-websocket's Node server interleaved run by run."""
    n_rooms = 100 if ctx.args.quick else 500
    state = edited_state(ROOM_CHARS)
    results: dict[str, list[Json]] = {}
    ours = Server("many")
    ref = ReferenceServer("many-reference")
    with servers([ours, ref]):
        for i in range(ctx.args.runs):
            for srv, who in ((ours, "troupe"), (ref, "reference")):

                def one(_: int, srv: Server = srv, who: str = who, i: int = i) -> Json:
                    rooms = cold_rooms(ctx, f"many-{who}-{i}-", n_rooms, state)
                    res = run_clients(ctx, [srv], rooms=rooms, per_room=3, mode="many")
                    res["summary"] = many_summary(res)
                    return res

                results.setdefault(who, []).extend(
                    repeated(ctx, f"many rooms {who}", [srv], one, runs=1)
                )
    flush_redis()
    pair = [Server(f"many-redis-{k}", redis_url=REDIS_URL) for k in range(2)]
    with servers(pair):

        def two(i: int) -> Json:
            rooms = cold_rooms(ctx, f"many-2p-{i}-", n_rooms, state)
            res = run_clients(ctx, pair, rooms=rooms, per_room=3, mode="many")
            res["summary"] = many_summary(res)
            return res

        results["troupe_2p"] = repeated(ctx, "many rooms troupe 2 processes", pair, two)
    ctx.results["many_rooms"] = {
        "rooms": n_rooms,
        "clients": 3 * n_rooms,
        "room_chars": ROOM_CHARS,
        "server": "y-websocket 1.5.4 bin/server.js on " + node_version(),
    } | {
        who: {
            "connect_s": med([r.get("connect_s") for r in runs]),
            "connect_s_all": [r.get("connect_s") for r in runs],
            "p50_ms": med([r.get("latency_ms", {}).get("p50") for r in runs]),
            "p99_ms": med([r.get("latency_ms", {}).get("p99") for r in runs]),
            "p99_ms_all": [r.get("latency_ms", {}).get("p99") for r in runs],
            "loop_lag_p99_ms": med([r.get("load_loop_lag_ms", {}).get("p99") for r in runs]),
            "loop_lag_p99_ms_all": [r.get("load_loop_lag_ms", {}).get("p99") for r in runs],
            "loop_lag_max_below_ms_all": [
                r.get("load_loop_lag_ms", {}).get("max_below") for r in runs
            ],
            "connecting_loop_lag_p99_ms_all": [r.get("loop_lag_ms", {}).get("p99") for r in runs],
            "lost": [r.get("lost") for r in runs],
            "runs": runs,
        }
        for who, runs in results.items()
    }


def sc_storm(ctx: Ctx) -> None:
    """Connection storms: 2,000 and 5,000 clients created at once against 500 cold rooms,
    each synced or not within 60 s; Troupe and the Node server interleaved, then Troupe
    on 2 processes over Redis."""
    n_rooms = 100 if ctx.args.quick else 500
    sizes = (400, 1_000) if ctx.args.quick else (2_000, 5_000)
    state = edited_state(ROOM_CHARS)
    results: dict[str, list[Json]] = {}
    for clients in sizes:
        ours = Server(f"storm-{clients}")
        ref = ReferenceServer(f"storm-{clients}-reference")
        with servers([ours, ref]):
            for i in range(ctx.args.runs):
                for srv, who in ((ours, "troupe"), (ref, "reference")):

                    def one(
                        _: int, srv: Server = srv, who: str = who, n: int = clients, i: int = i
                    ) -> Json:
                        rooms = cold_rooms(ctx, f"storm{n}-{who}-{i}-", n_rooms, state)
                        res = run_clients(
                            ctx, [srv], rooms=rooms, per_room=n // n_rooms, mode="storm"
                        )
                        res["summary"] = storm_summary(res)
                        return res

                    results.setdefault(f"{who}_{clients}", []).extend(
                        repeated(ctx, f"storm {clients} {who}", [srv], one, runs=1)
                    )
        flush_redis()
        pair = [Server(f"storm-{clients}-redis-{k}", redis_url=REDIS_URL) for k in range(2)]
        with servers(pair):

            def two(i: int, n: int = clients, pair: list[Server] = pair) -> Json:
                rooms = cold_rooms(ctx, f"storm{n}-2p-{i}-", n_rooms, state)
                res = run_clients(ctx, pair, rooms=rooms, per_room=n // n_rooms, mode="storm")
                res["summary"] = storm_summary(res)
                return res

            results[f"troupe_2p_{clients}"] = repeated(
                ctx, f"storm {clients} troupe 2 processes", pair, two
            )
    ctx.results["storm"] = {"rooms": n_rooms, "sizes": list(sizes)} | {
        key: {
            "all_synced_s": med([r.get("all_synced_s") for r in runs]),
            "all_synced_s_all": [r.get("all_synced_s") for r in runs],
            "synced_all": [r.get("synced") for r in runs],
            "resets_all": [r.get("resets") for r in runs],
            "runs": runs,
        }
        for key, runs in results.items()
    }


SCENARIOS: dict[str, Callable[[Ctx], None]] = {
    "paced": sc_paced_and_persistence,
    "reference": sc_reference,
    "saturated": sc_saturated,
    "multi": sc_multi,
    "cross": sc_cross,
    "idle": sc_idle,
    "rooms": sc_rooms,
    "load": sc_load,
    "many": sc_many,
    "storm": sc_storm,
}
ALL = [
    "paced",
    "persistence",
    "reference",
    "saturated",
    "persistlag",
    "multi",
    "cross",
    "idle",
    "rooms",
    "load",
    "many",
    "storm",
]


# ============================================================================ report
@dataclass
class Figure:
    figure: str
    target: str
    measured: str
    ok: bool | None
    value: float | None = None
    all_runs: list[Any] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "n/a" if self.ok is None else ("pass" if self.ok else "FAIL")


def fmt(v: float | None, unit: str = "", nd: int = 1) -> str:
    if v is None:
        return "-"
    if unit == "/s":
        return f"{v / 1000:,.1f}k/s"
    return f"{v:,.{nd}f}{unit}"


def runs_str(vals: Sequence[Any], unit: str = "") -> str:
    def one(v: Any) -> str:
        if v is None:
            return "-"
        if unit == "/s":
            return f"{float(v) / 1000:.1f}k"
        return f"{float(v):g}"

    return ", ".join(one(v) for v in vals)


def figures(results: Json) -> list[Figure]:
    out: list[Figure] = []

    def le(v: float | None, t: float) -> bool | None:
        return None if v is None else v <= t

    def ge(v: float | None, t: float) -> bool | None:
        return None if v is None else v >= t

    r = results.get("paced_1proc")
    if r:
        out.append(
            Figure(
                "Paced p50 latency, 50 readers, 1 process",
                "(Node ref 0.75 ms)",
                f"{fmt(r['p50_ms'], ' ms', 2)} (runs: {runs_str(r['p50_all'])})",
                None,
                r["p50_ms"],
            )
        )
        out.append(
            Figure(
                "Paced p99 latency, 50 readers, 1 process",
                "<= 3 ms",
                f"{fmt(r['p99_ms'], ' ms', 2)} (runs: {runs_str(r['p99_all'])})",
                le(r["p99_ms"], 3.0),
                r["p99_ms"],
            )
        )
        out.append(
            Figure(
                "Paced, 1 process: server fan-out p50 / p99; first reader p50; reader spread p50",
                "(where the time goes)",
                f"{fmt(r.get('server_fanout_p50_ms'), '', 2)} / "
                f"{fmt(r.get('server_fanout_p99_ms'), ' ms', 2)}; "
                f"{fmt(r.get('first_reader_p50_ms'), ' ms', 2)}; "
                f"{fmt(r.get('reader_spread_p50_ms'), ' ms', 2)}",
                None,
                r.get("server_fanout_p99_ms"),
            )
        )
    ref = results.get("reference", {})

    def paced(r: Json) -> str:
        return f"{fmt(r['p50_ms'], '', 2)} / {fmt(r['p99_ms'], ' ms', 2)}"

    def saturated(r: Json) -> str:
        return fmt(r["deliveries_per_s"], "/s")

    for mode, what, show, key, unit in (
        ("paced", "Paced p50 / p99", paced, "p99_ms", ""),
        ("saturated", "Saturated deliveries/s", saturated, "deliveries_per_s", "/s"),
    ):
        runs = key.removesuffix("_ms") + "_all"
        t, n = ref.get(f"troupe_{mode}"), ref.get(f"reference_{mode}")
        if t and n:
            out.append(
                Figure(
                    f"{what} under this generator: Troupe vs y-websocket ref (Node)",
                    "(same runs, interleaved)",
                    f"Troupe {show(t)}, ref {show(n)} (runs: {runs_str(t[runs], unit)} "
                    f"vs {runs_str(n[runs], unit)})",
                    None,
                    t[key],
                )
            )
    r = results.get("saturated_1proc")
    if r:
        out.append(
            Figure(
                "Saturated deliveries/s, 50 readers, 1 process",
                ">= 60k/s",
                f"{fmt(r['deliveries_per_s'], '/s')} "
                f"(runs: {runs_str(r['deliveries_per_s_all'], '/s')}); "
                f"latency p50 / p99 {paced(r)}",
                ge(r["deliveries_per_s"], 60_000),
                r["deliveries_per_s"],
            )
        )
    for k, target in ((1, None), (2, 115_000.0), (4, None)):
        r = results.get(f"saturated_{k}proc_redis")
        if r:
            out.append(
                Figure(
                    f"Saturated deliveries/s, {k} process{'es' if k > 1 else ''} over Redis",
                    ">= 115k/s (Node ref)" if target else "(report)",
                    f"{fmt(r['deliveries_per_s'], '/s')} "
                    f"(runs: {runs_str(r['deliveries_per_s_all'], '/s')}); "
                    f"latency p50 / p99 {paced(r)}",
                    ge(r["deliveries_per_s"], target) if target else None,
                    r["deliveries_per_s"],
                )
            )
    for k in (1, 2, 4):
        r = results.get(f"paced_{k}proc_redis")
        if r:
            out.append(
                Figure(
                    f"Paced p50 / p99, readers spread over {k} process{'es' if k > 1 else ''}"
                    " (Redis)",
                    "(report)",
                    f"{paced(r)} (p99 runs: {runs_str(r['p99_all'])})",
                    None,
                    r["p99_ms"],
                )
            )
    r = results.get("paced_cross_process")
    if r:
        out.append(
            Figure(
                "Cross-process paced p99 (writer on A, readers on B)",
                "<= 10 ms",
                f"{fmt(r['p99_ms'], ' ms', 2)} (p50 {fmt(r['p50_ms'], ' ms', 2)}; "
                f"runs: {runs_str(r['p99_all'])})",
                le(r["p99_ms"], 10.0),
                r["p99_ms"],
            )
        )
    on = results.get("paced_1proc")
    off = results.get("paced_1proc_no_persistence")
    if on and off:
        # The target: p99 with persistence differs from p99 without by less than 20%.
        diff = abs(on["p99_ms"] - off["p99_ms"]) / off["p99_ms"] if off["p99_ms"] else None
        out.append(
            Figure(
                "Paced p99, persistence on vs off (TROUPE_PERSISTENCE=0)",
                "differ by < 20%",
                f"on {fmt(on['p99_ms'], ' ms', 2)} / off {fmt(off['p99_ms'], ' ms', 2)}"
                f"{'' if diff is None else f' ({diff:+.1%})'} "
                f"(off runs: {runs_str(off['p99_all'])})",
                None if diff is None else diff < 0.20,
                off["p99_ms"],
            )
        )
    son = results.get("saturated_1proc")
    soff = results.get("saturated_1proc_no_persistence")
    if son and soff:
        out.append(
            Figure(
                "Saturated deliveries/s, persistence on vs off",
                "(cost of persistence)",
                f"on {fmt(son['deliveries_per_s'], '/s')} / off "
                f"{fmt(soff['deliveries_per_s'], '/s')} "
                f"(off runs: {runs_str(soff['deliveries_per_s_all'], '/s')})",
                None,
                soff["deliveries_per_s"],
            )
        )
    r = results.get("idle_connections")
    if r:
        out.append(
            Figure(
                f"Server memory per idle connection ({r['conns']:,} conns)",
                "<= 50 KB",
                f"{fmt(r['kb_per_conn'], ' KB')} (runs: {runs_str(r['kb_per_conn_all'])}; "
                f"connecting took {runs_str(r['connect_s_all'])} s)",
                le(r["kb_per_conn"], 50.0),
                r["kb_per_conn"],
            )
        )
    r = results.get("idle_rooms")
    if r:
        v = r["kb_per_room"]
        out.append(
            Figure(
                f"Server memory per idle room, 10 kB typed doc ({r['rooms']} rooms, no conns)",
                "<= 200 KB",
                f"{fmt(v, ' KB')} (runs: {runs_str(r['kb_per_room_all'])}; state "
                f"{r['doc_state_bytes'] / 1000:.1f} kB); worst-case doc "
                f"({r['worst_case_state_bytes'] / 1000:.0f} kB state): "
                f"{fmt(r['worst_case_kb_per_room'], ' KB')}",
                le(v, 200.0),
                v,
            )
        )
    r = results.get("load_100k")
    if r:
        n = f"{r['updates']:,}"
        out.append(
            Figure(
                f"Connect-to-synced, {n}-update log, cold (uncompacted)",
                "<= 150 ms",
                f"{fmt(r['cold_ms'], ' ms', 0)} (runs: {runs_str(r['cold_ms_all'])}; of them "
                f"the server's load step: {runs_str(r.get('server_load_ms_all', []))} ms; speed "
                f"probe before each: {runs_str(r.get('speed_probe_ms_all', []))} ms)",
                le(r["cold_ms"], 150.0),
                r["cold_ms"],
            )
        )
        out.append(
            Figure(
                f"Connect-to-synced, {n}-update log, after unload (compacted)",
                "<= 150 ms",
                f"{fmt(r['compacted_ms'], ' ms', 0)} (runs: {runs_str(r['compacted_ms_all'])})",
                le(r["compacted_ms"], 150.0),
                r["compacted_ms"],
            )
        )
        out.append(
            Figure(
                f"Unload of the {n}-update room (idle 1 s + compaction of the log)",
                "(report)",
                f"{fmt(r['unload_s'], ' s', 1)} (runs: {runs_str(r['unload_s_all'])})",
                None,
                r["unload_s"],
            )
        )
        out.append(
            Figure(
                f"Connect-to-synced, {n}-update doc already in memory",
                "(for reference)",
                f"{fmt(r['in_memory_ms'], ' ms', 1)} (runs: {runs_str(r['in_memory_ms_all'])})",
                None,
                r["in_memory_ms"],
            )
        )
    r = results.get("persist_lag_saturated")
    if r:
        out.append(
            Figure(
                "Persist lag p99 during saturated run (/metrics buckets)",
                "(report)",
                f"{fmt(r['p99_ms_est'], ' ms', 1)} (p50 {fmt(r['p50_ms_est'], ' ms', 1)}, "
                f"mean {fmt(r['mean_ms'], ' ms', 1)}; runs: {runs_str(r['p99_ms_est_all'])})",
                None,
                r["p99_ms_est"],
            )
        )
    r = results.get("persist_queue_depth")
    if r:
        mx = r["max_sampled_during_saturated"]
        out.append(
            Figure(
                "Persist queue depth during saturated run (max sampled)",
                "(report)",
                f"{fmt(mx, '', 0)} updates (after the run: {fmt(r['after_run'], '', 0)})",
                None,
                mx,
            )
        )
    many = results.get("many_rooms")
    if many and "troupe" in many and "reference" in many:
        t, n, two = many["troupe"], many["reference"], many.get("troupe_2p")
        rooms, clients = many["rooms"], many["clients"]
        ratio = None
        if t["connect_s"] is not None and n["connect_s"]:
            ratio = round(t["connect_s"] / n["connect_s"], 2)
        out.append(
            Figure(
                f"Many rooms: {clients:,} clients in {rooms} cold rooms connected and synced one "
                "after another: Troupe / Node (ratio)",
                "<= 1.5x Node",
                f"{fmt(t['connect_s'], ' s', 2)} / {fmt(n['connect_s'], ' s', 2)} ({ratio}x; "
                f"runs: {runs_str(t['connect_s_all'], ' s')} / "
                f"{runs_str(n['connect_s_all'], ' s')})",
                le(ratio, 1.5),
                ratio,
            )
        )
        ok = None
        if t["p99_ms"] is not None and n["p99_ms"] is not None:
            ok = t["p99_ms"] <= n["p99_ms"] and t["p99_ms"] <= 5.0
        out.append(
            Figure(
                "Many rooms, 350 updates/s: delivery p50 / p99, Troupe vs Node",
                "p99 <= Node's and <= 5 ms",
                f"{fmt(t['p50_ms'], '', 2)} / {fmt(t['p99_ms'], ' ms', 2)} vs "
                f"{fmt(n['p50_ms'], '', 2)} / {fmt(n['p99_ms'], ' ms', 2)} (p99 runs: "
                f"{runs_str(t['p99_ms_all'])} vs {runs_str(n['p99_ms_all'])}; lost "
                f"{t['lost']} vs {n['lost']})",
                ok,
                t["p99_ms"],
            )
        )
        out.append(
            Figure(
                "Many rooms, 350 updates/s: event-loop lag p99 (/metrics), 1 process",
                "<= 2 ms",
                f"{fmt(t['loop_lag_p99_ms'], ' ms', 2)} (runs: "
                f"{runs_str(t['loop_lag_p99_ms_all'])}; worst below "
                f"{runs_str(t['loop_lag_max_below_ms_all'], ' ms')})",
                le(t["loop_lag_p99_ms"], 2.0),
                t["loop_lag_p99_ms"],
            )
        )
        if two:
            out.append(
                Figure(
                    "Many rooms on 2 processes over Redis: connect+sync; p50 / p99; loop lag p99",
                    "(report)",
                    f"{fmt(two['connect_s'], ' s', 2)}; {fmt(two['p50_ms'], '', 2)} / "
                    f"{fmt(two['p99_ms'], ' ms', 2)}; {fmt(two['loop_lag_p99_ms'], ' ms', 2)} "
                    f"(p99 runs: {runs_str(two['p99_ms_all'])})",
                    None,
                    two["p99_ms"],
                )
            )
    storm = results.get("storm")
    if storm:
        for size, limit in zip(storm["sizes"], (10.0, 30.0), strict=False):
            t, n = storm.get(f"troupe_{size}"), storm.get(f"reference_{size}")
            two = storm.get(f"troupe_2p_{size}")
            if not t:
                continue
            every = all(x == size for x in t["synced_all"]) and not any(t["resets_all"])
            out.append(
                Figure(
                    f"Storm: {size:,} clients at once to {storm['rooms']} cold rooms, all synced "
                    "after (1 process; none reset)",
                    f"<= {limit:g} s",
                    f"{fmt(t['all_synced_s'], ' s', 2)} (runs: "
                    f"{runs_str(t['all_synced_s_all'], ' s')}; synced "
                    f"{runs_str(t['synced_all'])}; resets {runs_str(t['resets_all'])})",
                    every and le(t["all_synced_s"], limit),
                    t["all_synced_s"],
                )
            )
            if n:
                out.append(
                    Figure(
                        f"Storm: {size:,} clients, y-websocket's Node server, same runs",
                        "(reference)",
                        f"{fmt(n['all_synced_s'], ' s', 2)} (runs: "
                        f"{runs_str(n['all_synced_s_all'], ' s')})",
                        None,
                        n["all_synced_s"],
                    )
                )
            if two:
                faster = None
                if two["all_synced_s"] is not None and t["all_synced_s"] is not None:
                    faster = two["all_synced_s"] < t["all_synced_s"]
                out.append(
                    Figure(
                        f"Storm: {size:,} clients over 2 processes with Redis, all synced after",
                        "< 1 process",
                        f"{fmt(two['all_synced_s'], ' s', 2)} (runs: "
                        f"{runs_str(two['all_synced_s_all'], ' s')}; synced "
                        f"{runs_str(two['synced_all'])})",
                        faster,
                        two["all_synced_s"],
                    )
                )
    probes = results.get("speed_probe_ms")
    if probes:
        out.append(
            Figure(
                f"Speed probe before each scenario ({SPEED_PROBE_UPDATES:,} pycrdt updates)",
                "(lower = faster machine)",
                ", ".join(f"{k} {v:g} ms" for k, v in probes.items()),
                None,
                max(probes.values()),
            )
        )
    return out


def table_text(figs: list[Figure]) -> str:
    rows = [("Figure", "Target", "Measured (median; all runs)", "Result")]
    rows += [(f.figure, f.target, f.measured, f.verdict) for f in figs]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
        if j == 0:
            lines.append("  ".join("-" * w for w in widths) + "  ------")
    return "\n".join(lines)


def noisy_note(results: Json) -> str:
    noisy = results.get("noisy_runs_kept") or {}
    if not noisy:
        return ""
    parts = ", ".join(f"{k} ({v})" for k, v in noisy.items())
    return f"Runs kept although other processes used the CPU (retries used up): {parts}."


def table_md(figs: list[Figure], meta: Json, results: Json) -> str:
    out = [
        "| Figure | Target | Measured (median; all runs) | Result |",
        "|---|---|---|---|",
    ]
    for f in figs:
        out.append(f"| {f.figure} | {f.target} | {f.measured} | {f.verdict} |")
    out.append("")
    out.append(
        f"Measured {meta['date']} on {meta['cpus']} CPUs ({meta['cpu_model']}), "
        f"Python {meta['python']}, git {meta['git']}; {meta['runs']} runs per figure, "
        "fresh document per run, load generator on the same machine (bench/loadgen.py: "
        "one writer appending 8-character tokens, 50 pycrdt readers; paced = 1,000 updates "
        "at 200/s, saturated = 2,000 back to back). Servers: daphne with the Procfile's "
        "flags, DEBUG=0, default Troupe settings, PostgreSQL; one process without Redis, "
        "and 1, 2 or 4 processes over Redis. Memory figures: RSS of a fresh server (unload "
        "delay 1 h); the 100k-update figures use an unload delay of 1 s so that the "
        "unload's compaction happens within the bench. Reproduce with `make bench` "
        "(`bench/run.py --help`)."
    )
    note = noisy_note(results)
    if note:
        out += ["", note]
    return "\n".join(out) + "\n"


SPEED_PROBE_UPDATES = 10_000


def speed_probe(updates: Sequence[bytes]) -> float:
    """Milliseconds a fixed CPU-bound task takes now (pycrdt applying one-character updates
    in one transaction; best of 3). This machine's speed drifts by tens of percent within
    minutes, which no per-process CPU accounting sees. The probe reads the moment it runs
    (and this process's own state: it is faster once the process has built large
    documents), not a whole scenario; it corrects nothing."""
    from pycrdt import Doc, Text

    best = math.inf
    for _ in range(3):
        doc: Doc[Any] = Doc()
        doc.get("content", type=Text)
        t = time.perf_counter()
        with doc.transaction():
            for update in updates:
                doc.apply_update(update)
        best = min(best, time.perf_counter() - t)
    return round(1000 * best, 2)


def machine_meta(args: argparse.Namespace) -> Json:
    git = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=SRC,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    if args.src_label:
        git = args.src_label
    elif not git:
        git = f"tree {SRC}"
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "git": git,
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "runs": args.runs,
        "quick": args.quick,
        "loadavg_at_start": os.getloadavg(),
    }


def find_pyspy() -> str | None:
    for cand in (
        os.environ.get("BENCH_PYSPY"),
        shutil.which("py-spy"),
        "/tmp/benchvenv/bin/py-spy",  # noqa: S108 - the scratch venv named in the docs
    ):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--skip", default="", help="comma-separated scenarios to skip")
    ap.add_argument("--quick", action="store_true", help="1 run, smaller memory/load scenarios")
    ap.add_argument("--profile", default="", help="py-spy raw profiles of the servers into DIR")
    ap.add_argument("--quiet-cores", type=float, default=0.15)
    ap.add_argument("--quiet-wait", type=float, default=300.0)
    ap.add_argument("--max-foreign-cpu", type=float, default=0.5)
    ap.add_argument("--retries", type=int, default=3, help="noisy runs repeated, per wanted run")
    ap.add_argument("--out", default=str(RESULTS / "latest"))
    ap.add_argument(
        "--src",
        default="",
        help="measure the server code of this tree (e.g. an exported commit) instead of "
        "the checkout; the bench scripts themselves always come from this checkout",
    )
    ap.add_argument("--src-label", default="", help="how to name --src in the results")
    ap.add_argument(
        "--combine",
        nargs="+",
        default=[],
        metavar="JSON",
        help="measure nothing: merge the result files of partial runs into --out",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.runs = 1
    only = {s for s in args.only.split(",") if s}
    skip = {s for s in args.skip.split(",") if s}
    unknown = (only | skip) - set(ALL)
    if unknown:
        ap.error(f"unknown scenarios: {sorted(unknown)}")
    chosen = [s for s in ALL if (not only or s in only) and s not in skip]
    args.enabled = lambda name: name in chosen
    args.chosen = chosen
    return args


def _interrupted(signum: int, frame: object) -> None:
    # Raise in the main thread, so that every `with servers(...)` stops its daphnes.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    global SRC
    args = parse_args(argv)
    # Also when started in the background (where SIGINT is ignored) or stopped by TERM.
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    if args.combine:
        return combine(args.combine, Path(args.out))
    if args.src:
        SRC = Path(args.src).resolve()
    os.chdir(ROOT)
    nofile = raise_nofile()
    log(f"bench: scenarios {','.join(args.chosen)}; {args.runs} runs each; nofile {nofile}")
    log(f"bench: creating database {DB_NAME} and seeding")
    create_database()
    django_setup()
    seed = Seed()
    ctx = Ctx(args=args, seed=seed, pyspy=find_pyspy())
    if args.profile and not ctx.pyspy:
        log("bench: --profile needs py-spy (BENCH_PYSPY, PATH or /tmp/benchvenv/bin)")
    meta = machine_meta(args)
    t_start = time.monotonic()
    order = [
        ("paced", args.enabled("paced") or args.enabled("persistence")),
        ("reference", args.enabled("reference")),
        ("saturated", args.enabled("saturated") or args.enabled("persistlag")),
        ("multi", args.enabled("multi")),
        ("cross", args.enabled("cross")),
        ("idle", args.enabled("idle")),
        ("rooms", args.enabled("rooms")),
        ("load", args.enabled("load")),
        ("many", args.enabled("many")),
        ("storm", args.enabled("storm")),
    ]
    failures: list[str] = []
    probe_updates, _ = typed_updates(SPEED_PROBE_UPDATES)
    probes: dict[str, float] = ctx.results.setdefault("speed_probe_ms", {})
    for name, on in order:
        if not on:
            continue
        probes[name] = speed_probe(probe_updates)
        log(f"== {name} (speed probe {probes[name]} ms)")
        try:
            SCENARIOS[name](ctx)
        except Exception as exc:  # keep going: one broken scenario must not hide the rest
            log(f"scenario {name} failed: {type(exc).__name__}: {exc}")
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
        except KeyboardInterrupt:
            log("interrupted: writing what was measured so far")
            failures.append(f"{name}: interrupted")
            break
    meta["duration_s"] = round(time.monotonic() - t_start, 1)
    write_results(Path(args.out), meta, ctx.results, failures)
    return 1 if failures else 0


def write_results(out: Path, meta: Json, results: Json, failures: list[str]) -> None:
    """Print the table; write OUT.json (everything) and OUT.md (the table)."""
    figs = figures(results)
    print()
    print(table_text(figs))
    if noisy_note(results):
        print(noisy_note(results))
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "meta": meta,
        "figures": [
            {
                "figure": f.figure,
                "target": f.target,
                "measured": f.measured,
                "value": f.value,
                "result": f.verdict,
            }
            for f in figs
        ],
        "failures": failures,
        "scenarios": results,
    }
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2, default=str))
    out.with_suffix(".md").write_text(table_md(figs, meta, results))
    log(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


def combine(paths: Sequence[str], out: Path) -> int:
    """Merge result files of partial runs (--only ...) into one table; later files win."""
    results: Json = {}
    failures: list[str] = []
    metas: list[Json] = []
    for path in paths:
        doc = json.loads(Path(path).read_text())
        metas.append(doc["meta"])
        failures += doc.get("failures", [])
        for key, value in doc["scenarios"].items():
            if key == "noisy_runs_kept":
                results.setdefault(key, {}).update(value)
            elif key == "discarded_runs":
                results.setdefault(key, []).extend(value)
            else:
                results[key] = value
    meta = dict(metas[0])
    meta["date"] = " / ".join(dict.fromkeys(m["date"] for m in metas))
    meta["combined_from"] = list(paths)
    write_results(out, meta, results, failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
