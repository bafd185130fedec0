/**
 * The project room: reads what the page knows from data attributes on #room, opens one
 * live document per pane (script and storyboard) and wires the editor, preview, scene
 * list, storyboard, presence avatars and the connection indicator.
 */
import './style.css'
import * as Y from 'yjs'
import type { EditorView } from '@codemirror/view'
import { Storyboard } from './board'
import { LiveDocument, type UserInfo } from './connection'
import { createEditor, jumpTo } from './editor'
import { renderPresence } from './presence'
import { bindPreview } from './preview'

interface RoomApi {
  docs: Record<string, LiveDocument>
  editor: EditorView | null
  board: Storyboard | null
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

function start(root: HTMLElement): void {
  const data = root.dataset
  const writable = data.canWrite === 'true'
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
  const common = {
    wsUrl: data.wsUrl ?? '',
    project: data.project ?? '',
    user,
    loginUrl: data.loginUrl ?? '/accounts/login/',
    onFatal: showFatal,
  }
  const docs: Record<string, LiveDocument> = {}
  const api: RoomApi = { docs, editor: null, board: null, Y }
  window.troupe = api

  if (data.script) {
    const live = new LiveDocument({ ...common, document: data.script })
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
    const live = new LiveDocument({ ...common, document: data.board })
    docs.board = live
    api.board = new Storyboard(live.doc.getArray('panels'), live.provider.awareness, writable, {
      list: must<HTMLOListElement>('#panels'),
      total: must('#board-total'),
      count: must('#board-count'),
      addButton: document.querySelector<HTMLButtonElement>('#add-panel'),
      live: must('#board-live'),
    })
  }

  // Presence avatars across every open document.
  const presence = must<HTMLElement>('#presence')
  const sources = Object.entries(docs).map(([key, live]) => ({
    label: key === 'script' ? 'the script' : 'the storyboard',
    awareness: live.provider.awareness,
  }))
  let presenceQueued = false
  const updatePresence = (): void => {
    if (presenceQueued) return
    presenceQueued = true
    queueMicrotask(() => {
      presenceQueued = false
      renderPresence(presence, sources)
    })
  }
  for (const s of sources) s.awareness.on('change', updatePresence)
  updatePresence()

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
    }
  }
  for (const live of Object.values(docs)) {
    live.onChange(updateIndicator)
    live.acks.onChange(updateIndicator)
  }
  updateIndicator()

  // Closing the tab with unsynced changes: let the browser ask first.
  window.addEventListener('beforeunload', (ev) => {
    if (Object.values(docs).some((d) => d.acks.count > 0)) ev.preventDefault()
  })
}

const root = document.getElementById('room')
if (root) start(root)
