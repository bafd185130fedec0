/**
 * The storyboard: the `board` Y.Map (panel id -> panel Y.Map) shown as cards, in the order
 * of each panel's fractional `order` key, then by id (crdt/storyboard.py, issue #24).
 *
 * Panel fields: order (an order key, frontend/src/order-keys.ts), action / dialogue / notes
 * (Y.Text), duration_ms (integer milliseconds, 0 to a day), shot_size (EWS/WS/MS/MCU/CU/ECU
 * or ""), image (absent, "" or the id of an image record, `trp:rec:1:<sha256>`, shown from
 * the record's content URL). The server closes the socket with 4422 on any other write, so
 * every write here is checked against that list first.
 *
 * A move sets the panel's `order` and nothing else: the panel keeps its Y.Map, its card and
 * whoever is typing in it. When the cards are put in their new order, the card holding the
 * keyboard focus is never moved in the DOM (the others move around it), so a typist keeps
 * their focus and caret while someone else reorders the board. Two people moving one panel
 * at once converge on one of the two places (the key is last-writer-wins).
 */
import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { keyBetween, validOrderKey } from './order-keys'
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

/** The longest panel the server accepts: a day (crdt/storyboard.py MAX_DURATION_MS). */
export const MAX_DURATION_MS = 86_400_000
export const DEFAULT_DURATION_MS = 2000
/** The keys that move the focused panel (while focus is anywhere in its card). */
const MOVE_KEYS_HINT = 'Alt+↑ / Alt+↓'

type Panel = Y.Map<unknown>

const RECORD_ID = /^trp:rec:1:[0-9a-f]{64}$/
const PANEL_ID = /^[A-Za-z0-9_-]{1,64}$/
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

