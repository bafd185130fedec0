/**
 * Counts local changes the server has not echoed yet.
 *
 * Every local transaction is a pending change. The server echoes each update it applies to
 * every connection, the sender included (merged with others), and greets each connection
 * with a step1 carrying its state vector. A change is acknowledged once the server has
 * shown it holds both the change's own structs (our client's clock, from a step1 state
 * vector or the structs of an echoed update) and its deletions (delete sets of echoes;
 * after a reconnect our step2 carries the whole delete set and is echoed back).
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'

interface Pending {
  clock: number
  deletes: Array<[number, number, number]>
}

const MESSAGE_SYNC = 0
const STEP1 = 0
const STEP2 = 1
const UPDATE = 2

export class AckTracker {
  private pending: Pending[] = []
  private ackedClock = 0
  private ackedDeletes = new Map<number, Array<[number, number]>>()
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
    this.pending.push({ clock: meta.to.get(me) ?? 0, deletes })
    this.emit()
  }

  /** Feed every binary frame the server sends. */
  onServerFrame(data: ArrayBuffer | Uint8Array): void {
    if (this.pending.length === 0) return
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data)
    try {
      const decoder = decoding.createDecoder(bytes)
      if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return
      const sub = decoding.readVarUint(decoder)
      const payload = decoding.readVarUint8Array(decoder)
      const me = this.doc.clientID
      if (sub === STEP1) {
        const sv = Y.decodeStateVector(payload)
        this.ackedClock = Math.max(this.ackedClock, sv.get(me) ?? 0)
      } else if (sub === STEP2 || sub === UPDATE) {
        const meta = Y.parseUpdateMeta(payload)
        this.ackedClock = Math.max(this.ackedClock, meta.to.get(me) ?? 0)
        const { ds } = Y.decodeUpdate(payload)
        ds.clients.forEach((items, client) => {
          let ranges = this.ackedDeletes.get(client)
          if (!ranges) this.ackedDeletes.set(client, (ranges = []))
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

  private covered(client: number, clock: number, len: number): boolean {
    const ranges = this.ackedDeletes.get(client)
    if (!ranges) return false
    // Walk the acknowledged ranges until [clock, clock + len) is covered.
    let from = clock
    const end = clock + len
    let progressed = true
    while (from < end && progressed) {
      progressed = false
      for (const [a, b] of ranges) {
        if (a <= from && b > from) {
          from = b
          progressed = true
        }
      }
    }
    return from >= end
  }

  private settle(): void {
    const before = this.pending.length
    this.pending = this.pending.filter(
      (p) =>
        p.clock > this.ackedClock || !p.deletes.every(([c, k, n]) => this.covered(c, k, n)),
    )
    if (this.pending.length === 0) this.ackedDeletes.clear()
    if (this.pending.length !== before) this.emit()
  }
}
