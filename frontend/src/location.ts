/**
 * Where the user is in the room (document plus scene or panel), worked out from what they
 * do, and the moves a followed spotlight makes.
 *
 * Only the user's own actions count as moving (wheel, touch, keys, pointer, focus in the
 * script or the storyboard): a scroll made by following a spotlight is not one, because
 * the server ends a follow on any `presence.set` ("navigated"). Moves are debounced and
 * reported only when the place changes.
 */
import { EditorView } from '@codemirror/view'
import { parseCached } from './fountain'
import type { Anchor } from './room-socket'

export interface Place {
  document: string | null
  anchor: Anchor | null
}

export interface LocationTargets {
  script: { slug: string; view: EditorView; area: HTMLElement } | null
  board: { slug: string; area: HTMLElement; list: HTMLElement } | null
  /** Regions whose clicks and keys are not moves (session bar, calls, dialogs). */
  ignore: (target: Element) => boolean
  onMove: (place: Place) => void
  debounceMs?: number
}

export const samePlace = (a: Place, b: Place): boolean =>
  a.document === b.document && JSON.stringify(a.anchor) === JSON.stringify(b.anchor)

/** The index of the scene holding `offset` in the script text (null before the first). */
export function sceneAt(text: string, offset: number): number | null {
  let found: number | null = null
  for (const scene of parseCached(text).scenes) {
    if (scene.start <= offset) found = scene.index
    else break
  }
  return found
}

export class LocationTracker {
  /** The place last reported to the server (or set there by following). */
  known: Place
  private timer: ReturnType<typeof setTimeout> | null = null
  private intent: { x: number; y: number } | 'focus' | null = null

  constructor(private readonly t: LocationTargets) {
    this.known = { document: t.script?.slug ?? t.board?.slug ?? null, anchor: null }
    const pointer = (ev: MouseEvent | PointerEvent): void => this.moved(ev.target, { x: ev.clientX, y: ev.clientY })
    document.addEventListener('wheel', pointer, { passive: true, capture: true })
    document.addEventListener('pointerdown', pointer, { capture: true })
    document.addEventListener(
      'touchmove',
      (ev) => {
        const touch = ev.touches[0]
        if (touch) this.moved(ev.target, { x: touch.clientX, y: touch.clientY })
      },
      { passive: true, capture: true },
    )
    document.addEventListener('keydown', (ev) => this.moved(ev.target, 'focus'), { capture: true })
    document.addEventListener('focusin', (ev) => this.moved(ev.target, 'focus'))
  }

  /** Forget a pending move (e.g. when a follow is accepted: the server moves us). */
  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.intent = null
  }

  private moved(target: EventTarget | null, intent: { x: number; y: number } | 'focus'): void {
    if (target instanceof Element && this.t.ignore(target)) return
    this.intent = intent
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      const place = this.current()
      this.intent = null
      if (place && !samePlace(place, this.known)) {
        this.known = place
        this.t.onMove(place)
      }
    }, this.t.debounceMs ?? 300)
  }

  /** Where the last action put the user (null: no action pending). */
  current(): Place | null {
    const intent = this.intent
    if (intent === null) return null
    if (intent === 'focus') {
      const active = document.activeElement
      const script = this.t.script
      if (script && active && script.view.dom.contains(active)) {
        const text = script.view.state.doc.toString()
        return { document: script.slug, anchor: scene(sceneAt(text, script.view.state.selection.main.head)) }
      }
      const card = active?.closest<HTMLElement>('li.panel[data-panel-id]')
      if (this.t.board && card?.dataset.panelId) {
        return { document: this.t.board.slug, anchor: { panel: card.dataset.panelId } }
      }
      // Keys that scroll the page (nothing focused): what is in the middle of the view.
      return this.placeAt(window.innerWidth / 2, window.innerHeight / 2)
    }
    return this.placeAt(intent.x, intent.y)
  }

  /** The place under a point of the viewport (document null: outside the documents). */
  placeAt(x: number, y: number): Place {
    const hit = document.elementFromPoint(x, y)
    if (!hit) return { document: null, anchor: null }
    const script = this.t.script
    if (script && script.view.dom.contains(hit)) {
      const pos = script.view.posAtCoords({ x, y }, false)
      return { document: script.slug, anchor: scene(sceneAt(script.view.state.doc.toString(), pos)) }
    }
    if (script && script.area.contains(hit)) {
      const top = script.view.lineBlockAtHeight(script.view.scrollDOM.scrollTop).from
      return { document: script.slug, anchor: scene(sceneAt(script.view.state.doc.toString(), top)) }
    }
    const board = this.t.board
    if (board && board.area.contains(hit)) {
      const card = hit.closest<HTMLElement>('li.panel[data-panel-id]')
      return { document: board.slug, anchor: card?.dataset.panelId ? { panel: card.dataset.panelId } : null }
    }
    return { document: null, anchor: null }
  }

  /**
   * Show a place (a followed spotlight): scroll the editor to the scene or the panel into
   * view. False when the place is not on this page (another document).
   */
  show(place: Place): boolean {
    this.cancel()
    this.known = place
    const script = this.t.script
    const board = this.t.board
    if (script && place.document === script.slug) {
      const anchor = place.anchor
      let pos = 0
      if (anchor && 'scene' in anchor) {
        const found = parseCached(script.view.state.doc.toString()).scenes.find((s) => s.index === anchor.scene)
        pos = found ? found.start : script.view.state.doc.length
      }
      script.area.scrollIntoView({ block: 'start' })
      script.view.dispatch({ effects: EditorView.scrollIntoView(pos, { y: 'start', yMargin: 8 }) })
      return true
    }
    if (board && place.document === board.slug) {
      const anchor = place.anchor
      const card =
        anchor && 'panel' in anchor
          ? [...board.list.querySelectorAll<HTMLElement>('li.panel')].find((c) => c.dataset.panelId === anchor.panel)
          : null
      ;(card ?? board.area).scrollIntoView({ block: 'center' })
      card?.classList.add('panel-spotlit')
      if (card) setTimeout(() => card.classList.remove('panel-spotlit'), 2000)
      return true
    }
    return false
  }
}

const scene = (index: number | null): Anchor | null => (index === null ? null : { scene: index })
