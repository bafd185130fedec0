"""The unsynced-changes counter (frontend/src/acks.ts), fed with fabricated server frames."""

import json
import shutil
import subprocess
from pathlib import Path

from tests.browser.conftest import FRONTEND, _missing

SCRIPT = r"""
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { AckTracker } from './src/acks'

const frame = (sub, payload) => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, sub)
  encoding.writeVarUint8Array(e, payload)
  return encoding.toUint8Array(e)
}
const out = {}
const server = new Y.Doc()
const doc = new Y.Doc()
const remote = Symbol('provider')
const acks = new AckTracker(doc, (origin) => origin === remote)
const text = doc.getText('content')

// Two inserts and a delete-only change: three pending.
text.insert(0, 'hello ')
text.insert(6, 'world')
text.delete(0, 2)
out.afterLocal = acks.count

// The server echoes the first insert only (merged with nothing).
const first = Y.encodeStateAsUpdate(doc)
Y.applyUpdate(server, first)
const echo = Y.encodeStateAsUpdate(server, Y.encodeStateVector(new Y.Doc()))
acks.onServerFrame(frame(2, echo))
out.afterFullEcho = acks.count

// Remote updates never count; a reconnect greeting (step1) acknowledges structs by clock,
// and the server's step2 (its whole delete set) acknowledges deletions it already had.
const doc2 = new Y.Doc()
const acks2 = new AckTracker(doc2, (origin) => origin === remote)
const t2 = doc2.getText('content')
Y.applyUpdate(doc2, Y.encodeStateAsUpdate(server), remote)
out.remoteOnly = acks2.count
t2.insert(0, 'abc')
t2.delete(5, 1)
out.pending2 = acks2.count
const server2 = new Y.Doc()
Y.applyUpdate(server2, Y.encodeStateAsUpdate(doc2))
acks2.onServerFrame(frame(0, Y.encodeStateVector(server2)))
out.afterStep1 = acks2.count
acks2.onServerFrame(frame(1, Y.encodeStateAsUpdate(server2, Y.encodeStateVector(doc2))))
out.afterStep2 = acks2.count

// Garbage and other message types are ignored.
t2.insert(0, 'x')
acks2.onServerFrame(new Uint8Array([1, 0]))
acks2.onServerFrame(new Uint8Array([0, 2, 99]))
out.afterNoise = acks2.count
console.log(JSON.stringify(out))
"""


