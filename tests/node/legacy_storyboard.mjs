// Writes a storyboard in the first schema (a Y.Array `panels` of Y.Maps, a move deleting
// the panel and inserting a clone) with two stock Yjs clients, as the browser of that
// schema did, and prints every update as {client, user, update(base64)} JSON lines.
import * as Y from 'yjs'

const alice = new Y.Doc()
const bob = new Y.Doc()
const log = []
for (const [doc, user] of [[alice, 'alice'], [bob, 'bob']]) {
  doc.on('update', (update, origin) => {
    if (origin !== 'sync') log.push({ client: doc.clientID, user, update: Buffer.from(update).toString('base64') })
  })
}
const sync = (from, to) => Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)), 'sync')
const panel = (id, action, seconds) => {
  const map = new Y.Map()
  map.set('id', id)
  map.set('shot_size', 'WS')
  map.set('duration_ms', seconds * 1000)
  for (const key of ['action', 'dialogue', 'notes']) map.set(key, new Y.Text(key === 'action' ? action : ''))
  return map
}
alice.transact(() => {
  alice.getArray('panels').push([panel('p1', 'Harbour at dawn', 3), panel('p2', 'Gulls', 2), panel('p3', 'Boat leaves', 4)])
})
sync(alice, bob)
bob.transact(() => bob.getArray('panels').get(1).get('notes').insert(0, 'Bob: the gulls scatter'))
// Bob moves p3 up twice, the first schema's way: delete, then insert a clone.
for (const [from, to] of [[2, 1], [1, 0]]) {
  bob.transact(() => {
    const panels = bob.getArray('panels')
    const copy = panels.get(from).clone()
    panels.delete(from, 1)
    panels.insert(to, [copy])
  })
}
sync(bob, alice)
alice.transact(() => alice.getArray('panels').get(0).get('dialogue').insert(0, 'Alice: cast off!'))
sync(alice, bob)
for (const entry of log) console.log(JSON.stringify(entry))
console.log(JSON.stringify({ panels: alice.getArray('panels').toJSON() }))
