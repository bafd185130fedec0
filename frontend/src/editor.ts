/** The script editor: CodeMirror 6 bound to the `content` Y.Text with y-codemirror.next. */
import { insertNewline, standardKeymap } from '@codemirror/commands'
import { EditorState } from '@codemirror/state'
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  keymap,
  placeholder,
} from '@codemirror/view'
import { yCollab, ySyncAnnotation, yUndoManagerKeymap } from 'y-codemirror.next'
import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { fountainHighlighting } from './fountain-mode'

const theme = EditorView.theme({
  '&': { height: '100%', fontSize: '1rem' },
  '.cm-scroller': {
    fontFamily: '"Courier Prime", "Courier New", Courier, monospace',
    lineHeight: '1.5',
  },
  '.cm-content': { padding: '.75rem 0' },
  // Remote cursors always show their owner's name, not only on hover.
  '.cm-ySelectionInfo': { opacity: '1', fontFamily: 'system-ui, sans-serif', top: '-1.2em' },
})

export function createEditor(
  parent: HTMLElement,
  ytext: Y.Text,
  awareness: Awareness,
  { readOnly, label }: { readOnly: boolean; label: string },
): EditorView {
  const undoManager = new Y.UndoManager(ytext)
  const state = EditorState.create({
    doc: ytext.toString(),
    extensions: [
      // Fountain has no indentation: a plain newline, and no language-aware commands.
      keymap.of([
        ...yUndoManagerKeymap,
        { key: 'Enter', run: (view) => !view.state.readOnly && insertNewline(view) },
        ...standardKeymap.filter((binding) => binding.key !== 'Enter'),
      ]),
      drawSelection(),
      highlightActiveLine(),
      EditorView.lineWrapping,
      fountainHighlighting,
      theme,
      EditorState.readOnly.of(readOnly),
      // Read-only means no local edit reaches the Y.Text by any path (keys, paste, drop,
      // IME): only changes that come from Yjs (other people) are let through.
      EditorState.changeFilter.of((tr) => !readOnly || tr.annotation(ySyncAnnotation) !== undefined),
      EditorView.contentAttributes.of({
        'aria-label': label,
        'aria-multiline': 'true',
        ...(readOnly ? { 'aria-readonly': 'true' } : {}),
      }),
      placeholder(readOnly ? 'The script is empty.' : 'INT. SOMEWHERE - DAY\n\nStart writing…'),
      yCollab(ytext, awareness, { undoManager }),
    ],
  })
  return new EditorView({ state, parent })
}

/** Put the cursor at `offset`, scroll it to the middle and focus the editor. */
export function jumpTo(view: EditorView, offset: number): void {
  const pos = Math.min(offset, view.state.doc.length)
  view.dispatch({
    selection: { anchor: pos },
    effects: EditorView.scrollIntoView(pos, { y: 'start', yMargin: 24 }),
  })
  view.focus()
}
