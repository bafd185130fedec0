/**
 * A small Fountain parser for the live preview and the scene list.
 *
 * It follows the rules of the server's parser (crdt/fountain.py) closely enough for a
 * preview: boneyard is dropped, notes become note elements (or inline notes), scene
 * headings / transitions / character cues must start a paragraph, a line of two or more
 * spaces keeps a block going. Offsets are JS string indices (UTF-16 code units), the unit
 * Y.Text and CodeMirror use, so a scene can be jumped to in the editor.
 *
 * Nothing here produces HTML: the preview builds DOM nodes with textContent.
 */

export type ElementType =
  | 'scene_heading'
  | 'action'
  | 'character'
  | 'parenthetical'
  | 'dialogue'
  | 'transition'
  | 'centered'
  | 'lyrics'
  | 'note'
  | 'section'
  | 'synopsis'
  | 'page_break'

export interface Element {
  type: ElementType
  text: string
  start: number
  end: number
  sceneNumber?: string
  extension?: string
  dual?: boolean
  depth?: number
}

export interface Scene {
  index: number
  heading: string
  sceneNumber?: string
  start: number
}

export interface Script {
  titlePage: Array<[string, string]>
  elements: Element[]
  scenes: Scene[]
}

const HEADING_RE = /^(?:INT\.?\/EXT|EXT\.?\/INT|I\.?\/E|E\.?\/I|INT|EXT|EST)[.\s]/i
const SCENE_NUMBER_RE = /\s*#([\w.-]+)#$/
const PAGE_BREAK_RE = /^={3,}$/
const TITLE_KEY_RE = /^([^\W\d_][\w '-]*?)[ \t]*:(.*)$/u
const BONE = '\u0001'

interface Line {
  text: string
  start: number
  end: number
}

const isSpacer = (line: string): boolean => /^ {2,}$/.test(line.replace(/\t/g, ''))
const isBlank = (line: string): boolean => line.trim() === '' && !isSpacer(line)
const isCaps = (s: string): boolean => s === s.toUpperCase() && /\p{L}/u.test(s)

/** Replace boneyard with a filler of the same length (newlines kept), so offsets hold. */
function blankBoneyard(text: string): string {
  if (!text.includes('/*')) return text
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, BONE))
}

export function characterParts(raw: string): { name: string; extension?: string; dual: boolean } {
  let s = raw.startsWith('@') ? raw.slice(1) : raw
  const dual = s.endsWith('^')
  if (dual) s = s.slice(0, -1)
  s = s.trim()
  const m = /^(.*?)\s*((?:\([^()]*\)\s*)+)$/.exec(s)
  if (m && m[1]) return { name: m[1], extension: m[2].trim(), dual }
  return { name: s, dual }
}

function isHeading(s: string): boolean {
  if (s.startsWith('.')) return s.length > 1 && /[\p{L}\p{N}]/u.test(s[1])
  return HEADING_RE.test(s)
}

type StartKind = ElementType | null

/** The kind of a stripped line found anywhere outside dialogue (null: decided by context). */
function inlineKind(s: string): StartKind {
  if (!s) return null
  const c = s[0]
  if (c === '=') return PAGE_BREAK_RE.test(s) ? 'page_break' : 'synopsis'
  if (c === '#') return 'section'
  if (c === '~') return 'lyrics'
  if (c === '>' && s.length >= 2 && s.endsWith('<')) return 'centered'
  if (s.startsWith('[[') && s.endsWith(']]') && !s.slice(2, -2).includes(']]')) return 'note'
  return null
}

/** The kind of a stripped line that starts a paragraph. */
export function startKind(s: string, nextBlank: boolean): ElementType {
  const inline = inlineKind(s)
  if (inline) return inline
  if (s.startsWith('!')) return 'action'
  if (isHeading(s)) return 'scene_heading'
  if (s.startsWith('>')) return s.slice(1).trim() ? 'transition' : 'action'
  if (s.startsWith('@')) return characterParts(s).name ? 'character' : 'action'
  if (nextBlank) return isCaps(s) && s.endsWith('TO:') ? 'transition' : 'action'
  const { name } = characterParts(s)
  return isCaps(name) && !name.startsWith('(') ? 'character' : 'action'
}

function splitLines(text: string): Line[] {
  const lines: Line[] = []
  let pos = 0
  const re = /\r\n|\r|\n/g
  let m: RegExpExecArray | null
  while ((m = re.exec(text)) !== null) {
    lines.push({ text: text.slice(pos, m.index), start: pos, end: m.index })
    pos = m.index + m[0].length
  }
  lines.push({ text: text.slice(pos), start: pos, end: text.length })
  return lines
}

function stripBone(s: string): string {
  return s.includes(BONE) ? s.split(BONE).join('') : s
}

