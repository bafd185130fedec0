/**
 * Fountain highlighting for CodeMirror 6 as decorations: the preview's parser classifies
 * the whole text (a cue needs the next line, a heading the previous one), and each visible
 * line gets a class for its element (scene heading, character cue, dialogue, transition...).
 * Notes `[[...]]` and boneyard `/* ... *\/` are marked inline.
 */
import { StateEffect, type Range } from '@codemirror/state'
import {
  Decoration,
  type DecorationSet,
  type EditorView,
  ViewPlugin,
  type ViewUpdate,
} from '@codemirror/view'
import { parseCached, type Element, type ElementType } from './fountain'

const LINE_CLASS: Record<ElementType, string> = {
  scene_heading: 'f-scene',
  action: 'f-action',
  character: 'f-character',
  parenthetical: 'f-parenthetical',
  dialogue: 'f-dialogue',
  transition: 'f-transition',
  centered: 'f-centered',
  lyrics: 'f-lyrics',
  note: 'f-note',
  section: 'f-section',
  synopsis: 'f-synopsis',
  page_break: 'f-pagebreak',
}
const lineDecorations = Object.fromEntries(
  Object.entries(LINE_CLASS).map(([type, cls]) => [
    type,
    Decoration.line({ attributes: { class: cls } }),
  ]),
) as Record<ElementType, Decoration>
const noteMark = Decoration.mark({ class: 'f-note' })
const boneyardMark = Decoration.mark({ class: 'f-boneyard' })
const SPAN_RE = /\/\*[\s\S]*?\*\/|\[\[[\s\S]*?\]\]/g
/** Above this size a keystroke maps the old decorations and re-parses when typing pauses. */
const SYNC_PARSE_LIMIT = 20_000
const REPARSE_DELAY_MS = 150
const reparse = StateEffect.define<null>()

interface Span {
  from: number
  to: number
  note: boolean
}

/** Index of the first element ending at or after `pos` (elements are in text order). */
function firstEndingAfter(elements: Element[], pos: number): number {
  let lo = 0
  let hi = elements.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (elements[mid].end < pos) lo = mid + 1
    else hi = mid
  }
  return lo
}

class FountainHighlighter {
  decorations: DecorationSet
  private elements: Element[] = []
  private spans: Span[] = []
  private timer: ReturnType<typeof setTimeout> | null = null

  constructor(private readonly view: EditorView) {
    this.analyse(view)
    this.decorations = this.build(view)
  }

  update(update: ViewUpdate): void {
    const requested = update.transactions.some((tr) => tr.effects.some((e) => e.is(reparse)))
    if (update.docChanged && !requested && update.state.doc.length > SYNC_PARSE_LIMIT) {
      // Long script: keep typing instant, re-classify once the burst of changes pauses.
      this.decorations = this.decorations.map(update.changes)
      if (this.timer !== null) clearTimeout(this.timer)
      this.timer = setTimeout(() => {
        this.timer = null
        this.view.dispatch({ effects: reparse.of(null) })
      }, REPARSE_DELAY_MS)
      return
    }
    if (update.docChanged || requested) this.analyse(update.view)
    if (update.docChanged || requested || update.viewportChanged) {
      this.decorations = this.build(update.view)
    }
  }

  destroy(): void {
    if (this.timer !== null) clearTimeout(this.timer)
  }

  private analyse(view: EditorView): void {
    const text = view.state.doc.toString()
    this.elements = parseCached(text).elements
    this.spans = []
    if (text.includes('/*') || text.includes('[[')) {
      for (const m of text.matchAll(SPAN_RE)) {
        const from = m.index ?? 0
        this.spans.push({ from, to: from + m[0].length, note: m[0].startsWith('[[') })
      }
    }
  }

  private build(view: EditorView): DecorationSet {
    const doc = view.state.doc
    const ranges: Array<Range<Decoration>> = []
    let lastLine = -1
    for (const { from, to } of view.visibleRanges) {
      for (let i = firstEndingAfter(this.elements, from); i < this.elements.length; i++) {
        const el = this.elements[i]
        if (el.start > to) break
        let pos = Math.max(el.start, from)
        while (pos <= Math.min(el.end, to)) {
          const line = doc.lineAt(pos)
          if (line.from > lastLine) {
            ranges.push(lineDecorations[el.type].range(line.from))
            lastLine = line.from
          }
          pos = line.to + 1
        }
      }
      for (const span of this.spans) {
        const a = Math.max(span.from, from)
        const b = Math.min(span.to, to)
        if (b > a) ranges.push((span.note ? noteMark : boneyardMark).range(a, b))
      }
    }
    return Decoration.set(ranges, true)
  }
}

export const fountainHighlighting = ViewPlugin.fromClass(FountainHighlighter, {
  decorations: (plugin) => plugin.decorations,
})
