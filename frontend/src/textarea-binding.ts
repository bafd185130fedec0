/**
 * Two-way binding of a <textarea> (or <input>) to one field of a Y.Map.
 *
 * The field holds a Y.Text, so two people typing in the same caption merge character by
 * character. A plain string (written by another client) is shown as is and replaced by a
 * Y.Text on the first local edit.
 */
import * as Y from 'yjs'

type Field = HTMLTextAreaElement | HTMLInputElement

export class TextFieldBinding {
  private text: Y.Text | null = null
  private readonly onText = (event: Y.YTextEvent, tr: Y.Transaction): void => {
    if (tr.origin === this) return
    this.applyRemote(event)
  }
  private readonly onMap = (event: Y.YMapEvent<unknown>): void => {
    if (event.keysChanged.has(this.key)) this.attach()
  }
  private readonly onInput = (): void => this.applyLocal()

  constructor(
    private readonly map: Y.Map<unknown>,
    private readonly key: string,
    private readonly field: Field,
  ) {
    map.observe(this.onMap)
    field.addEventListener('input', this.onInput)
    this.attach()
  }

  destroy(): void {
    this.map.unobserve(this.onMap)
    this.text?.unobserve(this.onText)
    this.field.removeEventListener('input', this.onInput)
  }

  private attach(): void {
    const value = this.map.get(this.key)
    this.text?.unobserve(this.onText)
    this.text = value instanceof Y.Text ? value : null
    this.text?.observe(this.onText)
    const shown = this.text ? this.text.toString() : value == null ? '' : String(value)
    if (this.field.value !== shown) this.field.value = shown
  }

  private applyLocal(): void {
    const next = this.field.value
    const doc = this.map.doc
    if (!doc) return
    if (this.text === null) {
      doc.transact(() => this.map.set(this.key, new Y.Text(next)), this)
      return
    }
    const text = this.text
    const prev = text.toString()
    if (prev === next) return
    let start = 0
    const max = Math.min(prev.length, next.length)
    while (start < max && prev.charCodeAt(start) === next.charCodeAt(start)) start++
    let end = 0
    while (
      end < max - start &&
      prev.charCodeAt(prev.length - 1 - end) === next.charCodeAt(next.length - 1 - end)
    ) {
      end++
    }
    doc.transact(() => {
      const removed = prev.length - start - end
      if (removed > 0) text.delete(start, removed)
      const inserted = next.slice(start, next.length - end)
      if (inserted) text.insert(start, inserted)
    }, this)
  }

  private applyRemote(event: Y.YTextEvent): void {
    const field = this.field
    const focused = document.activeElement === field
    let selStart = field.selectionStart ?? 0
    let selEnd = field.selectionEnd ?? 0
    let pos = 0
    for (const op of event.delta) {
      if (op.retain !== undefined) {
        pos += op.retain
      } else if (typeof op.insert === 'string') {
        const n = op.insert.length
        if (pos <= selStart) selStart += n
        if (pos < selEnd) selEnd += n
        pos += n
      } else if (op.delete !== undefined) {
        const n = op.delete
        if (pos < selStart) selStart -= Math.min(n, selStart - pos)
        if (pos < selEnd) selEnd -= Math.min(n, selEnd - pos)
      }
    }
    field.value = this.text ? this.text.toString() : ''
    if (focused) field.setSelectionRange(selStart, selEnd)
  }
}
