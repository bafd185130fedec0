/**
 * Counts local changes the server has not echoed yet.
 *
 * Every local transaction is a pending change. The server echoes each update it applies to
 * every connection, the sender included (merged with others), and greets each connection
 * with a step1 carrying its state vector. A change is acknowledged once the server has
 * shown it holds both the change's own structs (each writing client's clock, from a step1
 * state vector or the structs of an echoed update) and its deletions (delete sets of
 * echoes; after a reconnect the server's step2 carries its whole delete set, and our step2
 * carries ours and is echoed back).
 *
 * The pending changes can be saved (`entries`) and brought back after a reload
 * (`restore`): they name the client IDs that wrote them, so they stay valid when the page
 * comes back with a new client ID and the old one's structs from the offline copy.
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'

/** A change: the clock each writing client reached, and the ranges it deleted. */
export interface PendingChange {
  clocks: Array<[number, number]>
  deletes: Array<[number, number, number]>
}

const MESSAGE_SYNC = 0
const STEP1 = 0
const STEP2 = 1
const UPDATE = 2

export class AckTracker {
  private pending: PendingChange[] = []
  // Per client: the clock up to which the server has shown it holds the structs.
  private ackedClocks = new Map<number, number>()
  // Deletions the server's echoes carried (dropped once nothing is pending), and the
  // delete set of the server's step2 on this connection (kept until the next greeting).
  private ackedDeletes = new Map<number, Array<[number, number]>>()
  private syncDeletes = new Map<number, Array<[number, number]>>()
  private listeners = new Set<(count: number) => void>()

  constructor(
    private readonly doc: Y.Doc,
    private readonly isRemote: (origin: unknown) => boolean,
  ) {
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (this.isRemote(origin)) return
      this.addLocal(update)
    })
  }

  get count(): number {
    return this.pending.length
  }

  onChange(listener: (count: number) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private emit(): void {
    for (const listener of this.listeners) listener(this.pending.length)
  }

  private addLocal(update: Uint8Array): void {
    const me = this.doc.clientID
    const meta = Y.parseUpdateMeta(update)
    const deletes: Array<[number, number, number]> = []
    const { ds } = Y.decodeUpdate(update)
    ds.clients.forEach((items, client) => {
      for (const item of items) deletes.push([client, item.clock, item.len])
    })
    const clock = meta.to.get(me) ?? 0
    this.pending.push({ clocks: clock > 0 ? [[me, clock]] : [], deletes })
    this.emit()
  }

  /** The pending changes, to be saved with the offline copy. */
  entries(): PendingChange[] {
    return this.pending.map((p) => ({ clocks: [...p.clocks], deletes: [...p.deletes] }))
  }

  /**
   * Bring back changes saved before a reload (after the offline copy is in the doc). A
   * change whose structs or deletions the doc does not hold (the copy lost its last
   * writes) is dropped: it can never be sent, so it could never be acknowledged.
   */
  restore(saved: unknown): void {
    if (!Array.isArray(saved)) return
    const held = Y.decodeStateVector(Y.encodeStateVector(this.doc))
    const { ds } = Y.snapshot(this.doc)
    const isTriple = (t: unknown): t is [number, number, number] =>
      Array.isArray(t) && t.length === 3 && t.every((n) => Number.isSafeInteger(n) && n >= 0)
    const isPair = (t: unknown): t is [number, number] =>
      Array.isArray(t) && t.length === 2 && t.every((n) => Number.isSafeInteger(n) && n >= 0)
    for (const entry of saved as unknown[]) {
      const { clocks, deletes } = (entry ?? {}) as Partial<PendingChange>
      if (!Array.isArray(clocks) || !Array.isArray(deletes)) continue
      if (!clocks.every(isPair) || !deletes.every(isTriple)) continue
      if (!clocks.every(([c, k]) => (held.get(c) ?? 0) >= k)) continue
      const deleted = (c: number, k: number): boolean => Y.isDeleted(ds, Y.createID(c, k))
      if (!deletes.every(([c, k, n]) => n > 0 && deleted(c, k) && deleted(c, k + n - 1))) continue
      this.pending.push({ clocks, deletes })
    }
    this.settle()
    this.emit()
  }

  /** Feed every binary frame the server sends. */
  onServerFrame(data: ArrayBuffer | Uint8Array): void {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data)
    // Updates are read only while something is pending; the greeting (step1) and the
    // answer to our step1 (step2: the whole delete set) always, once per connection, so
    // that changes restored after them are acknowledged too.
    if (this.pending.length === 0 && !(bytes[0] === MESSAGE_SYNC && (bytes[1] === STEP1 || bytes[1] === STEP2))) return
    try {
      const decoder = decoding.createDecoder(bytes)
      if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return
      const sub = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      if (sub === STEP1) {
        // A new connection's greeting: its step2 brings the whole delete set again.
        this.ackedDeletes.clear()
        this.syncDeletes.clear()
        Y.decodeStateVector(payload).forEach((clock, client) => this.ack(client, clock))
      } else if (sub === STEP2 || sub === UPDATE) {
        const meta = Y.parseUpdateMeta(payload)
        meta.to.forEach((clock, client) => this.ack(client, clock))
        const { ds } = Y.decodeUpdate(payload)
        const into = sub === STEP2 ? this.syncDeletes : this.ackedDeletes
        ds.clients.forEach((items, client) => {
          let ranges = into.get(client)
          if (!ranges) into.set(client, (ranges = []))
          for (const item of items) ranges.push([item.clock, item.clock + item.len])
        })
      } else {
        return
      }
    } catch {
      return // not ours to judge: y-websocket reports malformed frames
    }
    this.settle()
  }

  private ack(client: number, clock: number): void {
    if (clock > (this.ackedClocks.get(client) ?? 0)) this.ackedClocks.set(client, clock)
  }

  private covered(client: number, clock: number, len: number): boolean {
    const lists = [this.ackedDeletes.get(client), this.syncDeletes.get(client)]
    // Walk the acknowledged ranges until [clock, clock + len) is covered.
    let from = clock
    const end = clock + len
    let progressed = true
    while (from < end && progressed) {
      progressed = false
      for (const ranges of lists) {
        for (const [a, b] of ranges ?? []) {
          if (a <= from && b > from) {
            from = b
            progressed = true
          }
        }
      }
    }
    return from >= end
  }

  private settle(): void {
    const before = this.pending.length
    this.pending = this.pending.filter(
      (p) =>
        p.clocks.some(([c, k]) => k > (this.ackedClocks.get(c) ?? 0)) ||
        !p.deletes.every(([c, k, n]) => this.covered(c, k, n)),
    )
    if (this.pending.length === 0) this.ackedDeletes.clear()
    if (this.pending.length !== before) this.emit()
  }
}
