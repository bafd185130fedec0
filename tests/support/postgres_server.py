"""A private, throwaway PostgreSQL cluster that a test may stop and start again.

Fault tests take the database away from running servers. The machine's shared PostgreSQL
(port 5432) serves the rest of the suite and other people's runs, so it is never touched:
this module ``initdb``s a cluster of its own into a temporary directory with the
machine's server binaries (Debian: ``/usr/lib/postgresql/<version>/bin``), on a free port,
with trust authentication and without fsync (nothing here needs to survive a power cut,
only a server stop). ``initdb`` and ``postgres`` refuse to run as root, so as root every
command runs as the ``postgres`` OS user (``runuser``).
"""

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.servers import free_port
from tests.support.waiting import wait_until

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30


class PostgresUnavailable(RuntimeError):
    """The machine has no PostgreSQL server binaries (or no way to run them)."""


def server_bindir() -> Path:
    """The newest installed PostgreSQL server binaries (``TROUPE_TEST_PG_BINDIR`` wins)."""
    configured = os.environ.get("TROUPE_TEST_PG_BINDIR")
    candidates = [configured] if configured else glob.glob("/usr/lib/postgresql/*/bin")
    found = [Path(c) for c in candidates if (Path(c) / "initdb").exists()]
    if not found:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
            "(apt-get install postgresql, or set TROUPE_TEST_PG_BINDIR)"
        )

    def version(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    return max(found, key=version)


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, served on a free local port."""

    def __init__(self, *, database: str = "troupe_faults") -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
            raise ValueError(f"not a plain database name: {database!r}")
        self.bindir = server_bindir()
        self.port = free_port()
        self.database = database
        self.root = Path(tempfile.mkdtemp(prefix="troupe-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root without runuser: cannot start postgres")
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("no `postgres` OS user to run the cluster as") from exc
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.initialised = False

    @property
    def url(self) -> str:
        """``DATABASE_URL`` of the cluster's database for servers and subprocesses."""
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the ``postgres`` user when we are root."""
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, cwd=self.root, timeout=120
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[:2])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
                f"\n{self.tail()}"
            )
        return done

    def init(self) -> "PostgresServer":
        """``initdb`` with trust auth; settings for a fast, throwaway, local-only cluster."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "logging_collector": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self.initialised = True
        return self

    def start(self) -> "PostgresServer":
        """Start (or restart after :meth:`stop`) and wait until it accepts connections."""
        if not self.initialised:
            self.init()
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "start")
        wait_until(
            self.accepting,
            START_TIMEOUT_SECONDS,
            lambda: f"postgres on {self.port} did not start:\n{self.tail()}",
        )
        # The name is checked to be a plain identifier in __init__.
        found = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"  # noqa: S608
        exists = self.psql(found)
        if exists.strip() != "1":
            self.psql(f'CREATE DATABASE "{self.database}"', database="postgres")
        return self

    def accepting(self) -> bool:
        """Whether the cluster accepts connections on its TCP port now."""
        done = subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
            timeout=10,
        )
        return done.returncode == 0

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run one SQL command over TCP; its unaligned output."""
        done = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast`` (sessions ended, clean) or ``immediate`` (like a crash)."""
        if not self.initialised or not (self.data / "postmaster.pid").exists():
            return
        timeout = str(STOP_TIMEOUT_SECONDS)
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", timeout, "stop")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def destroy(self) -> None:
        """Stop the cluster at once and delete its directory."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
