/**
 * The project room socket and what lives on it: presence avatars, invisible mode, calls
 * and the live-session bar. Loaded by main.ts in its own chunk, after the script editor
 * is up (none of it is needed to start typing).
 */
import { CallsPanel } from './calls'
import type { LiveDocument } from './connection'
import { LocationTracker, type Place } from './location'
import { renderPresence } from './presence'
import { RoomSocket, type Anchor, type PresentEntry, type RoomSnapshot } from './room-socket'
import { SessionBar } from './session'
import type { EditorView } from '@codemirror/view'

/** What main.ts hands over: the open documents and the editor, and where to put the rest. */
export interface RoomParts {
  docs: Record<string, LiveDocument>
  editor: EditorView | null
  tracker: LocationTracker | null
}

function must<T extends HTMLElement>(selector: string): T {
  const found = document.querySelector<T>(selector)
  if (!found) throw new Error(`missing ${selector}`)
  return found
}

const opt = <T extends HTMLElement>(selector: string): T | null => document.querySelector<T>(selector)

/** The room socket and what lives on it: presence, invisible mode, calls, the session bar. */
export function connectRoom(
  root: HTMLElement,
  documentList: Array<{ slug: string; kind: string; title: string }>,
  showFatal: (message: string) => void,
  api: RoomParts,
): RoomSocket {
  const data = root.dataset
  const docs = api.docs
  let invisible = data.invisible === 'true'
  const project = data.project ?? ''
  const userId = Number(data.userId)
  const socket = new RoomSocket({ url: data.roomWsUrl ?? '', loginUrl: data.loginUrl ?? '/accounts/login/', onFatal: showFatal })
  const titles = new Map(documentList.map((d) => [d.slug, d.title]))
  const describe = (slug: string | null, anchor: Anchor | null): string => {
    if (!slug) return 'in the project'
    const title = titles.get(slug) ?? slug
    if (anchor && 'scene' in anchor) return `in ${title}, scene ${anchor.scene + 1}`
    if (anchor && 'panel' in anchor) {
      const cards = [...document.querySelectorAll<HTMLElement>('#panels > li.panel')]
      const index = cards.findIndex((c) => c.dataset.panelId === anchor.panel)
      return index >= 0 ? `in ${title}, panel ${index + 1}` : `in ${title}, a panel`
    }
    return `in ${title}`
  }

  const editor = api.editor
  const tracker = new LocationTracker({
    script: editor && data.script ? { slug: data.script, view: editor, area: must('.script-area') } : null,
    board: data.board ? { slug: data.board, area: must('section.board'), list: must('#panels') } : null,
    ignore: (target) => target.closest('#session-bar, #calls, dialog, .room-bar') !== null,
    onMove: (place) => {
      socket.send({ type: 'presence.set', document: place.document, anchor: place.anchor })
      drawPresence()
    },
  })
  api.tracker = tracker

  // Presence avatars from the room's listing.
  const presence = must<HTMLElement>('#presence')
  let present: PresentEntry[] = []
  const drawPresence = (): void => {
    renderPresence(
      presence,
      present,
      {
        id: userId,
        name: data.userName ?? '',
        color: data.userColor ?? '',
        invisible,
        document: tracker.known.document,
        anchor: tracker.known.anchor,
      },
      describe,
    )
  }
  drawPresence()

  // Invisible mode: the stored preference, then the server's answer to each change.
  const toggle = must<HTMLInputElement>('#invisible-toggle')
  const applyInvisible = (value: boolean): void => {
    invisible = value
    toggle.checked = value
    for (const live of Object.values(docs)) live.setInvisible(value)
    drawPresence()
  }
  toggle.addEventListener('change', () => {
    const wanted = toggle.checked
    // Going invisible hides this tab's awareness at once; showing waits for the server.
    if (wanted) for (const live of Object.values(docs)) live.setInvisible(true)
    toggle.disabled = true
    if (!socket.send({ type: 'presence.invisible', invisible: wanted })) {
      toggle.disabled = false
      applyInvisible(invisible)
    }
  })
  socket.on('presence.invisible', (m) => {
    toggle.disabled = false
    applyInvisible(m.invisible === true)
  })
  socket.on('error', (m) => {
    if (m.for === 'presence.invisible') {
      toggle.disabled = false
      applyInvisible(invisible)
    }
  })

  socket.on('room.snapshot', (m) => {
    const snapshot = m as unknown as RoomSnapshot
    present = snapshot.present
    toggle.disabled = false
    applyInvisible(snapshot.you.invisible)
    socket.send({ type: 'presence.set', document: tracker.known.document, anchor: tracker.known.anchor })
  })
  socket.on('presence.changed', (m) => {
    present = m.present as PresentEntry[]
    drawPresence()
  })
  socket.onState((state) => {
    presence.dataset.live = String(state === 'open')
    if (state !== 'open') toggle.disabled = true
  })

  new CallsPanel(
    {
      list: must<HTMLUListElement>('#call-list'),
      empty: must('#calls-empty'),
      form: opt<HTMLFormElement>('#call-form'),
      formError: opt('#call-form-error'),
    },
    { socket, project, canRespond: data.canRespond === 'true', isLead: data.lead === 'true' },
  )

  new SessionBar(
    {
      bar: must('#session-bar'),
      status: must('#session-status'),
      startForm: opt<HTMLFormElement>('#session-start-form'),
      titleInput: opt<HTMLInputElement>('#session-title'),
      join: must<HTMLButtonElement>('#session-join'),
      spotlight: opt<HTMLButtonElement>('#session-spotlight'),
      end: opt<HTMLButtonElement>('#session-end'),
      prompt: must('#follow-prompt'),
      promptText: must('#follow-text'),
      accept: must<HTMLButtonElement>('#follow-accept'),
      decline: must<HTMLButtonElement>('#follow-decline'),
      followStatus: must('#follow-status'),
      error: must('#session-error'),
    },
    {
      socket,
      tracker,
      userId,
      username: data.username ?? '',
      describe,
      openDocument: (place: Place) => {
        if (!place.document) return
        window.location.assign(`/p/${encodeURIComponent(project)}/d/${encodeURIComponent(place.document)}`)
      },
    },
  )
  return socket
}

