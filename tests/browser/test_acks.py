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


def test_unsynced_counter_follows_server_acknowledgements(tmp_path: Path) -> None:
    esbuild = FRONTEND / "node_modules" / ".bin" / "esbuild"
    node = shutil.which("node")
    if node is None or not esbuild.exists():
        _missing("Node.js and frontend/node_modules are needed (cd frontend && npm ci)")
    assert node is not None
    bundle = tmp_path / "acks.mjs"
    # From stdin, esbuild resolves imports from the working directory (frontend/).
    subprocess.run(
        [str(esbuild), "--bundle", "--format=esm", "--loader=ts", f"--outfile={bundle}"],
        cwd=FRONTEND,
        input=SCRIPT,
        text=True,
        check=True,
        capture_output=True,
    )
    out = subprocess.run([node, str(bundle)], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    assert result == {
        "afterLocal": 3,
        "afterFullEcho": 0,
        "remoteOnly": 0,
        "pending2": 2,
        "afterStep1": 1,  # the insert: its clock is in the server's state vector
        "afterStep2": 0,  # the deletion: in the server's delete set
        "afterNoise": 1,
    }
