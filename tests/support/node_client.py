"""Drive a stock Yjs client (``yjs`` + ``y-websocket``'s ``WebsocketProvider``) from asyncio.

The client is the Node.js process ``tests/node/client.mjs``. It is controlled through JSON
lines on its stdin and answers with JSON lines on its stdout: one response per command
(matched by ``id``) plus unsolicited events (``status``, ``synced``, ``unsynced``, ``close``,
``closed``, ``permission-denied``, ``connection-error``, ``awareness``, ``ready``).

Typical use::

    ensure_node_modules()
    async with NodeYjsClient(url, "project/doc", token=t) as alice:
        await alice.connect()
        await alice.wait_synced()
        await alice.insert_text(0, "hello")

Every wait has a timeout and raises :class:`TimeoutError` whose message includes the current
state (text, awareness, status, recent events, stderr tail).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "CLIENT_SCRIPT",
    "NODE_DIR",
    "NodeClientError",
    "NodeYjsClient",
    "ensure_node_modules",
]

NODE_DIR: Path = Path(__file__).resolve().parent.parent / "node"
"""``tests/node``: package.json, package-lock.json and client.mjs."""

CLIENT_SCRIPT: Path = NODE_DIR / "client.mjs"

DEFAULT_TIMEOUT: float = 5.0
"""Default timeout, in seconds, for every wait and command."""

_EXTRA_GRACE: float = 2.0
"""Seconds the Python side waits beyond a Node-side timeout before giving up on the reply."""

_STDERR_TAIL_LINES = 50
_STREAM_LIMIT = 64 * 1024 * 1024  # getUpdate on a large doc is one long line

Event = dict[str, Any]


def ensure_node_modules(*, force: bool = False) -> None:
    """Install ``tests/node/node_modules`` with ``npm ci`` when it is missing.

    Used by the test session setup. ``npm ci`` installs exactly what
    ``tests/node/package-lock.json`` pins. Raises :class:`RuntimeError` with npm's output if
    npm is absent or fails.
    """
    marker = NODE_DIR / "node_modules" / "y-websocket" / "package.json"
    if marker.exists() and (NODE_DIR / "node_modules" / "yjs").exists() and not force:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH: cannot install tests/node dependencies")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"`npm ci` in {NODE_DIR} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


class NodeClientError(RuntimeError):
    """A command failed inside the Node client, or the client process died."""


class NodeYjsClient:
    """An asyncio handle on one stock Yjs client process (one ``Y.Doc`` + one provider).

    The provider is created with ``connect: false``: call :meth:`connect` to open the
    websocket. Responses are matched to commands by id, so several commands (e.g. two waits)
    may be outstanding at once. Events are appended to :attr:`events` in arrival order.
    """

    def __init__(
        self,
        url: str,
        room: str,
        *,
        token: str | None = None,
        client_id: int | None = None,
        name: str | None = None,
        node: str = "node",
        env: Mapping[str, str] | None = None,
        default_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Describe the client; :meth:`start` (or ``async with``) spawns it.

        :param url: websocket base URL, e.g. ``ws://127.0.0.1:8000/ws/yjs``; the provider
            appends ``/<room>?token=...``.
        :param room: room name, e.g. ``"project/doc"`` (sent unencoded, as two path segments).
        :param token: sent as the ``token`` query parameter if given.
        :param client_id: force ``doc.clientID`` (otherwise random 32-bit).
        :param name: label used in error messages.
        :param node: the node executable.
        :param env: extra environment variables for the process.
        :param default_timeout: seconds, for commands and waits without an explicit timeout.
        """
        self.url = url
        self.room = room
        self.token = token
        self.client_id = client_id
        self.name = name or f"yjs-client[{room}]"
        self.node = node
        self.env = dict(env) if env else {}
        self.default_timeout = default_timeout
        self.events: list[Event] = []
        self.process: asyncio.subprocess.Process | None = None
        self._stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._event_cond: asyncio.Condition | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._closed = False
        self._dead_reason: str | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Self:
        """Spawn the Node process and wait for its ``ready`` event."""
        if self.process is not None:
            return self
        args = [str(CLIENT_SCRIPT), "--url", self.url, "--room", self.room]
        if self.token is not None:
            args += ["--token", self.token]
        if self.client_id is not None:
            args += ["--client-id", str(self.client_id)]
        self._event_cond = asyncio.Condition()
        self.process = await asyncio.create_subprocess_exec(
            self.node,
            *args,
            cwd=str(NODE_DIR),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self.env},
            limit=_STREAM_LIMIT,
        )
        self._reader_task = asyncio.create_task(self._read_stdout(), name=f"{self.name}-stdout")
        self._stderr_task = asyncio.create_task(self._read_stderr(), name=f"{self.name}-stderr")
        ready = await self.wait_event("ready", timeout=max(self.default_timeout, 10.0))
        if self.client_id is None:
            self.client_id = int(ready["clientID"])
        return self

    async def close(self, timeout: float | None = None) -> int | None:
        """Send ``exit`` (the provider is destroyed, its awareness removal flushed) and await
        the process; kill it if it does not stop in time. Idempotent. Returns the exit code."""
        if self.process is None:
            return None
        proc = self.process
        timeout = self.default_timeout if timeout is None else timeout
        if not self._closed:
            self._closed = True
            if proc.returncode is None and self._dead_reason is None:
                with contextlib.suppress(Exception):
                    await self._command("exit", timeout=timeout)
            if proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        for task in (self._reader_task, self._stderr_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 2.0)
        return proc.returncode

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def stderr_tail(self) -> str:
        """The last lines the Node process wrote to stderr (warnings, crashes)."""
        return "\n".join(self._stderr_tail)

    # ---- plumbing -------------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        try:
            while True:
                line = await stdout.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    self._stderr_tail.append(f"[non-JSON stdout] {line!r}")
                    continue
                if not isinstance(msg, dict):
                    continue
                if "event" in msg:
                    await self._add_event(msg)
                    continue
                mid = msg.get("id")
                fut = self._pending.pop(mid, None) if isinstance(mid, int) else None
                if fut is not None and not fut.done():
                    if "error" in msg:
                        fut.set_exception(self._error_from(msg))
                    else:
                        fut.set_result(msg.get("result"))
                elif msg.get("id") is None and "error" in msg:
                    self._stderr_tail.append(f"[client error] {msg['error']}")
        finally:
            if self.process.returncode is None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.process.wait(), 2.0)
            self._dead_reason = (
                f"{self.name}: node process exited (code {self.process.returncode})"
                f"; stderr:\n{self.stderr_tail}"
            )
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(NodeClientError(self._dead_reason))
            self._pending.clear()
            await self._add_event({"event": "process-exit", "code": self.process.returncode})

    async def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while True:
            line = await self.process.stderr.readline()
            if not line:
                return
            self._stderr_tail.append(line.decode("utf-8", "replace").rstrip("\n"))

    async def _add_event(self, event: Event) -> None:
        assert self._event_cond is not None
        async with self._event_cond:
            self.events.append(event)
            self._event_cond.notify_all()

    def _error_from(self, msg: Mapping[str, Any]) -> Exception:
        text = f"{self.name}: {msg['error']}"
        if msg.get("timeout"):
            return TimeoutError(f"{text}; recent events: {self._recent_events()}")
        return NodeClientError(text)

    def _recent_events(self, n: int = 8) -> str:
        return json.dumps(self.events[-n:])

    async def _command(self, cmd: str, timeout: float | None = None, **params: Any) -> Any:
        """Send one command and await its response; raise on error or timeout."""
        if self.process is None or self.process.stdin is None:
            raise NodeClientError(f"{self.name}: not started")
        if self._dead_reason is not None:
            raise NodeClientError(self._dead_reason)
        timeout = self.default_timeout if timeout is None else timeout
        self._next_id += 1
        cid = self._next_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[cid] = fut
        line = json.dumps({"id": cid, "cmd": cmd, **params}) + "\n"
        try:
            self.process.stdin.write(line.encode())
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as e:
            self._pending.pop(cid, None)
            raise NodeClientError(
                f"{self.name}: process gone ({e}); stderr:\n{self.stderr_tail}"
            ) from e
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self._pending.pop(cid, None)
            if fut.done() and not fut.cancelled():
                raise  # a timeout reported by the Node side, with its state
            raise TimeoutError(
                f"{self.name}: no answer to {cmd!r} within {timeout} s; "
                f"recent events: {self._recent_events()}; stderr:\n{self.stderr_tail}"
            ) from None

    async def _wait(self, cmd: str, timeout: float | None, **params: Any) -> Any:
        """A Node-side wait: Node times out first and reports its state; Python backs it up."""
        timeout = self.default_timeout if timeout is None else timeout
        return await self._command(
            cmd, timeout=timeout + _EXTRA_GRACE, timeoutMs=int(timeout * 1000), **params
        )

    # ---- events ---------------------------------------------------------------------------

    def mark(self) -> int:
        """An index into :attr:`events`; pass it as ``since`` to wait only for newer events."""
        return len(self.events)

    def events_named(self, name: str, since: int = 0) -> list[Event]:
        """All events called ``name`` received at index ``since`` or later."""
        return [e for e in self.events[since:] if e.get("event") == name]

    async def wait_event(
        self,
        name: str,
        timeout: float | None = None,
        *,
        since: int = 0,
        where: Callable[[Event], bool] | None = None,
    ) -> Event:
        """Return the first event called ``name`` (at index >= ``since``, matching ``where``),
        waiting up to ``timeout`` seconds for it to arrive.

        Events already received count: use ``since=client.mark()`` taken before the action
        to wait for a fresh one.
        """
        assert self._event_cond is not None, "client not started"
        timeout = self.default_timeout if timeout is None else timeout

        def find() -> Event | None:
            for e in self.events[since:]:
                if e.get("event") == name and (where is None or where(e)):
                    return e
            return None

        async def waiter() -> Event:
            assert self._event_cond is not None
            async with self._event_cond:
                while True:
                    found = find()
                    if found is not None:
                        return found
                    await self._event_cond.wait()

        try:
            return await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{self.name}: no {name!r} event within {timeout} s (since index {since}); "
                f"recent events: {self._recent_events()}; stderr:\n{self.stderr_tail}"
            ) from None

    # ---- connection -----------------------------------------------------------------------

    async def connect(self) -> dict[str, Any]:
        """``provider.connect()``: open the websocket (returns at once; see :meth:`wait_synced`)."""
        result: dict[str, Any] = await self._command("connect")
        return result

    async def disconnect(self) -> dict[str, Any]:
        """``provider.disconnect()``: close the socket but keep the doc (offline editing)."""
        result: dict[str, Any] = await self._command("disconnect")
        return result

    async def destroy(self) -> dict[str, Any]:
        """``provider.destroy()``: disconnect for good; the process stays up for inspection."""
        result: dict[str, Any] = await self._command("destroy")
        return result

    async def status(self) -> dict[str, Any]:
        """``{clientID, url, room, connected, connecting, synced, shouldConnect, destroyed,
        unsuccessfulReconnects}``."""
        result: dict[str, Any] = await self._command("status")
        return result

    async def reconnect(self, url: str) -> dict[str, Any]:
        """Fail over: close the socket and connect to the same room on another server
        (``url`` is a base URL like the constructor's); returns :meth:`status`."""
        result: dict[str, Any] = await self._command("reconnect", url=url)
        self.url = url
        return result

    async def set_token(self, token: str | None) -> dict[str, Any]:
        """Change the ``token`` URL parameter used by the next (re)connect."""
        result: dict[str, Any] = await self._command("setToken", token=token)
        return result

    async def wait_synced(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the provider has received a sync step 2; returns :meth:`status`."""
        result: dict[str, Any] = await self._wait("waitSynced", timeout)
        return result

    # ---- text -----------------------------------------------------------------------------

    async def insert_text(self, index: int, text: str, name: str = "content") -> str:
        """Insert into ``Y.Text(name)``; returns the new text."""
        result: str = await self._command("insertText", index=index, text=text, name=name)
        return result

    async def append_text(self, text: str, name: str = "content") -> int:
        """Insert at the end of ``Y.Text(name)`` as this client holds it; returns the new
        length (not the text: writers call this every few ms on long documents)."""
        result: int = await self._command("appendText", text=text, name=name)
        return result

    async def delete_text(self, index: int, length: int, name: str = "content") -> str:
        """Delete ``length`` UTF-16 code units at ``index``; returns the new text."""
        result: str = await self._command("deleteText", index=index, length=length, name=name)
        return result

    async def get_text(self, name: str = "content") -> str:
        """The current content of ``Y.Text(name)``."""
        result: str = await self._command("getText", name=name)
        return result

    async def wait_text(
        self,
        equals: str | None = None,
        *,
        contains: str | None = None,
        name: str = "content",
        timeout: float | None = None,
    ) -> str:
        """Wait until the text equals ``equals`` and/or contains ``contains``; returns it."""
        if equals is None and contains is None:
            raise ValueError("wait_text needs equals or contains")
        params: dict[str, Any] = {"name": name}
        if equals is not None:
            params["equals"] = equals
        if contains is not None:
            params["contains"] = contains
        result: str = await self._wait("waitText", timeout, **params)
        return result

    # ---- storyboard (schema v2: the ``board`` Y.Map of panels by id, crdt/storyboard.py) ----
    # Panels are answered in board order, each ``{id, order, action, dialogue, notes,
    # duration_ms, shot_size, image?}`` (texts as strings).

    async def add_panel(self, panel_id: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Append a panel as the browser does (one transaction, every field, ``order`` after
        the last); ``fields`` may give action, dialogue, notes, duration_ms, shot_size, image."""
        params: dict[str, Any] = {"fields": fields}
        if panel_id is not None:
            params["panel"] = panel_id
        result: list[dict[str, Any]] = await self._command("addPanel", **params)
        return result

    async def set_panel_field(self, panel_id: str, key: str, value: Any) -> list[dict[str, Any]]:
        """Set a scalar field, or replace a text field's content."""
        result: list[dict[str, Any]] = await self._command(
            "setPanelField", panel=panel_id, key=key, value=value
        )
        return result

    async def move_panel(self, panel_id: str, to_index: int) -> list[dict[str, Any]]:
        """Move a panel to ``to_index`` (its index in the result) by setting only its
        ``order`` to a key between its new neighbours."""
        result: list[dict[str, Any]] = await self._command("movePanel", panel=panel_id, to=to_index)
        return result

    async def delete_panel(self, panel_id: str) -> list[dict[str, Any]]:
        """``board.delete(panel_id)``."""
        result: list[dict[str, Any]] = await self._command("deletePanel", panel=panel_id)
        return result

    async def get_panels(self) -> list[dict[str, Any]]:
        """The panels in board order."""
        result: list[dict[str, Any]] = await self._command("getPanels")
        return result

    async def wait_panels(
        self,
        equals: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        length: int | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until the panels equal ``equals``, are ``ids`` in this order, and/or number
        ``length``."""
        params: dict[str, Any] = {}
        if equals is not None:
            params["equals"] = equals
        if ids is not None:
            params["ids"] = ids
        if length is not None:
            params["length"] = length
        if not params:
            raise ValueError("wait_panels needs equals, ids or length")
        result: list[dict[str, Any]] = await self._wait("waitPanels", timeout, **params)
        return result

    async def push_legacy_panel(self, panel: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Append a ``Y.Map`` to the first schema's ``panels`` array (refused by the server
        once it enforces schema v2); returns that array as JSON."""
        result: list[dict[str, Any]] = await self._command("pushLegacyPanel", panel=dict(panel))
        return result

    # ---- awareness ------------------------------------------------------------------------

    async def set_awareness(self, state: Mapping[str, Any] | None) -> dict[int, Any]:
        """``awareness.setLocalState(state)`` (``None`` = leave); returns all states."""
        result = await self._command("setAwareness", state=None if state is None else dict(state))
        return _int_keys(result)

    async def set_awareness_field(self, field: str, value: Any) -> dict[int, Any]:
        """``awareness.setLocalStateField(field, value)``; returns all states."""
        return _int_keys(await self._command("setAwarenessField", field=field, value=value))

    async def get_awareness(self) -> dict[int, Any]:
        """All awareness states known to this client, ``{clientID: state}`` (own included)."""
        return _int_keys(await self._command("getAwareness"))

    async def wait_awareness(self, count: int, timeout: float | None = None) -> dict[int, Any]:
        """Wait until exactly ``count`` awareness states are known (own included)."""
        return _int_keys(await self._wait("waitAwareness", timeout, count=count))

    # ---- raw state ------------------------------------------------------------------------

    async def get_update(self) -> bytes:
        """``Y.encodeStateAsUpdate(doc)``."""
        return base64.b64decode(await self._command("getUpdate"))

    async def get_state_vector(self) -> bytes:
        """``Y.encodeStateVector(doc)``."""
        return base64.b64decode(await self._command("getStateVector"))

    async def apply_update(self, update: bytes) -> None:
        """``Y.applyUpdate(doc, update)`` locally (it is then sent like a local edit)."""
        await self._command("applyUpdate", update=base64.b64encode(update).decode())


def _int_keys(states: Mapping[str, Any]) -> dict[int, Any]:
    return {int(k): v for k, v in states.items()}
