/**
 * The storyboard: the `panels` Y.Array of Y.Maps shown as cards.
 *
 * Panel fields: id (string), action / dialogue / notes (Y.Text, or strings from other
 * clients), duration_ms (number), shot_size (EWS/WS/MS/MCU/CU/ECU or ""), image (the id of
 * an image record, `trp:rec:1:<sha256>`, as workspace/exports.py reads it; shown from the
 * record's content URL, anything else is ignored). Yjs has no move:
 * a reorder deletes the panel and inserts a deep copy in one transaction. Two people moving
 * the same panel at once would leave two copies; writers remove later duplicates of an id.
 */
import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { TextFieldBinding } from './textarea-binding'
import { safeColor } from './presence'

export const SHOT_SIZES = ['EWS', 'WS', 'MS', 'MCU', 'CU', 'ECU'] as const
const SHOT_NAMES: Record<string, string> = {
  EWS: 'Extreme wide shot',
  WS: 'Wide shot',
  MS: 'Medium shot',
  MCU: 'Medium close-up',
  CU: 'Close-up',
  ECU: 'Extreme close-up',
}
const TEXT_FIELDS = [
  ['action', 'Action'],
  ['dialogue', 'Dialogue'],
  ['notes', 'Notes'],
] as const

type Panel = Y.Map<unknown>

const RECORD_ID = /^trp:rec:1:[0-9a-f]{64}$/
export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const

/** Uploads an image for a panel and answers the new record's id. */
export interface PanelImages {
  maxBytes: number
  upload: (file: File) => Promise<string>
}

/** Why a file cannot be a panel image, or null when it can. */
export function imageProblem(file: File, maxBytes: number): string | null {
  if (!(IMAGE_TYPES as readonly string[]).includes(file.type)) {
    return `${file.name || 'This file'} is not a PNG, JPEG, GIF or WebP image.`
  }
  if (file.size > maxBytes) {
    const mb = (n: number): string => (n / (1024 * 1024)).toFixed(1)
    return `${file.name || 'This image'} is ${mb(file.size)} MB; the limit is ${mb(maxBytes)} MB.`
  }
  if (file.size === 0) return `${file.name || 'This file'} is empty.`
  return null
}

export function formatDuration(ms: number): string {
  const tenths = Math.round(ms / 100)
  const minutes = Math.floor(tenths / 600)
  const seconds = (tenths % 600) / 10
  return `${minutes}:${seconds.toFixed(1).padStart(4, '0')}`
}

function newId(): string {
  const bytes = new Uint8Array(8)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

function durationOf(panel: Panel): number {
  const value = panel.get('duration_ms')
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  children: Array<Node | string> = [],
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props)
  node.append(...children)
  return node
}

class PanelCard {
  readonly root: HTMLLIElement
  private readonly title: HTMLHeadingElement
  private readonly start: HTMLSpanElement
  private readonly presence: HTMLSpanElement
  private readonly shot: HTMLSelectElement
  private readonly duration: HTMLInputElement
  private readonly frame: HTMLDivElement
  private readonly image: HTMLImageElement
  private readonly imageError: HTMLParagraphElement
  private readonly bindings: TextFieldBinding[] = []
  private readonly upButton: HTMLButtonElement | null = null
  private readonly downButton: HTMLButtonElement | null = null
  private readonly onMap = (): void => this.refreshScalars()

