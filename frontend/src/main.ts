/**
 * The project room: reads what the page knows from data attributes on #room, opens one
 * live document per pane (script and storyboard) and wires the editor, preview, scene
 * list, storyboard, presence avatars and the connection indicator.
 */
import './style.css'
import * as Y from 'yjs'
import type { EditorView } from '@codemirror/view'
import { apiRequest, setCsrfToken, type RecordOut } from './api'
import { Storyboard, type PanelImages } from './board'
import { CallsPanel } from './calls'
import { LiveDocument, type UserInfo } from './connection'
import { createEditor, jumpTo } from './editor'
import { LocationTracker, type Place } from './location'
import { renderPresence } from './presence'
import { bindPreview } from './preview'
import { RoomSocket, type Anchor, type PresentEntry, type RoomSnapshot } from './room-socket'
import { SessionBar } from './session'
import { bindSnapshotDialog } from './snapshot'

interface RoomApi {
  docs: Record<string, LiveDocument>
  editor: EditorView | null
  board: Storyboard | null
  room: RoomSocket | null
  tracker: LocationTracker | null
  Y: typeof Y
}

declare global {
  interface Window {
    troupe?: RoomApi
  }
}

function must<T extends HTMLElement>(selector: string): T {
  const found = document.querySelector<T>(selector)
  if (!found) throw new Error(`missing ${selector}`)
  return found
}

const opt = <T extends HTMLElement>(selector: string): T | null => document.querySelector<T>(selector)

