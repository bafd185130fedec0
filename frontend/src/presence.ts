/**
 * Presence avatars: everyone connected to any of the room's documents, one avatar per
 * user, coloured with the `user` field the server stamps on each awareness state.
 */
import type { Awareness } from 'y-protocols/awareness'

export interface PresentUser {
  id: string
  name: string
  color: string
  self: boolean
  where: Set<string>
}

/** A CSS colour from awareness data, or grey: never let a value reach CSS unchecked. */
export function safeColor(value: unknown): string {
  return typeof value === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(value) ? value : '#6b7280'
}

export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean)
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] ?? '?').slice(0, 2)
  return Array.from(letters).slice(0, 2).join('').toUpperCase()
}

export function collectUsers(sources: Array<{ label: string; awareness: Awareness }>): PresentUser[] {
  const users = new Map<string, PresentUser>()
  for (const { label, awareness } of sources) {
    awareness.getStates().forEach((state, clientId) => {
      const user: unknown = state.user
      if (!user || typeof user !== 'object') return
      const { id, name, color } = user as { id?: unknown; name?: unknown; color?: unknown }
      const key = String(id ?? `client-${clientId}`)
      const entry = users.get(key) ?? {
        id: key,
        name: typeof name === 'string' && name ? name : 'Someone',
        color: safeColor(color),
        self: false,
        where: new Set<string>(),
      }
      if (clientId === awareness.clientID) entry.self = true
      entry.where.add(label)
      users.set(key, entry)
    })
  }
  return [...users.values()].sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name))
}

export function renderPresence(
  container: HTMLElement,
  sources: Array<{ label: string; awareness: Awareness }>,
): void {
  const users = collectUsers(sources)
  const items = users.map((u) => {
    const li = document.createElement('li')
    li.className = 'avatar' + (u.self ? ' avatar-self' : '')
    li.style.backgroundColor = u.color
    li.dataset.userId = u.id
    const where = [...u.where].join(', ')
    const label = `${u.name}${u.self ? ' (you)' : ''}, in ${where}`
    li.title = label
    const initialsSpan = document.createElement('span')
    initialsSpan.setAttribute('aria-hidden', 'true')
    initialsSpan.textContent = initials(u.name)
    const name = document.createElement('span')
    name.className = 'visually-hidden avatar-name'
    name.textContent = label
    li.append(initialsSpan, name)
    return li
  })
  container.replaceChildren(...items)
  container.dataset.count = String(users.length)
}
