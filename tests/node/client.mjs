#!/usr/bin/env node
/**
 * A stock Yjs client (yjs + y-websocket's WebsocketProvider + ws), driven by the Python
 * test suite through JSON lines.
 *
 *   node client.mjs --url ws://127.0.0.1:8000/ws/yjs --room project/doc [--token T] [--client-id N]
 *
 * stdin:  one JSON command per line: {"id": 1, "cmd": "insertText", "index": 0, "text": "hi"}
 * stdout: one JSON line per command:  {"id": 1, "ok": true, "result": ...}
 *                                  or {"id": 1, "error": "...", "timeout": true?, "state": ...?}
 *         plus unsolicited events:    {"event": "status", "status": "connected"}, {"event": "synced"},
 *         {"event": "unsynced"}, {"event": "close", "code": 4403, "reason": "...", "local": false},
 *         {"event": "closed", "code": 4403, "reason": "..."} (terminal: the provider stopped
 *         reconnecting), {"event": "permission-denied", "reason": "..."},
 *         {"event": "connection-error", "message": "..."},
 *         {"event": "awareness", "added": [...], "updated": [...], "removed": [...]},
 *         {"event": "ready", ...} once at start-up.
 *
 * Nothing but protocol lines is written to stdout: console.log is redirected to stderr.
 * The process exits on the `exit` command or when stdin closes.
 */
import * as readline from 'node:readline'
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'
import { WebsocketProvider, messageAuth } from 'y-websocket'
import * as authProtocol from 'y-protocols/auth'
import WebSocket from 'ws'

// Keep stdout for protocol lines only.
console.log = (...args) => console.error(...args)
console.info = (...args) => console.error(...args)
console.debug = (...args) => console.error(...args)

/** @param {string[]} argv */
const parseArgs = (argv) => {
  /** @type {Record<string, string>} */
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`)
    const eq = a.indexOf('=')
    if (eq !== -1) {
      out[a.slice(2, eq)] = a.slice(eq + 1)
    } else {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`)
      out[a.slice(2)] = argv[++i]
    }
  }
  return out
}

/** @param {object} obj */
const send = (obj) => {
  process.stdout.write(JSON.stringify(obj) + '\n')
}
/** @param {string} name @param {object} [fields] */
const emitEvent = (name, fields = {}) => send({ event: name, ...fields })

let args
try {
  args = parseArgs(process.argv.slice(2))
  if (!args.url || !args.room) throw new Error('--url and --room are required')
} catch (e) {
  console.error(String(e && e.message ? e.message : e))
  process.exit(2)
}

const doc = new Y.Doc()
if (args['client-id'] !== undefined) {
  const cid = Number(args['client-id'])
  if (!Number.isSafeInteger(cid) || cid < 0) {
    console.error(`invalid --client-id ${args['client-id']}`)
    process.exit(2)
  }
  // must happen before the provider creates its Awareness (it copies doc.clientID)
  doc.clientID = cid
}

const provider = new WebsocketProvider(args.url, args.room, doc, {
  params: args.token !== undefined ? { token: args.token } : {},
  WebSocketPolyfill: /** @type {any} */ (WebSocket),
  connect: false,
  maxBackoffTime: 2500,
  // one doc per process: cross-"tab" BroadcastChannel sync must not mask the websocket path
  disableBc: true
})
const awareness = provider.awareness
let destroyed = false

// Stock 3.x only console.warns on a permission-denied auth message (module-private handler);
// the handler table is copied per provider, so replace the auth entry to surface the reason.
provider.messageHandlers[messageAuth] = (_encoder, decoder, _provider, _emitSynced, _type) => {
  authProtocol.readAuthMessage(decoder, doc, (_ydoc, reason) => {
    emitEvent('permission-denied', { reason })
  })
}

