/**
 * Presence avatars: everyone in the project room (the room socket's listing, one line per
 * person, with where they are), coloured with the server's colour for each user.
 */
import type { Anchor, PresentEntry } from './room-socket'

/** A CSS colour from awareness data, or grey: never let a value reach CSS unchecked. */
export function safeColor(value: unknown): string {
  return typeof value === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(value) ? value : '#6b7280'
}

export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean)
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] ?? '?').slice(0, 2)
  return Array.from(letters).slice(0, 2).join('').toUpperCase()
}

/** Where someone is, in words: "the script, scene 3" / "the board, panel 2". */
export type Describe = (document: string | null, anchor: Anchor | null) => string

/**
 * The avatars of everyone the room socket lists (invisible people are left out by the
 * server), plus yourself: listed when visible, shown to you alone when invisible.
 */
export function renderPresence(
  container: HTMLElement,
  present: PresentEntry[],
  self: { id: number; name: string; color: string; invisible: boolean; document: string | null; anchor: Anchor | null },
  describe: Describe,
): void {
  const people = present.map((p) => ({
    id: p.user.id,
    name: p.user.name || 'Someone',
    color: safeColor(p.user.color),
    self: p.user.id === self.id,
    invisible: false,
    where: describe(p.document, p.anchor),
  }))
  if (!people.some((p) => p.self)) {
    people.push({
      id: self.id,
      name: self.name,
      color: safeColor(self.color),
      self: true,
      invisible: self.invisible,
      where: describe(self.document, self.anchor),
    })
  }
  people.sort((a, b) => Number(b.self) - Number(a.self) || a.name.localeCompare(b.name))
  const items = people.map((u) => {
    const li = document.createElement('li')
    li.className = 'avatar' + (u.self ? ' avatar-self' : '') + (u.invisible ? ' avatar-invisible' : '')
    li.style.backgroundColor = u.color
    li.dataset.userId = String(u.id)
    const you = u.self ? (u.invisible ? ' (you, invisible to others)' : ' (you)') : ''
    const label = `${u.name}${you}, ${u.where}`
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
  container.dataset.count = String(people.length)
}
