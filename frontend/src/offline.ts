/**
 * The browser's offline copy of one live document: its Y.Doc kept in IndexedDB with the
 * stock `y-indexeddb` provider, so that a reload shows the last state before the socket
 * syncs and edits typed while the server is unreachable survive until they reach it.
 *
 * y-indexeddb stores every update of the doc (local and the server's) and, on open, applies
 * what is stored in one transaction whose origin is the provider: that load is neither a
 * local change nor the server's (see `isOrigin`). Beside the updates, the copy keeps the
 * list of changes the server had not acknowledged (`pending`), so the unsynced count
 * survives the reload too. The copy closes itself when the database is deleted elsewhere
 * (sign-out in another tab) and is deleted by `clear` (the server refused the document).
 */
import type * as Y from 'yjs'
import { IndexeddbPersistence } from 'y-indexeddb'
import { clearStore, rememberStore, storeName } from './offline-stores'

export class OfflineCopy {
  /** Resolves once the stored state is in the doc (or the store turned out unusable). */
  readonly loaded: Promise<void>
  private persistence: IndexeddbPersistence | null
  private readonly origin: IndexeddbPersistence

  constructor(
    doc: Y.Doc,
    readonly name: string,
  ) {
    const persistence = new IndexeddbPersistence(name, doc)
    this.persistence = this.origin = persistence
    rememberStore(name)
    const opened = persistence._db.then(
      (db) => {
        // lib0 closes the connection when another tab deletes the database; stop writing
        // to it first (writes to a closed connection throw inside the doc's update event).
        const close = db.onversionchange
        db.onversionchange = (event) => {
          this.stop()
          close?.call(db, event)
        }
        return true
      },
      () => false,
    )
    this.loaded = Promise.race([
      persistence.whenSynced.then(() => undefined),
      opened.then((ok) => (ok ? new Promise<void>(() => {}) : undefined)),
    ])
  }

  /** Whether a transaction's origin is this copy (its load from IndexedDB). */
  isOrigin(origin: unknown): boolean {
    return origin === this.origin
  }

  async read(key: string): Promise<unknown> {
    if (this.persistence === null) return undefined
    try {
      return (await this.persistence.get(key)) as unknown
    } catch {
      return undefined
    }
  }

  write(key: string, value: string): void {
    this.persistence?.set(key, value).catch(() => {})
  }

  /** Stop keeping the doc (nothing more is written). */
  stop(): void {
    const persistence = this.persistence
    this.persistence = null
    persistence?.destroy().catch(() => {})
  }

  /** Stop and delete the stored copy. */
  async clear(): Promise<void> {
    this.stop()
    await clearStore(this.name)
  }
}

/** The offline copy of a document for a user, or null where IndexedDB is unavailable. */
export function openOfflineCopy(doc: Y.Doc, userId: number, identity: string | undefined): OfflineCopy | null {
  if (typeof indexedDB === 'undefined' || !identity) return null
  const name = storeName(userId, identity)
  if (name === null) return null
  try {
    return new OfflineCopy(doc, name)
  } catch {
    return null
  }
}
