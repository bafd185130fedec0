/**
 * The formatted screenplay preview and the scene list, rendered from the Y.Text.
 * Every piece of user text goes through textContent: nothing is parsed as HTML.
 */
import * as Y from 'yjs'
import { inlinePieces, parseCached, type Element, type Script } from './fountain'

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  if (className) el.className = className
  if (text !== undefined) el.textContent = text
  return el
}

function appendInline(parent: HTMLElement, text: string): void {
  for (const piece of inlinePieces(text)) {
    switch (piece.kind) {
      case 'text':
        parent.append(document.createTextNode(piece.text))
        break
      case 'note':
        parent.append(h('span', 'fp-inline-note', piece.text))
        break
      case 'bold':
        parent.append(h('strong', undefined, piece.text))
        break
      case 'italic':
        parent.append(h('em', undefined, piece.text))
        break
      case 'underline':
        parent.append(h('u', undefined, piece.text))
        break
    }
  }
}

function renderElement(el: Element): HTMLElement {
  let node: HTMLElement
  switch (el.type) {
    case 'scene_heading': {
      node = h('h3', 'fp-scene')
      appendInline(node, el.text)
      if (el.sceneNumber) node.append(h('span', 'fp-scene-number', el.sceneNumber))
      break
    }
    case 'character':
      node = h('p', 'fp-character', el.text + (el.extension ? ` ${el.extension}` : ''))
      break
    case 'section':
      node = h('p', `fp-section fp-depth-${Math.min(el.depth ?? 1, 3)}`, el.text)
      break
    case 'page_break':
      node = h('hr', 'fp-page-break')
      break
    default:
      node = h('p', `fp-${el.type.replace('_', '-')}`)
      appendInline(node, el.text)
  }
  if (el.dual) node.classList.add('fp-dual')
  return node
}

/**
 * A list of DOM nodes kept in step with a list of keys: the common prefix and suffix stay,
 * only the changed middle is rebuilt. Typing in a long script touches one or two nodes,
 * so the browser does not lay out thousands of new elements per keystroke.
 */
class KeyedNodes {
  private keys: string[] = []
  private nodes: Node[] = []

  constructor(private readonly container: Node) {}

  update(keys: string[], make: (index: number) => Node): void {
    const old = this.keys
    let head = 0
    while (head < old.length && head < keys.length && old[head] === keys[head]) head++
    let tail = 0
    while (
      tail < old.length - head &&
      tail < keys.length - head &&
      old[old.length - 1 - tail] === keys[keys.length - 1 - tail]
    ) {
      tail++
    }
    for (const node of this.nodes.slice(head, old.length - tail)) node.parentNode?.removeChild(node)
    const fresh: Node[] = []
    for (let i = head; i < keys.length - tail; i++) fresh.push(make(i))
    const before = tail > 0 ? this.nodes[old.length - tail] : null
    const frag = document.createDocumentFragment()
    frag.append(...fresh)
    this.container.insertBefore(frag, before)
    this.nodes = [...this.nodes.slice(0, head), ...fresh, ...this.nodes.slice(old.length - tail)]
    this.keys = keys
  }
}

const elementKey = (el: Element): string =>
  [el.type, el.text, el.extension ?? '', el.sceneNumber ?? '', el.dual ? 1 : 0, el.depth ?? 0].join('\u0000')

export interface PreviewTargets {
  preview: HTMLElement
  scenes: HTMLOListElement
  onJump: (offset: number) => void
}

export class ScriptView {
  private readonly title = h('div', 'fp-title-page')
  private readonly body = h('div', 'fp-body')
  private readonly empty = h('p', 'fp-empty', 'Nothing written yet.')
  private readonly noScenes = h('li', 'muted', 'No scene headings yet.')
  private readonly elements: KeyedNodes
  private readonly sceneItems: KeyedNodes
  private titleKey = ''
  script: Script = { titlePage: [], elements: [], scenes: [] }

  constructor(targets: PreviewTargets) {
    targets.preview.replaceChildren(this.title, this.body, this.empty)
    targets.scenes.replaceChildren(this.noScenes)
    this.elements = new KeyedNodes(this.body)
    this.sceneItems = new KeyedNodes(targets.scenes)
    targets.scenes.addEventListener('click', (ev) => {
      const button = (ev.target as HTMLElement).closest<HTMLButtonElement>('button.scene-link')
      const item = button?.closest('li')
      if (!button || !item) return
      const index = [...targets.scenes.children].filter((c) => c !== this.noScenes).indexOf(item)
      const scene = this.script.scenes[index]
      if (!scene) return
      targets.onJump(scene.start)
      const headings = targets.preview.querySelectorAll<HTMLElement>('.fp-scene')
      headings[index]?.scrollIntoView({ block: 'start', behavior: 'smooth' })
    })
  }

  render(script: Script): void {
    this.script = script
    const titleKey = JSON.stringify(script.titlePage)
    if (titleKey !== this.titleKey) {
      this.titleKey = titleKey
      this.title.replaceChildren(
        ...script.titlePage.map(([key, value]) => {
          const row = h('p', `fp-title-${key.toLowerCase().replace(/[^a-z]+/g, '-')}`)
          if (key.toLowerCase() === 'title') row.append(h('strong', undefined, value))
          else row.append(h('span', 'fp-title-key', `${key}: `), document.createTextNode(value))
          return row
        }),
      )
      this.title.hidden = script.titlePage.length === 0
    }
    this.elements.update(script.elements.map(elementKey), (i) => renderElement(script.elements[i]))
    this.empty.hidden = script.elements.length > 0 || script.titlePage.length > 0

    this.noScenes.hidden = script.scenes.length > 0
    this.sceneItems.update(
      script.scenes.map((sc) => `${sc.index}\u0000${sc.sceneNumber ?? ''}\u0000${sc.heading}`),
      (i) => {
        const scene = script.scenes[i]
        const button = h('button', 'scene-link')
        button.type = 'button'
        button.append(h('span', 'scene-number', scene.sceneNumber ?? String(scene.index + 1)))
        button.append(h('span', 'scene-heading', scene.heading || '(untitled scene)'))
        const li = h('li')
        li.append(button)
        return li
      },
    )
  }
}

/** Keep the preview and scene list in step with the text (at most once per frame). */
export function bindPreview(ytext: Y.Text, targets: PreviewTargets): ScriptView {
  const view = new ScriptView(targets)
  let scheduled = false
  let lastCostMs = 0
  const render = (): void => {
    scheduled = false
    const started = performance.now()
    view.render(parseCached(ytext.toString()))
    lastCostMs = performance.now() - started
  }
  ytext.observe(() => {
    if (scheduled) return
    scheduled = true
    // Hidden tabs get no animation frames; a long script re-renders less often.
    if (document.hidden || lastCostMs > 8) {
      setTimeout(render, Math.min(1000, Math.max(100, lastCostMs * 4)))
    } else {
      requestAnimationFrame(render)
    }
  })
  render()
  return view
}