/** The duration to write for what was typed in seconds, or null if it cannot be written. */
export function durationFromSeconds(typed: string): number | null {
  if (typed.trim() === '') return null
  const seconds = Number(typed)
  if (!Number.isFinite(seconds) || seconds < 0) return null
  const ms = Math.round(seconds * 1000)
  return Number.isSafeInteger(ms) && ms >= 0 && ms <= MAX_DURATION_MS ? ms : null
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

/** What the panel sorts by (as crdt/storyboard.py: a non-string order sorts as ""). */
function sortKeyOf(panel: Panel): string {
  const order = panel.get('order')
  return typeof order === 'string' ? order : ''
}

/** The panel's order key if it is a valid one, else "" (a key that must be rewritten). */
function keyOf(panel: Panel): string {
  const order = panel.get('order')
  return validOrderKey(order) ? order : ''
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
    readonly id: string,
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
      max: String(MAX_DURATION_MS / 1000),
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
        title: `Drag to reorder (or ${MOVE_KEYS_HINT} while in the panel)`,
        textContent: '⠿',
      })
      handle.setAttribute('aria-label', `Drag to reorder (or use the move buttons, or ${MOVE_KEYS_HINT} while in the panel)`)
      handle.tabIndex = -1
      this.upButton = el('button', {
        type: 'button',
        className: 'panel-up',
        textContent: '↑',
        title: 'Move up (Alt+↑ while in the panel)',
      })
      this.downButton = el('button', {
        type: 'button',
        className: 'panel-down',
        textContent: '↓',
        title: 'Move down (Alt+↓ while in the panel)',
      })
      this.upButton.setAttribute('aria-keyshortcuts', 'Alt+ArrowUp')
      this.downButton.setAttribute('aria-keyshortcuts', 'Alt+ArrowDown')
      const remove = el('button', { type: 'button', className: 'panel-delete', textContent: '✕' })
      this.upButton.addEventListener('click', () => board.moveBy(this, -1, 'panel-up'))
      this.downButton.addEventListener('click', () => board.moveBy(this, 1, 'panel-down'))
      remove.addEventListener('click', () => board.remove(this))
      handle.addEventListener('pointerdown', (ev) => board.startDrag(this, ev))
      head.prepend(handle)
      head.append(el('span', { className: 'panel-tools' }, [this.upButton, this.downButton, remove]))
      this.shot.addEventListener('change', () => {
        const value = this.shot.value
        if (value === '' || (SHOT_SIZES as readonly string[]).includes(value)) this.write('shot_size', value)
      })
      this.duration.addEventListener('input', () => {
        const ms = durationFromSeconds(this.duration.value)
        if (ms !== null && ms !== this.panel.get('duration_ms')) this.write('duration_ms', ms)
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
    this.root.dataset.panelId = id
    if (writable) {
      this.root.setAttribute('aria-keyshortcuts', 'Alt+ArrowUp Alt+ArrowDown')
      this.root.addEventListener('keydown', (ev) => {
        if (!ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return
        if (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown') return
        ev.preventDefault()
        board.moveBy(this, ev.key === 'ArrowUp' ? -1 : 1, null)
      })
    }
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
          if (!RECORD_ID.test(rid)) throw new Error('the server answered no image record id')
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

  /** Sets one scalar field (callers check the value against the schema first). */
  private write(key: 'shot_size' | 'duration_ms' | 'image', value: string | number): void {
    this.panel.doc?.transact(() => this.panel.set(key, value))
  }

  private refreshScalars(): void {
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
      this.upButton.setAttribute('aria-label', `Move panel ${index + 1} up (Alt+Up arrow)`)
      this.downButton.setAttribute('aria-label', `Move panel ${index + 1} down (Alt+Down arrow)`)
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

/**
 * Put `cards` in `list` in this order without moving the card that holds the focus (moving
 * a focused element blurs it and loses its selection): the cards before it are inserted
 * before it, the ones after it after it. Only cards out of place are touched.
 */
function arrange(list: HTMLElement, cards: HTMLElement[]): void {
  const active = document.activeElement
  const anchor = active ? cards.findIndex((c) => c.contains(active)) : -1
  if (anchor < 0) {
    cards.forEach((card, i) => {
      const at = list.children[i]
      if (at !== card) list.insertBefore(card, at ?? null)
    })
    return
  }
  for (let i = anchor - 1; i >= 0; i--) {
    if (cards[i].nextElementSibling !== cards[i + 1]) list.insertBefore(cards[i], cards[i + 1])
  }
  for (let i = anchor + 1; i < cards.length; i++) {
    const previous = cards[i - 1]
    if (previous.nextElementSibling !== cards[i]) list.insertBefore(cards[i], previous.nextElementSibling)
  }
}

export class Storyboard {
  private readonly cards = new Map<string, PanelCard>()
  private order: PanelCard[] = []
  private scheduled = false
  private refocus: { id: string; selector: string } | null = null
  private drag: { card: PanelCard; target: number; pointerId: number } | null = null

  constructor(
    readonly board: Y.Map<unknown>,
    readonly awareness: Awareness,
    readonly writable: boolean,
    private readonly targets: BoardTargets,
    readonly images: PanelImages | null = null,
  ) {
    board.observeDeep(() => this.schedule())
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

  /** The panels in board order: by order key, then by id. */
  private sortedPanels(): Array<[string, Panel]> {
    const found: Array<[string, Panel, string]> = []
    this.board.forEach((value, id) => {
      if (value instanceof Y.Map && PANEL_ID.test(id)) found.push([id, value, sortKeyOf(value)])
    })
    found.sort((x, y) => (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
    return found.map(([id, panel]) => [id, panel])
  }

  private render(): void {
    const panels = this.sortedPanels()
    const list = this.targets.list
    const seen = new Set<string>()
    let startsAt = 0
    this.order = []
    for (const [id, panel] of panels) {
      seen.add(id)
      let card = this.cards.get(id)
      if (card && card.panel !== panel) {
        // The id was deleted and set again: a new panel under an old name.
        card.destroy()
        card = undefined
      }
      if (!card) {
        card = new PanelCard(id, panel, this)
        this.cards.set(id, card)
      }
      this.order.push(card)
    }
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.destroy()
        this.cards.delete(id)
      }
    }
    arrange(
      list,
      this.order.map((c) => c.root),
    )
    this.order.forEach((card, index) => {
      card.setPosition(index, this.order.length, startsAt)
      startsAt += durationOf(card.panel)
    })
    const total = startsAt
    this.targets.total.textContent = formatDuration(total)
    this.targets.total.dataset.ms = String(total)
    this.targets.count.textContent = `${panels.length} panel${panels.length === 1 ? '' : 's'}`
    list.dataset.count = String(panels.length)
    if (this.refocus) {
      const { id, selector } = this.refocus
      this.refocus = null
      const card = this.cards.get(id)
      // A panel moved to either end has one move button disabled: focus the other.
      const other = selector === '.panel-up' ? '.panel-down' : selector === '.panel-down' ? '.panel-up' : ''
      const usable = [selector, other]
        .filter(Boolean)
        .map((s) => card?.root.querySelector<HTMLElement>(s))
        .find((b) => b && !(b instanceof HTMLButtonElement && b.disabled))
      if (usable) {
        if (document.activeElement !== usable) usable.focus()
      } else {
        card?.root.querySelector<HTMLElement>('textarea')?.focus()
      }
    }
    this.renderPresence()
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

  /** The card's index in the board as the document has it now (not as last drawn). */
  private indexOf(card: PanelCard): number {
    return this.sortedPanels().findIndex(([id]) => id === card.id)
  }

  add(): void {
    const doc = this.board.doc
    if (!doc) return
    const id = newId()
    let last: string | null = null
    this.board.forEach((value) => {
      if (value instanceof Y.Map) {
        const key = keyOf(value)
        if (key && (last === null || key > last)) last = key
      }
    })
    const order = keyBetween(last, null)
    this.refocus = { id, selector: 'textarea.panel-action' }
    doc.transact(() => {
      const panel = new Y.Map<unknown>()
      this.board.set(id, panel)
      panel.set('order', order)
      panel.set('duration_ms', DEFAULT_DURATION_MS)
      panel.set('shot_size', '')
      for (const [key] of TEXT_FIELDS) panel.set(key, new Y.Text())
    })
    this.announce(`Panel ${this.sortedPanels().length} added.`)
  }

  remove(card: PanelCard): void {
    const index = this.indexOf(card)
    if (index < 0) return
    if (!window.confirm(`Delete panel ${index + 1}?`)) return
    this.board.doc?.transact(() => this.board.delete(card.id))
    this.announce(`Panel ${index + 1} deleted.`)
  }

  /** Move a panel one place up (-1) or down (+1); `focusClass` names the button to keep focused. */
  moveBy(card: PanelCard, delta: number, focusClass: string | null): void {
    const from = this.indexOf(card)
    if (from < 0) return
    if (focusClass) this.refocus = { id: card.id, selector: `.${focusClass}` }
    this.move(card, from + delta)
  }

  /**
   * Move a panel so that it ends up at index `to`: one transaction that sets its `order` to
   * a key between its new neighbours. Neighbours that share a key with the one before the
   * gap (a rare concurrent collision) or have none are given new keys after it too.
   */
  move(card: PanelCard, to: number): void {
    const doc = this.board.doc
    const panels = this.sortedPanels()
    const from = panels.findIndex(([id]) => id === card.id)
    if (!doc || from < 0 || to < 0 || to >= panels.length || to === from) return
    const others = panels.filter(([id]) => id !== card.id).map(([, panel]) => panel)
    const low = to > 0 ? keyOf(others[to - 1]) : ''
    let next = to
    while (next < others.length && !(keyOf(others[next]) > low)) next++
    const high = next < others.length ? keyOf(others[next]) : null
    const moved = [card.panel, ...others.slice(to, next)]
    const keys: string[] = []
    for (let i = 0; i < moved.length; i++) {
      const before = i > 0 ? keys[i - 1] : low || null
      if (before !== null && !validOrderKey(before)) break // too long: see below
      keys.push(keyBetween(before, high))
    }
    doc.transact(() => {
      if (keys.length === moved.length && keys.every((k) => validOrderKey(k))) {
        moved.forEach((panel, i) => panel.set('order', keys[i]))
        return
      }
      // The gap is 128 digits deep: give every panel a fresh key, in the new order.
      const all = [...others.slice(0, to), card.panel, ...others.slice(to)]
      let key: string | null = null
      for (const panel of all) {
        key = keyBetween(key, null)
        panel.set('order', key)
      }
    })
    this.announce(`Panel ${from + 1} moved to position ${to + 1}.`)
  }

  startDrag(card: PanelCard, ev: PointerEvent): void {
    if (ev.button !== 0) return
    ev.preventDefault()
    const handle = ev.currentTarget as HTMLElement
    handle.setPointerCapture(ev.pointerId)
    const from = this.order.indexOf(card)
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
        this.refocus = { id: card.id, selector: '.panel-up' }
        this.move(card, target)
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
    this.order.forEach((card, index) => {
      const r = card.root.getBoundingClientRect()
      const dx = x < r.left ? r.left - x : x > r.right ? x - r.right : 0
      const dy = y < r.top ? r.top - y : y > r.bottom ? y - r.bottom : 0
      const d = dx * dx + dy * dy
      if (d < bestDistance) {
        bestDistance = d
        best = index
      }
    })
    return best
  }

  private announce(message: string): void {
    this.targets.live.textContent = message
  }
}
