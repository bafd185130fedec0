/**
 * One live document: a Y.Doc, its y-websocket provider, close-code handling, reconnects
 * with jittered backoff, and the count of local changes the server has not echoed.
 *
 * Close codes (realtime/closecodes.py): 4401 sends the user to the sign-in page; 4403 and
 * 4404 show a message and stop; 4422 (a write the schema refuses) says the page is out of
 * date and stops; other 44xx codes stop too (4429 retries slowly); any other
 * close reconnects after a jittered, growing delay (y-websocket's own backoff has no
 * jitter, so it is turned off with `shouldReconnect: () => false`).
 *
 * Offline copy (offline.ts): the doc is kept in IndexedDB, per user and document, and
 * loaded before the socket connects (at most `OFFLINE_LOAD_WAIT_MS`), so a reload shows
 * the last state at once and edits typed while the server was unreachable are sent with
 * the sync once it answers. The copy is deleted when the server says the document is gone
 * or out of reach (4403, 4404) or refused what the copy holds (4409, 4413, 4422: sending
 * it again after a reload would be refused again).
 *
 * Until the server's greeting (its step1) arrives on a socket, our own incremental updates
 * are not sent on it: the step2 we answer the greeting with carries them, and an update
 * sent earlier may build on structs the server does not have yet (typed offline), which a
 * storyboard's schema check refuses (4422) and a script holds pending. While the socket
 * waits to be admitted (a reconnect storm) that window is long.
 */
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { AckTracker } from './acks'
import { retryDelay } from './backoff'
import { closeAction } from './close-codes'
import { openOfflineCopy, type OfflineCopy } from './offline'

export type LinkState = 'connecting' | 'online' | 'offline' | 'stopped'

export interface UserInfo {
  id: number
  name: string
  color: string
}

export interface ConnectionOptions {
  wsUrl: string
  project: string
  document: string
  user: UserInfo
  loginUrl: string
  onFatal: (message: string) => void
  /** Start without an awareness state (the user chose to be invisible). */
  invisible?: boolean
  /** What to say when the server refuses a write with 4422 (the page is out of date). */
  outdated?: string
  /** The document's identity (id and incarnation) naming its offline copy; none: no copy. */
  identity?: string
  /** The document's state as the page was served (a Yjs update): shown and editable at
   * once, before the socket syncs. Not counted as a local change nor sent back. */
  initialState?: Uint8Array
}

// How long the socket waits for the offline copy to load before connecting anyway.
const OFFLINE_LOAD_WAIT_MS = 500
// How soon after a change the list of unacknowledged changes is saved with the copy.
const PENDING_SAVE_MS = 200
const PENDING_KEY = 'pending'
// Close codes after which the offline copy is deleted (see the module's docstring).
const CLEAR_COPY_CODES = new Set([4403, 4404, 4409, 4413, 4422])
const MESSAGE_SYNC = 0
const SYNC_STEP1 = 0
const SYNC_UPDATE = 2

let redirectingToSignIn = false

/** Go to the sign-in page once (every socket of the room gets 4401 at about the same time). */
export function sendToSignIn(loginUrl: string): void {
  if (redirectingToSignIn) return
  redirectingToSignIn = true
  const next = window.location.pathname + window.location.search
  window.location.assign(`${loginUrl}?next=${encodeURIComponent(next)}`)
}

const DOCUMENT_WORDS = {
  missing: 'This document no longer exists.',
  forbidden: 'You no longer have access.',
  closer: 'The server',
  outdated: "This page is out of date with the document's format: reload the page to keep working.",
}

export class LiveDocument {
  readonly doc = new Y.Doc()
  readonly provider: WebsocketProvider
  readonly acks: AckTracker
  /** The IndexedDB copy of the doc (null where IndexedDB is unavailable). */
  readonly offline: OfflineCopy | null
  /** Resolves once the offline copy (if any) is in the doc and the socket may connect. */
  readonly restored: Promise<void>
  state: LinkState = 'connecting'
  synced = false
  stoppedReason = ''
  private attempts = 0
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private listeners = new Set<() => void>()

