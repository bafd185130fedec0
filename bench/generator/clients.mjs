#!/usr/bin/env node
/**
 * Stock Yjs clients in numbers (yjs + y-websocket's WebsocketProvider + ws, as a browser
 * runs them), for make bench's many-rooms and connection-storm scenarios. The same
 * generator runs against Troupe and against y-websocket's Node server.
 *
 *   node clients.mjs --url ws://127.0.0.1:8000/ws/yjs --rooms rooms.json --per-room 3
 *        --mode many|storm [--token T] [--rate 350] [--seconds 20] [--timeout 60]
 *        --json out.json
 *
 * rooms.json holds a JSON list of room names ("project/document"); --url may be a
 * comma-separated list of servers, over which a room's clients are dealt round-robin
 * (so every room spans the processes and its updates cross Redis).
 *
 *   many   connect the clients one after another, each awaited until synced (the time
 *          it takes is `connect_s`), then for --seconds send --rate updates/s in all, each
 *          from a random client: an 8-character token "#" + 7 digits appended to its
 *          Text "content". Latency = from just before the sending client's insert until
 *          another client of the room observes the token in its Text (every other client
 *          of the room counts: with 3 per room, 2 deliveries per update).
 *   storm  create every client at once (one synchronous loop) and time each one's first
 *          `sync`. The provider's own reconnect (its stock backoff) answers closes; every
 *          close is counted by code and every socket error by message (a reset is close
 *          1006 or an ECONNRESET error). Ends when all are synced or at --timeout.
 *
 * The generator is one Node process: its own event loop delays every client the same
 * way for both servers; `generator_cpu_s` says what it cost.
 */
import { writeFileSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'

const parseArgs = (argv) => {
  const out = {}
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`)
    out[argv[i].slice(2)] = argv[i + 1]
  }
  return out
}

const args = parseArgs(process.argv.slice(2))
const urls = String(args.url).split(',')
const rooms = JSON.parse(readFileSync(args.rooms, 'utf8'))
const perRoom = Number(args['per-room'] ?? 3)
const mode = args.mode ?? 'many'
const rate = Number(args.rate ?? 350)
const seconds = Number(args.seconds ?? 20)
const timeoutMs = 1000 * Number(args.timeout ?? 60)
const params = args.token ? { token: args.token } : {}

const quantile = (sorted, q) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
const round = (v, nd = 3) => (v === null ? null : Math.round(v * 10 ** nd) / 10 ** nd)
const until = (predicate, ms) =>
  new Promise((resolve) => {
    const deadline = performance.now() + ms
    const poll = () => {
      if (predicate()) resolve(true)
      else if (performance.now() > deadline) resolve(false)
      else setTimeout(poll, 5)
    }
    poll()
  })

const closes = {}
const errors = {}
let resets = 0
const sent = [] // seq -> send time (ms)
const expected = [] // seq -> deliveries expected
const latencies = []
let received = 0

/** One client: a Y.Doc and its provider, dealt to a server by its index in the room. */
const makeClient = (room, slot, roomClients) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(urls[slot % urls.length], room, doc, {
    WebSocketPolyfill: WebSocket,
    params,
    disableBc: true,
  })
  let onSynced = () => {}
  const client = {
    doc,
    provider,
    text: doc.getText('content'),
    room: roomClients,
    syncedAt: null,
    synced: new Promise((resolve) => { onSynced = resolve }),
  }
  provider.on('sync', (isSynced) => {
    if (isSynced && client.syncedAt === null) {
      client.syncedAt = performance.now()
      onSynced()
    }
  })
  provider.on('connection-close', (event) => {
    const code = event?.code ?? 'none'
    closes[code] = (closes[code] ?? 0) + 1
    if (code === 1006) resets += 1
  })
  provider.on('connection-error', (event) => {
    const message = String(event?.message ?? event?.error?.code ?? event?.type ?? 'error')
    errors[message] = (errors[message] ?? 0) + 1
    if (message.includes('ECONNRESET')) resets += 1
  })
  client.text.observe((event) => {
    if (event.transaction.local) return
    const now = performance.now()
    for (const part of event.delta) {
      if (typeof part.insert !== 'string') continue
      const s = part.insert
      for (let i = s.indexOf('#'); i !== -1 && i + 8 <= s.length; i = s.indexOf('#', i + 8)) {
        const seq = Number(s.slice(i + 1, i + 8))
        if (sent[seq] !== undefined) {
          latencies.push(now - sent[seq])
          received += 1
        }
      }
    }
  })
  roomClients.push(client)
  return client
}

const clients = []
const roomsOf = rooms.map(() => [])

const result = { mode, rooms: rooms.length, per_room: perRoom, servers: urls.length }
const cpu0 = process.cpuUsage()

if (mode === 'many') {
  const t0 = performance.now()
  let failed = 0
  for (let r = 0; r < rooms.length; r++) {
    for (let k = 0; k < perRoom; k++) {
      const c = makeClient(rooms[r], k, roomsOf[r])
      clients.push(c)
      // Awaited on the event itself: polling would add its period to every connection.
      const timer = new Promise((resolve) => setTimeout(resolve, timeoutMs, 'timeout'))
      if ((await Promise.race([c.synced, timer])) === 'timeout') failed += 1
    }
  }
  result.connect_s = round((performance.now() - t0) / 1000)
  result.connect_failed = failed
  await new Promise((resolve) => setTimeout(resolve, 500))
  // The bench reads the servers' /metrics at these two lines: the event-loop lag of the
  // load itself, apart from the connecting.
  process.stdout.write('LOAD START\n')
  const total = Math.round(rate * seconds)
  const start = performance.now()
  let seq = 0
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1)
      for (; seq < due; seq++) {
        const c = clients[Math.floor(Math.random() * clients.length)]
        expected[seq] = c.room.length - 1
        sent[seq] = performance.now()
        c.text.insert(c.text.length, '#' + String(seq).padStart(7, '0'))
      }
      if (seq >= total) resolve()
      else setTimeout(tick, 1)
    }
    tick()
  })
  result.send_s = round((performance.now() - start) / 1000)
  process.stdout.write('LOAD END\n')
  const want = expected.reduce((a, b) => a + b, 0)
  await until(() => received >= want, 10_000)
  latencies.sort((a, b) => a - b)
  result.updates = total
  result.deliveries = received
  result.lost = want - received
  result.latency_ms = {
    p50: round(quantile(latencies, 0.5)),
    p99: round(quantile(latencies, 0.99)),
    max: round(latencies.length ? latencies[latencies.length - 1] : null),
  }
} else if (mode === 'storm') {
  const t0 = performance.now()
  for (let r = 0; r < rooms.length; r++) {
    for (let k = 0; k < perRoom; k++) clients.push(makeClient(rooms[r], k, roomsOf[r]))
  }
  result.created_ms = round(performance.now() - t0)
  await until(() => clients.every((c) => c.syncedAt !== null), timeoutMs)
  const times = clients.filter((c) => c.syncedAt !== null).map((c) => (c.syncedAt - t0) / 1000)
  times.sort((a, b) => a - b)
  result.clients = clients.length
  result.synced = times.length
  result.synced_s = { p50: round(quantile(times, 0.5)), p99: round(quantile(times, 0.99)), max: round(times.length ? times[times.length - 1] : null) }
  result.all_synced_s = times.length === clients.length ? result.synced_s.max : null
} else {
  throw new Error(`unknown mode ${mode}`)
}

const cpu = process.cpuUsage(cpu0)
result.closes = { ...closes }
result.errors = { ...errors }
result.resets = resets
result.generator_cpu_s = round((cpu.user + cpu.system) / 1e6)
for (const c of clients) c.provider.destroy()
writeFileSync(args.json, JSON.stringify(result))
process.exit(0)