/** Parse Fountain text into a title page, elements and scenes. */
export function parse(source: string): Script {
  const text = blankBoneyard(source)
  const lines = splitLines(text).map((l) => ({ ...l, text: stripBone(l.text) }))
  const script: Script = { titlePage: [], elements: [], scenes: [] }
  let i = 0

  // Title page: "Key: value" lines at the very top, up to the first blank line.
  if (lines.length > 0 && TITLE_KEY_RE.test(lines[0].text.trim()) && !isHeading(lines[0].text)) {
    let key = ''
    let value: string[] = []
    const flush = (): void => {
      if (key) script.titlePage.push([key, value.join('\n').trim()])
    }
    for (; i < lines.length && !isBlank(lines[i].text); i++) {
      const raw = lines[i].text
      const km = /^\s/.test(raw) ? null : TITLE_KEY_RE.exec(raw.trim())
      if (km) {
        flush()
        key = km[1]
        value = km[2].trim() ? [km[2].trim()] : []
      } else {
        value.push(raw.trim())
      }
    }
    flush()
  }

  let prevBlank = true
  let inDialogue = false
  let dual = false
  let current: Element | null = null
  const push = (el: Element): Element => {
    script.elements.push(el)
    return el
  }
  const extend = (el: Element, line: Line, content: string): void => {
    el.text += '\n' + content
    el.end = line.end
  }

  for (; i < lines.length; i++) {
    const line = lines[i]
    const raw = line.text
    if (isBlank(raw)) {
      prevBlank = true
      inDialogue = false
      current = null
      continue
    }
    const s = raw.trim()
    const spacer = isSpacer(raw)
    const nextBlank = i + 1 >= lines.length || isBlank(lines[i + 1].text)

    if (inDialogue) {
      prevBlank = false
      if (/^\(.*\)$/.test(s)) {
        current = push({ type: 'parenthetical', text: s, start: line.start, end: line.end, dual })
      } else if (s.startsWith('~')) {
        current = push({ type: 'lyrics', text: s.slice(1).trim(), start: line.start, end: line.end })
      } else if (current?.type === 'dialogue') {
        extend(current, line, spacer ? '' : s)
      } else {
        current = push({ type: 'dialogue', text: s, start: line.start, end: line.end, dual })
      }
      continue
    }

    let kind: ElementType = prevBlank ? startKind(s, nextBlank) : (inlineKind(s) ?? 'action')
    if (spacer) kind = 'action'
    if (kind === 'action' && current?.type === 'action' && !prevBlank) {
      extend(current, line, spacer ? '' : raw.replace(/^!/, ''))
      continue
    }
    prevBlank = false
    switch (kind) {
      case 'scene_heading': {
        let heading = s.startsWith('.') ? s.slice(1).trim() : s
        const nm = SCENE_NUMBER_RE.exec(heading)
        let sceneNumber: string | undefined
        if (nm) {
          sceneNumber = nm[1]
          heading = heading.slice(0, nm.index).trim()
        }
        current = push({ type: kind, text: heading, start: line.start, end: line.end, sceneNumber })
        script.scenes.push({ index: script.scenes.length, heading, sceneNumber, start: line.start })
        break
      }
      case 'character': {
        const parts = characterParts(s)
        dual = parts.dual
        current = push({
          type: kind,
          text: parts.name,
          extension: parts.extension,
          dual: parts.dual,
          start: line.start,
          end: line.end,
        })
        inDialogue = true
        break
      }
      case 'transition':
        current = push({
          type: kind,
          text: s.startsWith('>') ? s.slice(1).trim() : s,
          start: line.start,
          end: line.end,
        })
        break
      case 'centered':
        current = push({ type: kind, text: s.slice(1, -1).trim(), start: line.start, end: line.end })
        break
      case 'section': {
        const depth = /^#+/.exec(s)?.[0].length ?? 1
        current = push({
          type: kind,
          text: s.slice(depth).trim(),
          depth,
          start: line.start,
          end: line.end,
        })
        break
      }
      case 'synopsis':
        current = push({ type: kind, text: s.slice(1).trim(), start: line.start, end: line.end })
        break
      case 'lyrics':
        current = push({ type: kind, text: s.slice(1).trim(), start: line.start, end: line.end })
        break
      case 'note':
        current = push({ type: kind, text: s.slice(2, -2).trim(), start: line.start, end: line.end })
        break
      case 'page_break':
        current = push({ type: kind, text: '', start: line.start, end: line.end })
        break
      default:
        current = push({
          type: 'action',
          text: raw.replace(/^(\s*)!/, '$1'),
          start: line.start,
          end: line.end,
        })
    }
  }
  return script
}

let lastText: string | null = null
let lastScript: Script | null = null

/** `parse`, remembering the last result: the editor and the preview parse the same text. */
export function parseCached(source: string): Script {
  if (source !== lastText || lastScript === null) {
    lastScript = parse(source)
    lastText = source
  }
  return lastScript
}

export type InlinePiece = { kind: 'text' | 'note' | 'bold' | 'italic' | 'underline'; text: string }

/**
 * Split element text into plain text, inline notes ``[[...]]`` and simple emphasis
 * (``**bold**``, ``*italic*``, ``_underline_``). No nesting: enough for a preview.
 */
export function inlinePieces(text: string): InlinePiece[] {
  const out: InlinePiece[] = []
  const re = /\[\[([\s\S]*?)\]\]|\*\*(?=\S)([^*\n]+?)\*\*|\*(?=\S)([^*\n]+?)\*|_(?=\S)([^_\n]+?)_/g
  let pos = 0
  let m: RegExpExecArray | null
  while ((m = re.exec(text)) !== null) {
    if (m.index > pos) out.push({ kind: 'text', text: text.slice(pos, m.index) })
    if (m[1] !== undefined) out.push({ kind: 'note', text: m[1] })
    else if (m[2] !== undefined) out.push({ kind: 'bold', text: m[2] })
    else if (m[3] !== undefined) out.push({ kind: 'italic', text: m[3] })
    else out.push({ kind: 'underline', text: m[4] ?? '' })
    pos = m.index + m[0].length
  }
  if (pos < text.length) out.push({ kind: 'text', text: text.slice(pos) })
  return out
}