provider.on('status', ({ status }) => emitEvent('status', { status }))
provider.on('sync', (state) => emitEvent(state ? 'synced' : 'unsynced'))
provider.on('connection-close', (event) => {
  if (event == null) {
    // closed locally (disconnect() / destroy() / the 30 s silence watchdog)
    emitEvent('close', { code: null, reason: null, local: true })
  } else {
    emitEvent('close', {
      code: typeof event.code === 'number' ? event.code : null,
      reason: typeof event.reason === 'string' ? event.reason : String(event.reason ?? ''),
      wasClean: Boolean(event.wasClean),
      local: false
    })
  }
})
provider.on('closed', ({ code, reason }) => emitEvent('closed', { code, reason }))
provider.on('connection-error', (event) => {
  const ev = /** @type {any} */ (event)
  emitEvent('connection-error', { message: String(ev?.message ?? ev?.error?.message ?? 'error') })
})
awareness.on('change', ({ added, updated, removed }) => {
  emitEvent('awareness', { added, updated, removed })
})

// ---- helpers ---------------------------------------------------------------------------

// Storyboard schema v2 (crdt/storyboard.py): panels by id in the `board` map, shown sorted
// by their fractional `order` key, then by id.
const TEXT_FIELDS = ['action', 'dialogue', 'notes']
const board = () => doc.getMap('board')
/** @param {any} panel */
const orderOf = (panel) => {
  const order = panel.get('order')
  return typeof order === 'string' ? order : ''
}
/** @returns {Array<[string, any]>} */
const orderedPanels = () => {
  /** @type {Array<[string, any]>} */
  const found = []
  board().forEach((value, id) => { if (value instanceof Y.Map) found.push([id, value]) })
  const cmp = (/** @type {string} */ x, /** @type {string} */ y) => (x < y ? -1 : x > y ? 1 : 0)
  return found.sort((x, y) => cmp(orderOf(x[1]), orderOf(y[1])) || cmp(x[0], y[0]))
}
/** The panels in order, each `{id, order, ...fields}` (texts as strings). */
const panelsJSON = () => orderedPanels().map(([id, panel]) => ({ id, ...panel.toJSON() }))
/** @param {any} id */
const panelById = (id) => {
  const panel = board().get(str(id, 'panel'))
  if (!(panel instanceof Y.Map)) throw new Error(`no panel ${JSON.stringify(id)}`)
  return panel
}

// Order keys: the rule of crdt/storyboard.py key_between (and frontend/src/order-keys.ts),
// restated here because this driver loads no frontend code.
const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const BASE = 62n
const JITTER = 62n ** 3n
/** @param {string} key @param {number} digits @param {boolean} up */
const scaled = (key, digits, up) => {
  let value = 0n
  for (const c of key.slice(0, digits)) value = value * BASE + BigInt(DIGITS.indexOf(c))
  if (digits > key.length) value *= BASE ** BigInt(digits - key.length)
  if (up && key.length > digits) value += 1n
  return value
}
/** @param {string|null} before @param {string|null} after */
const keyBetween = (before, after) => {
  if (before !== null && after !== null && !(before < after)) throw new Error(`no key between ${before} and ${after}`)
  const rand = () => BigInt(Math.floor(Math.random() * Number(JITTER)))
  let digits = 1
  let low, high, count
  for (;;) {
    low = (before ? scaled(before, digits, false) : 0n) + 1n
    high = (after ? scaled(after, digits, true) : BASE ** BigInt(digits)) - 1n
    count = high - low + 1n
    if (count >= 2n * JITTER) break
    digits++
  }
  let value = after === null ? low + rand() : before === null ? high - rand() : low + (count - JITTER) / 2n + rand()
  const out = []
  for (let i = 0; i < digits; i++) { out.push(DIGITS[Number(value % BASE)]); value /= BASE }
  return out.reverse().join('').replace(/0+$/, '')
}
/** @param {any} name */
const textOf = (name) => doc.getText(typeof name === 'string' ? name : 'content')

const awarenessStates = () => {
  /** @type {Record<string, any>} */
  const out = {}
  for (const [cid, state] of awareness.getStates()) out[String(cid)] = state
  return out
}

const status = () => ({
  clientID: doc.clientID,
  url: provider.url,
  room: provider.roomname,
  connected: provider.wsconnected,
  connecting: provider.wsconnecting,
  synced: provider.synced,
  shouldConnect: provider.shouldConnect,
  destroyed,
  unsuccessfulReconnects: provider.wsUnsuccessfulReconnects
})

