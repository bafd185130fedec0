/**
 * Names of the browser's offline copies of live documents (IndexedDB databases, one per
 * user and document) and their removal. Free of Yjs so that every page's small `app`
 * bundle can clear them at sign-out.
 *
 * A name is `troupe-doc:<user id>:<document identity>`: the identity is the document's
 * database id and creation time (`data-script-identity` / `data-board-identity` on the
 * room page), so a document deleted and re-created under the same slug, or a database
 * re-seeded with the same ids, never meets another incarnation's copy, and one person's
 * copy is never opened for another signed in on the same browser.
 */

const PREFIX = 'troupe-doc'
// Names kept per user in localStorage too, for browsers without indexedDB.databases().
const REGISTRY = 'troupe-doc-stores'

export function storeName(userId: number, identity: string): string | null {
  if (!Number.isSafeInteger(userId) || userId <= 0 || !/^[0-9A-Za-z._-]{1,100}$/.test(identity)) return null
  return `${PREFIX}:${userId}:${identity}`
}

function userPrefix(userId: number): string {
  return `${PREFIX}:${userId}:`
}

function registry(): string[] {
  try {
    const names: unknown = JSON.parse(localStorage.getItem(REGISTRY) ?? '[]')
    return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : []
  } catch {
    return []
  }
}

function saveRegistry(names: string[]): void {
  try {
    if (names.length) localStorage.setItem(REGISTRY, JSON.stringify(names))
    else localStorage.removeItem(REGISTRY)
  } catch {
    // storage disabled or full: indexedDB.databases() still finds the stores
  }
}

/** Note a store's name (so that sign-out finds it without indexedDB.databases()). */
export function rememberStore(name: string): void {
  const names = registry()
  if (!names.includes(name)) saveRegistry([...names, name])
}

/** Delete one store. Open copies in other tabs close theirs on the version change. */
export function clearStore(name: string): Promise<void> {
  saveRegistry(registry().filter((n) => n !== name))
  return new Promise((resolve) => {
    try {
      const request = indexedDB.deleteDatabase(name)
      request.onsuccess = () => resolve()
      request.onerror = () => resolve()
    } catch {
      resolve()
    }
  })
}

/** Delete every store of one user (sign-out). */
export async function clearUserStores(userId: number): Promise<void> {
  if (typeof indexedDB === 'undefined') return
  const prefix = userPrefix(userId)
  const names = new Set(registry().filter((n) => n.startsWith(prefix)))
  try {
    for (const db of await indexedDB.databases()) {
      if (db.name?.startsWith(prefix)) names.add(db.name)
    }
  } catch {
    // indexedDB.databases() missing: the registry's names are all we know
  }
  await Promise.all([...names].map(clearStore))
}