RESTORE_SCRIPT = r"""
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { AckTracker } from './src/acks'
import { retryDelay } from './src/backoff'

const frame = (sub, payload) => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0)
  encoding.writeVarUint(e, sub)
  encoding.writeVarUint8Array(e, payload)
  return encoding.toUint8Array(e)
}
const out = {}
const server = new Y.Doc()
const remote = Symbol('provider')
const copy = Symbol('offline copy')

// A page types offline (an insert and a deletion of the server's text), saves its copy and
// its pending changes, and is reloaded: a new doc, a new client ID.
const seed = new Y.Doc()
seed.getText('content').insert(0, 'server text ')
Y.applyUpdate(server, Y.encodeStateAsUpdate(seed))
const before = new Y.Doc()
const acks1 = new AckTracker(before, (o) => o === remote)
Y.applyUpdate(before, Y.encodeStateAsUpdate(server), remote)
before.getText('content').insert(12, 'typed offline')
before.getText('content').delete(0, 7)
out.beforeReload = acks1.count
const saved = JSON.parse(JSON.stringify(acks1.entries()))
const stored = Y.encodeStateAsUpdate(before)

const after = new Y.Doc()
const acks2 = new AckTracker(after, (o) => o === remote || o === copy)
Y.applyUpdate(after, stored, copy) // the copy's load: neither local nor the server's
out.loadCounted = acks2.count
// A saved change whose structs the copy lost is dropped: it could never be acknowledged.
acks2.restore([...saved, { clocks: [[before.clientID, 999]], deletes: [] }, 'junk'])
out.restored = acks2.count
out.newClient = after.clientID !== before.clientID

// The server's greeting: it has neither; then its step2 (its delete set, without ours).
acks2.onServerFrame(frame(0, Y.encodeStateVector(server)))
acks2.onServerFrame(frame(1, Y.encodeStateAsUpdate(server, Y.encodeStateVector(after))))
out.afterGreeting = acks2.count
// Our step2 reaches the server, which echoes what it applied.
const ours = Y.encodeStateAsUpdate(after, Y.encodeStateVector(server))
Y.applyUpdate(server, ours)
acks2.onServerFrame(frame(2, ours))
out.afterEcho = acks2.count
out.serverText = server.getText('content').toString()

// Restored changes the server already holds are acknowledged by a later greeting alone.
const third = new Y.Doc()
const acks3 = new AckTracker(third, (o) => o === remote || o === copy)
Y.applyUpdate(third, stored, copy)
acks3.onServerFrame(frame(0, Y.encodeStateVector(server)))
acks3.onServerFrame(frame(1, Y.encodeStateAsUpdate(server, Y.encodeStateVector(third))))
acks3.restore(saved)
out.alreadyHeld = acks3.count

// Retry delays after 1013 (at least 1 s): drawn, not fixed, and growing.
const first = Array.from({ length: 200 }, () => retryDelay(0, 1000))
const second = Array.from({ length: 200 }, () => retryDelay(1, 1000))
out.firstRange = [Math.min(...first) >= 1000, Math.max(...first) <= 2000]
out.firstDistinct = new Set(first.map(Math.round)).size > 100
out.secondRange = [Math.min(...second) >= 2000, Math.max(...second) <= 4000]
out.plain = retryDelay(0) < 1000
console.log(JSON.stringify(out))
"""


def _run_bundled(tmp_path: Path, script: str) -> dict[str, object]:
    """Bundle ``script`` (TypeScript importing ``./src/...``) with esbuild and run it in Node;
    its one JSON line."""
    esbuild = FRONTEND / "node_modules" / ".bin" / "esbuild"
    node = shutil.which("node")
    if node is None or not esbuild.exists():
        _missing("Node.js and frontend/node_modules are needed (cd frontend && npm ci)")
    assert node is not None
    bundle = tmp_path / "bundle.mjs"
    # From stdin, esbuild resolves imports from the working directory (frontend/).
    subprocess.run(
        [str(esbuild), "--bundle", "--format=esm", "--loader=ts", f"--outfile={bundle}"],
        cwd=FRONTEND,
        input=script,
        text=True,
        check=True,
        capture_output=True,
    )
    out = subprocess.run([node, str(bundle)], check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_unsynced_counter_follows_server_acknowledgements(tmp_path: Path) -> None:
    result = _run_bundled(tmp_path, SCRIPT)
    assert result == {
        "afterLocal": 3,
        "afterFullEcho": 0,
        "remoteOnly": 0,
        "pending2": 2,
        "afterStep1": 1,  # the insert: its clock is in the server's state vector
        "afterStep2": 0,  # the deletion: in the server's delete set
        "afterNoise": 1,
    }


def test_pending_changes_come_back_with_the_offline_copy_and_retries_are_jittered(
    tmp_path: Path,
) -> None:
    result = _run_bundled(tmp_path, RESTORE_SCRIPT)
    assert result == {
        "beforeReload": 2,
        "loadCounted": 0,  # loading the offline copy is not a change
        "restored": 2,  # the two saved changes; the lost and the malformed one dropped
        "newClient": True,
        "afterGreeting": 2,  # the server has neither the insert nor the deletion
        "afterEcho": 0,  # our step2, echoed: acknowledged under the old client ID
        "serverText": "text typed offline",
        "alreadyHeld": 0,
        "firstRange": [True, True],
        "firstDistinct": True,
        "secondRange": [True, True],
        "plain": True,
    }