class TimeoutError extends Error {
  /** @param {string} message @param {any} state */
  constructor (message, state) {
    super(message)
    this.timeout = true
    this.state = state
  }
}

/**
 * Resolve once `check()` returns a non-undefined value, re-checking whenever one of the
 * `subscribe`d sources fires; reject with TimeoutError(describe()) after timeoutMs.
 * @template T
 * @param {() => (T|undefined)} check
 * @param {Array<(fn: () => void) => () => void>} sources
 * @param {number} timeoutMs
 * @param {() => {message: string, state: any}} describe
 * @return {Promise<T>}
 */
const waitFor = (check, sources, timeoutMs, describe) => new Promise((resolve, reject) => {
  const first = check()
  if (first !== undefined) return resolve(first)
  /** @type {Array<() => void>} */
  let unsubs = []
  const finish = () => { clearTimeout(timer); unsubs.forEach((u) => u()); unsubs = [] }
  const onChange = () => {
    let v
    try { v = check() } catch (e) { finish(); return reject(e) }
    if (v !== undefined) { finish(); resolve(v) }
  }
  const timer = setTimeout(() => {
    finish()
    const d = describe()
    reject(new TimeoutError(d.message, d.state))
  }, timeoutMs)
  unsubs = sources.map((sub) => sub(onChange))
})

/** @param {() => void} fn */
const onDocUpdate = (fn) => { doc.on('update', fn); return () => doc.off('update', fn) }
/** @param {() => void} fn */
const onAwareness = (fn) => { awareness.on('change', fn); return () => awareness.off('change', fn) }
/** @param {() => void} fn */
const onSync = (fn) => { provider.on('sync', fn); return () => provider.off('sync', fn) }

/** @param {any} v @param {string} what */
const int = (v, what) => {
  if (!Number.isInteger(v)) throw new Error(`${what} must be an integer, got ${JSON.stringify(v)}`)
  return v
}
/** @param {any} v @param {string} what */
const str = (v, what) => {
  if (typeof v !== 'string') throw new Error(`${what} must be a string, got ${JSON.stringify(v)}`)
  return v
}
/** @param {any} msg */
const timeoutOf = (msg) => (typeof msg.timeoutMs === 'number' && msg.timeoutMs >= 0 ? msg.timeoutMs : 5000)
const requireAlive = () => { if (destroyed) throw new Error('provider destroyed') }

/** @param {Uint8Array} u8 */
const b64 = (u8) => Buffer.from(u8).toString('base64')

// ---- shutdown --------------------------------------------------------------------------

let exiting = false
/** @param {number} code */
const shutdown = async (code) => {
  if (exiting) return
  exiting = true
  const ws = provider.ws
  if (!destroyed) {
    destroyed = true
    provider.destroy() // broadcasts awareness "null" for us, then closes the socket
  }
  // give the close handshake (and the awareness removal sent just before it) a moment to flush
  if (ws && ws.readyState !== WebSocket.CLOSED) {
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 1000)
      ws.addEventListener('close', () => { clearTimeout(t); resolve(undefined) })
    })
  }
  process.stdout.write('', () => process.exit(code))
}

// ---- commands --------------------------------------------------------------------------