  constructor(
    readonly panel: Panel,
    board: Storyboard,
  ) {
    const writable = board.writable
    this.title = el('h3', { className: 'panel-title' })
    this.start = el('span', { className: 'panel-start muted' })
    this.presence = el('span', { className: 'panel-presence' })
    this.frame = el('div', { className: 'panel-frame' })
    this.frame.setAttribute('aria-hidden', 'true')
    this.image = el('img', { className: 'panel-image', hidden: true, decoding: 'async', loading: 'lazy' })
    this.imageError = el('p', { className: 'panel-image-error', hidden: true })
    this.imageError.setAttribute('role', 'alert')
    this.shot = el('select', { className: 'panel-shot', disabled: !writable }, [
      el('option', { value: '', textContent: '—' }),
      ...SHOT_SIZES.map((s) => el('option', { value: s, textContent: `${s} · ${SHOT_NAMES[s]}` })),
    ])
    this.duration = el('input', {
      className: 'panel-duration',
      type: 'number',
      min: '0',
      step: '0.1',
      inputMode: 'decimal',
      readOnly: !writable,
    })
    const heading = el('div', { className: 'panel-heading' }, [this.title, this.start])
    const head = el('div', { className: 'panel-head' }, [heading, this.presence])
    if (writable) {
      const handle = el('button', {
        type: 'button',
        className: 'panel-handle',
        title: 'Drag to reorder',
        textContent: '⠿',
      })
      handle.setAttribute('aria-label', 'Drag to reorder (or use the move buttons)')
      handle.tabIndex = -1
      this.upButton = el('button', { type: 'button', className: 'panel-up', textContent: '↑' })
      this.downButton = el('button', { type: 'button', className: 'panel-down', textContent: '↓' })
      const remove = el('button', { type: 'button', className: 'panel-delete', textContent: '✕' })
      this.upButton.addEventListener('click', () => board.moveBy(this, -1, 'panel-up'))
      this.downButton.addEventListener('click', () => board.moveBy(this, 1, 'panel-down'))
      remove.addEventListener('click', () => board.remove(this))
      handle.addEventListener('pointerdown', (ev) => board.startDrag(this, ev))
      head.prepend(handle)
      head.append(el('span', { className: 'panel-tools' }, [this.upButton, this.downButton, remove]))
      this.shot.addEventListener('change', () => this.write('shot_size', this.shot.value))
      this.duration.addEventListener('input', () => {
        const seconds = Number(this.duration.value)
        if (this.duration.value !== '' && Number.isFinite(seconds) && seconds >= 0) {
          this.write('duration_ms', Math.round(seconds * 1000))
        }
      })
    }
    const fields: HTMLElement[] = [
      el('label', { className: 'panel-field panel-field-shot' }, [
        el('span', { textContent: 'Shot size' }),
        this.shot,
      ]),
      el('label', { className: 'panel-field panel-field-duration' }, [
        el('span', { textContent: 'Duration (s)' }),
        this.duration,
      ]),
    ]
    for (const [key, label] of TEXT_FIELDS) {
      const area = el('textarea', {
        className: `panel-${key}`,
        rows: 2,
        readOnly: !writable,
      })
      this.bindings.push(new TextFieldBinding(panel, key, area))
      fields.push(
        el('label', { className: `panel-field panel-field-${key}` }, [
          el('span', { textContent: label }),
          area,
        ]),
      )
    }
    const media: HTMLElement[] = [this.image]
    if (writable && board.images) media.push(this.attachControl(board.images))
    media.push(this.imageError)
    this.root = el('li', { className: 'panel' }, [head, this.frame, ...media, ...fields])
    this.root.addEventListener('focusin', () => board.setFocusPanel(this.id))
    this.root.addEventListener('focusout', (ev) => {
      if (!this.root.contains(ev.relatedTarget as Node | null)) board.setFocusPanel(null)
    })
    panel.observe(this.onMap)
    this.refreshScalars()
  }

