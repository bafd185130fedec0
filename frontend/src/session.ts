/**
 * The live-session bar: a lead starts and ends a session and spotlights where they are;
 * everyone sees the running session and may join; participants get a follow request per
 * spotlight (Accept moves their view there and keeps following later spotlights, Decline
 * drops that one). Moving yourself ends a follow: the server answers any `presence.set`
 * with `session.follow_ended` (reason "navigated").
 */
import type { LocationTracker, Place } from './location'
import type { Anchor, RoomMessage, RoomSnapshot, RoomSocket, SessionJson } from './room-socket'

export interface SessionTargets {
  bar: HTMLElement
  status: HTMLElement
  startForm: HTMLFormElement | null
  titleInput: HTMLInputElement | null
  join: HTMLButtonElement
  spotlight: HTMLButtonElement | null
  end: HTMLButtonElement | null
  prompt: HTMLElement
  promptText: HTMLElement
  accept: HTMLButtonElement
  decline: HTMLButtonElement
  followStatus: HTMLElement
  error: HTMLElement
}

export interface SessionOptions {
  socket: RoomSocket
  tracker: LocationTracker
  userId: number
  username: string
  describe: (document: string | null, anchor: Anchor | null) => string
  /** The spotlight is on a document this page does not show: open it. */
  openDocument: (place: Place) => void
}

type Mode = 'idle' | 'prompted' | 'following'

export class SessionBar {
  private session: SessionJson | null = null
  private joined = false
  private mode: Mode = 'idle'

  constructor(
    private readonly t: SessionTargets,
    private readonly o: SessionOptions,
  ) {
    const s = o.socket
    s.on('room.snapshot', (m) => this.onSnapshot(m as unknown as RoomSnapshot))
    s.on('session.started', (m) => {
      this.session = m.session as SessionJson
      this.joined = this.session.lead_id === o.userId
      this.setMode('idle', '')
      this.render()
    })
    s.on('session.joined', (m) => {
      if (m.you === true || m.user_id === o.userId) this.joined = true
      if (this.session && typeof m.user === 'string' && !this.session.participants.includes(m.user)) {
        this.session.participants.push(m.user)
      }
      this.render()
    })
    s.on('session.follow_request', (m) => this.onFollowRequest(m))
    s.on('session.following', (m) => {
      this.setMode('following', `Following ${this.session?.lead ?? 'the lead'}: ${o.describe(m.document as string, m.anchor as Anchor | null)}.`)
      this.go({ document: m.document as string, anchor: (m.anchor as Anchor | null) ?? null })
    })
    s.on('session.follow_declined', () => this.setMode('idle', 'You declined; you will be asked again at the next spotlight.'))
    s.on('session.follow_ended', () => this.setMode('idle', 'You stopped following (you moved).'))
    s.on('session.ended', () => {
      this.session = null
      this.joined = false
      this.setMode('idle', 'The session has ended.')
      this.render()
    })
    s.on('error', (m) => {
      if (typeof m.for === 'string' && m.for.startsWith('session.')) this.showError(String(m.error))
    })
    s.onState((state) => {
      if (state !== 'open') this.setMode('idle', '')
      this.render()
    })

    t.startForm?.addEventListener('submit', (ev) => {
      ev.preventDefault()
      const title = t.titleInput?.value.trim() ?? ''
      if (!title) {
        this.showError('Give the session a title.')
        return
      }
      this.send({ type: 'session.start', title, agenda: '' })
    })
    t.join.addEventListener('click', () => this.send({ type: 'session.join' }))
    t.end?.addEventListener('click', () => this.send({ type: 'session.end' }))
    t.spotlight?.addEventListener('click', () => {
      const place = o.tracker.known
      if (!place.document) {
        this.showError('Click into the script or a panel first: that is what gets spotlighted.')
        return
      }
      if (this.send({ type: 'session.spotlight', document: place.document, anchor: place.anchor })) {
        t.followStatus.textContent = `Spotlighted ${o.describe(place.document, place.anchor)}.`
      }
    })
    t.accept.addEventListener('click', () => {
      o.tracker.cancel()
      this.send({ type: 'session.follow', accept: true })
    })
    t.decline.addEventListener('click', () => this.send({ type: 'session.follow', accept: false }))
    this.render()
  }

  private send(message: RoomMessage): boolean {
    this.t.error.hidden = true
    if (this.o.socket.send(message)) return true
    this.showError('Not connected to the room; try again in a moment.')
    return false
  }

  private showError(message: string): void {
    this.t.error.textContent = message
    this.t.error.hidden = false
  }

  private onSnapshot(snapshot: RoomSnapshot): void {
    this.session = snapshot.session
    this.joined = false
    this.setMode('idle', '')
    // A participant's new connection is not in the session until it joins again.
    if (this.session?.participants.includes(this.o.username)) this.send({ type: 'session.join' })
    this.render()
  }

  private onFollowRequest(m: RoomMessage): void {
    const place: Place = { document: m.document as string, anchor: (m.anchor as Anchor | null) ?? null }
    const where = this.o.describe(place.document, place.anchor)
    if (m.following === true) {
      this.setMode('following', `Following ${String(m.by)}: ${where}.`)
      this.go(place)
      return
    }
    this.t.promptText.textContent = `${String(m.by)} spotlights ${where}. Follow?`
    this.setMode('prompted', '')
  }

  private go(place: Place): void {
    if (!this.o.tracker.show(place)) this.o.openDocument(place)
  }

  private setMode(mode: Mode, status: string): void {
    this.mode = mode
    this.t.prompt.hidden = mode !== 'prompted'
    this.t.bar.dataset.follow = mode
    if (status || mode !== 'prompted') this.t.followStatus.textContent = status
  }

  private render(): void {
    const t = this.t
    const session = this.session
    const open = this.o.socket.state === 'open'
    t.bar.dataset.state = session ? 'running' : 'none'
    t.bar.dataset.joined = String(this.joined)
    if (session) {
      const who = session.participants.length
      t.status.textContent = `Live session: ${session.title} · led by ${session.lead ?? 'a lead'} · ${who} in it${this.joined ? ' (you too)' : ''}`
    } else {
      t.status.textContent = 'No live session.'
    }
    if (t.startForm) t.startForm.hidden = session !== null
    t.join.hidden = !session || this.joined
    t.join.disabled = !open
    if (t.spotlight) t.spotlight.hidden = !session || session.lead_id !== this.o.userId
    if (t.end) t.end.hidden = !session
    if (!session && this.mode !== 'idle') this.setMode('idle', '')
  }
}
