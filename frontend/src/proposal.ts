/**
 * The proposal page's script. The countdown ticks the comment window down each second
 * from the deadline the server rendered (`#countdown[data-deadline]`), measured on the
 * server's clock (`data-now`, so a wrong clock on this device does not move the deadline),
 * and at zero says "Window closed" and closes the forms that only work while the window
 * is open. Without this script the page still shows the deadline as a date. Room events
 * about the proposal (comments, edits, acceptances) are announced as they happen.
 */

const SECOND = 1000

/** `ms` as "2 days 03:04:05 left" (days only when there are any). */
function remaining(ms: number): string {
  const total = Math.ceil(ms / SECOND)
  const days = Math.floor(total / 86_400)
  const clock = [Math.floor(total / 3600) % 24, Math.floor(total / 60) % 60, total % 60]
    .map((n) => String(n).padStart(2, '0'))
    .join(':')
  const prefix = days > 0 ? `${days} day${days === 1 ? '' : 's'} ` : ''
  return `${prefix}${clock} left`
}

function closeWindow(box: HTMLElement, left: HTMLElement): void {
  box.dataset.state = 'closed'
  left.textContent = 'Window closed'
  const status = document.getElementById('window-status')
  if (status) status.textContent = 'The comment window has closed.'
  for (const set of document.querySelectorAll<HTMLFieldSetElement>('fieldset[data-closes-with-window]')) {
    set.disabled = true
  }
  for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-opens-with-close]')) {
    button.disabled = false
  }
}

function start(): void {
  const box = document.getElementById('countdown')
  const left = document.getElementById('countdown-left')
  if (!box || !left || box.dataset.state !== 'open') return
  const deadline = Date.parse(box.dataset.deadline ?? '')
  const serverNow = Date.parse(box.dataset.now ?? '')
  if (Number.isNaN(deadline)) return
  const skew = Number.isNaN(serverNow) ? 0 : serverNow - Date.now()
  const tick = (): void => {
    const ms = deadline - (Date.now() + skew)
    if (ms <= 0) {
      closeWindow(box, left)
      return
    }
    left.textContent = remaining(ms)
    // Wake on the next whole second of what is left, so the display never lags a second.
    setTimeout(tick, ms % SECOND || SECOND)
  }
  tick()
}

start()

/** What a room event about this proposal says, in a sentence (names are usernames). */
function describe(event: Record<string, unknown>): string {
  const who = (key: string): string => (typeof event[key] === 'string' ? (event[key] as string) : 'someone')
  switch (event.type) {
    case 'proposal.commented':
      return `${who('author')} commented`
    case 'proposal.edited':
      return `${who('actor')} changed the proposal`
    case 'proposal.accepted':
      return `${who('user')} accepted it`
    case 'proposal.finalised':
      return 'The proposal is final'
    default:
      return 'The proposal changed'
  }
}

/**
 * Listen on the project room's socket for events about this proposal and say so (a
 * reload link rather than a reload, so a comment being typed is never lost). Gives up on
 * the 44xx refusals (signed out, no access), retries with backoff otherwise.
 */
function listen(): void {
  const root = document.getElementById('proposal')
  const notice = document.getElementById('live-notice')
  const text = document.getElementById('live-text')
  if (!root || !notice || !text || root.dataset.live !== 'true') return
  const id = Number(root.dataset.proposalId)
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const url = `${scheme}://${location.host}/ws/projects/${encodeURIComponent(root.dataset.project ?? '')}`
  let delay = SECOND
  let seen = 0
  const connect = (): void => {
    const socket = new WebSocket(url)
    socket.onmessage = (message) => {
      let event: unknown
      try {
        event = JSON.parse(String(message.data))
      } catch {
        return
      }
      if (typeof event !== 'object' || event === null) return
      const data = event as Record<string, unknown>
      if (data.type === 'room.snapshot') {
        delay = SECOND
        root.dataset.liveState = 'connected'
      } else if (typeof data.type === 'string' && data.type.startsWith('proposal.') && data.proposal_id === id) {
        seen += 1
        text.textContent = seen > 1 ? `${describe(data)} (and ${seen - 1} more change${seen > 2 ? 's' : ''}).` : `${describe(data)}.`
        notice.hidden = false
      }
    }
    socket.onclose = (close) => {
      root.dataset.liveState = 'closed'
      if (close.code >= 4400 && close.code < 4500 && close.code !== 4429) return
      setTimeout(connect, delay)
      delay = Math.min(delay * 2, 30 * SECOND)
    }
  }
  connect()
}

listen()