  private attachControl(images: PanelImages): HTMLElement {
    const input = el('input', { type: 'file', className: 'panel-image-input', accept: IMAGE_TYPES.join(',') })
    const status = el('span', { className: 'panel-image-status muted' })
    status.setAttribute('aria-live', 'polite')
    input.addEventListener('change', () => {
      const file = input.files?.[0]
      input.value = ''
      if (!file) return
      const problem = imageProblem(file, images.maxBytes)
      this.imageError.hidden = problem === null
      this.imageError.textContent = problem ?? ''
      if (problem) return
      input.disabled = true
      status.textContent = 'Uploading…'
      images
        .upload(file)
        .then((rid) => {
          this.write('image', rid)
          status.textContent = 'Image attached.'
        })
        .catch((err: unknown) => {
          status.textContent = ''
          this.imageError.textContent = `The image was not attached: ${err instanceof Error ? err.message : String(err)}`
          this.imageError.hidden = false
        })
        .finally(() => {
          input.disabled = false
        })
    })
    return el('label', { className: 'panel-attach' }, [el('span', { textContent: 'Attach image' }), input, status])
  }

  get id(): string {
    const id = this.panel.get('id')
    return typeof id === 'string' ? id : ''
  }

  private write(key: string, value: unknown): void {
    this.panel.doc?.transact(() => this.panel.set(key, value))
  }

  private refreshScalars(): void {
    this.root.dataset.panelId = this.id
    const shot = this.panel.get('shot_size')
    const shotValue = typeof shot === 'string' && SHOT_NAMES[shot] ? shot : ''
    if (this.shot.value !== shotValue) this.shot.value = shotValue
    this.frame.textContent = shotValue || 'Panel'
    const image = this.panel.get('image')
    const rid = typeof image === 'string' && RECORD_ID.test(image) ? image : ''
    const src = rid ? `/api/records/${rid}/content` : ''
    if (this.image.getAttribute('src') !== (src || null)) {
      if (src) this.image.src = src
      else this.image.removeAttribute('src')
    }
    this.image.hidden = !src
    this.root.dataset.image = rid
    this.frame.hidden = Boolean(src)
    const ms = durationOf(this.panel)
    const current = Math.round(Number(this.duration.value || '0') * 1000)
    if (this.duration.value === '' ? ms !== 0 : current !== ms) {
      this.duration.value = ms ? String(ms / 1000) : ''
    }
  }

  setPosition(index: number, total: number, startsAt: number): void {
    const label = `Panel ${index + 1}`
    this.image.alt = `Image of panel ${index + 1}`
    if (this.title.textContent !== label) this.title.textContent = label
    this.start.textContent = `at ${formatDuration(startsAt)}`
    this.root.setAttribute('aria-label', label)
    if (this.upButton && this.downButton) {
      this.upButton.disabled = index === 0
      this.downButton.disabled = index === total - 1
      this.upButton.setAttribute('aria-label', `Move panel ${index + 1} up`)
      this.downButton.setAttribute('aria-label', `Move panel ${index + 1} down`)
      this.root.querySelector('.panel-delete')?.setAttribute('aria-label', `Delete panel ${index + 1}`)
    }
  }

  setPresence(users: Array<{ name: string; color: string }>): void {
    this.presence.replaceChildren(
      ...users.map((u) => {
        const dot = el('span', { className: 'panel-presence-dot', title: `${u.name} is here` })
        dot.style.backgroundColor = safeColor(u.color)
        dot.textContent = u.name.trim().charAt(0).toUpperCase() || '?'
        return dot
      }),
    )
    this.root.style.setProperty('--presence', users.length ? safeColor(users[0].color) : 'transparent')
  }

  destroy(): void {
    this.panel.unobserve(this.onMap)
    for (const b of this.bindings) b.destroy()
    this.root.remove()
  }
}

export interface BoardTargets {
  list: HTMLOListElement
  total: HTMLElement
  count: HTMLElement
  addButton: HTMLButtonElement | null
  live: HTMLElement
}

export class Storyboard {
  private readonly cards = new Map<Panel, PanelCard>()
  private order: PanelCard[] = []
  private scheduled = false
  private refocus: { id: string; selector: string } | null = null
  private drag: { card: PanelCard; target: number; pointerId: number } | null = null

