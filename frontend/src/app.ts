/**
 * Loaded by every page for signed-in people: keeps the header's notification bell
 * (#bell, #bell-count) current over `ws/notifications` and announces new entries politely.
 *
 * The count is rendered by the server, so the page is right without this script; the
 * socket's snapshot on connect, each `notification` event and each `notifications.read`
 * (entries read in any tab) carry the unread count.
 * Close codes 4401 (signed out) and 4403 (refused) stop it; any other close reconnects
 * after a jittered, growing delay. Kept tiny on purpose: no editor or CRDT code here.
 *
 * Signing out (the header's #sign-out form) first deletes the user's offline copies of
 * documents (offline-stores.ts), waiting at most `CLEAR_WAIT_MS`, then posts the form.
 */
import { jitteredDelay } from './backoff'
import { BUSY_MIN_MS } from './close-codes'
import { clearUserStores } from './offline-stores'

const STOP_CODES = new Set([4401, 4403])
// Notifications are not urgent: back off slower than the documents do.
const BASE_DELAY_MS = 1_000
const MAX_DELAY_MS = 30_000

type BellState = 'connecting' | 'online' | 'offline' | 'stopped'

interface NotificationEntry {
  reason: string
  count: number
}

type ServerMessage =
  | { type: 'notifications.snapshot'; unread: number }
  | { type: 'notification'; unread: number; notification: NotificationEntry }
  | { type: 'notifications.read'; unread: number }
  | { type: 'error' | 'pong' }

function parse(data: unknown): ServerMessage | null {
  if (typeof data !== 'string') return null
  try {
    const message: unknown = JSON.parse(data)
    return typeof message === 'object' && message !== null && 'type' in message
      ? (message as ServerMessage)
      : null
  } catch {
    return null
  }
}

/** Keep one bell current until the page goes away or the server refuses the user. */
export function startBell(bell: HTMLElement, count: HTMLElement, live: HTMLElement | null): void {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/notifications`
  let attempts = 0
  let retry: ReturnType<typeof setTimeout> | null = null
  let state: BellState = 'connecting'

  const setState = (next: BellState): void => {
    state = next
    bell.dataset.state = next
  }

  const show = (unread: number): void => {
    count.textContent = String(unread)
    count.hidden = unread === 0
    bell.dataset.count = String(unread)
    bell.setAttribute('aria-label', `Inbox: ${unread} unread`)
  }

  const announce = (entry: NotificationEntry): void => {
    if (live) live.textContent = `New notification: ${entry.reason}`
    const notice = document.getElementById('inbox-new')
    if (notice) notice.hidden = false
  }

  let socket: WebSocket | null = null

  const connect = (): void => {
    retry = null
    setState('connecting')
    const current = new WebSocket(url)
    socket = current
    current.addEventListener('message', (event) => {
      const message = parse(event.data)
      if (message?.type === 'notifications.snapshot') {
        // The server joins the user's group before sending the snapshot: from here on,
        // nothing new is missed.
        attempts = 0
        show(message.unread)
        setState('online')
      } else if (message?.type === 'notification') {
        show(message.unread)
        announce(message.notification)
      } else if (message?.type === 'notifications.read') {
        show(message.unread)
      }
    })
    current.addEventListener('close', (event) => {
      if (socket !== current) return
      socket = null
      if (STOP_CODES.has(event.code)) {
        setState('stopped')
        return
      }
      setState('offline')
      // 1013: the server is admitting a reconnect storm; never come back within a second.
      if (navigator.onLine) schedule(event.code === 1013 ? BUSY_MIN_MS : 0)
    })
  }

  const schedule = (minimumMs = 0): void => {
    if (retry === null) {
      const delay = jitteredDelay(attempts++, minimumMs, BASE_DELAY_MS, MAX_DELAY_MS)
      retry = setTimeout(connect, delay)
    }
  }

  const cancelRetry = (): void => {
    if (retry !== null) clearTimeout(retry)
    retry = null
  }

  // The browser knows when the network is gone: close at once (a socket may otherwise
  // linger half-open) and connect again as soon as it is back.
  window.addEventListener('offline', () => {
    if (state === 'stopped') return
    cancelRetry()
    setState('offline')
    socket?.close()
  })
  window.addEventListener('online', () => {
    if (state !== 'offline') return
    cancelRetry()
    connect()
  })
  connect()
}

// Deleting takes milliseconds; a loaded machine or a tab slow to let go may take longer.
const CLEAR_WAIT_MS = 5_000

/** Delete the user's offline document copies before the sign-out form is posted. */
export function clearOnSignOut(form: HTMLFormElement): void {
  const userId = Number(form.dataset.userId)
  if (!Number.isSafeInteger(userId) || userId <= 0) return
  let clearing = false
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    if (clearing) return
    clearing = true
    const waited = new Promise((resolve) => setTimeout(resolve, CLEAR_WAIT_MS))
    void Promise.race([clearUserStores(userId), waited]).finally(() => form.submit())
  })
}

const signOut = document.getElementById('sign-out')
if (signOut instanceof HTMLFormElement) clearOnSignOut(signOut)

const bell = document.getElementById('bell')
const count = document.getElementById('bell-count')
if (bell && count) startBell(bell, count, document.getElementById('bell-live'))
