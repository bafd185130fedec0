/**
 * Everything of the room that the script editor does not need to start: one chunk,
 * fetched by main.ts while the editor starts (one request rather than one per part, on a
 * page that is opening its sockets at the same time).
 */
export { Storyboard } from './board'
export { connectRoom } from './project-room'
export { bindPreview } from './preview'
export { bindSnapshotDialog } from './snapshot'