function start(root: HTMLElement): void {
  const data = root.dataset
  const writable = data.canWrite === 'true'
  const project = data.project ?? ''
  setCsrfToken(data.csrf ?? '')
  const user: UserInfo = {
    id: Number(data.userId),
    name: data.userName ?? '',
    color: data.userColor ?? '#6b7280',
  }
  const alertBox = must<HTMLElement>('#room-alert')
  const showFatal = (message: string): void => {
    alertBox.textContent = message
    alertBox.hidden = false
  }
  let documentList: Array<{ slug: string; kind: string; title: string }> = []
  try {
    documentList = JSON.parse(data.documents ?? '[]') as typeof documentList
  } catch {
    documentList = []
  }
  const common = {
    wsUrl: data.wsUrl ?? '',
    project: data.project ?? '',
    user,
    loginUrl: data.loginUrl ?? '/accounts/login/',
    onFatal: showFatal,
    invisible: data.invisible === 'true',
  }
  const docs: Record<string, LiveDocument> = {}
  const api: RoomApi = { docs, editor: null, board: null, room: null, tracker: null, Y }
  window.troupe = api

  if (data.script) {
    const live = new LiveDocument({ ...common, document: data.script, identity: data.scriptIdentity })
    docs.script = live
    const ytext = live.doc.getText('content')
    const editor = createEditor(must('#editor'), ytext, live.provider.awareness, {
      readOnly: !writable,
      label: `Script: ${data.scriptTitle ?? data.script} (Fountain)`,
    })
    api.editor = editor
    bindPreview(ytext, {
      preview: must('#preview'),
      scenes: must<HTMLOListElement>('#scene-list'),
      onJump: (offset) => jumpTo(editor, offset),
    })
  }
  if (data.board) {
    const live = new LiveDocument({
      ...common,
      document: data.board,
      identity: data.boardIdentity,
      outdated: "This page is out of date with the storyboard's format: reload the page to keep working.",
    })
    docs.board = live
    const images: PanelImages = {
      maxBytes: Number(data.maxUpload) || 50 * 1024 * 1024,
      upload: async (file) => {
        const form = new FormData()
        form.append('file', file, file.name)
        const blob = await apiRequest<{ sha256: string }>('POST', '/api/blobs', form)
        const record = await apiRequest<RecordOut>('POST', '/api/records', {
          kind: 'image',
          title: `Storyboard panel image: ${file.name}`.slice(0, 200),
          file_sha256: blob.sha256,
          project,
        })
        return record.id
      },
    }
    api.board = new Storyboard(
      live.doc.getMap('board'),
      live.provider.awareness,
      writable,
      {
        list: must<HTMLOListElement>('#panels'),
        total: must('#board-total'),
        count: must('#board-count'),
        addButton: document.querySelector<HTMLButtonElement>('#add-panel'),
        live: must('#board-live'),
      },
      writable ? images : null,
    )
  }

  const snapshotButton = opt<HTMLButtonElement>('#snapshot-button')
  const snapshotDialog = opt<HTMLDialogElement>('#snapshot-dialog')
  if (snapshotButton && snapshotDialog) {
    bindSnapshotDialog(
      {
        button: snapshotButton,
        dialog: snapshotDialog,
        form: must<HTMLFormElement>('#snapshot-form'),
        title: must<HTMLInputElement>('#snapshot-title'),
        error: must('#snapshot-error'),
        result: must<HTMLUListElement>('#snapshot-result'),
        close: must<HTMLButtonElement>('#snapshot-close'),
        create: must<HTMLButtonElement>('#snapshot-create'),
      },
      project,
      Object.fromEntries(documentList.map((d) => [d.slug, d.title])),
    )
  }

  // Connection indicator: synced / saving (n unsynced) / offline (n unsynced).
  const indicator = must<HTMLElement>('#connection')
  const indicatorText = must<HTMLElement>('#connection-text')
  let interactiveMarked = false
  const updateIndicator = (): void => {
    const all = Object.values(docs)
    const pending = all.reduce((n, d) => n + d.acks.count, 0)
    const changes = `${pending} unsynced change${pending === 1 ? '' : 's'}`
    let state: string
    let text: string
    if (all.some((d) => d.state === 'stopped')) {
      state = 'stopped'
      text = pending ? `Disconnected · ${changes}` : 'Disconnected'
    } else if (all.some((d) => d.state === 'offline')) {
      state = 'offline'
      text = pending ? `Offline · ${changes}` : 'Offline'
    } else if (all.some((d) => !d.synced)) {
      state = 'connecting'
      text = pending ? `Connecting · ${changes}` : 'Connecting…'
    } else if (pending > 0) {
      state = 'saving'
      text = `Saving · ${changes}`
    } else {
      state = 'synced'
      text = 'Synced'
    }
    if (indicator.dataset.state !== state) indicator.dataset.state = state
    indicator.dataset.pending = String(pending)
    if (indicatorText.textContent !== text) indicatorText.textContent = text
    if (!interactiveMarked && all.every((d) => d.synced)) {
      interactiveMarked = true
      performance.mark('troupe-interactive')
      root.dataset.ready = 'true'
      startRoom()
    }
  }
  for (const live of Object.values(docs)) {
    live.onChange(updateIndicator)
    live.acks.onChange(updateIndicator)
  }

  // The room socket starts once the documents are live (or after a short wait), so its
  // connect never competes with theirs for the first render.
  let roomStarted = false
  const startRoom = (): void => {
    if (roomStarted) return
    roomStarted = true
    api.room = connectRoom(root, documentList, showFatal, api)
  }
  setTimeout(startRoom, ROOM_SOCKET_FALLBACK_MS)
  updateIndicator()

  // Closing the tab with unsynced changes: let the browser ask first.
  window.addEventListener('beforeunload', (ev) => {
    if (Object.values(docs).some((d) => d.acks.count > 0)) ev.preventDefault()
  })
}

const ROOM_SOCKET_FALLBACK_MS = 1500

/** The room socket and what lives on it: presence, invisible mode, calls, the session bar. */
function connectRoom(
  root: HTMLElement,
  documentList: Array<{ slug: string; kind: string; title: string }>,
  showFatal: (message: string) => void,
  api: RoomApi,
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

const root = document.getElementById('room')
if (root) start(root)