  constructor(
    readonly panels: Y.Array<unknown>,
    readonly awareness: Awareness,
    readonly writable: boolean,
    private readonly targets: BoardTargets,
    readonly images: PanelImages | null = null,
  ) {
    panels.observeDeep(() => this.schedule())
    awareness.on('change', () => this.renderPresence())
    targets.addButton?.addEventListener('click', () => this.add())
    this.render()
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    const run = (): void => {
      this.scheduled = false
      this.render()
    }
    if (document.hidden) setTimeout(run, 100)
    else requestAnimationFrame(run)
  }

  private render(): void {
    const maps: Panel[] = []
    for (const item of this.panels.toArray()) if (item instanceof Y.Map) maps.push(item)
    if (this.writable && this.removeDuplicates(maps)) return // the deletion re-renders
    const seen = new Set<Panel>()
    const list = this.targets.list
    let startsAt = 0
    let total = 0
    this.order = []
    maps.forEach((panel, index) => {
      seen.add(panel)
      let card = this.cards.get(panel)
      if (!card) {
        card = new PanelCard(panel, this)
        this.cards.set(panel, card)
      }
      card.setPosition(index, maps.length, startsAt)
      startsAt += durationOf(panel)
      total += durationOf(panel)
      this.order.push(card)
      const at = list.children[index]
      if (at !== card.root) list.insertBefore(card.root, at ?? null)
    })
    for (const [panel, card] of this.cards) {
      if (!seen.has(panel)) {
        card.destroy()
        this.cards.delete(panel)
      }
    }
    this.targets.total.textContent = formatDuration(total)
    this.targets.total.dataset.ms = String(total)
    this.targets.count.textContent = `${maps.length} panel${maps.length === 1 ? '' : 's'}`
    list.dataset.count = String(maps.length)
    if (this.refocus) {
      const { id, selector } = this.refocus
      this.refocus = null
      const card = this.order.find((c) => c.id === id)
      // A panel moved to either end has one move button disabled: focus the other.
      const other = selector === '.panel-up' ? '.panel-down' : selector === '.panel-down' ? '.panel-up' : ''
      const usable = [selector, other]
        .filter(Boolean)
        .map((s) => card?.root.querySelector<HTMLButtonElement>(s))
        .find((b) => b && !b.disabled)
      if (usable) usable.focus()
      else card?.root.querySelector<HTMLElement>('textarea')?.focus()
    }
    this.renderPresence()
  }

  /** Concurrent moves of one panel leave copies: keep the first of each id. */
  private removeDuplicates(maps: Panel[]): boolean {
    const ids = new Set<string>()
    const doomed: Panel[] = []
    for (const panel of maps) {
      const id = panel.get('id')
      if (typeof id !== 'string' || !id) continue
      if (ids.has(id)) doomed.push(panel)
      ids.add(id)
    }
    if (doomed.length === 0) return false
    this.panels.doc?.transact(() => {
      for (const panel of doomed) {
        const index = this.panels.toArray().indexOf(panel)
        if (index >= 0) this.panels.delete(index, 1)
      }
    })
    return true
  }

  private renderPresence(): void {
    const byPanel = new Map<string, Array<{ name: string; color: string }>>()
    this.awareness.getStates().forEach((state, clientId) => {
      if (clientId === this.awareness.clientID) return
      const panel: unknown = state.panel
      const user: unknown = state.user
      if (typeof panel !== 'string' || !user || typeof user !== 'object') return
      const { name, color } = user as { name?: unknown; color?: unknown }
      const list = byPanel.get(panel) ?? []
      list.push({ name: String(name ?? '?'), color: String(color ?? '') })
      byPanel.set(panel, list)
    })
    for (const card of this.order) card.setPresence(byPanel.get(card.id) ?? [])
  }

  setFocusPanel(id: string | null): void {
    const current: unknown = this.awareness.getLocalState()?.panel
    if ((current ?? null) !== id) this.awareness.setLocalStateField('panel', id)
  }

