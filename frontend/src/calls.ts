/**
 * The calls panel: the project's open calls from the room snapshot, kept live by the room
 * socket's `call.created` / `call.updated` / `response.created` / `response.updated`
 * events. Leads post calls from the panel; people who may contribute answer one with a
 * short text, made into a record of theirs and sent as the response.
 */
import { apiRequest, ApiError, type RecordOut } from './api'
import type { CallJson, ResponseJson, RoomMessage, RoomSnapshot, RoomSocket } from './room-socket'

export interface CallsTargets {
  list: HTMLUListElement
  empty: HTMLElement
  form: HTMLFormElement | null
  formError: HTMLElement | null
}

export interface CallsOptions {
  socket: RoomSocket
  project: string
  canRespond: boolean
  isLead: boolean
}

const INTEREST_NAMES: Record<string, string> = {
  writing: 'Writing',
  narration: 'Narration',
  illustration: 'Illustration',
  animation: 'Animation',
  music: 'Music',
  editing: 'Editing',
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

function when(iso: string): string {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString()
}

class CallItem {
  readonly root = el('li', 'call')
  private readonly title = el('h3', 'call-title')
  private readonly meta = el('p', 'call-meta muted')
  private readonly instructions = el('p', 'call-instructions')
  private readonly responses = el('ul', 'call-responses')
  private readonly respond: HTMLDetailsElement | null = null
  private readonly error = el('p', 'form-error')
  private readonly leadTools: HTMLElement | null = null

  constructor(
    public call: CallJson,
    private readonly panel: CallsPanel,
  ) {
    this.root.dataset.callId = String(call.id)
    this.responses.setAttribute('aria-label', 'Responses')
    this.error.setAttribute('role', 'alert')
    this.error.hidden = true
    this.root.append(this.title, this.meta, this.instructions, this.responses)
    if (panel.opts.canRespond) {
      this.respond = this.respondForm()
      this.root.append(this.respond)
    }
    if (panel.opts.isLead) {
      this.leadTools = this.leadButtons()
      this.root.append(this.leadTools)
    }
    this.root.append(this.error)
    this.update(call)
  }

  private leadButtons(): HTMLElement {
    const close = el('button', 'call-close', 'Close call')
    const filled = el('button', 'call-filled', 'Mark filled')
    for (const [button, change] of [
      [close, { open: false }],
      [filled, { filled: true }],
    ] as const) {
      button.type = 'button'
      button.addEventListener('click', () => {
        button.disabled = true
        this.error.hidden = true
        void this.panel
          .edit(this.call, change)
          .then((call) => this.update(call))
          .catch((err: unknown) => this.showError(err instanceof ApiError ? err.message : String(err)))
          .finally(() => {
            button.disabled = false
          })
      })
    }
    const tools = el('p', 'call-lead-tools')
    tools.append(close, ' ', filled)
    return tools
  }

  private respondForm(): HTMLDetailsElement {
    const details = el('details', 'call-respond')
    const summary = el('summary', '', 'Respond')
    const form = el('form', 'call-respond-form')
    const id = `call-${this.call.id}-response`
    const label = el('label', '', 'Your response')
    label.htmlFor = id
    const text = el('textarea', 'call-response-text')
    text.id = id
    text.rows = 3
    text.required = true
    const submit = el('button', 'call-response-submit', 'Send response')
    submit.type = 'submit'
    form.append(label, text, submit)
    form.addEventListener('submit', (ev) => {
      ev.preventDefault()
      const value = text.value.trim()
      if (!value) {
        this.showError('Write something first.')
        return
      }
      submit.disabled = true
      this.error.hidden = true
      void this.panel
        .respond(this.call, value)
        .then((response) => {
          text.value = ''
          details.open = false
          this.addResponse(response)
        })
        .catch((err: unknown) => this.showError(err instanceof ApiError ? err.message : String(err)))
        .finally(() => {
          submit.disabled = false
        })
    })
    details.append(summary, form)
    return details
  }

  private showError(message: string): void {
    this.error.textContent = message
    this.error.hidden = false
  }

  update(call: CallJson): void {
    this.call = call
    const state = call.filled ? 'filled' : call.open ? 'open' : 'closed'
    this.root.dataset.state = state
    this.title.textContent = call.title
    const parts = [INTEREST_NAMES[call.interest] ?? call.interest, state === 'open' ? 'Open' : state === 'filled' ? 'Filled' : 'Closed']
    if (call.deadline) parts.push(`until ${when(call.deadline)}`)
    this.meta.textContent = parts.join(' · ')
    this.instructions.textContent = call.instructions
    this.instructions.hidden = !call.instructions
    if (this.respond) this.respond.hidden = !call.open
    if (this.leadTools) this.leadTools.hidden = !call.open
  }

  addResponse(response: ResponseJson): void {
    const existing = this.responses.querySelector<HTMLLIElement>(`li[data-response-id="${response.id}"]`)
    const item = existing ?? el('li', 'call-response')
    item.dataset.responseId = String(response.id)
    const link = el('a', '', response.title)
    link.href = `/records/${response.record}`
    item.replaceChildren(link, document.createTextNode(` by ${response.responder} · ${response.status}`))
    if (!existing) this.responses.append(item)
  }
}

export class CallsPanel {
  private readonly items = new Map<number, CallItem>()

  constructor(
    private readonly t: CallsTargets,
    readonly opts: CallsOptions,
  ) {
    const s = opts.socket
    s.on('room.snapshot', (m) => this.reset((m as unknown as RoomSnapshot).calls))
    s.on('call.created', (m) => this.upsert(m.call as CallJson, true))
    s.on('call.updated', (m) => this.upsert(m.call as CallJson, false))
    const onResponse = (m: RoomMessage): void => {
      const response = m.response as ResponseJson
      this.items.get(response.call)?.addResponse(response)
    }
    s.on('response.created', onResponse)
    s.on('response.updated', onResponse)
    t.form?.addEventListener('submit', (ev) => {
      ev.preventDefault()
      void this.post()
    })
  }

  private reset(calls: CallJson[]): void {
    for (const item of this.items.values()) item.root.remove()
    this.items.clear()
    for (const call of calls) this.upsert(call, false)
  }

  private upsert(call: CallJson, fresh: boolean): void {
    const item = this.items.get(call.id)
    if (item) item.update(call)
    else {
      const created = new CallItem(call, this)
      this.items.set(call.id, created)
      // Newest first, as in the snapshot.
      if (fresh) this.t.list.prepend(created.root)
      else this.t.list.append(created.root)
    }
    this.t.empty.hidden = this.items.size > 0
    this.t.list.dataset.count = String(this.items.size)
  }

  private async post(): Promise<void> {
    const form = this.t.form
    if (!form) return
    const data = new FormData(form)
    const title = String(data.get('title') ?? '').trim()
    const deadline = String(data.get('deadline') ?? '')
    const errorBox = this.t.formError
    const submit = form.querySelector<HTMLButtonElement>('button[type=submit]')
    if (errorBox) errorBox.hidden = true
    if (!title) {
      this.formError('Give the call a title.')
      return
    }
    if (submit) submit.disabled = true
    try {
      const call = await apiRequest<CallJson>('POST', `/api/projects/${encodeURIComponent(this.opts.project)}/calls`, {
        title,
        interest: String(data.get('interest') ?? 'writing'),
        instructions: String(data.get('instructions') ?? ''),
        deadline: deadline ? new Date(deadline).toISOString() : null,
      })
      // The room event usually arrives first; either way the call shows once.
      this.upsert(call, !this.items.has(call.id))
      form.reset()
      form.closest('details')?.removeAttribute('open')
    } catch (err) {
      this.formError(err instanceof ApiError ? err.message : String(err))
    } finally {
      if (submit) submit.disabled = false
    }
  }

  private formError(message: string): void {
    if (!this.t.formError) return
    this.t.formError.textContent = message
    this.t.formError.hidden = false
  }

  /** Close a call or mark it filled (leads); the room hears of it as `call.updated`. */
  edit(call: CallJson, change: { open?: boolean; filled?: boolean }): Promise<CallJson> {
    return apiRequest<CallJson>('PATCH', `/api/projects/${encodeURIComponent(this.opts.project)}/calls/${call.id}`, change)
  }

  /** Answer a call: the text becomes a record of the user's, sent as the response. */
  async respond(call: CallJson, text: string): Promise<ResponseJson> {
    const project = encodeURIComponent(this.opts.project)
    const record = await apiRequest<RecordOut>('POST', '/api/records', {
      kind: 'text',
      title: `Response to “${call.title}”`.slice(0, 200),
      text,
      project: this.opts.project,
    })
    return apiRequest<ResponseJson>('POST', `/api/projects/${project}/calls/${call.id}/responses`, {
      record: record.id,
    })
  }
}
