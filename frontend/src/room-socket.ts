/**
 * The project room socket (`ws/projects/<slug>`, JSON): who is here and where, calls,
 * live sessions. See realtime/consumers.py ProjectConsumer.
 *
 * The server sends `room.snapshot` first on every (re)connect, then `presence.changed`
 * and room events. A refused connection gets `{"type": "error", "code": 44xx}` and is
 * closed with that code: 4401 sends the user to the sign-in page, 4403 and 4404 show a
 * message and stop, 4429 retries slowly, other 44xx stop; any other close reconnects
 * after a jittered, growing delay (as the documents do, see connection.ts).
 */
import { jitteredDelay } from './backoff'
import { closeAction } from './close-codes'
import { sendToSignIn } from './connection'

export type RoomSocketState = 'connecting' | 'open' | 'offline' | 'stopped'

export type Anchor = { scene: number } | { panel: string }

export interface RoomUser {
  id: number
  name: string
  color: string
}

export interface PresentEntry {
  user: RoomUser
  document: string | null
  anchor: Anchor | null
  tabs: number
}

export interface CallJson {
  id: number
  project: string
  title: string
  interest: string
  instructions: string
  deadline: string | null
  open: boolean
  filled: boolean
  created_at: string
  closed_at: string | null
  filled_at: string | null
}

export interface ResponseJson {
  id: number
  call: number
  record: string
  title: string
  responder: string
  status: string
}

export interface SessionJson {
  id: number
  title: string
  agenda: string
  lead: string | null
  lead_id: number | null
  started_at: string
  spotlight: { document: string; anchor: Anchor | null } | null
  participants: string[]
}

export interface RoomSnapshot {
  type: 'room.snapshot'
  project: string
  you: RoomUser & { invisible: boolean; role: string | null }
  present: PresentEntry[]
  documents: string[]
  calls: CallJson[]
  session: SessionJson | null
}

/** Every message the server sends has a string `type`; the rest depends on it. */
export type RoomMessage = { type: string; [key: string]: unknown }

export interface RoomSocketOptions {
  url: string
  loginUrl: string
  onFatal: (message: string) => void
}

const ROOM_WORDS = {
  missing: 'This project no longer exists.',
  forbidden: 'You no longer have access to this project.',
  closer: 'The room',
}
const PING_EVERY_MS = 25_000
const PONG_WITHIN_MS = 10_000

export class RoomSocket {
  state: RoomSocketState = 'connecting'
  private ws: WebSocket | null = null
  private attempts = 0
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private pingTimer: ReturnType<typeof setInterval> | null = null
  private pongTimer: ReturnType<typeof setTimeout> | null = null
  private readonly handlers = new Map<string, Set<(message: RoomMessage) => void>>()
  private readonly stateListeners = new Set<(state: RoomSocketState) => void>()

  constructor(private readonly opts: RoomSocketOptions) {
    window.addEventListener('offline', () => {
      if (this.state === 'stopped') return
      this.cancelRetry()
      this.ws?.close()
      this.setState('offline')
    })
    window.addEventListener('online', () => {
      if (this.state !== 'stopped' && this.ws === null) {
        this.cancelRetry()
        this.connect()
      }
    })
    this.connect()
  }

  /** Call `handler` for every message of `type` (`*` for all). */
  on(type: string, handler: (message: RoomMessage) => void): void {
    const set = this.handlers.get(type) ?? new Set()
    set.add(handler)
    this.handlers.set(type, set)
  }

  onState(listener: (state: RoomSocketState) => void): void {
    this.stateListeners.add(listener)
  }

  /** Send a message if the socket is open; false when it is not (the caller decides). */
  send(message: RoomMessage): boolean {
    if (this.ws === null || this.ws.readyState !== WebSocket.OPEN || this.state !== 'open') return false
    this.ws.send(JSON.stringify(message))
    return true
  }

  private setState(state: RoomSocketState): void {
    if (this.state === state) return
    this.state = state
    for (const listener of this.stateListeners) listener(state)
  }

  private connect(): void {
    if (this.state === 'stopped') return
    const ws = new WebSocket(this.opts.url)
    this.ws = ws
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return
      let message: unknown
      try {
        message = JSON.parse(ev.data)
      } catch {
        return
      }
      if (!message || typeof message !== 'object' || typeof (message as RoomMessage).type !== 'string') return
      this.receive(message as RoomMessage)
    })
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return
      this.ws = null
      this.stopPing()
      this.onClosed(ev.code, ev.reason)
    })
  }

  private receive(message: RoomMessage): void {
    if (message.type === 'room.snapshot') {
      this.attempts = 0
      this.setState('open')
      this.startPing()
    } else if (message.type === 'pong') {
      if (this.pongTimer !== null) clearTimeout(this.pongTimer)
      this.pongTimer = null
    }
    // An `error` with a close code precedes the close itself: the close handles it.
    if (message.type === 'error' && typeof message.code === 'number') return
    for (const key of [message.type, '*']) {
      for (const handler of this.handlers.get(key) ?? []) handler(message)
    }
  }

  private onClosed(code: number, reason: string): void {
    if (this.state === 'stopped') return
    const action = closeAction(code, reason, ROOM_WORDS)
    if (action.kind === 'retry') {
      this.setState('offline')
      this.scheduleReconnect(action.minimumMs)
      return
    }
    this.stop(action.message)
    if (action.kind === 'sign-in') sendToSignIn(this.opts.loginUrl)
  }

  private stop(message: string): void {
    this.cancelRetry()
    this.stopPing()
    this.setState('stopped')
    this.ws?.close()
    this.ws = null
    this.opts.onFatal(message)
  }

  private scheduleReconnect(minimum = 0): void {
    if (this.retryTimer !== null || !navigator.onLine) return // 'online' reconnects
    const delay = jitteredDelay(this.attempts++, minimum)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      this.setState('connecting')
      this.connect()
    }, delay)
  }

  private cancelRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
  }

  // A half-open socket (laptop lid, dead NAT entry) shows no close: a ping that gets no
  // pong in time closes it, which reconnects.
  private startPing(): void {
    this.stopPing()
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: 'ping' }) || this.pongTimer !== null) return
      this.pongTimer = setTimeout(() => {
        this.pongTimer = null
        this.ws?.close()
      }, PONG_WITHIN_MS)
    }, PING_EVERY_MS)
  }

  private stopPing(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer)
    if (this.pongTimer !== null) clearTimeout(this.pongTimer)
    this.pingTimer = null
    this.pongTimer = null
  }
}