  constructor(private readonly opts: ConnectionOptions) {
    if (opts.initialState) Y.applyUpdate(this.doc, opts.initialState, 'server-render')
    const onFrame = (data: unknown): void => {
      if (data instanceof ArrayBuffer) this.acks.onServerFrame(data)
    }
    // A WebSocket that also lets the ack tracker see each server frame, and holds back
    // our incremental updates until the server's greeting (see the module's docstring).
    class TrackedWebSocket extends WebSocket {
      private greeted = false
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols)
        // Registered before y-websocket's onmessage: runs before it answers the step1.
        this.addEventListener('message', (ev) => {
          if (!this.greeted && isSyncFrame(ev.data, SYNC_STEP1)) this.greeted = true
          onFrame(ev.data)
        })
      }
      send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (!this.greeted && isSyncFrame(data, SYNC_UPDATE)) return
        super.send(data)
      }
    }
    this.provider = new WebsocketProvider(
      opts.wsUrl,
      `${opts.project}/${opts.document}`,
      this.doc,
      {
        connect: false,
        disableBc: true,
        WebSocketPolyfill: TrackedWebSocket,
        shouldReconnect: () => false,
      },
    )
    this.offline = openOfflineCopy(this.doc, opts.user.id, opts.identity)
    const offline = this.offline
    this.acks = new AckTracker(
      this.doc,
      (origin) => origin === this.provider || (offline !== null && offline.isOrigin(origin)),
    )
    this.acks.onChange(() => this.changed())
    this.provider.awareness.setLocalStateField('user', { ...opts.user })
    // The server stamps the user on every awareness state it relays and does not filter
    // invisible users, so an invisible user publishes no state at all (no name, cursor or
    // panel focus); y-codemirror's and the storyboard's field updates are no-ops then.
    if (opts.invisible) this.setInvisible(true)
    this.provider.on('status', ({ status }) => {
      if (status === 'connected') this.state = 'online'
      else if (status === 'disconnected') this.state = this.state === 'stopped' ? 'stopped' : 'offline'
      this.changed()
    })
    this.provider.on('sync', (synced: boolean) => {
      this.synced = synced
      if (synced) this.attempts = 0
      this.changed()
    })
    this.provider.on('connection-close', (event) => {
      // A local close: the 30 s silence check (retry) or our own disconnect (no retry).
      if (event === null && this.provider.shouldConnect && this.state !== 'stopped') {
        this.state = 'offline'
        this.scheduleReconnect()
      }
    })
    this.provider.on('closed', ({ code, reason }) => this.onClosed(code, reason))
    // The browser knows when the network is gone: close at once (a socket may otherwise
    // linger half-open) and reconnect as soon as it is back.
    window.addEventListener('offline', () => {
      if (this.state === 'stopped') return
      this.cancelRetry()
      this.state = 'offline'
      this.provider.disconnect()
      this.changed()
    })
    window.addEventListener('online', () => {
      if (this.state !== 'stopped') this.reconnectNow()
    })
    this.restored = this.restoreOffline()
    void this.restored.then(() => {
      if (this.state !== 'stopped' && this.retryTimer === null) this.provider.connect()
    })
  }

  /** Load the offline copy and the changes it had not seen acknowledged (bounded wait),
   * then keep that list saved with the copy. */
  private async restoreOffline(): Promise<void> {
    const offline = this.offline
    if (offline === null) return
    const load = (async () => {
      await offline.loaded
      const saved = await offline.read(PENDING_KEY)
      if (typeof saved !== 'string') return
      try {
        this.acks.restore(JSON.parse(saved))
      } catch {
        // an unreadable list: nothing to count, the copy itself is still sent
      }
    })()
    await Promise.race([load, new Promise((resolve) => setTimeout(resolve, OFFLINE_LOAD_WAIT_MS))])
    let timer: ReturnType<typeof setTimeout> | null = null
    const save = (): void => {
      if (timer !== null) clearTimeout(timer)
      timer = null
      offline.write(PENDING_KEY, JSON.stringify(this.acks.entries()))
    }
    void load.then(() => {
      this.acks.onChange(() => {
        if (timer === null) timer = setTimeout(save, PENDING_SAVE_MS)
      })
      window.addEventListener('pagehide', () => {
        if (timer !== null) save()
      })
    })
  }

  /** Withdraw this tab's awareness state (invisible) or publish it again. */
  setInvisible(invisible: boolean): void {
    const awareness = this.provider.awareness
    if (invisible) {
      if (awareness.getLocalState() !== null) awareness.setLocalState(null)
    } else if (awareness.getLocalState() === null) {
      awareness.setLocalState({ user: { ...this.opts.user } })
    }
  }

  onChange(listener: () => void): void {
    this.listeners.add(listener)
  }

  private changed(): void {
    for (const listener of this.listeners) listener()
  }

  private onClosed(code: number, reason: string): void {
    if (CLEAR_COPY_CODES.has(code)) void this.offline?.clear()
    const words = this.opts.outdated ? { ...DOCUMENT_WORDS, outdated: this.opts.outdated } : DOCUMENT_WORDS
    const action = closeAction(code, reason, words)
    if (action.kind === 'retry') {
      this.state = 'offline'
      this.changed()
      this.scheduleReconnect(action.minimumMs)
      return
    }
    this.stop(action.message)
    if (action.kind === 'sign-in') sendToSignIn(this.opts.loginUrl)
  }

  private stop(message: string): void {
    this.state = 'stopped'
    this.stoppedReason = message
    this.cancelRetry()
    this.provider.disconnect()
    this.opts.onFatal(message)
    this.changed()
  }

  private cancelRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
  }

  private scheduleReconnect(minimum = 0): void {
    // y-websocket schedules its own retry; it is a no-op once shouldConnect is false.
    this.provider.shouldConnect = false
    if (this.retryTimer !== null) return
    if (!navigator.onLine) return // the 'online' event reconnects
    const delay = retryDelay(this.attempts++, minimum)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      if (this.state !== 'stopped') this.provider.connect()
    }, delay)
  }

  private reconnectNow(): void {
    this.cancelRetry()
    this.provider.connect()
  }
}

/** Whether a frame is a y-websocket sync message of the given kind (step1, update). */
function isSyncFrame(data: unknown, sub: number): boolean {
  let bytes: Uint8Array | null = null
  if (data instanceof ArrayBuffer) bytes = new Uint8Array(data, 0, Math.min(2, data.byteLength))
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, Math.min(2, data.byteLength))
  return bytes !== null && bytes.length === 2 && bytes[0] === MESSAGE_SYNC && bytes[1] === sub
}
