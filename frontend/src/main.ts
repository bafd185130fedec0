/**
 * The project room: reads what the page knows from data attributes on #room, opens one
 * live document per pane (script and storyboard) and wires the editor, preview, scene
 * list, storyboard, presence avatars and the connection indicator.
 *
 * Loading order (README, "The room page's loading"): this entry holds only the script
 * editor's path (Yjs, y-websocket, CodeMirror, the Fountain mode) and starts typing on
 * the script's state the page embeds; the preview, the storyboard, the snapshot dialog
 * and the room socket's parts (presence, calls, sessions) are one dynamic import
 * (room-later.ts), fetched meanwhile.
 */
import './style.css'
import * as Y from 'yjs'
import type { EditorView } from '@codemirror/view'
import { apiRequest, setCsrfToken, type RecordOut } from './api'
import type { Storyboard, PanelImages } from './board'
import { LiveDocument, type UserInfo } from './connection'
import { createEditor, jumpTo } from './editor'
import type { LocationTracker } from './location'
import type { RoomSocket } from './room-socket'

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

/** The script's state embedded by the server (a Yjs v1 update, base64), if it fit. */
function embeddedState(id: string): Uint8Array | undefined {
  const element = document.getElementById(id)
  if (!element?.textContent) return undefined
  try {
    const encoded = JSON.parse(element.textContent) as unknown
    if (typeof encoded !== 'string' || encoded === '') return undefined
    const binary = atob(encoded)
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return bytes
  } catch {
    return undefined // the socket's sync brings everything anyway
  }
}

function start(root: HTMLElement): void {
  performance.mark('troupe-start') // the entry's code has arrived and run to here
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

  // Parts that arrive after the editor: the page is ready (data-ready, the
  // troupe-interactive mark, the room socket) once each is bound and every document synced.
  const parts: Array<Promise<void>> = []
  // Requested now, so it downloads while the editor starts; it runs when it arrives.
  const rest = import('./room-later')
  rest.catch(() => undefined) // each use reports a failure
  const later = (what: Promise<void>): void => {
    parts.push(
      what.catch((error: unknown) => {
        console.error(error)
        showFatal('Part of this page could not be loaded: reload the page.')
      }),
    )
  }

  if (data.script) {
    // Typing starts on the state the server embedded; the socket's sync then merges
    // (the client sends its state vector and gets what it lacks, as after going offline).
    const live = new LiveDocument({
      ...common,
      document: data.script,
      identity: data.scriptIdentity,
      initialState: embeddedState('script-state'),
    })
    docs.script = live
    const ytext = live.doc.getText('content')
    const parent = must('#editor')
    parent.replaceChildren() // the server-rendered text, now the editor's
    const editor = createEditor(parent, ytext, live.provider.awareness, {
      readOnly: !writable,
      label: `Script: ${data.scriptTitle ?? data.script} (Fountain)`,
    })
    api.editor = editor
    performance.mark('troupe-editor')
    later(
      rest.then(({ bindPreview }) => {
        bindPreview(ytext, {
          preview: must('#preview'),
          scenes: must<HTMLOListElement>('#scene-list'),
          onJump: (offset) => jumpTo(editor, offset),
        })
      }),
    )
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
    later(
      rest.then(({ Storyboard }) => {
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
      }),
    )
  }

  const snapshotButton = opt<HTMLButtonElement>('#snapshot-button')
  const snapshotDialog = opt<HTMLDialogElement>('#snapshot-dialog')
  if (snapshotButton && snapshotDialog) {
    later(
      rest.then(({ bindSnapshotDialog }) => {
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
      }),
    )
  }
  let partsBound = false
  void Promise.all(parts).then(() => {
    partsBound = true
    updateIndicator()
  })

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
    if (!interactiveMarked && partsBound && all.every((d) => d.synced)) {
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
    // The room socket's code came with the rest; it runs once the documents are live.
    rest.then(
      ({ connectRoom }) => {
        api.room = connectRoom(root, documentList, showFatal, api)
      },
      (error: unknown) => {
        console.error(error)
        showFatal('Part of this page could not be loaded: reload the page.')
      },
    )
  }
  setTimeout(startRoom, ROOM_SOCKET_FALLBACK_MS)
  updateIndicator()

  // Closing the tab with unsynced changes: let the browser ask first.
  window.addEventListener('beforeunload', (ev) => {
    if (Object.values(docs).some((d) => d.acks.count > 0)) ev.preventDefault()
  })
}

const ROOM_SOCKET_FALLBACK_MS = 1500

const root = document.getElementById('room')
if (root) start(root)
