"""A private redis-server on a free port that a test may stop and start again."""

import shutil
import subprocess

import redis

from tests.support.servers import free_port
from tests.support.waiting import wait_until

START_TIMEOUT_SECONDS = 5.0


class RedisServer:
    """One redis-server process, keeping nothing on disk."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        self.port = free_port()
        self.argv = [
            exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        """Start and wait until it answers PING."""
        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until(client.ping, START_TIMEOUT_SECONDS, f"redis-server on {self.port} did not start")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)
