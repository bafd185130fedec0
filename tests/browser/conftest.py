"""Browser tests: the system Chromium driven by playwright-core from ``scenarios.mjs``.

In CI (``CI=true``) a missing Chromium, Node or frontend build fails the run; locally the
tests are skipped with the reason and the command that fixes it.
"""

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI
from tests.support.factories import PASSWORD, ProjectRoom
from tests.support.servers import TroupeServer
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
DIST = FRONTEND / "dist"
MANIFEST = DIST / ".vite" / "manifest.json"
SCENARIOS = Path(__file__).with_name("scenarios.mjs")
ARTIFACTS = ROOT / "artifacts"
SCENARIO_TIMEOUT_SECONDS = 120

# Figures collected during the run, printed in the terminal summary and written to
# artifacts/browser-metrics.json.
METRICS: dict[str, Any] = {}


def _missing(message: str) -> None:
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _chromium_path() -> str | None:
    override = os.environ.get("TROUPE_CHROMIUM")
    if override is not None:
        candidates = [override]
    else:
        candidates = ["/usr/bin/chromium"]
        candidates += [shutil.which(name) or "" for name in ("chromium", "chromium-browser")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _stale(build: Path, sources: list[Path]) -> bool:
    if not build.exists():
        return True
    built = build.stat().st_mtime
    return any(path.stat().st_mtime > built for path in sources if path.is_file())


@pytest.fixture(scope="session")
def chromium() -> str:
    """The system Chromium's path (``apt-get install chromium``)."""
    path = _chromium_path()
    if path is None:
        _missing(
            "Chromium missing: apt-get update && apt-get install -y chromium "
            "(or set TROUPE_CHROMIUM to its path)"
        )
    assert path is not None
    return path


@pytest.fixture(scope="session")
def frontend_built() -> Path:
    """``frontend/dist`` built from the current sources (npm ci + npm run build if stale)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        _missing("Node.js and npm are needed for the browser tests (frontend build)")
    assert npm is not None
    lock = FRONTEND / "package-lock.json"
    if _stale(FRONTEND / "node_modules" / ".package-lock.json", [lock]):
        _run([npm, "ci", "--no-audit", "--no-fund"], "npm ci")
    sources = [p for p in (FRONTEND / "src").rglob("*")]
    sources += [
        FRONTEND / name
        for name in ("package.json", "vite.config.ts", "precompress.mjs", "tsconfig.json")
    ]
    if _stale(MANIFEST, sources):
        _run([npm, "run", "build"], "npm run build")
    return DIST


def _run(command: list[str], what: str) -> None:
    proc = subprocess.run(
        command, cwd=FRONTEND, capture_output=True, text=True, check=False, timeout=600
    )
    if proc.returncode != 0:
        pytest.fail(f"{what} failed in frontend/:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _no_events(event: str) -> None:
    raise AssertionError(f"unexpected scenario event {event!r}")


@contextlib.contextmanager
def _deadline(proc: subprocess.Popen[str], seconds: float) -> Iterator[None]:
    """Kill the scenario if it outlives ``seconds`` (its own waits should end it first)."""
    timer = threading.Timer(seconds, proc.kill)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@dataclass
class BrowserRun:
    """Runs one scenario of ``scenarios.mjs`` against a live server."""

    server: TroupeServer
    room: ProjectRoom
    chromium: str
    displays: dict[str, str] = field(default_factory=dict)

    def users(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for name, member in self.room.members.items():
            username = member.user.get_username()
            full_name = getattr(member.user, "get_full_name", lambda: "")()
            out[name] = {
                "username": username,
                "password": PASSWORD,
                "display": self.displays.get(name) or full_name or username,
            }
        return out

    def __call__(
        self,
        scenario: str,
        on_event: Callable[[str], None] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        config = {
            "base": self.server.http_url,
            "project": self.room.project.slug,
            "chromium": self.chromium,
            "artifacts": str(ARTIFACTS),
            "users": self.users(),
            **extra,
        }
        node = shutil.which("node") or "node"
        lines: list[str] = []
        with tempfile.TemporaryFile("w+") as stderr_file:
            proc = subprocess.Popen(
                [node, str(SCENARIOS), scenario, json.dumps(config)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr_file,
                text=True,
            )
            assert proc.stdin is not None and proc.stdout is not None
            try:
                with _deadline(proc, SCENARIO_TIMEOUT_SECONDS):
                    for line in proc.stdout:
                        if line.startswith('{"event"'):
                            # The scenario asks for what only pytest can do, then waits.
                            (on_event or _no_events)(json.loads(line)["event"])
                            proc.stdin.write("done\n")
                            proc.stdin.flush()
                        elif line.startswith("{"):
                            lines.append(line)
                    proc.wait()
            finally:
                proc.stdin.close()
                proc.stdout.close()
                stderr_file.seek(0)
                stderr = stderr_file.read()
        if not lines:
            pytest.fail(
                f"scenario {scenario} printed no result (exit {proc.returncode}):\n"
                f"{stderr[-4000:]}\n--- server log ---\n{self.server.tail()}"
            )
        result: dict[str, Any] = json.loads(lines[-1])
        if not result.get("ok"):
            pytest.fail(
                f"scenario {scenario} failed: {result.get('error')}\nobserved: "
                f"{json.dumps({k: v for k, v in result.items() if k != 'error'})[:3000]}\n"
                f"stderr: {stderr[-2000:]}\n--- server log ---\n{self.server.tail()}"
            )
        return result


@pytest.fixture
def browser(
    chromium: str, frontend_built: Path, live: TroupeServer, project_room: ProjectRoom
) -> Iterator[BrowserRun]:
    """Run browser scenarios against a live server and the test project."""
    yield BrowserRun(server=live, room=project_room, chromium=chromium)


STORED_WAIT_SECONDS = 5.0


def stored_content(
    browser: BrowserRun, document: str, until: Callable[[httpx.Response], bool]
) -> httpx.Response:
    """The document's stored content (``/content``, as the lead), once ``until`` holds.

    The HTTP API serves what is committed; a live edit is committed within the group
    commit interval, so the check polls (up to ``STORED_WAIT_SECONDS``) and returns the
    last answer either way, for the caller's assertion to report.
    """
    token = browser.room.members["lead"].token
    answers: list[httpx.Response] = []

    def arrived() -> bool:
        answers.append(
            httpx.get(
                f"{browser.server.http_url}/api/projects/{browser.room.project.slug}"
                f"/documents/{document}/content",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        )
        return until(answers[-1])

    try:
        wait_until(arrived, STORED_WAIT_SECONDS, "no answer from /content")
    except AssertionError:
        if not answers:
            raise
    return answers[-1]  # the caller's assertion reports what the last answer held


def bundle_sizes() -> dict[str, float]:
    """The built room entry's JavaScript and CSS (not the chunks it loads later), raw and
    gzipped, in KB."""
    entry = json.loads(MANIFEST.read_text())["src/main.ts"]
    js = (DIST / entry["file"]).read_bytes()
    css = b"".join((DIST / name).read_bytes() for name in entry.get("css", []))
    return {
        "js_kb": round(len(js) / 1024, 1),
        "js_gzip_kb": round(len(gzip.compress(js, 9)) / 1024, 1),
        "css_kb": round(len(css) / 1024, 1),
        "css_gzip_kb": round(len(gzip.compress(css, 9)) / 1024, 1),
    }


def chunk_sizes() -> dict[str, dict[str, float]]:
    """Each file the room page loads, by when: ``entry`` (the script tag), ``preload`` (its
    static imports), ``later`` (its dynamic imports); raw, gzip and brotli (as built) in KB."""
    manifest = json.loads(MANIFEST.read_text())
    entry = manifest["src/main.ts"]
    files = {"entry": [entry["file"], *entry.get("css", [])]}
    files["preload"] = [manifest[key]["file"] for key in entry.get("imports", [])]
    files["later"] = [manifest[key]["file"] for key in entry.get("dynamicImports", [])]
    out: dict[str, dict[str, float]] = {}
    for when, names in files.items():
        for name in names:
            raw = (DIST / name).read_bytes()
            brotli = DIST / f"{name}.br"
            out[f"{when} {name}"] = {
                "kb": round(len(raw) / 1024, 1),
                "gzip_kb": round(len(gzip.compress(raw, 9)) / 1024, 1),
                "br_kb": round(brotli.stat().st_size / 1024, 1) if brotli.exists() else 0.0,
            }
    return out


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the page-interactive times and bundle sizes measured in this run."""
    if not METRICS:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser-metrics.json").write_text(json.dumps(METRICS, indent=2))
    terminalreporter.section("browser metrics")
    for key, value in METRICS.items():
        terminalreporter.write_line(f"{key}: {value}")