  private indexOf(card: PanelCard): number {
    return this.panels.toArray().indexOf(card.panel)
  }

  add(): void {
    const id = newId()
    const panel = new Y.Map<unknown>()
    panel.set('id', id)
    panel.set('shot_size', '')
    panel.set('duration_ms', 2000)
    for (const [key] of TEXT_FIELDS) panel.set(key, new Y.Text())
    this.refocus = { id, selector: 'textarea.panel-action' }
    this.panels.doc?.transact(() => this.panels.push([panel]))
    this.announce(`Panel ${this.panels.length} added.`)
  }

  remove(card: PanelCard): void {
    const index = this.indexOf(card)
    if (index < 0) return
    if (!window.confirm(`Delete panel ${index + 1}?`)) return
    this.panels.doc?.transact(() => this.panels.delete(index, 1))
    this.announce(`Panel ${index + 1} deleted.`)
  }

  moveBy(card: PanelCard, delta: number, focusClass: string): void {
    const from = this.indexOf(card)
    if (from < 0) return
    const to = from + delta
    this.refocus = { id: card.id, selector: `.${focusClass}` }
    this.move(from, to)
  }

  /** Move the panel at `from` so that it ends up at index `to`. */
  move(from: number, to: number): void {
    const length = this.panels.length
    if (from === to || from < 0 || from >= length || to < 0 || to >= length) return
    const doc = this.panels.doc
    if (!doc) return
    doc.transact(() => {
      const item = this.panels.get(from)
      if (!(item instanceof Y.Map)) return
      const copy = item.clone()
      this.panels.delete(from, 1)
      this.panels.insert(to, [copy])
    })
    this.announce(`Panel ${from + 1} moved to position ${to + 1}.`)
  }

  startDrag(card: PanelCard, ev: PointerEvent): void {
    if (ev.button !== 0) return
    ev.preventDefault()
    const handle = ev.currentTarget as HTMLElement
    handle.setPointerCapture(ev.pointerId)
    const from = this.indexOf(card)
    this.drag = { card, target: from, pointerId: ev.pointerId }
    card.root.classList.add('dragging')
    const onMove = (e: PointerEvent): void => {
      if (!this.drag || e.pointerId !== this.drag.pointerId) return
      this.drag.target = this.dropIndex(e.clientX, e.clientY, this.drag.target)
      this.order.forEach((c, i) => c.root.classList.toggle('drop-target', i === this.drag?.target))
    }
    const onEnd = (e: PointerEvent): void => {
      if (!this.drag || e.pointerId !== this.drag.pointerId) return
      handle.removeEventListener('pointermove', onMove)
      handle.removeEventListener('pointerup', onEnd)
      handle.removeEventListener('pointercancel', onEnd)
      const { target } = this.drag
      this.drag = null
      for (const c of this.order) c.root.classList.remove('drop-target', 'dragging')
      if (e.type === 'pointerup') {
        const start = this.indexOf(card)
        this.refocus = { id: card.id, selector: '.panel-up' }
        this.move(start, target)
      }
    }
    handle.addEventListener('pointermove', onMove)
    handle.addEventListener('pointerup', onEnd)
    handle.addEventListener('pointercancel', onEnd)
  }

  /** The index of the card under the pointer (the nearest one when between cards). */
  private dropIndex(x: number, y: number, fallback: number): number {
    let best = fallback
    let bestDistance = Infinity
    this.order.forEach((card) => {
      const r = card.root.getBoundingClientRect()
      const dx = x < r.left ? r.left - x : x > r.right ? x - r.right : 0
      const dy = y < r.top ? r.top - y : y > r.bottom ? y - r.bottom : 0
      const d = dx * dx + dy * dy
      if (d < bestDistance) {
        bestDistance = d
        best = this.panels.toArray().indexOf(card.panel)
      }
    })
    return best
  }

  private announce(message: string): void {
    this.targets.live.textContent = message
  }
}