/** @type {Record<string, (msg: any) => any>} */
const commands = {
  connect: () => { requireAlive(); provider.connect(); return status() },
  disconnect: () => { requireAlive(); provider.disconnect(); return status() },
  destroy: () => {
    if (!destroyed) { destroyed = true; provider.destroy() }
    return status()
  },
  status: () => status(),
  reconnect: (msg) => {
    // fail over to another server (the same room): close the socket, then connect to `url`
    requireAlive()
    provider.disconnect()
    provider.serverUrl = str(msg.url, 'url').replace(/\/+$/, '')
    provider.connect()
    return status()
  },
  setToken: (msg) => {
    // params are re-read on each (re)connect
    if (msg.token === null || msg.token === undefined) provider.params = {}
    else provider.params = { token: str(msg.token, 'token') }
    return status()
  },

  insertText: (msg) => {
    const t = textOf(msg.name)
    t.insert(int(msg.index, 'index'), str(msg.text, 'text'))
    return t.toString()
  },
  appendText: (msg) => {
    // at the end of the text as this client sees it now: each token follows the last one
    const t = textOf(msg.name)
    t.insert(t.length, str(msg.text, 'text'))
    return t.length
  },
  deleteText: (msg) => {
    const t = textOf(msg.name)
    t.delete(int(msg.index, 'index'), int(msg.length, 'length'))
    return t.toString()
  },
  getText: (msg) => textOf(msg.name).toString(),
  waitText: (msg) => {
    const t = textOf(msg.name)
    const hasEq = typeof msg.equals === 'string'
    const hasCo = typeof msg.contains === 'string'
    if (!hasEq && !hasCo) throw new Error('waitText needs `equals` or `contains`')
    const matches = () => {
      const s = t.toString()
      if (hasEq && s !== msg.equals) return undefined
      if (hasCo && !s.includes(msg.contains)) return undefined
      return s
    }
    return waitFor(matches, [onDocUpdate], timeoutOf(msg), () => ({
      message: `waitText timed out after ${timeoutOf(msg)} ms: wanted ${hasEq ? 'equals ' + JSON.stringify(msg.equals) : 'contains ' + JSON.stringify(msg.contains)}, text is ${JSON.stringify(t.toString())}`,
      state: t.toString()
    }))
  },

  // Storyboard (schema v2, crdt/storyboard.py): the `board` Y.Map of panel Y.Maps by id.
  addPanel: (msg) => {
    // as the browser does: one transaction, `order` after the last panel, every field set
    const id = msg.panel === undefined ? randomBytes(8).toString('hex') : str(msg.panel, 'panel')
    const fields = msg.fields ?? {}
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) throw new Error('fields must be an object')
    const last = orderedPanels().at(-1)
    const order = keyBetween(last ? orderOf(last[1]) || null : null, null)
    doc.transact(() => {
      const panel = new Y.Map()
      board().set(id, panel)
      panel.set('order', order)
      panel.set('duration_ms', fields.duration_ms ?? 2000)
      panel.set('shot_size', fields.shot_size ?? '')
      for (const key of TEXT_FIELDS) panel.set(key, new Y.Text(fields[key] ?? ''))
      if (fields.image) panel.set('image', fields.image)
    })
    return panelsJSON()
  },
  setPanelField: (msg) => {
    // a scalar field is set; a text field's Y.Text gets its whole content replaced
    const panel = panelById(msg.panel)
    const key = str(msg.key, 'key')
    const value = msg.value === undefined ? null : msg.value
    doc.transact(() => {
      const current = panel.get(key)
      if (TEXT_FIELDS.includes(key) && current instanceof Y.Text) {
        current.delete(0, current.length)
        current.insert(0, str(value, 'value'))
      } else {
        panel.set(key, value)
      }
    })
    return panelsJSON()
  },
  movePanel: (msg) => {
    // a move sets only `order`: a key between the neighbours at index `to` of the result
    const id = str(msg.panel, 'panel')
    const to = int(msg.to, 'to')
    const all = orderedPanels()
    const panel = panelById(id)
    const others = all.filter(([pid]) => pid !== id).map(([, p]) => p)
    if (to < 0 || to > others.length) throw new Error(`to ${to} out of range (${all.length} panels)`)
    const before = to > 0 ? orderOf(others[to - 1]) || null : null
    const after = to < others.length ? orderOf(others[to]) || null : null
    panel.set('order', keyBetween(before, after))
    return panelsJSON()
  },
  deletePanel: (msg) => {
    panelById(msg.panel)
    board().delete(str(msg.panel, 'panel'))
    return panelsJSON()
  },
  getPanels: () => panelsJSON(),
  waitPanels: (msg) => {
    const want = JSON.stringify(msg.equals)
    const wantIds = JSON.stringify(msg.ids)
    const hasLen = Number.isInteger(msg.length)
    const check = () => {
      const cur = panelsJSON()
      if (msg.equals !== undefined && JSON.stringify(cur) !== want) return undefined
      if (msg.ids !== undefined && JSON.stringify(cur.map((p) => p.id)) !== wantIds) return undefined
      if (hasLen && cur.length !== msg.length) return undefined
      return cur
    }
    return waitFor(check, [onDocUpdate], timeoutOf(msg), () => ({
      message: `waitPanels timed out after ${timeoutOf(msg)} ms: panels are ${JSON.stringify(panelsJSON())}`,
      state: panelsJSON()
    }))
  },
  pushLegacyPanel: (msg) => {
    // the first schema (a `panels` Y.Array of Y.Maps), which the server now refuses (4422)
    const panel = msg.panel
    if (panel === null || typeof panel !== 'object' || Array.isArray(panel)) throw new Error('panel must be an object')
    doc.transact(() => { doc.getArray('panels').push([new Y.Map(Object.entries(panel))]) })
    return doc.getArray('panels').toJSON()
  },

  setAwareness: (msg) => { awareness.setLocalState(msg.state === undefined ? null : msg.state); return awarenessStates() },
  setAwarenessField: (msg) => {
    if (awareness.getLocalState() === null) throw new Error('local awareness state is null')
    awareness.setLocalStateField(str(msg.field, 'field'), msg.value === undefined ? null : msg.value)
    return awarenessStates()
  },
  getAwareness: () => awarenessStates(),
  waitAwareness: (msg) => {
    const count = int(msg.count, 'count')
    const check = () => (awareness.getStates().size === count ? awarenessStates() : undefined)
    return waitFor(check, [onAwareness], timeoutOf(msg), () => ({
      message: `waitAwareness timed out after ${timeoutOf(msg)} ms: wanted ${count} states, have ${awareness.getStates().size}: ${JSON.stringify(awarenessStates())}`,
      state: awarenessStates()
    }))
  },

  getUpdate: () => b64(Y.encodeStateAsUpdate(doc)),
  getStateVector: () => b64(Y.encodeStateVector(doc)),
  applyUpdate: (msg) => {
    Y.applyUpdate(doc, new Uint8Array(Buffer.from(str(msg.update, 'update'), 'base64')), 'test')
    return null
  },
  waitSynced: (msg) => {
    const check = () => (provider.synced ? status() : undefined)
    return waitFor(check, [onSync], timeoutOf(msg), () => ({
      message: `waitSynced timed out after ${timeoutOf(msg)} ms: ${JSON.stringify(status())}`,
      state: status()
    }))
  },

  exit: () => null // handled in dispatch
}

