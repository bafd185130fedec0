/**
 * The snapshot dialog (writers): a title, the documents to freeze, then one
 * `POST /api/projects/{p}/documents/{d}/snapshots` per document, each answered with a
 * link to the new record's page. Refusals (e.g. "not changed since ...") are shown as the
 * server words them.
 */
import { apiRequest, ApiError, type RecordOut } from './api'

export interface SnapshotTargets {
  button: HTMLButtonElement
  dialog: HTMLDialogElement
  form: HTMLFormElement
  title: HTMLInputElement
  error: HTMLElement
  result: HTMLUListElement
  close: HTMLButtonElement
  create: HTMLButtonElement
}

export function bindSnapshotDialog(t: SnapshotTargets, project: string, titles: Record<string, string>): void {
  const showError = (message: string): void => {
    t.error.textContent = message
    t.error.hidden = false
  }
  t.button.addEventListener('click', () => {
    t.error.hidden = true
    t.result.replaceChildren()
    t.dialog.showModal()
    t.title.focus()
  })
  t.close.addEventListener('click', () => t.dialog.close())
  t.form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    t.error.hidden = true
    const title = t.title.value.trim()
    const documents = [...t.form.querySelectorAll<HTMLInputElement>('input[name=document]:checked')].map((i) => i.value)
    if (!title) {
      showError('Give the snapshot a title.')
      return
    }
    if (documents.length === 0) {
      showError('Choose at least one document.')
      return
    }
    t.create.disabled = true
    void (async () => {
      const failures: string[] = []
      for (const slug of documents) {
        try {
          const record = await apiRequest<RecordOut>(
            'POST',
            `/api/projects/${encodeURIComponent(project)}/documents/${encodeURIComponent(slug)}/snapshots`,
            { title },
          )
          const item = document.createElement('li')
          const link = document.createElement('a')
          link.className = 'snapshot-link'
          link.href = `/records/${record.id}`
          link.textContent = `${titles[slug] ?? slug}: ${record.canonical.title}`
          item.append(link)
          t.result.append(item)
        } catch (err) {
          failures.push(`${titles[slug] ?? slug}: ${err instanceof ApiError ? err.message : String(err)}`)
        }
      }
      if (failures.length) showError(failures.join(' · '))
      t.create.disabled = false
    })()
  })
}
