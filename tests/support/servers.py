"""Real daphne server processes for integration tests.

Each ``TroupeServer`` runs ``daphne config.asgi:application`` on a free port against the
test database (and Redis when given), waits for ``/healthz``, and can be stopped, killed
with SIGKILL and restarted on the same port.
"""

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.support.waiting import Hopeless, wait_until

ROOT = Path(__file__).resolve().parents[2]
DAPHNE = Path(sys.executable).with_name("daphne")
START_TIMEOUT_SECONDS = 30.0
# /healthz checks the database and the channel layer, each of which may take seconds on a
# loaded machine: a 1 s read timeout turned a slow answer into another attempt, and a
# start that would have succeeded into a 30 s time-out.
HEALTH_TIMEOUT_SECONDS = 10.0
DAPHNE_SLACK_BYTES = 1024 * 1024


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_url() -> str:
    """The URL of the database pytest-django created, for server processes to share."""
    from django.db import connection

    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    user = settings.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


class TroupeServer:
    """One daphne process serving Troupe."""

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        ping_interval: float = 20,
        ping_timeout: float = 30,
        proxy_headers: bool = False,
    ) -> None:
        self.port = port or free_port()
        # The Procfile's deployment runs behind a proxy (``--proxy-headers``).
        self.proxy_headers = proxy_headers
        self.redis_url = redis_url
        self.extra_env = dict(env or {})
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = ROOT / "artifacts" / f"daphne-{self.port}.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The base URL a y-websocket client is given (the room is appended)."""
        return f"ws://127.0.0.1:{self.port}/ws/yjs"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DEBUG": "1",
                "DATABASE_URL": test_database_url(),
                "REDIS_URL": self.redis_url or "",
                "TROUPE_IDLE_UNLOAD_SECONDS": "0.5",
                "TROUPE_DB_CONN_MAX_AGE_SECONDS": "60",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> "TroupeServer":
        """Start the process and wait until ``/healthz`` answers 200.

        A process that does not become healthy is killed before the error is raised: it
        must not linger, holding its port and database connections, into later tests.
        """
        # daphne's own limit sits above Troupe's, so an oversize message reaches the
        # consumer whole and is refused with a clean 1009 and a reason.
        max_bytes = str(
            int(self.extra_env.get("TROUPE_MAX_MESSAGE_BYTES", 8 * 1024 * 1024))
            + DAPHNE_SLACK_BYTES
        )
        self.log_path.parent.mkdir(exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(DAPHNE),
                "-e",
                # The Procfile's listen backlog: Twisted's default, 50, drops the SYNs of a
                # storm and its clients retry after 1, 3, 7, 15 s.
                f"tcp:port={self.port}:interface=127.0.0.1:backlog=4096",
                "--websocket-max-message-size",
                max_bytes,
                "--websocket-max-frame-size",
                max_bytes,
                "--ping-interval",
                str(self.ping_interval),
                "--ping-timeout",
                str(self.ping_timeout),
                *(["--proxy-headers"] if self.proxy_headers else []),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            self._wait_healthy()
        except BaseException:
            self.kill9()
            raise
        return self

    def _wait_healthy(self) -> None:
        process = self.process
        assert process is not None

        def healthy() -> bool:
            if process.poll() is not None:
                raise Hopeless(f"daphne exited early; see {self.log_path}:\n{self.tail()}")
            health = httpx.get(f"{self.http_url}/healthz", timeout=HEALTH_TIMEOUT_SECONDS)
            return health.status_code == 200

        wait_until(
            healthy,
            START_TIMEOUT_SECONDS,
            lambda: f"daphne did not become healthy; see {self.log_path}:\n{self.tail()}",
        )

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it lingers past ``timeout`` seconds."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def kill9(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def terminate(self) -> None:
        """Send SIGTERM and return at once (the caller watches :attr:`exited`)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    @property
    def exited(self) -> bool:
        """Whether the process has ended (or was never started)."""
        return self.process is None or self.process.poll() is not None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


async def scrape(server: TroupeServer) -> dict[str, float]:
    """The server's /metrics as {series: value} (labels kept in the series name)."""
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        return parse_metrics((await http.get("/metrics")).text)


def scrape_now(server: TroupeServer) -> dict[str, float]:
    """``scrape`` for code outside an event loop."""
    return parse_metrics(httpx.get(f"{server.http_url}/metrics").text)


def parse_metrics(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values