/** @param {string} line */
const dispatch = async (line) => {
  if (line.trim() === '') return
  /** @type {any} */
  let msg
  try {
    msg = JSON.parse(line)
  } catch (e) {
    send({ id: null, error: `invalid JSON: ${e && e.message}` })
    return
  }
  const id = msg && typeof msg === 'object' && 'id' in msg ? msg.id : null
  try {
    if (!msg || typeof msg !== 'object' || typeof msg.cmd !== 'string') throw new Error('missing "cmd"')
    const handler = Object.prototype.hasOwnProperty.call(commands, msg.cmd) ? commands[msg.cmd] : undefined
    if (!handler) throw new Error(`unknown command ${JSON.stringify(msg.cmd)}`)
    if (msg.cmd === 'exit') {
      send({ id, ok: true, result: null })
      await shutdown(0)
      return
    }
    let result = handler(msg)
    // answer synchronous commands synchronously, so responses keep the order of commands
    if (result instanceof Promise) result = await result
    send({ id, ok: true, result: result === undefined ? null : result })
  } catch (e) {
    const err = /** @type {any} */ (e)
    /** @type {any} */
    const out = { id, error: String(err && err.message ? err.message : err) }
    if (err && err.timeout) { out.timeout = true; out.state = err.state }
    send(out)
  }
}

process.on('uncaughtException', (e) => {
  console.error('uncaughtException:', e)
  emitEvent('internal-error', { message: String(e && e.message ? e.message : e) })
})
process.on('unhandledRejection', (e) => {
  console.error('unhandledRejection:', e)
  emitEvent('internal-error', { message: String(e && /** @type {any} */ (e).message ? /** @type {any} */ (e).message : e) })
})
process.stdout.on('error', () => process.exit(0)) // parent went away

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => { dispatch(line) })
rl.on('close', () => { shutdown(0) })

emitEvent('ready', { clientID: doc.clientID, url: provider.url, room: provider.roomname })
