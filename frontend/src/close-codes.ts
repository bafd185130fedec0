/**
 * What a page does when the server closes one of its sockets (realtime/closecodes.py):
 * 4401 sends the user to sign in; 4403 and 4404 show why and stop; 4422 (this page wrote
 * something the document's schema refuses: its code is older than the server's) asks for a
 * reload; other 44xx codes stop too, except 4429 (rate limited), which retries slowly;
 * 1013 (server busy admitting a storm of connections) retries after at least a second;
 * anything else retries.
 */

const RATE_LIMITED_MIN_MS = 5_000
// 1013: the server's admission queue is full (a reconnect storm): wait at least a second;
// the delay is drawn from [1 s, 2 s], then from growing windows (backoff.ts: retryDelay),
// so the refused clients spread out.
export const BUSY_MIN_MS = 1_000

export type CloseAction =
  | { kind: 'sign-in'; message: string }
  | { kind: 'stop'; message: string }
  | { kind: 'retry'; minimumMs: number }

/** How the socket names what it is connected to, in the messages shown to the user. */
export interface CloseWording {
  missing: string
  forbidden: string
  closer: string
  /** Shown on 4422: the page's idea of the document's format is not the server's. */
  outdated?: string
}

export function closeAction(code: number, reason: string, words: CloseWording): CloseAction {
  const why = reason ? ` (${reason})` : ''
  if (code === 4401) return { kind: 'sign-in', message: 'Your session has ended. Sign in again.' }
  if (code === 4404) return { kind: 'stop', message: `${words.missing}${why}` }
  if (code === 4403) return { kind: 'stop', message: `${words.forbidden}${why}` }
  if (code === 4429) return { kind: 'retry', minimumMs: RATE_LIMITED_MIN_MS }
  if (code === 1013) return { kind: 'retry', minimumMs: BUSY_MIN_MS }
  if (code === 4422 && words.outdated) return { kind: 'stop', message: `${words.outdated}${why}` }
  if (code >= 4400 && code < 4500) {
    const detail = `${code}${reason ? `: ${reason}` : ''}`
    return { kind: 'stop', message: `${words.closer} closed the connection (${detail}). Reload the page.` }
  }
  return { kind: 'retry', minimumMs: 0 }
}
